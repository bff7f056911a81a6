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
	threads := threadNames("readback", 3)
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
	recs := consumeAll(t, brokers, first+len(fresh)) // exact: nothing twice
	r := streamCheck(t, recs)
	for _, th := range threads {
		requireFinalState(t, r, th, stateJSON(th, 3))
	}
}
