package dashstreamexporter

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
)

// TestRunTimeoutThroughKafka: a run whose own span never arrives is ended
// by session.run_timeout with a GRAPH_ERROR that reaches Kafka on the
// run's thread, after its other records, and the stream replays.
func TestRunTimeoutThroughKafka(t *testing.T) {
	cluster := newCluster(t)
	cfg := testConfig(cluster.ListenAddrs())
	cfg.Session.RunTimeout = time.Second
	exp, _ := startExporter(t, cfg, nil)

	td := ptrace.NewTraces()
	nodeStep(td, "quiet", 1, stateJSON("quiet", 1)) // a node span; its graph span never comes
	require.NoError(t, exp.ConsumeTraces(t.Context(), td))
	before := int(exp.enqueued.Load())
	require.Positive(t, before)

	recs := consumeAll(t, cluster.ListenAddrs(), before+1)
	streamCheck(t, recs)
	last := recs[len(recs)-1]
	assert.Equal(t, "quiet", last.key)
	ev := last.msg.GetEvent()
	require.NotNil(t, ev)
	assert.Equal(t, dashstreampb.EventType_EVENT_TYPE_GRAPH_ERROR, ev.GetEventType())
	assert.Equal(t, "run_timeout", ev.GetAttributes()["reason"].GetStringValue())
	assert.Equal(t, "run-quiet", ev.GetAttributes()["run_id"].GetStringValue())
}
