package translate

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBoundName(t *testing.T) {
	long := strings.Repeat("é", 10_000) // 20,000 bytes
	tests := []struct {
		name string
		in   string
		cut  bool
	}{
		{"short", "agent", false},
		{"at the bound", strings.Repeat("a", maxNameBytes), false},
		{"one over", strings.Repeat("a", maxNameBytes+1), true},
		{"20,000 bytes of two-byte runes", long, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, cut := boundName(tt.in)
			assert.Equal(t, tt.cut, cut)
			assert.LessOrEqual(t, len(got), maxNameBytes)
			assert.True(t, utf8.ValidString(got))
			if !tt.cut {
				assert.Equal(t, tt.in, got)
				return
			}
			assert.Contains(t, got, nameMarker)
			again, _ := boundName(tt.in)
			assert.Equal(t, got, again, "stable")
		})
	}
	a, _ := boundName(long + "a")
	b, _ := boundName(long + "b")
	assert.NotEqual(t, a, b, "long names sharing a prefix stay distinct")
}

// TestLongNamesBounded: a 20,000-byte node name (and tool, model, graph
// names) reaches no event whole; each cut is counted.
func TestLongNamesBounded(t *testing.T) {
	long := strings.Repeat("n", 20_000)
	spans := []sp{
		{trace: "t", id: "g", name: "invoke_workflow", start: 0, end: 100, attrs: map[string]any{
			"gen_ai.operation.name": "invoke_workflow", "gen_ai.workflow.name": "g" + long, "gen_ai.conversation.id": "c1"}},
		{trace: "t", id: "n", parent: "g", name: "invoke_agent", start: 10, end: 90, attrs: map[string]any{
			"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": long}},
		{trace: "t", id: "l", parent: "n", name: "chat", start: 20, end: 30, attrs: map[string]any{
			"gen_ai.operation.name": "chat", "gen_ai.request.model": "m" + long}},
		{trace: "t", id: "x", parent: "n", name: "execute_tool", start: 40, end: 50, attrs: map[string]any{
			"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "t" + long}},
	}
	tr := newTestTranslator(t, goldenConfig())
	res, err := tr.Translate(t.Context(), buildTraces(spans...))
	require.NoError(t, err)
	defer res.Release()
	assert.Equal(t, int64(4), res.Stats.BadInput[badNameTooLong])
	ds := decodeAll(t, res.Records)
	replayStream(t, ds, nil)
	events := 0
	for _, d := range ds {
		ev := d.msg.GetEvent()
		if ev == nil {
			continue
		}
		events++
		assert.LessOrEqual(t, len(ev.GetNodeId()), maxNameBytes)
		for k, v := range ev.GetAttributes() {
			if k == "graph_schema_json" {
				// The observed schema is a document, not a name: the names
				// in it are bounded.
				var gs uiGraphSchema
				require.NoError(t, json.Unmarshal([]byte(v.GetStringValue()), &gs))
				assert.LessOrEqual(t, len(gs.Name), maxNameBytes)
				for _, n := range gs.Nodes {
					assert.LessOrEqual(t, len(n.Name), maxNameBytes, "schema node")
				}
				continue
			}
			assert.LessOrEqual(t, len(v.GetStringValue()), maxNameBytes, "attribute %s of %s", k, ev.GetEventType())
		}
	}
	assert.GreaterOrEqual(t, events, 6)
}
