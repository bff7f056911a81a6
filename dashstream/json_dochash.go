package dashstream

import (
	"crypto/sha256"
	"encoding"
	"encoding/binary"
	"hash"
	"math/bits"
)

// The state hash is SHA-256 of the canonical text, and successive
// snapshots of a thread share most of it: keys are sorted, and a snapshot
// mostly appends a message or changes a field, so the texts agree up to
// the change. A document therefore keeps hash marks — the SHA-256 state
// after some block-aligned prefixes of its canonical text — and the next
// document resumes from the last mark inside the prefix both texts share
// (docBuilder.eq), hashing only what follows it.
//
// The marks sit on a grid (markSpacing: every KiB, coarser for large texts
// so that there are at most about 32 of them) plus one tail mark at least
// tailGap bytes before the end: the next snapshot of a state that grows at
// its end (an element appended to its last array, a counter after it)
// rehashes under tailGap+64 bytes plus what it added, whatever its size.

const (
	// minMarkSpacing is the finest grid: below it a text is hashed whole
	// (a few hundred nanoseconds), and its marks would cost more memory
	// (markLen bytes per mark) than they save time.
	minMarkSpacing = 1 << 10
	// gridMarks is about how many grid marks a large text gets.
	gridMarks = 32
	// tailGap is how far before the end of the text the tail mark at
	// least sits: room for the closing brackets and trailing members
	// that follow a change at the end.
	tailGap = 64
	// hashStateLen is the length of a marshaled SHA-256 state (magic,
	// eight words, the block buffer, the length); a hash whose state has
	// another length (another implementation) keeps no marks.
	hashStateLen = 4 + 32 + sha256.BlockSize + 8
	// markLen is one mark: the prefix length (uint32, big-endian) and the
	// marshaled state after it.
	markLen = 4 + hashStateLen
)

// markSpacing is the grid spacing for a canonical text of n bytes: a power
// of two, at least minMarkSpacing.
func markSpacing(n int) int {
	return max(minMarkSpacing, 1<<bits.Len(uint(n/gridMarks)))
}

// markCap is the capacity marks need for a text of n bytes: its grid, the
// tail mark and the mark a build resumed from, and room for the sum (so
// that taking it from the hash does not allocate).
func markCap(n int) int {
	if n < minMarkSpacing {
		return 0
	}
	return (n/markSpacing(n)+2)*markLen + sha256.Size
}

// markAt returns the prefix length of mark i.
func markAt(marks []byte, i int) int {
	return int(binary.BigEndian.Uint32(marks[i*markLen:]))
}

// markState returns the marshaled hash state of mark i.
func markState(marks []byte, i int) []byte {
	return marks[i*markLen+4 : (i+1)*markLen]
}

// hashWithMarks returns SHA-256 of canon and its marks, appended to
// dst[:0]. canon's first common bytes equal the text old (the previous
// document's marks) was made for: hashing resumes from the last of old's
// marks inside them. h is a SHA-256 hash the call may reset and use.
func hashWithMarks(h hash.Hash, canon []byte, common int, old, dst []byte) ([32]byte, []byte) {
	dst = dst[:0]
	app, okA := h.(encoding.BinaryAppender)
	un, okU := h.(encoding.BinaryUnmarshaler)
	if len(canon) < minMarkSpacing || !okA || !okU {
		return sha256.Sum256(canon), dst
	}
	spacing := markSpacing(len(canon))
	tail := (len(canon) - tailGap) &^ (sha256.BlockSize - 1)
	h.Reset()
	pos := 0
	if r := lastMarkWithin(old, common); r >= 0 {
		if un.UnmarshalBinary(markState(old, r)) == nil {
			pos = markAt(old, r)
			// Keep the old grid marks before it (on this text's grid)
			// and the one resumed from.
			for i := 0; i <= r; i++ {
				if at := markAt(old, i); at%spacing == 0 || i == r {
					dst = append(dst, old[i*markLen:(i+1)*markLen]...)
				}
			}
		} else {
			h.Reset()
		}
	}
	for {
		next := (pos/spacing + 1) * spacing
		if tail > pos && tail < next {
			next = tail
		}
		if next >= len(canon) {
			break
		}
		_, _ = h.Write(canon[pos:next])
		pos = next
		dst = appendMark(dst, app, pos)
	}
	_, _ = h.Write(canon[pos:])
	var sum [32]byte
	copy(sum[:], h.Sum(dst[len(dst):])) // in dst's spare room
	return sum, dst
}

// lastMarkWithin returns the index of the last mark at most n bytes in,
// or -1.
func lastMarkWithin(marks []byte, n int) int {
	for i := len(marks)/markLen - 1; i >= 0; i-- {
		if markAt(marks, i) <= n {
			return i
		}
	}
	return -1
}

// appendMark appends the mark of h's state after at bytes. A state that is
// not hashStateLen bytes long is not kept (the marks stay fixed-size).
func appendMark(dst []byte, h encoding.BinaryAppender, at int) []byte {
	n := len(dst)
	dst = binary.BigEndian.AppendUint32(dst, uint32(at))
	dst, err := h.AppendBinary(dst)
	if err != nil || len(dst)-n != markLen {
		return dst[:n]
	}
	return dst
}

// hash returns the state hash of b.canon and its marks, resuming from the
// previous document's marks (old). With a pool, the hash and the marks'
// buffer come from it.
func (b *docBuilder) hash(old []byte) ([32]byte, []byte) {
	n := markCap(len(b.canon))
	if n == 0 {
		return sha256.Sum256(b.canon), nil
	}
	if b.sc == nil {
		return hashWithMarks(sha256.New(), b.canon, b.eq, old, make([]byte, 0, n))
	}
	if b.sc.sha == nil {
		b.sc.sha = sha256.New()
	}
	return hashWithMarks(b.sc.sha, b.canon, b.eq, old, b.pool.takeCanon(n))
}
