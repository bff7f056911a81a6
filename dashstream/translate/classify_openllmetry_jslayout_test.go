package translate

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/dashstream/dashstreamexporter/dashstream"
	pb "github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
)

// TestOpenLLMetryJSCapture translates the real OpenLLMetry JS capture of the
// LangGraph.js example (graph.mjs --instrumentation openllmetry) and checks
// the best effort: one run per invocation, ended or failed as LangGraph
// reported; every state replayed to LangGraph's own; tool and model calls
// inside nodes; the nodes a router choice names carry that name; the rest
// counted as node_name_unknown, nothing silently dropped.
func TestOpenLLMetryJSCapture(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "spans", "openllmetry_js.expected.json"))
	require.NoError(t, err)
	var want struct {
		Threads []struct {
			ThreadID string `json:"thread_id"`
			Runs     []struct {
				Status string `json:"status"`
			} `json:"runs"`
			FinalState json.RawMessage `json:"final_state"`
		} `json:"threads"`
	}
	require.NoError(t, json.Unmarshal(raw, &want))

	tr := newTestTranslator(t, goldenConfig())
	res, err := tr.Translate(t.Context(), loadFixture(t, filepath.Join("testdata", "spans", "openllmetry_js.json")))
	require.NoError(t, err)
	defer res.Release()
	assert.Positive(t, res.Stats.BadInput[badFlatNodeNameUnknown])
	assert.NotContains(t, res.Stats.BadInput, "missing_parent")
	assert.NotContains(t, res.Stats.SpansIgnored, ignoreTLJSOutsideRun)
	ds := decodeAll(t, res.Records)
	r := replayStream(t, ds, nil)

	for _, th := range want.Threads {
		var ends, errs int
		named := map[string]bool{}
		inNode := ""
		for _, d := range ds {
			ev := d.msg.GetEvent()
			if ev == nil || d.rec.ThreadID != th.ThreadID {
				continue
			}
			switch ev.GetEventType() {
			case pb.EventType_EVENT_TYPE_GRAPH_END:
				ends++
			case pb.EventType_EVENT_TYPE_GRAPH_ERROR:
				errs++
			case pb.EventType_EVENT_TYPE_NODE_START:
				inNode = ev.GetNodeId()
				named[inNode] = true
			case pb.EventType_EVENT_TYPE_NODE_END, pb.EventType_EVENT_TYPE_NODE_ERROR:
				inNode = ""
			case pb.EventType_EVENT_TYPE_TOOL_START:
				// A tool that threw returned no ToolMessage: only its class is known.
				assert.Contains(t, []string{"get_weather", "DynamicStructuredTool"}, ev.GetAttributes()["tool_name"].GetStringValue())
				assert.Equal(t, "tools", inNode)
			case pb.EventType_EVENT_TYPE_LLM_START:
				assert.NotEmpty(t, inNode, "model call outside a node")
			}
		}
		wantEnds, wantErrs := 0, 0
		for _, run := range th.Runs {
			if run.Status == "ok" {
				wantEnds++
			} else {
				wantErrs++
			}
		}
		assert.Equal(t, wantEnds, ends, th.ThreadID)
		assert.Equal(t, wantErrs, errs, th.ThreadID)
		assert.True(t, named["tools"], "router choice names the tools node")

		ts := r.Thread(th.ThreadID)
		require.NotNil(t, ts, th.ThreadID)
		wantState, err := dashstream.ParseJSON(th.FinalState)
		require.NoError(t, err)
		if !dashstream.Equal(ts.State, wantState) {
			t.Errorf("thread %s: replayed state %s, want %s", th.ThreadID, dashstream.MarshalJSON(ts.State), th.FinalState)
		}
	}
}

// TestOpenLLMetryJSWithoutApplicationSpan: without a span of the
// application around the invocation every chain is its own trace; only the
// graph chain makes a run (with its final state), the rest is counted.
func TestOpenLLMetryJSWithoutApplicationSpan(t *testing.T) {
	td := loadFixture(t, filepath.Join("testdata", "spans", "openllmetry_js.json"))
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			ss := sss.At(j)
			if !isTraceloopJS(ss.Scope()) {
				ss.Spans().RemoveIf(func(ptrace.Span) bool { return true })
				continue
			}
			for k := 0; k < ss.Spans().Len(); k++ {
				sp := ss.Spans().At(k)
				sp.SetParentSpanID(pcommon.NewSpanIDEmpty())
				// Each span its own trace, as the instrumentation makes them.
				tid := sp.TraceID()
				tid[0], tid[1] = byte(k), byte(j)
				sp.SetTraceID(tid)
			}
		}
	}
	tr := newTestTranslator(t, goldenConfig())
	res, err := tr.Translate(t.Context(), td)
	require.NoError(t, err)
	defer res.Release()
	assert.Positive(t, res.Stats.SpansIgnored[ignoreTLJSOutsideRun])
	ds := decodeAll(t, res.Records)
	replayStream(t, ds, nil)
	ends := 0
	for _, d := range ds {
		if d.msg.GetEvent().GetEventType() == pb.EventType_EVENT_TYPE_GRAPH_END {
			ends++
		}
	}
	assert.Equal(t, 2, ends, "the two graph runs that succeeded")
}
