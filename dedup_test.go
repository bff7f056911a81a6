package dashstreamexporter

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.uber.org/zap"

	"github.com/dashstream/dashstreamexporter/dashstream"
	"github.com/dashstream/dashstreamexporter/dashstream/translate"
)

// The read-back must cover the largest request the queue can hand over.
func TestReadBack(t *testing.T) {
	batch := func(sizer exporterhelper.RequestSizerType, maxSize int64) *Config {
		cfg := createDefaultConfig().(*Config)
		b := exporterhelper.NewDefaultBatchConfig()
		b.Sizer, b.MaxSize = sizer, maxSize
		cfg.QueueBatchConfig.Get().Batch = configoptional.Some(b)
		return cfg
	}
	noBatch := createDefaultConfig().(*Config)
	noBatch.QueueBatchConfig.Get().Batch = configoptional.None[exporterhelper.BatchConfig]()
	noQueue := createDefaultConfig().(*Config)
	noQueue.QueueBatchConfig = configoptional.None[exporterhelper.QueueBatchConfig]()
	for name, tc := range map[string]struct {
		cfg  *Config
		want int64
	}{
		"defaults":           {createDefaultConfig().(*Config), minReadBack},
		"no batching":        {noBatch, minReadBack},
		"no queue":           {noQueue, minReadBack},
		"large item batches": {batch(exporterhelper.RequestSizerTypeItems, 100_000), 200_000},
		"byte batches":       {batch(exporterhelper.RequestSizerTypeBytes, 64<<20), maxReadBack},
		"small byte batches": {batch(exporterhelper.RequestSizerTypeBytes, 1<<20), minReadBack},
		"unbounded batches":  {batch(exporterhelper.RequestSizerTypeItems, 0), maxReadBack},
		"huge item batches":  {batch(exporterhelper.RequestSizerTypeItems, 10_000_000), maxReadBack},
	} {
		assert.Equal(t, tc.want, readBack(tc.cfg), name)
	}
}

// A new producer sends only what Kafka does not have yet: of a request
// whose first part is already in the topic (written before a crash), only
// the rest reaches Kafka, in order.
func TestReadBackSkipsOnlyWhatKafkaHas(t *testing.T) {
	cluster := newCluster(t)
	brokers := cluster.ListenAddrs()
	cfg := testConfig(brokers)
	exp, _ := startExporter(t, cfg, nil)
	threads := threadNames("readback", 16) // on every partition
	for n := 1; n <= 2; n++ {
		require.NoError(t, exp.ConsumeTraces(t.Context(), stepTraces(threads, n)))
	}
	first := int(exp.enqueued.Load())
	written := consumeAll(t, brokers, first)
	var old []*translate.Record
	for _, c := range written {
		h := dashstream.HeaderOf(c.msg)
		old = append(old, &translate.Record{Topic: testTopic, Key: []byte(c.key), Value: c.value,
			ThreadID: h.GetThreadId(), Sequence: h.GetSequence()})
	}
	res, err := exp.tr.Translate(t.Context(), stepTraces(threads, 3))
	require.NoError(t, err)
	var fresh []*translate.Record
	for i := range res.Records {
		fresh = append(fresh, &res.Records[i])
	}
	res.Release()
	require.NotEmpty(t, fresh)

	sc, err := newSaramaConfig(t.Context(), cfg)
	require.NoError(t, err)
	p := newKafkaProducer(brokers, sc, minReadBack, zap.NewNop())
	defer p.close()
	resend := old[len(old)/2:] // the part of the request a crash left in doubt
	outcomes := p.send(append(slices.Clone(resend), fresh...))
	for i, err := range outcomes {
		require.NoError(t, err, "record %d", i)
	}
	assert.EqualValues(t, len(resend), p.deduplicated.Load(), "exactly the records Kafka had are skipped")
	// Every thread got past what its tail held, and every partition is
	// checked: later sends look nothing up.
	p.mu.Lock()
	client, tail := p.client, p.tail
	p.mu.Unlock()
	assert.Empty(t, tail.high, "threads still ahead of their records")
	assert.Contains(t, tail.complete, testTopic)
	// From now on no partition is worked out, and a thread still in the
	// tail is found all the same.
	tail.high["late"] = 7
	late := func(seq uint64) *translate.Record {
		return &translate.Record{Topic: testTopic, Key: []byte("late"), ThreadID: "late", Sequence: seq}
	}
	got, err := tail.delivered(client, []*translate.Record{late(7), late(8), late(9)})
	require.NoError(t, err)
	assert.Equal(t, []bool{true, false, false}, got)
	assert.NotContains(t, tail.high, "late", "the thread is let go once past its tail")
	recs := consumeAll(t, brokers, first+len(fresh)) // exact: nothing twice
	r := streamCheck(t, recs)
	for _, th := range threads {
		requireFinalState(t, r, th, stateJSON(th, 3))
	}
}

