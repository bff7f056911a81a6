package dashstreamexporter

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exporterhelper/xexporterhelper"

	"github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
	"github.com/dashstream/dashstreamexporter/dashstream/translate"
)

func testRecords(n, valueBytes int, thread string, firstSeq uint64) []*translate.Record {
	out := make([]*translate.Record, n)
	for i := range out {
		out[i] = &translate.Record{
			Topic:    "t",
			Key:      []byte(thread),
			Value:    make([]byte, valueBytes),
			Headers:  []translate.Header{{Key: "traceparent", Value: []byte("00-0123-4567-01")}},
			ThreadID: thread,
			Sequence: firstSeq + uint64(i),
			Type:     dashstreampb.MessageType_MESSAGE_TYPE_EVENT,
		}
	}
	return out
}

func sequencesOf(reqs []xexporterhelper.Request) [][]uint64 {
	var out [][]uint64
	for _, r := range reqs {
		var s []uint64
		for _, rec := range r.(*recordsRequest).records {
			s = append(s, rec.Sequence)
		}
		out = append(out, s)
	}
	return out
}

func TestRecordsRequestSizes(t *testing.T) {
	recs := testRecords(3, 100, "th", 1)
	r := newRecordsRequest(recs)
	assert.Equal(t, 3, r.ItemsCount())
	one := recordOverhead + len("th") + 100 + len("traceparent") + len("00-0123-4567-01") + headerOverhead
	assert.Equal(t, one, recordSize(recs[0]))
	assert.Equal(t, 3*one, r.BytesSize())
}

func TestRecordsRequestMergeSplit(t *testing.T) {
	size := recordSize(testRecords(1, 100, "th", 1)[0])
	tests := []struct {
		name    string
		a, b    int
		maxSize int
		sizer   exporterhelper.RequestSizerType
		want    [][]uint64
	}{
		{"merge no limit", 2, 3, 0, exporterhelper.RequestSizerTypeItems, [][]uint64{{1, 2, 3, 4, 5}}},
		{"merge nil other", 2, 0, 0, exporterhelper.RequestSizerTypeItems, [][]uint64{{1, 2}}},
		{"split by items", 3, 4, 3, exporterhelper.RequestSizerTypeItems, [][]uint64{{1, 2, 3}, {4, 5, 6}, {7}}},
		{"split by bytes", 3, 2, 2 * size, exporterhelper.RequestSizerTypeBytes, [][]uint64{{1, 2}, {3, 4}, {5}}},
		{"bytes smaller than one record", 2, 1, size / 2, exporterhelper.RequestSizerTypeBytes, [][]uint64{{1}, {2}, {3}}},
		{"requests sizer merges", 2, 2, 1, exporterhelper.RequestSizerTypeRequests, [][]uint64{{1, 2, 3, 4}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newRecordsRequest(testRecords(tt.a, 100, "th", 1))
			var b xexporterhelper.Request
			if tt.b > 0 {
				b = newRecordsRequest(testRecords(tt.b, 100, "th", uint64(tt.a)+1))
			}
			before := a.ItemsCount()
			out, err := a.MergeSplit(t.Context(), tt.maxSize, tt.sizer, b)
			require.NoError(t, err)
			assert.Equal(t, tt.want, sequencesOf(out))
			assert.Equal(t, before, a.ItemsCount(), "the receiver must not be mutated")
			for _, r := range out {
				rr := r.(*recordsRequest)
				assert.Equal(t, newRecordsRequest(rr.records).BytesSize(), rr.BytesSize())
				if tt.maxSize > 0 && tt.sizer == exporterhelper.RequestSizerTypeItems {
					assert.LessOrEqual(t, rr.ItemsCount(), tt.maxSize)
				}
			}
		})
	}
}

// A split must never let a later merge write into a sibling's records.
func TestRecordsRequestSplitDoesNotAlias(t *testing.T) {
	a := newRecordsRequest(testRecords(4, 10, "th", 1))
	out, err := a.MergeSplit(t.Context(), 2, exporterhelper.RequestSizerTypeItems, nil)
	require.NoError(t, err)
	require.Len(t, out, 2)
	first := out[0].(*recordsRequest)
	merged, err := first.MergeSplit(t.Context(), 0, exporterhelper.RequestSizerTypeItems, newRecordsRequest(testRecords(1, 10, "th", 99)))
	require.NoError(t, err)
	assert.Equal(t, [][]uint64{{1, 2, 99}}, sequencesOf(merged))
	assert.Equal(t, [][]uint64{{3, 4}}, sequencesOf(out[1:]))
}

