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
// A request never mutates its records or its slice after construction:
// MergeSplit and OnError build new requests, so requests that share records
// (after a split) cannot disturb each other.
type recordsRequest struct {
	records []*translate.Record
	bytes   int
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
func (r *recordsRequest) MergeSplit(_ context.Context, maxSize int, szt exporterhelper.RequestSizerType, other xexporterhelper.Request) ([]xexporterhelper.Request, error) {
	merged := r.records
	if other != nil {
		o, ok := other.(*recordsRequest)
		if !ok {
			return nil, fmt.Errorf("dashstream: cannot merge %T into a records request", other)
		}
		merged = make([]*translate.Record, 0, len(r.records)+len(o.records))
		merged = append(merged, r.records...)
		merged = append(merged, o.records...)
	}
	if maxSize <= 0 || len(merged) == 0 {
		return []xexporterhelper.Request{newRecordsRequest(merged)}, nil
	}
	switch szt {
	case exporterhelper.RequestSizerTypeItems:
		return splitByCount(merged, maxSize), nil
	case exporterhelper.RequestSizerTypeBytes:
		return splitByBytes(merged, maxSize), nil
	case exporterhelper.RequestSizerTypeRequests:
		return []xexporterhelper.Request{newRecordsRequest(merged)}, nil
	default:
		return nil, fmt.Errorf("dashstream: unsupported sizer %q", szt.String())
	}
}

func splitByCount(recs []*translate.Record, maxCount int) []xexporterhelper.Request {
	out := make([]xexporterhelper.Request, 0, (len(recs)+maxCount-1)/maxCount)
	for start := 0; start < len(recs); start += maxCount {
		end := min(start+maxCount, len(recs))
		out = append(out, newRecordsRequest(recs[start:end:end]))
	}
	return out
}

func splitByBytes(recs []*translate.Record, maxBytes int) []xexporterhelper.Request {
	var out []xexporterhelper.Request
	start, size := 0, 0
	for i, rec := range recs {
		n := recordSize(rec)
		if i > start && size+n > maxBytes {
			out = append(out, newRecordsRequest(recs[start:i:i]))
			start, size = i, 0
		}
		size += n
	}
	return append(out, newRecordsRequest(recs[start:len(recs):len(recs)]))
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
