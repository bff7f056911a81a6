package main

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/protobuf/proto"

	"github.com/dashstream/dashstreamexporter/dashstream"
	"github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
)

func startKafka(t *testing.T, topic string) string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, topic))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}

func produce(t *testing.T, brokers, topic string, recs ...*kgo.Record) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers), kgo.DefaultProduceTopic(topic))
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, cl.ProduceSync(ctx, recs...).FirstErr())
}

func event(t *testing.T, et dashstreampb.EventType, ts time.Time) []byte {
	t.Helper()
	enc, err := dashstream.NewEncoder(dashstream.DefaultEncoderOptions())
	require.NoError(t, err)
	b, err := enc.Encode(&dashstreampb.DashStreamMessage{Message: &dashstreampb.DashStreamMessage_Event{Event: &dashstreampb.Event{
		Header:    &dashstreampb.Header{MessageId: make([]byte, 16), TimestampUs: ts.UnixMicro(), ThreadId: "t", Sequence: 1, Type: dashstreampb.MessageType_MESSAGE_TYPE_EVENT, SchemaVersion: 1},
		EventType: et,
	}}})
	require.NoError(t, err)
	return b
}

func stateDiff(t *testing.T, full bool) []byte {
	t.Helper()
	enc, err := dashstream.NewEncoder(dashstream.DefaultEncoderOptions())
	require.NoError(t, err)
	sd := &dashstreampb.StateDiff{
		Header:    &dashstreampb.Header{MessageId: make([]byte, 16), ThreadId: "t", Sequence: 2, Type: dashstreampb.MessageType_MESSAGE_TYPE_STATE_DIFF, SchemaVersion: 1},
		StateHash: make([]byte, 32),
	}
	if full {
		sd.FullState = []byte(`{"a":1}`)
	} else {
		sd.Operations = []*dashstreampb.DiffOperation{{Op: dashstreampb.DiffOperation_OP_TYPE_ADD.Enum(), Path: proto.String("/a"), Encoding: dashstreampb.DiffOperation_VALUE_ENCODING_JSON.Enum(), Value: []byte("1")}}
	}
	b, err := enc.Encode(&dashstreampb.DashStreamMessage{Message: &dashstreampb.DashStreamMessage_StateDiff{StateDiff: sd}})
	require.NoError(t, err)
	return b
}

func TestConsumeDashStream(t *testing.T) {
	const topic = "ds"
	brokers := startKafka(t, topic)
	end := time.Now().Add(-50 * time.Millisecond)
	produce(t, brokers, topic,
		&kgo.Record{Key: []byte("t"), Value: event(t, dashstreampb.EventType_EVENT_TYPE_NODE_START, end)},
		&kgo.Record{Key: []byte("t"), Value: event(t, dashstreampb.EventType_EVENT_TYPE_NODE_END, end),
			Headers: []kgo.RecordHeader{{Key: "traceparent", Value: []byte("00-x")}}},
		&kgo.Record{Key: []byte("t"), Value: stateDiff(t, false)},
		&kgo.Record{Key: []byte("t"), Value: stateDiff(t, true)},
		&kgo.Record{Key: []byte("t"), Value: []byte{0x7f, 1, 2}},
	)
	ctx := context.Background()
	admin, err := kgo.NewClient(kgo.SeedBrokers(brokers))
	require.NoError(t, err)
	defer admin.Close()
	n, err := endOffsets(ctx, admin, topic)
	require.NoError(t, err)
	assert.Equal(t, int64(5), n)

	dec, err := dashStreamDecoder()
	require.NoError(t, err)
	c, err := startConsumer(ctx, brokers, topic, dec, true)
	require.NoError(t, err)
	st, err := c.waitFor(ctx, n, 30*time.Second)
	require.NoError(t, err)
	assert.Equal(t, int64(5), st.Records)
	assert.Equal(t, int64(2), st.ByKind[kindEvent].Records)
	assert.Equal(t, int64(1), st.ByKind[kindStatePatch].Records)
	assert.Equal(t, int64(1), st.ByKind[kindStateFull].Records)
	assert.Equal(t, int64(1), st.ByKind[kindOtherMessages].Records)
	assert.Equal(t, int64(1), st.DecodeErrors)
	var total int64
	for _, k := range st.ByKind {
		total += k.Bytes
	}
	assert.Equal(t, st.Bytes, total, "every byte is in one kind")
	require.Len(t, st.Latencies, 1, "only the NODE_END carries a span end")
	assert.GreaterOrEqual(t, st.Latencies[0].d, 49*time.Millisecond)
	assert.Less(t, st.Latencies[0].d, time.Minute)
}

