package dashstream

import (
	"bytes"
	"crypto/sha256"
	"encoding"
	"hash"
	"math/rand/v2"
	"testing"
)

// countingHash is SHA-256 counting the bytes written to it.
type countingHash struct {
	hash.Hash
	written int
}

func newCountingHash() *countingHash { return &countingHash{Hash: sha256.New()} }

func (c *countingHash) Write(p []byte) (int, error) {
	c.written += len(p)
	return c.Hash.Write(p)
}

func (c *countingHash) AppendBinary(b []byte) ([]byte, error) {
	return c.Hash.(encoding.BinaryAppender).AppendBinary(b)
}

func (c *countingHash) UnmarshalBinary(b []byte) error {
	return c.Hash.(encoding.BinaryUnmarshaler).UnmarshalBinary(b)
}

// TestHashWithMarks: texts changed at the end, in the middle and at the
// start, grown, cut, and grown across a grid spacing: every hash is
// SHA-256 of the text, and only what follows the last mark inside the
// shared prefix is hashed again.
func TestHashWithMarks(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	randText := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = 'a' + byte(r.IntN(26))
		}
		return b
	}
	appendAt := func(text []byte, cut int, add []byte) []byte {
		out := append([]byte(nil), text[:cut]...)
		out = append(out, add...)
		return append(out, text[cut:]...)
	}
	base := randText(6000)
	tests := []struct {
		name string
		old  []byte
		new  func(old []byte) []byte
		// most is the bound on the bytes hashed again.
		most int
	}{
		{"append before two closing bytes", base, func(o []byte) []byte { return appendAt(o, len(o)-2, randText(300)) }, 300 + 2 + tailGap + 63},
		{"append before 60 trailing bytes", base, func(o []byte) []byte { return appendAt(o, len(o)-60, randText(300)) }, 300 + 60 + tailGap + 63},
		{"change in the middle", base, func(o []byte) []byte {
			n := append([]byte(nil), o...)
			n[3500] ^= 1
			return n
		}, 6000 - 3072},
		{"change at the start", base, func(o []byte) []byte {
			n := append([]byte(nil), o...)
			n[0] ^= 1
			return n
		}, 6000},
		{"cut", base, func(o []byte) []byte { return o[:2500] }, 2500 - 2048},
		{"equal", base, func(o []byte) []byte { return o }, tailGap + 63},
		{"below the finest spacing", randText(900), func(o []byte) []byte { return appendAt(o, len(o)-2, randText(10)) }, 0},
		{"grown across a spacing", randText(64<<10 - 100), func(o []byte) []byte { return appendAt(o, len(o)-2, randText(200)) }, 200 + 2 + tailGap + 63},
		{"large, changed in the middle", randText(200 << 10), func(o []byte) []byte {
			n := append([]byte(nil), o...)
			n[100<<10+5] ^= 1
			return n
		}, 100<<10 + 8<<10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newCountingHash()
			sum, oldMarks := hashWithMarks(h, tc.old, 0, nil, nil)
			if sum != sha256.Sum256(tc.old) {
				t.Fatal("hash of the first text is not its SHA-256")
			}
			if len(tc.old) >= minMarkSpacing && len(oldMarks) == 0 {
				t.Fatal("no marks kept")
			}
			text := tc.new(tc.old)
			common := commonPrefixBytes(tc.old, text)
			h.written = 0
			sum, marks := hashWithMarks(h, text, common, oldMarks, nil)
			if sum != sha256.Sum256(text) {
				t.Fatal("hash of the second text is not its SHA-256")
			}
			if len(text) >= minMarkSpacing && h.written > tc.most {
				t.Fatalf("hashed %d of %d bytes again (common prefix %d), want at most %d", h.written, len(text), common, tc.most)
			}
			checkMarks(t, text, marks)
		})
	}
}

// checkMarks fails unless every mark restores to the SHA-256 state of its
// prefix of text, in ascending order and within the bound of markCap.
func checkMarks(t *testing.T, text, marks []byte) {
	t.Helper()
	if len(marks)%markLen != 0 || (len(marks) > 0 && len(marks)+sha256.Size > markCap(len(text))) {
		t.Fatalf("%d bytes of marks for %d bytes of text (cap %d)", len(marks), len(text), markCap(len(text)))
	}
	last := 0
	for i := range len(marks) / markLen {
		at := markAt(marks, i)
		if at <= last || at > len(text) || at%sha256.BlockSize != 0 {
			t.Fatalf("mark %d at %d (previous %d, text %d)", i, at, last, len(text))
		}
		last = at
		want := sha256.New()
		want.Write(text[:at])
		st, _ := want.(encoding.BinaryAppender).AppendBinary(nil)
		if !bytes.Equal(markState(marks, i), st) {
			t.Fatalf("mark %d at %d is not the state after its prefix", i, at)
		}
	}
}

// TestHashWithMarksChain: a chain of random edits, each hashed from the
// previous text's marks, always gives SHA-256 of the text.
func TestHashWithMarksChain(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	text := bytes.Repeat([]byte("0123456789abcdef"), 200)
	var marks []byte
	h := sha256.New()
	for step := range 300 {
		old := text
		next := append([]byte(nil), old...)
		switch at := r.IntN(len(next) + 1); r.IntN(3) {
		case 0: // insert
			add := bytes.Repeat([]byte{byte('A' + step%26)}, r.IntN(2000))
			next = append(next[:at], append(add, old[at:]...)...)
		case 1: // cut
			next = append(next[:at], old[min(len(old), at+r.IntN(3000)):]...)
		default: // change one byte
			if at < len(next) {
				next[at] ^= 0x20
			}
		}
		var sum [32]byte
		sum, marks = hashWithMarks(h, next, commonPrefixBytes(old, next), marks, marks[:0:0])
		if sum != sha256.Sum256(next) {
			t.Fatalf("step %d: hash of %d bytes is not its SHA-256", step, len(next))
		}
		checkMarks(t, next, marks)
		text = next
	}
}
