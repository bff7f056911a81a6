package translate

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestClassifyADK(t *testing.T) {
	tests := []struct {
		name  string
		ts    testSpan
		check func(t *testing.T, out spanInfo)
	}{
		{
			name: "invocation is the graph, unnamed",
			ts:   testSpan{name: "invocation", root: true, scope: adkScope},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleGraph, out.role)
				assert.Empty(t, out.graphName)
			},
		},
		{
			name: "call_llm is a model call with the conversation",
			ts: testSpan{name: "call_llm", scope: adkScope, attrs: map[string]any{
				"gen_ai.system": "gcp.vertex.agent", "gen_ai.request.model": "gemini-x",
				"gen_ai.usage.input_tokens": 6, "gen_ai.usage.output_tokens": 2,
				adkKeySessionID:  "s1",
				adkKeyLLMRequest: `{"model":"gemini-x","contents":[{"role":"user","parts":[{"text":"hi"}]}],"config":{}}`,
				adkKeyLLMResp:    `{"content":{"role":"model","parts":[{"text":"yo"}]},"finishReason":"STOP"}`}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleLLM, out.role)
				assert.Equal(t, "gemini-x", out.model)
				assert.Equal(t, "s1", out.threadID)
				assert.Equal(t, int64(8), out.totalTokens)
				assert.JSONEq(t, `{"messages":[{"role":"user","parts":[{"text":"hi"}]}]}`, out.stateBefore)
				assert.JSONEq(t, `{"messages":[{"role":"user","parts":[{"text":"hi"}]},{"role":"model","parts":[{"text":"yo"}]}]}`, out.stateAfter)
			},
		},
		{
			name: "call_llm without captured content has no state",
			ts: testSpan{name: "call_llm", scope: adkScope, attrs: map[string]any{
				"gen_ai.request.model": "gemini-x", adkKeyLLMRequest: "{}", adkKeyLLMResp: "{}"}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleLLM, out.role)
				assert.Empty(t, out.stateBefore+out.stateAfter+out.badReason)
			},
		},
		{
			name: "call_llm with a malformed request is counted",
			ts:   testSpan{name: "call_llm", scope: adkScope, attrs: map[string]any{adkKeyLLMRequest: `{"contents":{`}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleLLM, out.role)
				assert.Equal(t, badMessagesNotJSON, out.badReason)
			},
		},
		{
			name: "tool payloads from ADK keys",
			ts: testSpan{name: "execute_tool get_time", scope: adkScope, attrs: map[string]any{
				"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "get_time",
				adkKeyToolArgs: `{"city":"Paris"}`, adkKeyToolResp: `{"result":"14:05"}`}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleTool, out.role)
				assert.Equal(t, `{"city":"Paris"}`, out.arguments)
				assert.Equal(t, `{"result":"14:05"}`, out.result)
			},
		},
		{
			name: "merged tool span is a counted duplicate",
			ts: testSpan{name: "execute_tool (merged)", scope: adkScope, attrs: map[string]any{
				"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": adkMergedTools}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleOther, out.role)
				assert.Equal(t, ignoreADKMergedTools, out.ignoreReason)
			},
		},
		{
			name: "other ADK spans are counted",
			ts:   testSpan{name: "send_data", scope: adkScope},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleOther, out.role)
				assert.Equal(t, ignoreADKUnknown, out.ignoreReason)
			},
		},
	}
	c := newGenAIClassifier()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, ok := classifyWith(t, c, tt.ts)
			require.True(t, ok)
			tt.check(t, out)
		})
	}
	// Outside ADK's scope an "invocation" span is nobody's.
	_, ok := classifyWith(t, c, testSpan{name: "invocation", root: true})
	assert.False(t, ok)
}

func TestClassifyStrands(t *testing.T) {
	c := newGenAIClassifier()
	out, ok := classifyWith(t, c, testSpan{name: strandsCycleSpan, scope: strandsScope, attrs: map[string]any{strandsKeyCycleID: "cycle-4"}})
	require.True(t, ok)
	assert.Equal(t, roleNode, out.role)
	assert.Equal(t, strandsCycleNode, out.nodeName)
	assert.True(t, out.hasStep)
	assert.Equal(t, int64(4), out.step)

	out, ok = classifyWith(t, c, testSpan{name: strandsCycleSpan, scope: strandsScope, attrs: map[string]any{strandsKeyCycleID: "x"}})
	require.True(t, ok)
	assert.False(t, out.hasStep)

	_, ok = classifyWith(t, c, testSpan{name: strandsCycleSpan})
	assert.False(t, ok, "only Strands' own cycle spans")
}

// TestGenAIMessagesFromEvents: the conventions' event form of the messages
// (gen_ai.client.inference.operation.details) gives the same states.
func TestGenAIMessagesFromEvents(t *testing.T) {
	ts := testSpan{name: "chat", attrs: map[string]any{"gen_ai.operation.name": "chat"}}
	res, scope, sp := ts.build(t)
	ev := sp.Events().AppendEmpty()
	ev.SetName(genAIEventDetails)
	ev.Attributes().PutStr(genAIKeyInputMessages, `[{"role":"user","parts":[{"type":"text","content":"hi"}]}]`)
	ev = sp.Events().AppendEmpty()
	ev.SetName(genAIEventDetails)
	ev.Attributes().PutStr(genAIKeyOutputMessages, `[{"role":"assistant","parts":[],"finish_reason":"endTurn"}]`)
	var out spanInfo
	require.True(t, newGenAIClassifier().classify(res, scope, sp, &out))
	assert.JSONEq(t, `{"messages":[{"role":"user","parts":[{"type":"text","content":"hi"}]}]}`, out.stateBefore)
	assert.JSONEq(t, `{"messages":[{"role":"user","parts":[{"type":"text","content":"hi"}]},{"role":"assistant","parts":[]}]}`, out.stateAfter)
}
