package dashstreamexporter // import "github.com/dashstream/dashstreamexporter"

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
	"github.com/dashstream/dashstreamexporter/dashstream/translate"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exporterhelper/xexporterhelper"
)

// requestEncoding stores queued requests in the persistent queue
// (sending_queue.storage). The format is a version byte followed by
// protobuf wire fields, so records restored after a restart are the exact
// bytes that were translated:
//
//	request = version(1) { 1: record }
//	record  = 1: topic, 2: key, 3: value, 4: header{1: key, 2: value},
//	          5: thread_id, 6: sequence, 7: message type
//
// Client metadata is not stored: the topic was resolved at translation.
//
// With a restore stash, requests decoded while the exporter starts are the
// ones exporterhelper's persistent queue found in flight at the last
// shutdown; it re-queues them at the tail, behind later requests. To keep
// each thread in order their records go to the stash instead (the queue
// gets an empty placeholder) and the pusher sends them before anything else.
type requestEncoding struct {
	stash *restoreStash
}

var _ exporterhelper.QueueBatchEncoding[xexporterhelper.Request] = requestEncoding{}

const encodingVersion byte = 1

// Field numbers of the stored format.
const (
	fieldRecord = 1

	fieldTopic    = 1
	fieldKey      = 2
	fieldValue    = 3
	fieldHeader   = 4
	fieldThreadID = 5
	fieldSequence = 6
	fieldType     = 7

	fieldHeaderKey   = 1
	fieldHeaderValue = 2
)

var errBadEncoding = errors.New("dashstream: corrupt queued request")

func (requestEncoding) Marshal(_ context.Context, req xexporterhelper.Request) ([]byte, error) {
	r, ok := req.(*recordsRequest)
	if !ok {
		return nil, fmt.Errorf("dashstream: cannot encode %T", req)
	}
	// Sizes first, so every record and header is written straight into
	// one buffer of the exact size.
	size := 1
	for _, x := range r.records {
		size += protowire.SizeTag(fieldRecord) + protowire.SizeBytes(recordLen(x))
	}
	buf := make([]byte, 1, size)
	buf[0] = encodingVersion
	for _, x := range r.records {
		buf = protowire.AppendTag(buf, fieldRecord, protowire.BytesType)
		buf = protowire.AppendVarint(buf, uint64(recordLen(x)))
		buf = appendRecord(buf, x)
	}
	return buf, nil
}

func appendRecord(b []byte, r *translate.Record) []byte {
	b = appendString(b, fieldTopic, r.Topic)
	b = protowire.AppendTag(b, fieldKey, protowire.BytesType)
	b = protowire.AppendBytes(b, r.Key)
	b = protowire.AppendTag(b, fieldValue, protowire.BytesType)
	b = protowire.AppendBytes(b, r.Value)
	for _, h := range r.Headers {
		b = protowire.AppendTag(b, fieldHeader, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(headerLen(h)))
		b = appendString(b, fieldHeaderKey, h.Key)
		b = protowire.AppendTag(b, fieldHeaderValue, protowire.BytesType)
		b = protowire.AppendBytes(b, h.Value)
	}
	b = appendString(b, fieldThreadID, r.ThreadID)
	b = protowire.AppendTag(b, fieldSequence, protowire.VarintType)
	b = protowire.AppendVarint(b, r.Sequence)
	b = protowire.AppendTag(b, fieldType, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(r.Type))
}

// recordLen is the size of appendRecord's output for r.
func recordLen(r *translate.Record) int {
	n := bytesFieldLen(fieldTopic, len(r.Topic)) + bytesFieldLen(fieldKey, len(r.Key)) +
		bytesFieldLen(fieldValue, len(r.Value)) + bytesFieldLen(fieldThreadID, len(r.ThreadID)) +
		protowire.SizeTag(fieldSequence) + protowire.SizeVarint(r.Sequence) +
		protowire.SizeTag(fieldType) + protowire.SizeVarint(uint64(r.Type))
	for _, h := range r.Headers {
		n += bytesFieldLen(fieldHeader, headerLen(h))
	}
	return n
}

// headerLen is the size of a stored header's fields.
func headerLen(h translate.Header) int {
	return bytesFieldLen(fieldHeaderKey, len(h.Key)) + bytesFieldLen(fieldHeaderValue, len(h.Value))
}

func bytesFieldLen(num protowire.Number, n int) int {
	return protowire.SizeTag(num) + protowire.SizeBytes(n)
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func (e requestEncoding) Unmarshal(data []byte) (context.Context, xexporterhelper.Request, error) {
	ctx := context.Background()
	if len(data) == 0 {
		return ctx, nil, fmt.Errorf("%w: empty", errBadEncoding)
	}
	if data[0] != encodingVersion {
		return ctx, nil, fmt.Errorf("%w: unknown version %d", errBadEncoding, data[0])
	}
	// One copy of the stored bytes (the storage may reuse its buffer)
	// backs every record's key, value and header values.
	body := bytes.Clone(data[1:])
	n := 0
	err := eachField(body, func(num protowire.Number, typ protowire.Type, _ []byte, _ uint64) error {
		if num == fieldRecord && typ == protowire.BytesType {
			n++
		}
		return nil
	})
	if err != nil {
		return ctx, nil, err
	}
	d := recordDecoder{records: make([]translate.Record, 0, n)}
	recs := make([]*translate.Record, 0, n)
	err = eachField(body, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if num != fieldRecord || typ != protowire.BytesType {
			return nil // unknown fields of later versions are skipped
		}
		rec, err := d.parse(v)
		if err != nil {
			return err
		}
		recs = append(recs, rec)
		return nil
	})
	if err != nil {
		return ctx, nil, err
	}
	if e.stash.take(recs) {
		return ctx, newRecordsRequest(nil), nil
	}
	return ctx, newRecordsRequest(recs), nil
}

