package dashstreamexporter

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/dashstream/dashstreamexporter/dashstream/translate"
)

func testProducer(t *testing.T, brokers []string, mutate func(*Config)) *kafkaProducer {
	t.Helper()
	cfg := testConfig(brokers)
	if mutate != nil {
		mutate(cfg)
	}
	sc, err := newSaramaConfig(t.Context(), cfg)
	require.NoError(t, err)
	p := newKafkaProducer(brokers, sc, minReadBack, zap.NewNop())
	t.Cleanup(func() { require.NoError(t, p.close()) })
	return p
}

// Per-record outcomes: acknowledged records get nil, each failed record its
// own error, so settle can retry exactly the unacknowledged ones.
func TestProducerPerRecordOutcomes(t *testing.T) {
	cluster := newCluster(t)
	p := testProducer(t, cluster.ListenAddrs(), func(c *Config) { c.Producer.AllowAutoTopicCreation = false })

	recs := testRecords(3, 16, "th", 1)
	for _, r := range recs {
		r.Topic = testTopic
	}
	missing := testRecords(1, 16, "other", 1)[0]
	missing.Topic = "no-such-topic"
	recs = append(recs[:1], append([]*translate.Record{missing}, recs[1:]...)...)

	outcomes := p.send(recs)
	require.Len(t, outcomes, 4)
	assert.NoError(t, outcomes[0])
	assert.ErrorIs(t, outcomes[1], sarama.ErrUnknownTopicOrPartition)
	assert.True(t, isPermanent(outcomes[1], false), "unknown topic without auto-creation is permanent")
	assert.NoError(t, outcomes[2])
	assert.NoError(t, outcomes[3])
}

// With no broker every record fails with a retryable error, and the producer
// starts over on the next attempt.
func TestProducerBrokerDown(t *testing.T) {
	p := testProducer(t, []string{fmt.Sprintf("127.0.0.1:%d", freePort(t))}, nil)
	outcomes := p.send(testRecords(2, 8, "th", 1))
	for _, err := range outcomes {
		require.Error(t, err)
		assert.False(t, isPermanent(err, true), "got %v", err)
	}
	p.mu.Lock()
	assert.Nil(t, p.sp, "a failed attempt discards the producer")
	p.mu.Unlock()
}

func TestProducerClosed(t *testing.T) {
	cluster := newCluster(t)
	p := testProducer(t, cluster.ListenAddrs(), nil)
	require.NoError(t, p.close())
	recs := testRecords(1, 8, "th", 1)
	recs[0].Topic = testTopic
	for _, err := range p.send(recs) {
		assert.ErrorContains(t, err, "closed")
	}
}

// TestHeaderConverter: records of one span share their converted headers,
// a header whose value is the very bytes of the previous span's (static and
// instance headers) shares its conversion, other headers are converted
// anew, and every header arrives unchanged, also after a reset.
func TestHeaderConverter(t *testing.T) {
	static := translate.Header{Key: "env", Value: []byte("prod")}
	spanA := []translate.Header{{Key: "traceparent", Value: []byte("00-a-01")}, static}
	spanB := []translate.Header{{Key: "traceparent", Value: []byte("00-b-01")}, static}
	spanC := []translate.Header{{Key: "traceparent", Value: []byte("00-c-01")}, {Key: "env", Value: []byte("prod")}}
	var c headerConverter
	a1 := c.convert(spanA)
	a2 := c.convert(spanA)
	b1 := c.convert(spanB)
	assert.Nil(t, c.convert(nil))
	a3 := c.convert(spanA) // not the last span any more: converted again
	c1 := c.convert(spanC)
	c.reset()
	a4 := c.convert(spanA)
	for _, tc := range []struct {
		got  []*sarama.RecordHeader
		want []translate.Header
	}{{a1, spanA}, {a2, spanA}, {b1, spanB}, {a3, spanA}, {c1, spanC}, {a4, spanA}} {
		require.Len(t, tc.got, len(tc.want))
		for j, h := range tc.want {
			assert.Equal(t, h.Key, string(tc.got[j].Key))
			assert.Equal(t, h.Value, tc.got[j].Value)
		}
	}
	assert.Same(t, a1[0], a2[0], "consecutive records of a span share one conversion")
	assert.NotSame(t, a1[0], b1[0])
	assert.Same(t, a1[1], b1[1], "a header with the same value bytes is converted once")
	assert.NotSame(t, a3[1], c1[1], "equal but distinct value bytes are converted anew")
	assert.Same(t, &a1[0].Key[0], &b1[0].Key[0], "a key's bytes are converted once")
}

