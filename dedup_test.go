package dashstreamexporter

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
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
