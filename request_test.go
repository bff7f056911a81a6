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
