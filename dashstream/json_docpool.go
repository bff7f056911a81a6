package dashstream

import (
	"hash"
	"math/bits"
	"sync"
	"sync/atomic"
)

// A StateDocPool recycles what the documents of one chain of snapshots
// (each built on the previous one) stop needing once the next is built and
// diffed: the previous document itself, its canonical text and hash marks,
// and the containers (with their member lists) that the next one rebuilt. A snapshot then costs no fresh
// memory for the parts of the index and text it rewrites. The zero value
// is ready; a pool is safe for concurrent use.
type StateDocPool struct {
	seq     atomic.Uint64
	canon   [canonClasses]sync.Pool // *[]byte, by capacity class (canonClass)
	kids    [kidsClasses]sync.Pool  // *[]docNode, by capacity class (kidsClass)
	scratch sync.Pool               // *builderScratch: a build's stacks and scratch buffers
	// Retired documents and superseded containers, emptied (docs keep
	// their tree list's memory).
	docs, containers sync.Pool
	// Empty *[]byte and *[]docNode boxes, so putting a buffer into canon
	// or kids does not allocate a box for it.
	canonBoxes, kidsBoxes sync.Pool
}

// Build is BuildStateDoc taking its buffers from p.
func (p *StateDocPool) Build(raw string, prev *StateDoc, red StateRedactor, maxDepth int) (*StateDoc, error) {
	return buildStateDoc(raw, prev, red, maxDepth, blobMax, p)
}

// Retire hands p what old holds and next does not share: old's canonical
// text and hash marks and, when next was built on old by p.Build, the
// member lists of the containers next rebuilt. old must not be used
// afterwards (not even as a previous document), nor what it handed out
// (CanonicalJSON); next (nil: none) stays valid.
func (p *StateDocPool) Retire(old, next *StateDoc) {
	if old == nil || old == next {
		return
	}
	p.putBytes(old.canon)
	p.putBytes(old.marks)
	old.canon, old.marks = nil, nil
	if next != nil {
		p.takeSuperseded(old, next)
	}
	if old.pool == p {
		p.keepDoc(old)
	}
}

// takeSuperseded takes back the containers of old that next rebuilt: their
// member lists and the containers themselves serve later builds.
func (p *StateDocPool) takeSuperseded(old, next *StateDoc) {
	// next lets go of old's containers either way.
	superseded := next.superseded
	next.superseded = nil
	defer p.keepSuperseded(superseded)
	if next.pool != p || old.pool != p || next.prevID != old.id {
		return
	}
	for _, c := range superseded {
		kids := c.kids[:0:cap(c.kids)]
		clear(kids[:cap(kids)]) // no pointer into old subtrees stays
		*c = docContainer{}
		p.containers.Put(c)
		if c := kidsClassOf(cap(kids)); c >= 0 {
			p.kids[c].Put(box(&p.kidsBoxes, kids))
		}
	}
}

// keepDoc keeps a retired document of p, emptied, with the memory of its
// list of kept trees, for a later build.
func (p *StateDocPool) keepDoc(d *StateDoc) {
	trees := d.trees[:cap(d.trees)]
	clear(trees)
	*d = StateDoc{trees: trees[:0]}
	p.docs.Put(d)
}

// takeDoc returns an empty document: a retired one when p keeps one.
func (p *StateDocPool) takeDoc() *StateDoc {
	if d, ok := p.docs.Get().(*StateDoc); ok {
		return d
	}
	return new(StateDoc)
}

// takeContainer returns an empty container: a superseded one when p keeps
// one.
func (p *StateDocPool) takeContainer() *docContainer {
	if c, ok := p.containers.Get().(*docContainer); ok {
		return c
	}
	return new(docContainer)
}

// keepSuperseded clears a retired list of superseded containers and keeps
// it for a later build's list.
func (p *StateDocPool) keepSuperseded(list []*docContainer) {
	clear(list)
	if cap(list) == 0 {
		return
	}
	if s, _ := p.scratch.Get().(*builderScratch); s != nil {
		if cap(list) > cap(s.superseded) {
			s.superseded = list[:0]
		}
		p.scratch.Put(s)
	}
}

// box returns an empty box from boxes (a new one when there is none)
// holding v.
func box[T any](boxes *sync.Pool, v []T) *[]T {
	b, _ := boxes.Get().(*[]T)
	if b == nil {
		b = new([]T)
	}
	*b = v
	return b
}

