package dashstream

import "sync"

// byteBufs recycles byte buffers in the capacity classes of canonical
// texts (canonClass): a buffer taken for n bytes holds them without
// growing, and buffers of about the same size serve each other. The zero
// value is ready; it is safe for concurrent use.
type byteBufs struct {
	classes [canonClasses]sync.Pool // *[]byte
	boxes   sync.Pool               // empty *[]byte, so put does not allocate
}

// take returns an empty buffer of capacity at least n.
func (p *byteBufs) take(n int) []byte {
	c, capacity := canonClass(n)
	if c >= 0 {
		if b, ok := p.classes[c].Get().(*[]byte); ok {
			return unbox(&p.boxes, b)[:0]
		}
	}
	return make([]byte, 0, capacity)
}

// put hands b back; nothing may use it afterwards.
func (p *byteBufs) put(b []byte) {
	if cap(b) == 0 {
		return
	}
	if c := canonClassOf(cap(b)); c >= 0 {
		p.classes[c].Put(box(&p.boxes, b[:0]))
	}
}
