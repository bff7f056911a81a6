package dashstreamexporter

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
	"github.com/dashstream/dashstreamexporter/dashstream/translate"
)

func TestRequestEncodingRoundTrip(t *testing.T) {
	recs := []*translate.Record{
		{
			Topic: "events", Key: []byte("thread-1"), Value: []byte{0x00, 1, 2, 3},
			Headers: []translate.Header{
				{Key: "traceparent", Value: []byte("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")},
				{Key: "empty", Value: nil},
			},
			ThreadID: "thread-1", Sequence: 1_700_000_000_000_001, Type: dashstreampb.MessageType_MESSAGE_TYPE_STATE_DIFF,
		},
		{Topic: "other", Key: []byte("t2"), Value: []byte{0x01, 0xff}, ThreadID: "t2", Sequence: 7, Type: dashstreampb.MessageType_MESSAGE_TYPE_CHECKPOINT},
	}
	enc := requestEncoding{}
	data, err := enc.Marshal(t.Context(), newRecordsRequest(recs))
	require.NoError(t, err)
	assert.Equal(t, encodingVersion, data[0])

	_, got, err := enc.Unmarshal(data)
	require.NoError(t, err)
	gr := got.(*recordsRequest)
	require.Len(t, gr.records, 2)
	// A nil header value comes back empty: Kafka does not tell them apart.
	recs[0].Headers[1].Value = []byte{}
	for i := range recs {
		assert.Equal(t, *recs[i], *gr.records[i])
	}
	assert.Equal(t, newRecordsRequest(recs).BytesSize(), gr.BytesSize())

	// Same bytes again: what the queue stores is deterministic.
	again, err := enc.Marshal(t.Context(), gr)
	require.NoError(t, err)
	assert.Equal(t, data, again)
}

func TestRequestEncodingEmpty(t *testing.T) {
	enc := requestEncoding{}
	data, err := enc.Marshal(t.Context(), newRecordsRequest(nil))
	require.NoError(t, err)
	_, got, err := enc.Unmarshal(data)
	require.NoError(t, err)
	assert.Equal(t, 0, got.ItemsCount())
}

func TestRequestEncodingSkipsUnknownFields(t *testing.T) {
	enc := requestEncoding{}
	data, err := enc.Marshal(t.Context(), newRecordsRequest(testRecords(1, 4, "th", 5)))
	require.NoError(t, err)
	data = protowire.AppendTag(data, 9, protowire.VarintType)
	data = protowire.AppendVarint(data, 42)
	_, got, err := enc.Unmarshal(data)
	require.NoError(t, err)
	assert.Equal(t, uint64(5), got.(*recordsRequest).records[0].Sequence)
}