// TestProducerConcurrentSends: sends from several goroutines share one
// producer (num_consumers > 1); each gets exactly its own records'
// outcomes, and every record reaches Kafka once, each key's in order.
func TestProducerConcurrentSends(t *testing.T) {
	cluster := newCluster(t)
	p := testProducer(t, cluster.ListenAddrs(), func(c *Config) { c.Producer.AllowAutoTopicCreation = false })
	const senders, batches, perBatch = 4, 5, 40
	var wg sync.WaitGroup
	for g := range senders {
		wg.Go(func() {
			key := fmt.Sprintf("g%d", g)
			for b := range batches {
				recs := make([]*translate.Record, perBatch)
				for i := range recs {
					recs[i] = &translate.Record{Topic: testTopic, Key: []byte(key), ThreadID: key,
						Value: fmt.Appendf(nil, "%s-%03d", key, b*perBatch+i)}
				}
				bad := -1
				if g == 0 && b == 2 {
					bad = 7
					recs[bad].Topic = "no-such-topic"
				}
				outcomes := p.send(recs)
				for i, err := range outcomes {
					if i == bad {
						assert.ErrorIs(t, err, sarama.ErrUnknownTopicOrPartition, "sender %d batch %d record %d", g, b, i)
					} else {
						assert.NoError(t, err, "sender %d batch %d record %d", g, b, i)
					}
				}
			}
		})
	}
	wg.Wait()

	want := senders*batches*perBatch - 1
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.ConsumeTopics(testTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(t, err)
	defer cl.Close()
	got := map[string][]string{}
	n := 0
	deadline := time.Now().Add(30 * time.Second)
	for n < want && time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			got[string(r.Key)] = append(got[string(r.Key)], string(r.Value))
			n++
		})
		cancel()
	}
	require.Equal(t, want, n, "records in Kafka")
	for g := range senders {
		key := fmt.Sprintf("g%d", g)
		var expect []string
		for i := range batches * perBatch {
			if g == 0 && i == 2*perBatch+7 {
				continue
			}
			expect = append(expect, fmt.Sprintf("%s-%03d", key, i))
		}
		assert.Equal(t, expect, got[key], "key %s: each record once, in order", key)
	}
}

// TestProducerResetDuringSends: one send's reset (after a retryable
// failure) closes the producer while others feed and wait on it; none of
// them panics or hangs, and each record gets an outcome.
func TestProducerResetDuringSends(t *testing.T) {
	cluster := newCluster(t)
	p := testProducer(t, cluster.ListenAddrs(), nil)
	stop := make(chan struct{})
	var resets sync.WaitGroup
	resets.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				p.reset()
				runtimeYield()
			}
		}
	})
	var wg sync.WaitGroup
	ok, failed := 0, 0
	var mu sync.Mutex
	for g := range 4 {
		wg.Go(func() {
			for b := range 20 {
				recs := testRecords(30, 64, fmt.Sprintf("g%d-%d", g, b), 1)
				for _, r := range recs {
					r.Topic = testTopic
				}
				outcomes := p.send(recs)
				require.Len(t, outcomes, len(recs))
				mu.Lock()
				for _, err := range outcomes {
					if err == nil {
						ok++
					} else {
						failed++
						assert.False(t, isPermanent(err, true), "a reset is retried: %v", err)
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(stop)
	resets.Wait()
	assert.Equal(t, 4*20*30, ok+failed)
	assert.Positive(t, ok, "some sends went through between resets")
}

// TestProducerRecordsExact: what reaches Kafka is exactly the records sent —
// key, value and every header (name, bytes, order) — across sends and
// rounds that reuse the producer's buffers, with headers shared by a span's
// records, values shared by every span (static and instance headers), a
// tracestate on some spans only, records without headers, and batches cut
// by producer.flush_max_messages.
func TestProducerRecordsExact(t *testing.T) {
	cluster := newCluster(t)
	p := testProducer(t, cluster.ListenAddrs(), func(c *Config) { c.Producer.FlushMaxMessages = 50 })
	instance := []byte("0123456789abcdef0123456789abcdef")
	static := []translate.Header{{Key: "env", Value: []byte("prod")}, {Key: "source", Value: []byte("otelcol")}}
	type sent struct {
		value   string
		headers []string
	}
	want := map[string][]sent{}
	total := 0
	for round := range 3 {
		var recs []*translate.Record
		for span := range 150 {
			thread := fmt.Sprintf("th%02d", (span*7+round)%24)
			var hs []translate.Header
			if span%11 != 0 {
				hs = append(hs, translate.Header{Key: "traceparent", Value: fmt.Appendf(nil, "00-%032x-%016x-01", round, span)})
				if span%3 == 0 {
					hs = append(hs, translate.Header{Key: "tracestate", Value: fmt.Appendf(nil, "v=%d", span)})
				}
				hs = append(hs, translate.Header{Key: instanceHeader, Value: instance})
				hs = append(hs, static...)
				hs = hs[:len(hs):len(hs)]
			}
			for k := range 1 + span%5 {
				value := fmt.Sprintf("%d/%d/%d", round, span, k)
				recs = append(recs, &translate.Record{Topic: testTopic, Key: []byte(thread), ThreadID: thread, Value: []byte(value), Headers: hs})
				var names []string
				for _, h := range hs {
					names = append(names, h.Key+"="+string(h.Value))
				}
				want[thread] = append(want[thread], sent{value, names})
			}
		}
		for i, err := range p.send(recs) {
			require.NoError(t, err, "round %d record %d", round, i)
		}
		total += len(recs)
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.ConsumeTopics(testTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(t, err)
	defer cl.Close()
	got := map[string][]sent{}
	n := 0
	deadline := time.Now().Add(30 * time.Second)
	for n < total && time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			var names []string
			for _, h := range r.Headers {
				names = append(names, h.Key+"="+string(h.Value))
			}
			got[string(r.Key)] = append(got[string(r.Key)], sent{string(r.Value), names})
			n++
		})
		cancel()
	}
	require.Equal(t, total, n, "records in Kafka")
	require.Equal(t, want, got)
}
