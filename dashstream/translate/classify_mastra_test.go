package translate

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dashstream/dashstreamexporter/dashstream"
	pb "github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
)

// TestConventionMastraWorkflowCapture translates the real capture of the
// Mastra workflow example (examples/mastra/workflow.mjs: two runs on thread
// trip-1, one through each branch) and checks it against the program's own
// account (mastra_workflow.expected.json): the steps each run ran, in
// order, the branch each took, and the workflow's final state.
func TestConventionMastraWorkflowCapture(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "spans", "mastra_workflow.expected.json"))
	require.NoError(t, err)
	var expected struct {
		GraphName string `json:"graph_name"`
		Threads   []struct {
			ThreadID string `json:"thread_id"`
			Runs     []struct {
				Steps []string `json:"steps"`
			} `json:"runs"`
			FinalState json.RawMessage `json:"final_state"`
		} `json:"threads"`
	}
	require.NoError(t, json.Unmarshal(raw, &expected))
	require.Len(t, expected.Threads, 1)
	th := expected.Threads[0]

	tr := newTestTranslator(t, goldenConfig())
	res := translateAll(t, tr, loadFixture(t, filepath.Join("testdata", "spans", "mastra_workflow.json")))
	ds := decodeAll(t, res.Records)
	r := replayStream(t, ds, nil)

	// Per run (GRAPH_START … GRAPH_END): the steps as nodes in order, the
	// branch node standing for Mastra's conditional.
	var runs [][]string
	var branches []string
	for _, d := range ds {
		assert.Equal(t, th.ThreadID, d.rec.ThreadID)
		ev := d.msg.GetEvent()
		if ev == nil {
			continue
		}
		switch ev.GetEventType() {
		case pb.EventType_EVENT_TYPE_GRAPH_START:
			assert.Equal(t, expected.GraphName, ev.GetAttributes()["graph_name"].GetStringValue())
			assert.Contains(t, ev.GetAttributes(), "initial_state_json")
			runs = append(runs, nil)
		case pb.EventType_EVENT_TYPE_NODE_START:
			runs[len(runs)-1] = append(runs[len(runs)-1], ev.GetNodeId())
		case pb.EventType_EVENT_TYPE_CONDITIONAL_BRANCH:
			assert.Equal(t, "branch", ev.GetNodeId())
			branches = append(branches, ev.GetAttributes()["to"].GetStringValue())
		}
	}
	require.Len(t, runs, len(th.Runs))
	for i, run := range th.Runs {
		// Mastra reports the steps that ran; the stream adds the branch
		// before the chosen one.
		var want []string
		for _, s := range run.Steps {
			if s == "weather" || s == "time" {
				want = append(want, "branch")
			}
			want = append(want, s)
		}
		assert.Equal(t, want, runs[i], "run %d", i+1)
	}
	assert.Equal(t, []string{"weather", "time"}, branches)

	want, err := dashstream.ParseJSON(th.FinalState)
	require.NoError(t, err)
	got := r.Thread(th.ThreadID).State
	assert.True(t, dashstream.Equal(got, want), "replayed %s, want %s", dashstream.MarshalJSON(got), th.FinalState)
	assert.Zero(t, res.Stats.SpansIgnored["gen_ai_workflow_step"], "steps are not ignored")
	assert.Equal(t, int64(2), res.Stats.SpansIgnored[ignoreMastraFalseCond], "one false condition per run")
}

func TestClassifyMastraWorkflowSpans(t *testing.T) {
	base := func(op string, extra map[string]any) map[string]any {
		m := map[string]any{"gen_ai.operation.name": op, "mastra.metadata.runId": "r-1", "mastra.metadata.resourceId": "trip-1"}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	c := newGenAIClassifier()
	out, ok := classifyWith(t, c, testSpan{name: "workflow_step parse", scope: mastraScope, attrs: base("workflow_step", map[string]any{
		"mastra.workflow_step.step_id": "parse", "mastra.workflow_step.input": `{"q":1}`, "mastra.workflow_step.output": `{"city":"Paris"}`})})
	require.True(t, ok)
	assert.Equal(t, roleNode, out.role)
	assert.Equal(t, "parse", out.nodeName)
	assert.Equal(t, "r-1", out.runID)
	assert.Equal(t, "trip-1", out.threadID, "the resource id when there is no thread id")
	assert.JSONEq(t, `{"q":1}`, out.stateBefore)
	assert.JSONEq(t, `{"city":"Paris"}`, out.stateAfter)

	out, _ = classifyWith(t, c, testSpan{name: "workflow_step x", scope: mastraScope, attrs: base("workflow_step", map[string]any{
		"mastra.workflow_step.step_id": "x", "mastra.workflow_step.status": "failed", "mastra.workflow_step.output": `{"a":1}`})})
	assert.True(t, out.failed)
	assert.Empty(t, out.stateAfter)

	out, _ = classifyWith(t, c, testSpan{name: "condition 1", scope: mastraScope, attrs: base("workflow_conditional_eval", map[string]any{
		"mastra.workflow_conditional_eval.result": "True", "mastra.workflow_conditional_eval.condition_index": "1"})})
	assert.Equal(t, roleRouter, out.role)
	assert.Equal(t, "condition 1", out.routerChoice)

	out, _ = classifyWith(t, c, testSpan{name: "parallel", scope: mastraScope, attrs: base("workflow_parallel", nil)})
	assert.Equal(t, "mastra_workflow_parallel", out.ignoreReason)

	out, _ = classifyWith(t, c, testSpan{name: "workflow_step x", scope: "other", attrs: base("workflow_step", nil)})
	assert.True(t, strings.HasPrefix(out.ignoreReason, "gen_ai_"), "only Mastra's workflow spans: %s", out.ignoreReason)
}
