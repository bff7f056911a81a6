package dashstreamexporter // import "github.com/dashstream/dashstreamexporter"

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exporterhelper/xexporterhelper"

	"github.com/dashstream/dashstreamexporter/dashstream/translate"
)

var (
	_ xexporterhelper.Request             = (*recordsRequest)(nil)
	_ xexporterhelper.RequestErrorHandler = (*recordsRequest)(nil)
)

// recordsRequest is what the sending queue holds: ready Kafka records,
// translated and encoded exactly once, in the order they must be produced.
// Batching merges and splits the list; retries and replays from the
// persistent queue resend these same bytes.
//
// A request never mutates its records after construction: MergeSplit and
// OnError build new requests, so requests that share records (after a
// split) cannot disturb each other. The one exception is the spare capacity
// behind records when ownsTail says no other request's slice reaches into
// it: MergeSplit then appends there (and hands the ownership on) instead of
// copying the batch being built at every merge.
type recordsRequest struct {
	records  []*translate.Record
	bytes    int
	ownsTail bool
	// dropped is what an earlier attempt of the request dropped for good:
	// the request still ends in this permanent error once the records left
	// for the retry are settled, so a caller waiting on it (queue disabled)
	// learns of the loss even when the retry succeeds.
	dropped error
	// retrying: this request holds the records an earlier attempt left
	// unacknowledged; retryStart is when its first attempt began and
	// delivered how many of its records earlier attempts delivered.
	retrying   bool
	retryStart time.Time
	delivered  int
}

func newRecordsRequest(records []*translate.Record) *recordsRequest {
	n := 0
	for _, r := range records {
		n += recordSize(r)
	}
	return &recordsRequest{records: records, bytes: n}
}

// ItemsCount is the number of records: the queue's and batcher's `items`.
func (r *recordsRequest) ItemsCount() int { return len(r.records) }

// BytesSize is the records' size as Kafka counts it: the queue's and
// batcher's `bytes`.
func (r *recordsRequest) BytesSize() int { return r.bytes }

// MergeSplit appends other's records after r's and cuts the result into
// requests of at most maxSize records or bytes, keeping the order (a record
// larger than maxSize bytes goes alone). Order matters more than the
// helper's preference for the smallest request last: the batcher only uses
// that preference to pick what it keeps waiting, never for correctness.
//
// The batcher merges every incoming request into the one it is building:
// appending into that request's own spare capacity keeps a batch of n
// records at O(n) copying instead of O(n²), and sizes add up instead of
// being recounted.
func (r *recordsRequest) MergeSplit(_ context.Context, maxSize int, szt exporterhelper.RequestSizerType, other xexporterhelper.Request) ([]xexporterhelper.Request, error) {
	merged := r
	if other != nil {
		o, ok := other.(*recordsRequest)
		if !ok {
			return nil, fmt.Errorf("dashstream: cannot merge %T into a records request", other)
		}
		recs := r.records
		if !r.ownsTail {
			recs = recs[:len(recs):len(recs)] // append copies
		}
		r.ownsTail = false // whatever append wrote is the merged request's
		merged = &recordsRequest{records: append(recs, o.records...), bytes: r.bytes + o.bytes, ownsTail: true}
	}
	if maxSize <= 0 || len(merged.records) == 0 {
		return []xexporterhelper.Request{merged}, nil
	}
	switch szt {
	case exporterhelper.RequestSizerTypeItems:
		if len(merged.records) <= maxSize {
			return []xexporterhelper.Request{merged}, nil
		}
		return merged.splitByCount(maxSize), nil
	case exporterhelper.RequestSizerTypeBytes:
		if merged.bytes <= maxSize {
			return []xexporterhelper.Request{merged}, nil
		}
		return merged.splitByBytes(maxSize), nil
	case exporterhelper.RequestSizerTypeRequests:
		return []xexporterhelper.Request{merged}, nil
	default:
		return nil, fmt.Errorf("dashstream: unsupported sizer %q", szt.String())
	}
}

// splitByCount cuts r into requests of at most maxCount records. Only the
// last one may own r's spare capacity: the others end where the next
// begins.
func (r *recordsRequest) splitByCount(maxCount int) []xexporterhelper.Request {
	recs := r.records
	out := make([]xexporterhelper.Request, 0, (len(recs)+maxCount-1)/maxCount)
	for start := 0; start < len(recs); start += maxCount {
		end := min(start+maxCount, len(recs))
		out = append(out, r.piece(start, end))
	}
	return out
}

// splitByBytes cuts r into requests of at most maxBytes (a larger record
// goes alone).
func (r *recordsRequest) splitByBytes(maxBytes int) []xexporterhelper.Request {
	recs := r.records
	var out []xexporterhelper.Request
	start, size := 0, 0
	for i, rec := range recs {
		n := recordSize(rec)
		if i > start && size+n > maxBytes {
			out = append(out, r.piece(start, i))
			start, size = i, 0
		}
		size += n
	}
	return append(out, r.piece(start, len(recs)))
}

// piece is records[start:end] as a request of its own; the last piece
// takes over r's spare capacity.
func (r *recordsRequest) piece(start, end int) *recordsRequest {
	if end == len(r.records) && r.ownsTail {
		r.ownsTail = false
		p := newRecordsRequest(r.records[start:])
		p.ownsTail = true
		return p
	}
	return newRecordsRequest(r.records[start:end:end])
}

// OnError is called by the retry sender after a failed attempt: the retry
// resends only the records the failure left unacknowledged (SPEC §5.5).
func (r *recordsRequest) OnError(err error) xexporterhelper.Request {
	if f, ok := errors.AsType[*partialFailure](err); ok && f.remaining != nil {
		return f.remaining
	}
	return r
}

// threads returns the distinct thread ids of recs, in first-seen order.
func threadsOf(recs []*translate.Record) []string {
	seen := make(map[string]struct{}, len(recs))
	var out []string
	for _, r := range recs {
		if _, ok := seen[r.ThreadID]; !ok {
			seen[r.ThreadID] = struct{}{}
			out = append(out, r.ThreadID)
		}
	}
	return out
}

// Kafka's per-record accounting (record format v2), as sarama applies it
// against Producer.MaxMessageBytes: a fixed overhead for the record's
// varints, plus key, value and each header with its two length varints.
const (
	recordOverhead = 5*binary.MaxVarintLen32 + binary.MaxVarintLen64 + 1
	headerOverhead = 2 * binary.MaxVarintLen32
)

// recordSize is the size sarama checks against producer.max_message_bytes.
func recordSize(r *translate.Record) int {
	n := recordOverhead + len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		n += len(h.Key) + len(h.Value) + headerOverhead
	}
	return n
}
