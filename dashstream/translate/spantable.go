package translate

import "hash/maphash"

// spanTable holds the span memory's memos: a ring of spans and their memos
// in the order remembered, the oldest overwritten once it holds max, and
// an open-addressing index into it (linear probing; a removed entry's
// followers move back, so there are no tombstones). A span costs 56 bytes
// (a Go map with the ring beside it: about 120), and neither part holds a
// pointer, so the garbage collector never scans them.
type spanTable struct {
	seed maphash.Seed
	max  int
	ring []spanEntry
	next int // the oldest entry, once the ring is full
	// index: 0 = free; else the entry's ring position + 1 (low 32 bits)
	// and its key's hash (high 32: where it belongs, and most mismatches
	// told without reading the ring). At most half full.
	index []uint64
}

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

// find returns where k is in the index and the ring (-1: absent; pos is
// then the free place it would take).
func (t *spanTable) find(k spanKey, h uint32) (pos, slot int) {
	mask := len(t.index) - 1
	for i := int(h) & mask; ; i = (i + 1) & mask {
		e := t.index[i]
		if e == 0 {
			return i, -1
		}
		if uint32(e>>32) == h && t.ring[uint32(e)-1].key == k {
			return i, int(uint32(e) - 1)
		}
	}
}

// get returns k's memo, to read or change in place until the next add
// (nil: none).
func (t *spanTable) get(k spanKey) *storedMemo {
	if len(t.ring) == 0 {
		return nil
	}
	if _, slot := t.find(k, t.hash(k)); slot >= 0 {
		return &t.ring[slot].memo
	}
	return nil
}

// add remembers k, which the table does not hold, with memo v; when full,
// the oldest span is forgotten and its memo returned (evicted).
func (t *spanTable) add(k spanKey, v storedMemo) (old storedMemo, evicted bool) {
	var slot int
	if len(t.ring) < t.max {
		if 2*(len(t.ring)+1) > len(t.index) {
			t.grow()
		}
		if len(t.ring) == cap(t.ring) {
			ring := make([]spanEntry, len(t.ring), ringCap(cap(t.ring), t.max))
			copy(ring, t.ring)
			t.ring = ring
		}
		t.ring = append(t.ring, spanEntry{})
		slot = len(t.ring) - 1
	} else {
		slot = t.next
		t.next = (t.next + 1) % t.max
		old, evicted = t.ring[slot].memo, true
		t.remove(t.ring[slot].key)
	}
	t.ring[slot] = spanEntry{key: k, memo: v}
	h := t.hash(k)
	pos, _ := t.find(k, h)
	t.index[pos] = uint64(h)<<32 | uint64(slot+1)
	return old, evicted
}

// ringCap is the ring's next capacity after c, at most limit: doubled up
// to ringSmooth entries, then a quarter more at a time: a ring not yet
// full (a collector that has not yet seen max spans, at 2,000 spans/s
// for two minutes) has room for at most a quarter more spans than it
// holds instead of up to twice as many. The copies add up to about four
// times the final ring instead of one, once in a translator's life.
func ringCap(c, limit int) int {
	if c < ringSmooth {
		return min(max(2*c, 64), limit)
	}
	return min(c+c/4, limit)
}

// ringSmooth is where the ring stops doubling: 160 KiB of entries.
const ringSmooth = 4096

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
	for slot := range t.ring {
		h := t.hash(t.ring[slot].key)
		i := int(h) & mask
		for t.index[i] != 0 {
			i = (i + 1) & mask
		}
		t.index[i] = uint64(h)<<32 | uint64(slot+1)
	}
}

// len is the number of spans held.
func (t *spanTable) len() int { return len(t.ring) }