// TestRecordsRequestMergeAppends: merging request after request into the
// batch being built (as the batcher does, keeping the first result) appends
// into the batch's own array — a handful of arrays for the whole batch, not
// one per merge — without changing any earlier request or split piece.
func TestRecordsRequestMergeAppends(t *testing.T) {
	for _, tt := range []struct {
		name    string
		maxSize int
		sizer   exporterhelper.RequestSizerType
	}{
		{"no limit", 0, exporterhelper.RequestSizerTypeItems},
		{"split by items", 40, exporterhelper.RequestSizerTypeItems},
		{"split by bytes", 40 * recordSize(testRecords(1, 10, "th", 1)[0]), exporterhelper.RequestSizerTypeBytes},
	} {
		t.Run(tt.name, func(t *testing.T) {
			type seen struct {
				r    *recordsRequest
				want []uint64
			}
			var all []seen
			keep := func(r xexporterhelper.Request) *recordsRequest {
				rr := r.(*recordsRequest)
				all = append(all, seen{rr, sequencesOf([]xexporterhelper.Request{rr})[0]})
				return rr
			}
			cur := keep(newRecordsRequest(testRecords(3, 10, "th", 1)))
			arrays := map[**translate.Record]bool{}
			next := uint64(4)
			for range 100 {
				out, err := cur.MergeSplit(t.Context(), tt.maxSize, tt.sizer, newRecordsRequest(testRecords(2, 10, "th", next)))
				require.NoError(t, err)
				next += 2
				for _, r := range out {
					keep(r)
				}
				// The batcher keeps the last piece when it is not full.
				cur = out[len(out)-1].(*recordsRequest)
				arrays[&cur.records[0]] = true
				assert.Equal(t, newRecordsRequest(cur.records).BytesSize(), cur.BytesSize())
			}
			for i, s := range all {
				assert.Equal(t, s.want, sequencesOf([]xexporterhelper.Request{s.r})[0], "request %d changed", i)
			}
			if tt.maxSize == 0 {
				assert.Len(t, cur.records, 203)
				assert.LessOrEqual(t, len(arrays), 12, "one array per growth, not one per merge")
			}
		})
	}
}

func TestRecordsRequestMergeWrongType(t *testing.T) {
	a := newRecordsRequest(testRecords(1, 10, "th", 1))
	_, err := a.MergeSplit(t.Context(), 0, exporterhelper.RequestSizerTypeItems, otherRequest{})
	require.Error(t, err)
}

type otherRequest struct{ xexporterhelper.Request }

func TestRecordsRequestOnError(t *testing.T) {
	a := newRecordsRequest(testRecords(3, 10, "th", 1))
	rest := newRecordsRequest(a.records[1:])
	pf := &partialFailure{remaining: rest, failed: 2, total: 3, cause: errors.New("broker down")}
	assert.Same(t, rest, a.OnError(fmt.Errorf("wrapped: %w", pf)))
	assert.Same(t, a, a.OnError(errors.New("other")))
	assert.Contains(t, pf.Error(), "2 of 3")
	assert.ErrorContains(t, errors.Unwrap(pf), "broker down")
}

func TestThreadsOf(t *testing.T) {
	recs := append(testRecords(2, 1, "b", 1), testRecords(2, 1, "a", 1)...)
	recs = append(recs, testRecords(1, 1, "b", 3)...)
	assert.Equal(t, []string{"b", "a"}, threadsOf(recs))
}

// BenchmarkRecordsRequestMerge: what the batcher's merging costs for one
// batch at the defaults (min_size 2,000 records) built from calls of 64
// records each, as it merges them: into the batch being built, keeping the
// result.
func BenchmarkRecordsRequestMerge(b *testing.B) {
	const perCall, calls = 64, defaultBatchMinRecords / 64
	reqs := make([]*recordsRequest, calls)
	for i := range reqs {
		reqs[i] = newRecordsRequest(testRecords(perCall, 200, "th", uint64(i*perCall)))
	}
	for b.Loop() {
		var cur xexporterhelper.Request
		for _, r := range reqs {
			in := &recordsRequest{records: r.records[:perCall:perCall], bytes: r.bytes, ownsTail: true}
			var out []xexporterhelper.Request
			if cur == nil {
				out, _ = in.MergeSplit(b.Context(), defaultBatchMaxRecords, exporterhelper.RequestSizerTypeItems, nil)
			} else {
				out, _ = cur.MergeSplit(b.Context(), defaultBatchMaxRecords, exporterhelper.RequestSizerTypeItems, in)
			}
			cur = out[len(out)-1]
		}
	}
}
