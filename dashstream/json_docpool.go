package dashstream

import (
	"math/bits"
	"sync"
	"sync/atomic"
)

// A StateDocPool recycles what the documents of one chain of snapshots
// (each built on the previous one) stop needing once the next is built and
// diffed: the previous document's canonical text, and the member lists of
// its containers that the next one rebuilt. A snapshot then costs no fresh
// memory for the parts of the index and text it rewrites. The zero value
// is ready; a pool is safe for concurrent use.
type StateDocPool struct {
	seq   atomic.Uint64
	canon [33]sync.Pool // *[]byte, by the bit length of the capacity
	kids  [33]sync.Pool // *[]docNode, likewise
}

// Build is BuildStateDoc taking its buffers from p.
func (p *StateDocPool) Build(raw string, prev *StateDoc, red StateRedactor, maxDepth int) (*StateDoc, error) {
	return buildStateDoc(raw, prev, red, maxDepth, blobMax, p)
}

// Retire hands p what old holds and next does not share: old's canonical
// text and, when next was built on old by p.Build, the member lists of the
// containers next rebuilt. old must not be used afterwards (not even as a
// previous document), nor what it handed out (CanonicalJSON); next (nil:
// none) stays valid.
func (p *StateDocPool) Retire(old, next *StateDoc) {
	if old == nil || old == next {
		return
	}
	if cap(old.canon) > 0 {
		buf := old.canon[:0]
		putClass(&p.canon, cap(buf), &buf)
	}
	old.canon = nil
	if next == nil {
		return
	}
	// next lets go of old's containers either way.
	superseded := next.superseded
	next.superseded = nil
	defer clear(superseded)
	if next.pool != p || old.pool != p || next.prevID != old.id {
		return
	}
	for _, c := range superseded {
		kids := c.kids[:0:cap(c.kids)]
		clear(kids[:cap(kids)]) // no pointer into old subtrees stays
		c.kids = nil
		putClass(&p.kids, cap(kids), &kids)
	}
}

func putClass[T any](classes *[33]sync.Pool, capacity int, v *T) {
	if k := bits.Len(uint(capacity)); k < len(classes) {
		classes[k].Put(v)
	}
}

// takeCanon returns a pooled buffer for n bytes of canonical text, or nil.
func (p *StateDocPool) takeCanon(n int) []byte {
	k := bits.Len(uint(n))
	for c := k; c <= k+1 && c < len(p.canon); c++ {
		if b, ok := p.canon[c].Get().(*[]byte); ok && n <= cap(*b) && cap(*b) <= n+n/8+canonSlack {
			return (*b)[:0]
		}
	}
	return nil
}

// takeKids returns a member list of capacity at least n, pooled when one
// fits.
func (p *StateDocPool) takeKids(n int) []docNode {
	if p != nil {
		k := bits.Len(uint(n))
		for c := k; c <= k+1 && c < len(p.kids); c++ {
			if b, ok := p.kids[c].Get().(*[]docNode); ok && n <= cap(*b) && cap(*b) <= n+n/4+8 {
				return (*b)[:0]
			}
		}
	}
	return make([]docNode, 0, n)
}