// unbox returns what b holds and keeps the emptied box in boxes.
func unbox[T any](boxes *sync.Pool, b *[]T) []T {
	v := *b
	*b = nil
	boxes.Put(b)
	return v
}

// Canonical text buffers come in capacity classes, eight per power of
// two (12.5% apart), so that any pooled buffer of the class a text falls
// in holds it: a state that grows step by step, or another thread's state
// of about the same size, reuses what a replaced document gave back.
const (
	canonSub     = 8
	canonMinBits = 6 // the smallest class holds 64 bytes
	canonClasses = (32 - canonMinBits) * canonSub
)

// canonClass returns the class for n bytes of canonical text and its
// capacity (the smallest class capacity ≥ n); -1 beyond the classes.
func canonClass(n int) (class, capacity int) {
	if n <= 1<<canonMinBits {
		return 0, 1 << canonMinBits
	}
	k := bits.Len(uint(n - 1)) // 2^(k-1) < n ≤ 2^k
	base := 1 << (k - 1)
	step := base / canonSub
	j := (n - base + step - 1) / step // 1..canonSub
	class = (k-1-canonMinBits)*canonSub + j
	if class >= canonClasses {
		return -1, n
	}
	return class, base + j*step
}

// canonClassOf returns the largest class whose capacity is at most c: a
// buffer of capacity c serves every text of that class. -1 when c is
// below the smallest class or beyond the classes.
func canonClassOf(c int) int {
	class, capacity := canonClass(c)
	if class < 0 || capacity == c {
		return class
	}
	return class - 1 // capacity > c: the class below fits in c
}

// A text that grows snapshot by snapshot would touch every class on its
// way (a 256-byte step crosses a class every step or few), and each buffer
// it outgrew would wait in its class's pool until another state reached
// that size: with many threads growing side by side the pools held a
// buffer per thread in every class. So a new buffer has canonHeadroom
// classes to spare (a fifth to two fifths more than the text), and a take also
// accepts a pooled buffer up to canonReach classes above the text's (up
// to about twice its size): one buffer serves a growing state for several
// snapshots, and a buffer outgrown by one state (or given back by a
// finished one) serves another, smaller one. Measured on the saturation
// workload (docs/BENCHMARKS.md, issue 22 round 4): the pooled buffers
// shrink to about a third, CPU time unchanged.
const (
	canonHeadroom = 3
	canonReach    = 8
)

// canonCapacity is the capacity of class c (0 ≤ c < canonClasses).
func canonCapacity(c int) int {
	if c == 0 {
		return 1 << canonMinBits
	}
	base := 1 << (canonMinBits + (c-1)/canonSub)
	return base + ((c-1)%canonSub+1)*(base/canonSub)
}

// takeCanon returns a buffer for n bytes of canonical text: a pooled one
// of n's class or up to canonReach classes above, else a new one
// canonHeadroom classes above n's.
func (p *StateDocPool) takeCanon(n int) []byte {
	c, capacity := canonClass(n)
	if c < 0 {
		return make([]byte, 0, capacity)
	}
	for i := c; i <= min(c+canonReach, canonClasses-1); i++ {
		if b, ok := p.canon[i].Get().(*[]byte); ok {
			return unbox(&p.canonBoxes, b)[:0]
		}
	}
	return make([]byte, 0, canonCapacity(min(c+canonHeadroom, canonClasses-1)))
}

// Member lists come in capacity classes too: exact up to eight members,
// then eight per power of two, so a list a container gave back serves the
// rebuilds of containers one or a few members larger (a message list that
// grows by one message a snapshot) instead of being dropped as too small.
const (
	kidsExact   = 8
	kidsClasses = kidsExact + (32-3)*kidsExact
)

// kidsClass returns the class for a list of n members and its capacity
// (the smallest class capacity ≥ n); -1 beyond the classes.
func kidsClass(n int) (class, capacity int) {
	if n <= kidsExact {
		return max(n, 1) - 1, max(n, 1)
	}
	k := bits.Len(uint(n - 1)) // 2^(k-1) < n ≤ 2^k, 2^(k-1) ≥ 8
	base := 1 << (k - 1)
	step := base / kidsExact
	j := (n - base + step - 1) / step // 1..kidsExact
	class = kidsExact + (k-4)*kidsExact + j - 1
	if class >= kidsClasses {
		return -1, n
	}
	return class, base + j*step
}

