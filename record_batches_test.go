package dashstreamexporter

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dashstream/dashstreamexporter/dashstream/translate"
)

// headerRecords returns n records, four per span, with a span's headers
// shared by its records and the static and instance values shared by all.
func headerRecords(n int) []*translate.Record {
	static := []translate.Header{
		{Key: instanceHeader, Value: []byte("0123456789abcdef0123456789abcdef")},
		{Key: "source", Value: []byte("otelcol")},
	}
	recs := make([]*translate.Record, n)
	var hs []translate.Header
	for i := range recs {
		if i%4 == 0 {
			hs = append([]translate.Header{{Key: "traceparent", Value: fmt.Appendf(nil, "00-%032x-%016x-01", i, i)}}, static...)
		}
		thread := fmt.Sprintf("th%d", i/4%8)
		recs[i] = &translate.Record{Topic: testTopic, Key: []byte(thread), Value: []byte{byte(i)}, Headers: hs, ThreadID: thread}
	}
	return recs
}

// TestBatchBuilderSteadyState: once warm, a send's batches (records,
// pointer slices, headers) are built without allocating, and a released
// builder holds no reference to the records it converted.
func TestBatchBuilderSteadyState(t *testing.T) {
	recs := headerRecords(400)
	idx := make([]int, len(recs))
	for i := range idx {
		idx[i] = i
	}
	var pool builderPool
	send := func() {
		bb := pool.get()
		for range 2 { // two rounds
			bb.newRound(len(recs))
			a, b := bb.batchRecords(recs, idx[:150]), bb.batchRecords(recs, idx[150:])
			if len(a)+len(b) != len(recs) || &a[0].Value[0] != &recs[0].Value[0] {
				t.Fatal("wrong batch")
			}
		}
		pool.put(bb)
	}
	send()
	assert.Zero(t, testing.AllocsPerRun(20, send), "allocations per send in steady state")

	bb := pool.get()
	bb.newRound(len(recs))
	got := bb.batchRecords(recs, idx)
	for k, r := range got {
		require.Equal(t, recs[k].Value, r.Value)
		require.Len(t, r.Headers, 3)
		for j, h := range recs[k].Headers {
			require.Equal(t, h.Key, string(r.Headers[j].Key))
			require.Equal(t, h.Value, r.Headers[j].Value)
		}
	}
	assert.Same(t, got[0].Headers[1], got[399].Headers[1], "the instance header is converted once per round")
	pool.put(bb)
	for _, r := range bb.records[:cap(bb.records)] {
		require.Nil(t, r.Value, "a released builder keeps no record bytes")
	}
	for _, h := range bb.headers.hdrs[:cap(bb.headers.hdrs)] {
		require.Nil(t, h.Value, "a released builder keeps no header bytes")
	}
}