// recordCopies translates step n of threads with exp's translator and
// returns copies of the records, as a persistent queue holds them.
func recordCopies(t *testing.T, exp *tracesExporter, threads []string, n int) []*translate.Record {
	t.Helper()
	res, err := exp.tr.Translate(t.Context(), stepTraces(threads, n))
	require.NoError(t, err)
	defer res.Release()
	out := make([]*translate.Record, len(res.Records))
	for i := range res.Records {
		c := res.Records[i]
		c.Key, c.Value = slices.Clone(c.Key), slices.Clone(c.Value)
		out[i] = &c
	}
	return out
}

// TestRestartSkipsRecordsAlreadyInKafka: an instance died (no shutdown)
// with one request in flight of which Kafka had written none, half or all;
// the restarted instance gets the whole request back from its queue (the
// restore stash) and then translates new spans. Kafka must end up with
// every record exactly once, in order, and the restored ones first.
func TestRestartSkipsRecordsAlreadyInKafka(t *testing.T) {
	for _, tc := range []struct {
		name    string
		written func(n int) int // how many of the n in-flight records Kafka had
	}{
		{"none", func(int) int { return 0 }},
		{"half", func(n int) int { return n / 2 }},
		{"all", func(n int) int { return n }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cluster := newCluster(t)
			brokers := cluster.ListenAddrs()
			cfg := testConfig(brokers)
			threads := threadNames("restart", 5)

			dead, _ := startExporter(t, cfg, nil)
			total := 0
			for n := 1; n <= 2; n++ {
				recs := recordCopies(t, dead, threads, n)
				for i, err := range dead.producer.send(recs) {
					require.NoError(t, err, "record %d of step %d", i, n)
				}
				total += len(recs)
			}
			inFlight := recordCopies(t, dead, threads, 3)
			written := tc.written(len(inFlight))
			if written > 0 {
				for i, err := range dead.producer.send(inFlight[:written]) {
					require.NoError(t, err, "in-flight record %d", i)
				}
			}
			total += len(inFlight)

			restarted, _ := startExporter(t, cfg, nil)
			restarted.stash.setActive(true)
			require.True(t, restarted.stash.take(inFlight))
			restarted.stash.setActive(false)
			// What the start reads of a real persistent queue (restart.go):
			// the queued records' sequences, so new ones continue above.
			queued := map[string]uint64{}
			for _, r := range inFlight {
				queued[r.ThreadID] = max(queued[r.ThreadID], r.Sequence)
			}
			restarted.tr.SeedSequences(queued)
			require.NoError(t, restarted.ConsumeTraces(t.Context(), stepTraces(threads, 4)))
			total += int(restarted.enqueued.Load())

			got := consumeAll(t, brokers, total) // fails on any record beyond total
			assert.EqualValues(t, written, restarted.producer.deduplicated.Load(),
				"the restarted producer skips exactly what Kafka had")
			r := streamCheck(t, got)
			requireContiguous(t, got)
			for _, th := range threads {
				requireFinalState(t, r, th, stateJSON(th, 4))
			}
		})
	}
}