// restoreStash holds the records of requests restored at start (see
// requestEncoding) until the pusher sends them first.
type restoreStash struct {
	mu     sync.Mutex
	active bool
	recs   []*translate.Record
}

// take keeps recs while the exporter is starting; it reports whether it did.
func (s *restoreStash) take(recs []*translate.Record) bool {
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.active {
		return false
	}
	s.recs = append(s.recs, recs...)
	return true
}

func (s *restoreStash) setActive(active bool) {
	s.mu.Lock()
	s.active = active
	s.mu.Unlock()
}

// drain returns the stashed records, each thread's in sequence order, and
// empties the stash. The persistent queue hands back the requests it found
// in flight in the order of its list of dispatched items, which is not the
// order they were queued in (finishing an item moves the list's last entry
// into its place), so a thread's later records may have been decoded
// before its earlier ones: sorted by thread and sequence, they go out in
// the order they were translated (SPEC §4.6).
func (s *restoreStash) drain() []*translate.Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.recs
	s.recs = nil
	slices.SortStableFunc(out, func(a, b *translate.Record) int {
		if c := strings.Compare(a.ThreadID, b.ThreadID); c != 0 {
			return c
		}
		return cmp.Compare(a.Sequence, b.Sequence)
	})
	return out
}

// recordDecoder reads a request's stored records into one slab. Like the
// translator, it lets consecutive records share what they repeat — topic,
// thread id, header keys, a span's whole header list, a header value equal
// to the previous record's (static and instance headers) — so restored
// records cost the producer what fresh ones do.
type recordDecoder struct {
	records []translate.Record // capacity: the request's record count
	headers []translate.Header
	prev    *translate.Record
	keys    []string
}

func (d *recordDecoder) parse(data []byte) (*translate.Record, error) {
	d.records = append(d.records, translate.Record{})
	r := &d.records[len(d.records)-1]
	var prev translate.Record
	if d.prev != nil {
		prev = *d.prev
	}
	start := len(d.headers)
	err := eachField(data, func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error {
		switch {
		case num == fieldTopic && typ == protowire.BytesType:
			r.Topic = reuse(prev.Topic, v)
		case num == fieldKey && typ == protowire.BytesType:
			r.Key = v
		case num == fieldValue && typ == protowire.BytesType:
			r.Value = v
		case num == fieldHeader && typ == protowire.BytesType:
			h, err := d.parseHeader(v)
			if err != nil {
				return err
			}
			d.headers = append(d.headers, h)
		case num == fieldThreadID && typ == protowire.BytesType:
			r.ThreadID = reuse(prev.ThreadID, v)
		case num == fieldSequence && typ == protowire.VarintType:
			r.Sequence = n
		case num == fieldType && typ == protowire.VarintType:
			r.Type = dashstreampb.MessageType(n)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if r.Topic == "" || len(r.Value) == 0 {
		return nil, fmt.Errorf("%w: record without topic or value", errBadEncoding)
	}
	if hs := d.headers[start:]; len(hs) > 0 {
		if slices.EqualFunc(hs, prev.Headers, sameHeader) {
			r.Headers = prev.Headers
			d.headers = d.headers[:start]
		} else {
			for j := range hs {
				for _, p := range prev.Headers {
					if sameHeader(hs[j], p) {
						hs[j].Value = p.Value
						break
					}
				}
			}
			r.Headers = hs[:len(hs):len(hs)] // shared: an append must copy
		}
	}
	d.prev = r
	return r, nil
}

func (d *recordDecoder) parseHeader(data []byte) (translate.Header, error) {
	var h translate.Header
	err := eachField(data, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		switch {
		case num == fieldHeaderKey && typ == protowire.BytesType:
			h.Key = d.key(v)
		case num == fieldHeaderValue && typ == protowire.BytesType:
			h.Value = v
		}
		return nil
	})
	return h, err
}

// key interns header keys: a request has a handful of distinct ones.
func (d *recordDecoder) key(b []byte) string {
	for _, k := range d.keys {
		if k == string(b) {
			return k
		}
	}
	k := string(b)
	if len(d.keys) < 8 {
		d.keys = append(d.keys, k)
	}
	return k
}

func sameHeader(a, b translate.Header) bool {
	return a.Key == b.Key && bytes.Equal(a.Value, b.Value)
}

// reuse returns last when b spells it, else b as a new string.
func reuse(last string, b []byte) string {
	if last == string(b) {
		return last
	}
	return string(b)
}

// eachField walks the protobuf wire fields of data; fn gets a bytes field's
// content or a varint's value.
func eachField(data []byte, fn func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error) error {
	for len(data) > 0 {
		num, typ, tn := protowire.ConsumeTag(data)
		if tn < 0 {
			return fmt.Errorf("%w: %v", errBadEncoding, protowire.ParseError(tn))
		}
		data = data[tn:]
		var (
			v  []byte
			x  uint64
			vn int
		)
		switch typ {
		case protowire.BytesType:
			v, vn = protowire.ConsumeBytes(data)
		case protowire.VarintType:
			x, vn = protowire.ConsumeVarint(data)
		default:
			vn = protowire.ConsumeFieldValue(num, typ, data)
		}
		if vn < 0 {
			return fmt.Errorf("%w: %v", errBadEncoding, protowire.ParseError(vn))
		}
		data = data[vn:]
		if err := fn(num, typ, v, x); err != nil {
			return err
		}
	}
	return nil
}
