package translate

import "hash/maphash"

// spanTable holds the span memory's memos: a ring of spans and their memos
// in the order remembered, the oldest overwritten once it holds max, and
// an open-addressing index into it (linear probing; a removed entry's
// followers move back, so there are no tombstones). A span costs 56 bytes
// (a Go map with the ring beside it: about 120), and neither part holds a
// pointer, so the garbage collector never scans them.
//
// The ring is kept in chunks of ringChunk entries (the first grows to
// that size by doubling): a ring not yet full (a collector that has not
// yet seen max spans, at 2,000 spans/s for two minutes) has room for at
// most a chunk more than it holds, where one slice doubled would have
// room for up to twice as many, and growing it copies nothing.
type spanTable struct {
	seed   maphash.Seed
	max    int
	chunks [][]spanEntry
	n      int // spans held (ring positions 0..n-1)
	next   int // the oldest entry, once the ring is full
	// index: 0 = free; else the entry's ring position + 1 (low 32 bits)
	// and its key's hash (high 32: where it belongs, and most mismatches
	// told without reading the ring). At most half full.
	index []uint64
}

// ringChunk is the ring's chunk size (160 KiB of entries), a power of two.
const (
	ringChunkBits = 12
	ringChunk     = 1 << ringChunkBits
)

// spanEntry is one remembered span.
type spanEntry struct {
	key  spanKey
	memo storedMemo
}

func newSpanTable(max int) spanTable {
	return spanTable{seed: maphash.MakeSeed(), max: max}
}

func (t *spanTable) hash(k spanKey) uint32 {
	return uint32(maphash.Comparable(t.seed, k))
}

// entry returns the ring entry at position slot (< t.n).
func (t *spanTable) entry(slot int) *spanEntry {
	return &t.chunks[slot>>ringChunkBits][slot&(ringChunk-1)]
}

// find returns where k is in the index and the ring (-1: absent; pos is
// then the free place it would take).
func (t *spanTable) find(k spanKey, h uint32) (pos, slot int) {
	mask := len(t.index) - 1
	for i := int(h) & mask; ; i = (i + 1) & mask {
		e := t.index[i]
		if e == 0 {
			return i, -1
		}
		if uint32(e>>32) == h && t.entry(int(uint32(e)-1)).key == k {
			return i, int(uint32(e) - 1)
		}
	}
}

// get returns k's memo, to read or change in place until the next add
// (nil: none).
func (t *spanTable) get(k spanKey) *storedMemo {
	if t.n == 0 {
		return nil
	}
	if _, slot := t.find(k, t.hash(k)); slot >= 0 {
		return &t.entry(slot).memo
	}
	return nil
}

// add remembers k, which the table does not hold, with memo v; when full,
// the oldest span is forgotten and its memo returned (evicted).
func (t *spanTable) add(k spanKey, v storedMemo) (old storedMemo, evicted bool) {
	var slot int
	if t.n < t.max {
		if 2*(t.n+1) > len(t.index) {
			t.grow()
		}
		t.extend()
		slot = t.n
		t.n++
	} else {
		slot = t.next
		t.next = (t.next + 1) % t.max
		e := t.entry(slot)
		old, evicted = e.memo, true
		t.remove(e.key)
	}
	*t.entry(slot) = spanEntry{key: k, memo: v}
	h := t.hash(k)
	pos, _ := t.find(k, h)
	t.index[pos] = uint64(h)<<32 | uint64(slot+1)
	return old, evicted
}

// extend makes room in the ring for position t.n (< t.max): the first
// chunk doubles (64 entries at first) up to ringChunk, later chunks are
// made whole (or as large as max leaves).
func (t *spanTable) extend() {
	c, i := t.n>>ringChunkBits, t.n&(ringChunk-1)
	if c < len(t.chunks) && i < len(t.chunks[c]) {
		return
	}
	room := min(ringChunk, t.max-c*ringChunk) // what chunk c can hold at most
	if c == 0 && len(t.chunks) == 1 {
		first := make([]spanEntry, min(max(2*i, 64), room))
		copy(first, t.chunks[0])
		t.chunks[0] = first
		return
	}
	size := room
	if c == 0 {
		size = min(64, room)
	}
	t.chunks = append(t.chunks, make([]spanEntry, size))
}

// remove takes k out of the index (its ring entry is then overwritten by
// the caller): each entry after it in its run of the index that may sit
// earlier moves back into the gap.
func (t *spanTable) remove(k spanKey) {
	i, slot := t.find(k, t.hash(k))
	if slot < 0 {
		return
	}
	mask := len(t.index) - 1
	for j := (i + 1) & mask; t.index[j] != 0; j = (j + 1) & mask {
		home := int(uint32(t.index[j]>>32)) & mask
		// The entry at j may fill the gap at i unless its home lies
		// cyclically in (i, j].
		if (i < j && (home <= i || home > j)) || (i > j && home <= i && home > j) {
			t.index[i] = t.index[j]
			i = j
		}
	}
	t.index[i] = 0
}

// grow doubles the index (8 places at first) and indexes the ring again.
func (t *spanTable) grow() {
	t.index = make([]uint64, max(8, 2*len(t.index)))
	mask := len(t.index) - 1
	for slot := range t.n {
		h := t.hash(t.entry(slot).key)
		i := int(h) & mask
		for t.index[i] != 0 {
			i = (i + 1) & mask
		}
		t.index[i] = uint64(h)<<32 | uint64(slot+1)
	}
}

// len is the number of spans held.
func (t *spanTable) len() int { return t.n }