func TestRequestEncodingCorrupt(t *testing.T) {
	enc := requestEncoding{}
	good, err := enc.Marshal(t.Context(), newRecordsRequest(testRecords(2, 8, "th", 1)))
	require.NoError(t, err)
	noTopic := []byte{encodingVersion}
	noTopic = protowire.AppendTag(noTopic, fieldRecord, protowire.BytesType)
	noTopic = protowire.AppendBytes(noTopic, protowire.AppendVarint(protowire.AppendTag(nil, fieldSequence, protowire.VarintType), 3))
	tests := map[string][]byte{
		"empty":         nil,
		"wrong version": append([]byte{9}, good[1:]...),
		"truncated":     good[:len(good)-3],
		"bad tag":       {encodingVersion, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"no topic":      noTopic,
	}
	for name, data := range tests {
		t.Run(name, func(t *testing.T) {
			_, _, err := enc.Unmarshal(data)
			require.ErrorIs(t, err, errBadEncoding)
		})
	}
}

func FuzzRequestEncodingUnmarshal(f *testing.F) {
	good, err := requestEncoding{}.Marshal(f.Context(), newRecordsRequest(testRecords(2, 8, "th", 1)))
	require.NoError(f, err)
	f.Add(good)
	f.Add([]byte{encodingVersion})
	f.Fuzz(func(t *testing.T, data []byte) {
		_, req, err := requestEncoding{}.Unmarshal(data)
		if err != nil {
			return
		}
		again, err := requestEncoding{}.Marshal(t.Context(), req)
		require.NoError(t, err)
		_, req2, err := requestEncoding{}.Unmarshal(again)
		require.NoError(t, err)
		assert.Equal(t, req.ItemsCount(), req2.ItemsCount())
		// What decoding shares between records must not change them.
		again2, err := requestEncoding{}.Marshal(t.Context(), req2)
		require.NoError(t, err)
		assert.Equal(t, again, again2)
	})
}

// Requests decoded while the exporter starts (restored by the persistent
// queue) go to the stash, in order; afterwards decoding is plain.
func TestRequestEncodingRestoreStash(t *testing.T) {
	stash := &restoreStash{}
	enc := requestEncoding{stash: stash}
	a, err := enc.Marshal(t.Context(), newRecordsRequest(testRecords(2, 4, "th", 1)))
	require.NoError(t, err)
	b, err := enc.Marshal(t.Context(), newRecordsRequest(testRecords(1, 4, "th", 3)))
	require.NoError(t, err)

	stash.setActive(true)
	for _, data := range [][]byte{a, b} {
		_, req, err := enc.Unmarshal(data)
		require.NoError(t, err)
		assert.Equal(t, 0, req.ItemsCount(), "restored requests leave an empty placeholder")
	}
	stash.setActive(false)
	_, req, err := enc.Unmarshal(a)
	require.NoError(t, err)
	assert.Equal(t, 2, req.ItemsCount())

	var seqs []uint64
	for _, r := range stash.drain() {
		seqs = append(seqs, r.Sequence)
	}
	assert.Equal(t, []uint64{1, 2, 3}, seqs)
	assert.Empty(t, stash.drain())
}

// The persistent queue hands back the requests it found in flight in the
// order of its dispatched-items list, which finishing items reorders
// (swap-remove): a thread's later request can be decoded first. The stash
// still gives each thread's records in sequence order (a crash test run
// once saw every in-flight thread's first full state land after its
// patches).
func TestRestoreStashOrdersEachThread(t *testing.T) {
	stash := &restoreStash{}
	enc := requestEncoding{stash: stash}
	var encoded [][]byte
	for _, recs := range [][]*translate.Record{
		append(testRecords(2, 8, "a", 10), testRecords(2, 8, "b", 100)...), // queued first
		append(testRecords(2, 8, "b", 102), testRecords(2, 8, "a", 12)...),
		testRecords(1, 8, "a", 14), // queued last
	} {
		data, err := enc.Marshal(t.Context(), newRecordsRequest(recs))
		require.NoError(t, err)
		encoded = append(encoded, data)
	}
	stash.setActive(true)
	for _, i := range []int{2, 0, 1} { // the dispatched list's order after a swap-remove
		_, _, err := enc.Unmarshal(encoded[i])
		require.NoError(t, err)
	}
	stash.setActive(false)

	byThread := map[string][]uint64{}
	for _, r := range stash.drain() {
		byThread[r.ThreadID] = append(byThread[r.ThreadID], r.Sequence)
	}
	assert.Equal(t, map[string][]uint64{"a": {10, 11, 12, 13, 14}, "b": {100, 101, 102, 103}}, byThread)
}

// goldenRecords exercise every field of the stored format: several
// headers (one empty, one shared by both records), a value of more than 127
// bytes (two-byte lengths) and a record without headers.
func goldenRecords() []*translate.Record {
	static := translate.Header{Key: "dashstream-instance", Value: []byte("0123456789abcdef0123456789abcdef")}
	return []*translate.Record{
		{
			Topic: "events", Key: []byte("thread-1"), Value: bytes.Repeat([]byte{0xab}, 200),
			Headers: []translate.Header{
				{Key: "traceparent", Value: []byte("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")},
				{Key: "tracestate", Value: []byte("rojo=00f067aa0ba902b7")},
				{Key: "empty", Value: nil},
				static,
			},
			ThreadID: "thread-1", Sequence: 1_700_000_000_000_001, Type: dashstreampb.MessageType_MESSAGE_TYPE_STATE_DIFF,
		},
		{Topic: "events", Key: []byte("thread-1"), Value: []byte{1}, Headers: []translate.Header{static}, ThreadID: "thread-1", Sequence: 1_700_000_000_000_002, Type: dashstreampb.MessageType_MESSAGE_TYPE_EVENT},
		{Topic: "other", Key: []byte("t2"), Value: []byte{0x01, 0xff}, ThreadID: "t2", Sequence: 7, Type: dashstreampb.MessageType_MESSAGE_TYPE_CHECKPOINT},
	}
}

// TestRequestEncodingGolden: the stored format does not change — requests
// persisted by an earlier version are read back, and the bytes a version
// writes are what the next one reads.
func TestRequestEncodingGolden(t *testing.T) {
	data, err := requestEncoding{}.Marshal(t.Context(), newRecordsRequest(goldenRecords()))
	require.NoError(t, err)
	golden, err := os.ReadFile(filepath.Join("testdata", "request_encoding_v1.hex"))
	require.NoError(t, err)
	assert.Equal(t, strings.TrimSpace(string(golden)), hex.EncodeToString(data), "goldenRecords as version 1 stores them")
	_, got, err := requestEncoding{}.Unmarshal(data)
	require.NoError(t, err)
	gr := got.(*recordsRequest)
	require.Len(t, gr.records, 3)
	for i, want := range goldenRecords() {
		if i == 0 {
			want.Headers[2].Value = []byte{} // stored as empty
		}
		assert.Equal(t, *want, *gr.records[i], "record %d", i)
	}
	assert.Same(t, &gr.records[0].Headers[3].Value[0], &gr.records[1].Headers[0].Value[0], "a value repeated by the next record is shared")
	again, err := requestEncoding{}.Marshal(t.Context(), gr)
	require.NoError(t, err)
	assert.Equal(t, data, again)
}

// BenchmarkRequestEncodingMarshal: storing one default batch (2,000
// records, five headers each) in the persistent queue.
func BenchmarkRequestEncodingMarshal(b *testing.B) {
	recs := testRecords(defaultBatchMinRecords, 200, "thread-1", 1)
	static := goldenRecords()[0].Headers
	for _, r := range recs {
		r.Headers = append(r.Headers, static...)
	}
	req := newRecordsRequest(recs)
	for b.Loop() {
		if _, err := (requestEncoding{}).Marshal(b.Context(), req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRequestEncodingUnmarshal: reading one default batch (2,000
// records, five headers each) back from the persistent queue.
func BenchmarkRequestEncodingUnmarshal(b *testing.B) {
	recs := testRecords(defaultBatchMinRecords, 200, "thread-1", 1)
	static := goldenRecords()[0].Headers
	for _, r := range recs {
		r.Headers = append(r.Headers, static...)
	}
	data, err := (requestEncoding{}).Marshal(b.Context(), newRecordsRequest(recs))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, _, err := (requestEncoding{}).Unmarshal(data); err != nil {
			b.Fatal(err)
		}
	}
}
