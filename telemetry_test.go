package dashstreamexporter

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
	"github.com/dashstream/dashstreamexporter/dashstream/translate"
	"github.com/dashstream/dashstreamexporter/internal/metadata"
)

// TestTelemetryProduced: acknowledged records and their value bytes are
// counted per message type (a type outside the known enum too, as a
// record restored from a corrupt queue could carry); failed ones are not.
func TestTelemetryProduced(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	tb, err := metadata.NewTelemetryBuilder(tel.NewTelemetrySettings())
	require.NoError(t, err)
	rec := func(typ dashstreampb.MessageType, size int) *translate.Record {
		return &translate.Record{Type: typ, Value: make([]byte, size)}
	}
	recs := []*translate.Record{
		rec(dashstreampb.MessageType_MESSAGE_TYPE_EVENT, 10),
		rec(dashstreampb.MessageType_MESSAGE_TYPE_STATE_DIFF, 100),
		rec(dashstreampb.MessageType_MESSAGE_TYPE_EVENT, 12),
		rec(dashstreampb.MessageType_MESSAGE_TYPE_CHECKPOINT, 1000), // fails
		rec(dashstreampb.MessageType(42), 7),
	}
	outcomes := []error{nil, nil, nil, errors.New("broker down"), nil}
	(&telemetry{tb: tb}).produced(t.Context(), recs, outcomes)

	byType := func(name string) map[string]int64 {
		m, err := tel.GetMetric(name)
		require.NoError(t, err)
		out := map[string]int64{}
		for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
			v, _ := dp.Attributes.Value("message_type")
			out[v.AsString()] += dp.Value
		}
		return out
	}
	assert.Equal(t, map[string]int64{"event": 2, "state_diff": 1, "42": 1}, byType("otelcol_dashstream_records_produced"))
	assert.Equal(t, map[string]int64{"event": 22, "state_diff": 100, "42": 7}, byType("otelcol_dashstream_bytes_produced"))
}
