package translate

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
)

// TestRunTimeout: a run whose own span never arrives ends after
// session.run_timeout without spans, with GRAPH_ERROR and a reason; its
// session is not evicted for idleness meanwhile; the spans of it that
// arrive later are dropped and counted, never reopening it; the parent it
// waited for counts as missing.
func TestRunTimeout(t *testing.T) {
	clk := &fixedClock{now: testEpoch}
	cfg := goldenConfig()
	cfg.RunTimeout = 10 * time.Minute
	cfg.IdleTimeout = time.Minute
	tr, err := newTranslator(cfg, zap.NewNop(), clk.Now)
	require.NoError(t, err)

	// The agent's model call arrives; the agent span never does (yet).
	first := translateAll(t, tr, buildTraces(chatSpan("x", "chat", "agent", 20, 30)))
	ds := decodeAll(t, first.Records)
	assert.Equal(t, []string{"GRAPH_START( T)", "LLM_START", "LLM_END"}, runSummary(ds, "x"))

	clk.now = clk.now.Add(5 * time.Minute)
	assert.Nil(t, tr.ExpireRuns(t.Context()), "not quiet for long enough")
	assert.Zero(t, tr.SweepIdle(), "a thread with an open run is not evicted for idleness")
	assert.Equal(t, 1, tr.ActiveSessions())

	clk.now = clk.now.Add(6 * time.Minute)
	res := tr.ExpireRuns(t.Context())
	require.NotNil(t, res)
	res.Release()
	ended := decodeAll(t, res.Records)
	require.Len(t, ended, 1)
	assert.Equal(t, []string{"GRAPH_ERROR(run timed out: its own span never arrived and no span of it came for 11m0s (session.run_timeout 10m0s))"},
		runSummary(ended, "x"))
	ev := ended[0].msg.GetEvent()
	assert.Equal(t, "run_timeout", ev.GetAttributes()["reason"].GetStringValue())
	assert.Equal(t, "RunTimeout", ev.GetAttributes()["exception_type"].GetStringValue())
	assert.Equal(t, traceID("x").String(), ev.GetAttributes()["run_id"].GetStringValue())
	assert.Equal(t, first.Records[0].Topic, res.Records[0].Topic)
	assert.True(t, strings.HasPrefix(string(res.Records[0].Headers[0].Value), "00-"+traceID("x").String()), "traceparent of the run")
	assert.Equal(t, int64(1), res.Stats.RunsTimedOut)
	assert.Equal(t, int64(1), res.Stats.BadInput["missing_parent"], "the agent span never came")
	replayStream(t, append(ds, ended...), nil)
	assert.Nil(t, tr.ExpireRuns(t.Context()), "ended once")

	// The agent span and another model call of it arrive late: dropped,
	// counted, no second GRAPH_START.
	late := translateAll(t, tr, buildTraces(quietAgent("x", "agent", "app", "planner", 10, 90), chatSpan("x", "chat2", "agent", 40, 50)))
	assert.Empty(t, late.Records)
	assert.Equal(t, int64(2), late.Stats.SpansIgnored[ignoreRunTimedOut])

	// Now idle, the session goes.
	clk.now = clk.now.Add(2 * time.Minute)
	assert.Equal(t, 1, tr.SweepIdle())
}

// TestRunTimeoutInTranslate: a thread that gets spans again ends its
// expired runs first, in the same result.
func TestRunTimeoutInTranslate(t *testing.T) {
	clk := &fixedClock{now: testEpoch}
	cfg := goldenConfig()
	cfg.RunTimeout = time.Minute
	tr, err := newTranslator(cfg, zap.NewNop(), clk.Now)
	require.NoError(t, err)
	mk := func(trace string) sp {
		s := chatSpan(trace, "chat", "agent", 20, 30)
		s.attrs["gen_ai.conversation.id"] = "one-thread"
		return s
	}
	translateAll(t, tr, buildTraces(mk("a")))
	clk.now = clk.now.Add(2 * time.Minute)
	res := translateAll(t, tr, buildTraces(mk("b")))
	types := eventTypes(decodeAll(t, res.Records))
	assert.Equal(t, []string{"GRAPH_ERROR", "GRAPH_START", "LLM_START", "LLM_END"}, types)
	assert.Equal(t, int64(1), res.Stats.RunsTimedOut)
}
