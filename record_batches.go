package dashstreamexporter // import "github.com/dashstream/dashstreamexporter"

import (
	"sync"

	"github.com/IBM/sarama"

	"github.com/dashstream/dashstreamexporter/dashstream/translate"
)

// batchBuilder holds what one send builds for sarama: the plan's record
// indices, the records of each round's batches and their headers. sarama
// reads a batch only while Broker.Produce encodes its request, so a round
// reuses the previous round's memory and a send the previous send's: in
// steady state the produce path allocates nothing per record.
type batchBuilder struct {
	owner   []*partitionJob // plan: the job of each record, nil when not sent
	idx     []int           // plan: the jobs' record indices
	records []sarama.Record
	ptrs    []*sarama.Record
	headers headerConverter
}

// newRound forgets the previous round's batches (sent and no longer read)
// and makes room for n records.
func (b *batchBuilder) newRound(n int) {
	b.records, b.ptrs = reserve(b.records, n), reserve(b.ptrs, n)
	b.headers.reset()
}

// release drops every reference to the send's records, so a builder kept
// for the next send does not hold their bytes in memory.
func (b *batchBuilder) release() {
	clear(b.owner[:cap(b.owner)])
	clear(b.records[:cap(b.records)])
	clear(b.ptrs[:cap(b.ptrs)])
	b.headers.release()
	b.owner, b.idx, b.records, b.ptrs = b.owner[:0], b.idx[:0], b.records[:0], b.ptrs[:0]
}

// batchRecords converts the records recs[idx...] of one batch.
func (b *batchBuilder) batchRecords(recs []*translate.Record, idx []int) []*sarama.Record {
	backing := take(&b.records, len(idx))
	out := take(&b.ptrs, len(idx))
	for k, i := range idx {
		r := recs[i]
		backing[k] = sarama.Record{
			OffsetDelta: int64(k),
			Key:         r.Key,
			Value:       r.Value,
			Headers:     b.headers.convert(r.Headers),
		}
		out[k] = &backing[k]
	}
	return out
}

// builderPool keeps the builders of finished sends for the next ones
// (sending_queue.num_consumers > 1 runs sends concurrently).
type builderPool struct {
	mu   sync.Mutex
	free []*batchBuilder
}

func (p *builderPool) get() *batchBuilder {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.free); n > 0 {
		b := p.free[n-1]
		p.free = p.free[:n-1]
		return b
	}
	return &batchBuilder{}
}

func (p *builderPool) put(b *batchBuilder) {
	b.release()
	p.mu.Lock()
	p.free = append(p.free, b)
	p.mu.Unlock()
}

// headerConverter turns record headers into sarama's. The records of a span
// share one header slice (translate builds it once per span) and so get one
// conversion; a header whose key and value are the very bytes of one of the
// previous span's headers (the static headers and the instance header: one
// value shared by every span) reuses that conversion. Per span, only the
// traceparent and tracestate headers are new. Everything converted lives in
// the converter's arena until reset; sarama only reads headers.
type headerConverter struct {
	lastSrc []translate.Header
	last    []*sarama.RecordHeader
	keys    []headerKey
	hdrs    []sarama.RecordHeader
	ptrs    []*sarama.RecordHeader
}

type headerKey struct {
	name string
	b    []byte
}

func (c *headerConverter) convert(hs []translate.Header) []*sarama.RecordHeader {
	if len(hs) == 0 {
		return nil
	}
	if len(hs) == len(c.lastSrc) && &hs[0] == &c.lastSrc[0] {
		return c.last
	}
	out := take(&c.ptrs, len(hs))
	for j := range hs {
		h := &hs[j]
		if k := c.sameAsLast(h); k >= 0 {
			out[j] = c.last[k]
			continue
		}
		rh := &take(&c.hdrs, 1)[0]
		*rh = sarama.RecordHeader{Key: c.key(h.Key), Value: h.Value}
		out[j] = rh
	}
	c.lastSrc, c.last = hs, out
	return out
}

// sameAsLast returns the index of the last span's header that is h itself
// (same key, same value bytes), or -1.
func (c *headerConverter) sameAsLast(h *translate.Header) int {
	if len(h.Value) == 0 {
		return -1
	}
	for k := range c.lastSrc {
		l := &c.lastSrc[k]
		if len(l.Value) == len(h.Value) && &l.Value[0] == &h.Value[0] && l.Key == h.Key {
			return k
		}
	}
	return -1
}

func (c *headerConverter) key(name string) []byte {
	for _, k := range c.keys {
		if k.name == name {
			return k.b
		}
	}
	b := []byte(name)
	if len(c.keys) < 8 {
		c.keys = append(c.keys, headerKey{name, b})
	}
	return b
}

// reset starts a new round: the arena is reused, nothing converted before
// is handed out again.
func (c *headerConverter) reset() {
	c.lastSrc, c.last = nil, nil
	c.hdrs, c.ptrs = c.hdrs[:0], c.ptrs[:0]
}

// release is reset that also drops the references to header values.
func (c *headerConverter) release() {
	clear(c.hdrs[:cap(c.hdrs)])
	clear(c.ptrs[:cap(c.ptrs)])
	c.reset()
}

// take hands out the next n elements of an arena. When the arena is full
// it moves to a new, larger one; what was handed out keeps the old one.
func take[T any](arena *[]T, n int) []T {
	a := *arena
	if cap(a)-len(a) < n {
		a = make([]T, 0, max(2*cap(a), n, 64))
	}
	*arena = a[:len(a)+n]
	return a[len(a) : len(a)+n : len(a)+n]
}

// reserve empties an arena and makes sure it holds at least n elements.
func reserve[T any](arena []T, n int) []T {
	if cap(arena) < n {
		return make([]T, 0, n)
	}
	return arena[:0]
}