// kidsClassOf returns the largest class whose capacity is at most c, -1
// when none is.
func kidsClassOf(c int) int {
	if c <= 0 {
		return -1
	}
	class, capacity := kidsClass(c)
	if class < 0 || capacity == c {
		return class
	}
	return class - 1
}

// kidsCapacity is the capacity of member list class c (0 ≤ c < kidsClasses).
func kidsCapacity(c int) int {
	if c < kidsExact {
		return c + 1
	}
	base := 1 << ((c-kidsExact)/kidsExact + 3)
	return base + ((c-kidsExact)%kidsExact+1)*(base/kidsExact)
}

// takeKids returns a member list of capacity at least n: a pooled one of
// n's class, else a new one of the class's capacity. Lists of more than
// kidsExact members are taken like canonical text (takeCanon): from up to
// canonReach classes above, new ones canonHeadroom classes above, so a
// list that grows by a member a snapshot (messages) serves several
// snapshots, and lists outgrown by one document serve shorter ones.
func (p *StateDocPool) takeKids(n int) []docNode {
	c, capacity := kidsClass(n)
	if c < 0 {
		return make([]docNode, 0, capacity)
	}
	top, alloc := c, c
	if n > kidsExact {
		top, alloc = min(c+canonReach, kidsClasses-1), min(c+canonHeadroom, kidsClasses-1)
	}
	if p != nil {
		for i := c; i <= top; i++ {
			if b, ok := p.kids[i].Get().(*[]docNode); ok {
				return unbox(&p.kidsBoxes, b)[:0]
			}
		}
	}
	return make([]docNode, 0, kidsCapacity(alloc))
}

// builderScratch is what a build uses only while it runs: the parser's
// member stacks and escape buffer, the blob text and the key order
// scratch. Nothing the document keeps points into it.
type builderScratch struct {
	keys    []string
	vals    []any
	buf     []byte
	scratch []byte
	idx     []int
	treeIdx []int
	// sha is the SHA-256 hash a build resumes from the previous marks.
	sha hash.Hash
	// boxed: the parser's boxed short strings (parser.boxed), kept
	// across builds.
	boxed map[string]any
	// superseded: a retired document's list, for the next build's.
	superseded []*docContainer
}

// lend gives b the pool's scratch (empty, with its capacity).
func (p *StateDocPool) lend(b *docBuilder) {
	s, _ := p.scratch.Get().(*builderScratch)
	if s == nil {
		s = new(builderScratch)
	}
	b.sc = s
	b.doc.superseded, s.superseded = s.superseded, nil
	b.p.keys, b.p.vals, b.p.buf, b.scratch, b.idx, b.treeIdx = s.keys, s.vals, s.buf, s.scratch, s.idx, s.treeIdx
	if s.boxed == nil {
		s.boxed = make(map[string]any)
	}
	b.p.boxed = s.boxed
}

// giveBack returns b's scratch to the pool once the build is over,
// holding no pointer: what the build's values reference is the
// document's, not the pool's.
func (p *StateDocPool) giveBack(b *docBuilder) {
	s := b.sc
	if s == nil {
		return
	}
	b.sc = nil
	keys, vals := b.p.keys[:cap(b.p.keys)], b.p.vals[:cap(b.p.vals)]
	clear(keys)
	clear(vals)
	s.keys, s.vals, s.buf, s.scratch, s.idx, s.treeIdx = keys[:0], vals[:0], b.p.buf[:0], b.scratch[:0], b.idx[:0], b.treeIdx[:0]
	b.p.keys, b.p.vals, b.p.buf, b.scratch, b.idx, b.treeIdx = nil, nil, nil, nil, nil, nil
	b.p.boxed = nil
	p.scratch.Put(s)
}

// putBytes keeps a retired byte buffer (canonical text or hash marks) in
// the capacity class it serves.
func (p *StateDocPool) putBytes(b []byte) {
	if cap(b) == 0 {
		return
	}
	if c := canonClassOf(cap(b)); c >= 0 {
		p.canon[c].Put(box(&p.canonBoxes, b[:0]))
	}
}
