package dashstreamexporter

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exportertest"

	"github.com/dashstream/dashstreamexporter/internal/metadata"
)

func TestFactory(t *testing.T) {
	f := NewFactory()
	assert.Equal(t, metadata.Type, f.Type())
	assert.Equal(t, component.StabilityLevelAlpha, f.TracesStability())
	cfg := f.CreateDefaultConfig().(*Config)
	require.NoError(t, cfg.Validate())
	assert.True(t, cfg.QueueBatchConfig.HasValue(), "sending_queue is on by default")
	assert.Equal(t, 1, cfg.QueueBatchConfig.Get().NumConsumers, "one consumer keeps threads in order")
	assert.Equal(t, "none", cfg.Producer.Compression)

	exp, err := f.CreateTraces(t.Context(), exportertest.NewNopSettings(metadata.Type), cfg)
	require.NoError(t, err)
	assert.False(t, exp.Capabilities().MutatesData)
	require.NoError(t, exp.Shutdown(t.Context()))
}

func TestFactoryRejectsBadConfig(t *testing.T) {
	f := NewFactory()
	_, err := f.CreateTraces(t.Context(), exportertest.NewNopSettings(metadata.Type), &struct{ component.Config }{})
	require.Error(t, err)

	cfg := f.CreateDefaultConfig().(*Config)
	cfg.Conventions = []string{"nope"}
	_, err = f.CreateTraces(t.Context(), exportertest.NewNopSettings(metadata.Type), cfg)
	require.ErrorContains(t, err, "nope")
}

// TestQueueFullCountsLoss: a request the full queue refuses is counted as
// lost and the error reaches the caller.
func TestQueueFullCountsLoss(t *testing.T) {
	cfg := testConfig([]string{fmt.Sprintf("127.0.0.1:%d", freePort(t))}) // nothing listens
	q := cfg.QueueBatchConfig.Get()
	q.QueueSize = 1
	cfg.BackOffConfig.MaxElapsedTime = 10 * time.Minute
	exp, tel := startExporter(t, cfg, nil)

	var err error
	deadline := time.Now().Add(20 * time.Second)
	for n := 1; err == nil; n++ {
		require.True(t, time.Now().Before(deadline), "the queue never filled")
		err = exp.ConsumeTraces(t.Context(), stepTraces([]string{"q"}, n))
	}
	require.ErrorIs(t, err, exporterhelper.ErrQueueIsFull)
	lost := sumByAttr(t, tel, "otelcol_dashstream_records_lost", "reason")
	assert.Positive(t, lost[lossQueueFull])
}