func TestConsumeOTLP(t *testing.T) {
	const topic = "otlp"
	brokers := startKafka(t, topic)
	td := ptrace.NewTraces()
	spans := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
	end := time.Now().Add(-20 * time.Millisecond)
	for range 3 {
		spans.AppendEmpty().SetEndTimestamp(pcommon.NewTimestampFromTime(end))
	}
	var m ptrace.ProtoMarshaler
	body, err := m.MarshalTraces(td)
	require.NoError(t, err)
	produce(t, brokers, topic, &kgo.Record{Value: body}, &kgo.Record{Value: []byte{0xff, 0xff}})

	ctx := context.Background()
	c, err := startConsumer(ctx, brokers, topic, otlpDecoder(), false)
	require.NoError(t, err)
	st, err := c.waitFor(ctx, 2, 30*time.Second)
	require.NoError(t, err)
	assert.Equal(t, int64(3), st.Spans)
	assert.Equal(t, int64(2), st.ByKind[kindOTLP].Records)
	assert.Equal(t, int64(1), st.DecodeErrors)
	assert.Empty(t, st.Latencies, "not live: no latency samples")
}

func TestConsumerWaitForTimesOut(t *testing.T) {
	const topic = "empty"
	brokers := startKafka(t, topic)
	ctx := context.Background()
	c, err := startConsumer(ctx, brokers, topic, otlpDecoder(), false)
	require.NoError(t, err)
	_, err = c.waitFor(ctx, 1, 300*time.Millisecond)
	assert.ErrorContains(t, err, "consumed 0 of 1")
}

func TestWarmLatencies(t *testing.T) {
	t0 := time.Unix(100, 0)
	got := warmLatencies([]latencySample{
		{end: t0.Add(-time.Second), d: 1},
		{end: t0, d: 2},
		{end: t0.Add(time.Second), d: 3},
	}, t0)
	assert.Equal(t, []time.Duration{2, 3}, got)
}

func TestWindowedP99(t *testing.T) {
	t0 := time.Unix(100, 0)
	var samples []latencySample
	// Three 1-s windows of 100 samples: 10 ms, 20 ms, and 30 ms with one 900 ms stall.
	for w := range 3 {
		for i := range 100 {
			d := time.Duration(10*(w+1)) * time.Millisecond
			if w == 2 && i == 0 {
				d = 900 * time.Millisecond
			}
			samples = append(samples, latencySample{end: t0.Add(time.Duration(w)*time.Second + time.Duration(i)*time.Millisecond), d: d})
		}
	}
	samples = append(samples, latencySample{end: t0.Add(-time.Second), d: time.Hour}) // warm-up, ignored
	med, stalls, windows := windowedP99(samples, t0, time.Second, 250)
	assert.InDelta(t, 20, med, 1e-9)
	assert.Equal(t, 1, stalls)
	assert.Equal(t, 3, windows)

	med, stalls, windows = windowedP99(nil, t0, time.Second, 250)
	assert.Zero(t, med+float64(stalls+windows))
}

func TestKafkaLeg(t *testing.T) {
	now := time.Now()
	assert.Equal(t, time.Duration(-1), kafkaLeg(&kgo.Record{}, now), "no timestamp")
	assert.Equal(t, 5*time.Millisecond, kafkaLeg(&kgo.Record{Timestamp: now.Add(-5 * time.Millisecond)}, now))
	got := kafkaLegs([]latencySample{
		{end: now, kafka: -1},
		{end: now, kafka: 3},
		{end: now.Add(-time.Hour), kafka: 4},
	}, now.Add(-time.Minute))
	assert.Equal(t, []time.Duration{3}, got)
}
