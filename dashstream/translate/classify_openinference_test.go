package translate

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// oiMeta renders the metadata JSON LangChain puts on a run below a node.
func oiMeta(node string, step any) string {
	return `{"ls_integration":"langgraph","thread_id":"weather-1","langgraph_step":` + jsonScalar(step) +
		`,"langgraph_node":"` + node + `","langgraph_triggers":["branch:to:` + node + `"],"langgraph_path":["__pregel_pull","` +
		node + `"],"langgraph_checkpoint_ns":"` + node + `:b9c19729-899a-53fc-86df-cf6c171b74ee"}`
}

// jsonScalar renders a step as LangChain would: a JSON number or string.
func jsonScalar(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "null"
	}
	return string(b)
}

func TestClassifyOpenInference(t *testing.T) {
	state := `{"messages":[{"lc":1,"type":"constructor","id":["langchain_core","messages","HumanMessage"],"kwargs":{"content":"Weather in Paris?"}}],"counter":1}`
	llmOut := `{"generations":[[{"text":"","generationInfo":{"finish_reason":"tool_calls"},"message":{}}]],"llmOutput":{}}`
	tests := []struct {
		name  string
		ts    testSpan
		check func(t *testing.T, out spanInfo)
	}{
		{
			name: "root chain is the graph with final state and session thread",
			ts: testSpan{name: "weather_agent", root: true, attrs: map[string]any{
				"openinference.span.kind": "CHAIN", "input.value": `{"messages":[]}`, "output.value": state,
				"metadata": `{"ls_integration":"langgraph","thread_id":"weather-1"}`, "session.id": "weather-1"}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleGraph, out.role)
				assert.Equal(t, "weather_agent", out.graphName)
				assert.Equal(t, "weather-1", out.threadID)
				assert.True(t, out.traceWideThread)
				assert.Equal(t, state, out.finalState)
				assert.Equal(t, `{"messages":[]}`, out.invocationInput)
				assert.Empty(t, out.stateBefore, "graph input is not a state")
			},
		},
		{
			name: "LangGraph named chain under an app span is the graph",
			ts: testSpan{name: "LangGraph", attrs: map[string]any{
				"openinference.span.kind": "CHAIN", "metadata": `{"thread_id":"t9"}`}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleGraph, out.role)
				assert.Equal(t, "t9", out.threadID, "thread from metadata without session.id")
			},
		},
		{
			name: "failed graph has no final state",
			ts: testSpan{name: "g", root: true, errMsg: "boom", attrs: map[string]any{
				"openinference.span.kind": "CHAIN", "output.value": state}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleGraph, out.role)
				assert.True(t, out.failed)
				assert.Empty(t, out.finalState)
			},
		},
		{
			// The run only when it is the outermost recognised span and its
			// chain is known to reach the root (runs.go); else ignored.
			name: "chain without node metadata is a weak run span",
			ts: testSpan{name: "RunnableSequence", attrs: map[string]any{
				"openinference.span.kind": "CHAIN", "output.value": "tools"}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleGraph, out.role)
				assert.True(t, out.weakRun)
				assert.Equal(t, nestedIgnored, out.nested)
				assert.Equal(t, ignoreNotInGraph, out.nestedReason)
			},
		},
		{
			name: "node with step as int and state before",
			ts: testSpan{name: "agent", attrs: map[string]any{
				"openinference.span.kind": "CHAIN", "input.value": state, "output.value": `{"messages":[]}`,
				"metadata": oiMeta("agent", 2), "session.id": "weather-1"}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleNode, out.role)
				assert.Equal(t, "agent", out.nodeName)
				assert.True(t, out.hasStep)
				assert.Equal(t, int64(2), out.step)
				assert.Equal(t, state, out.stateBefore)
				assert.Empty(t, out.stateAfter, "node output is only an update")
				assert.False(t, out.traceWideThread)
			},
		},
		{
			name: "python node named agent has span kind AGENT and step as string",
			ts: testSpan{name: "agent", attrs: map[string]any{
				"openinference.span.kind": "AGENT", "input.value": state, "metadata": oiMeta("agent", "3")}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleNode, out.role)
				assert.Equal(t, int64(3), out.step)
				assert.Equal(t, "weather-1", out.threadID)
			},
		},
		{
			name: "node error with JS stack in status",
			ts: testSpan{name: "intake", errMsg: "intent service unavailable\n\nError: intent service unavailable\n    at file:///g.mjs:232:13",
				exception: map[string]any{"exception.message": "intent service unavailable\n\nError: intent service unavailable\n    at file:///g.mjs:232:13"},
				attrs:     map[string]any{"openinference.span.kind": "CHAIN", "input.value": state, "metadata": oiMeta("intake", 1)}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleNode, out.role)
				assert.True(t, out.failed)
				assert.Equal(t, "intent service unavailable", out.errorMessage)
				assert.Equal(t, "Error", out.exceptionType)
				assert.Contains(t, out.stackTrace, "g.mjs:232:13")
				assert.Equal(t, state, out.stateBefore, "a failed node still tells the state before it")
			},
		},
		{
			name: "node with malformed state input records a reason",
			ts: testSpan{name: "agent", attrs: map[string]any{
				"openinference.span.kind": "CHAIN", "input.value": `{"messages": [{"content": "x"}]`, "metadata": oiMeta("agent", 2)}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleNode, out.role)
				assert.Empty(t, out.stateBefore)
				assert.Equal(t, badStateNotJSON, out.badReason)
			},
		},
		{
			name: "node whose input is a bare string (python single-string input)",
			ts: testSpan{name: "agent", attrs: map[string]any{
				"openinference.span.kind": "CHAIN", "input.value": "hello", "metadata": oiMeta("agent", 2)}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleNode, out.role)
				assert.Empty(t, out.stateBefore)
				assert.Equal(t, badStateNotJSON, out.badReason)
			},
		},
		{
			name: "router: chain below a node returning a node name (JS RunnableLambda)",
			ts: testSpan{name: "RunnableLambda", attrs: map[string]any{
				"openinference.span.kind": "CHAIN", "input.value": state, "output.value": "tools",
				"output.mime_type": "text/plain", "metadata": oiMeta("agent", 2)}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleRouter, out.role)
				assert.Equal(t, "tools", out.routerChoice)
				assert.Equal(t, "agent", out.nodeName, "enclosing node hint")
				assert.Empty(t, out.stateBefore, "router input is not a node snapshot")
			},
		},
		{
			name: "router returning several targets",
			ts: testSpan{name: "fan_out", attrs: map[string]any{
				"openinference.span.kind": "CHAIN", "output.value": `["a","b"]`, "metadata": oiMeta("plan", 1)}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleRouter, out.role)
				assert.Equal(t, "a,b", out.routerChoice)
			},
		},
		{
			name: "chain inside a node returning an object is not a router",
			ts: testSpan{name: "RunnableSequence", attrs: map[string]any{
				"openinference.span.kind": "CHAIN", "output.value": `{"text":"x"}`, "metadata": oiMeta("agent", 2)}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleOther, out.role)
				assert.Equal(t, ignoreInternalChain, out.ignoreReason)
			},
		},
		{
			name: "channel writer is plumbing even with a string output",
			ts: testSpan{name: "ChannelWrite<agent,messages>", attrs: map[string]any{
				"openinference.span.kind": "CHAIN", "output.value": "agent", "metadata": oiMeta("agent", 2)}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleOther, out.role)
			},
		},
		{
			name: "__start__ pseudo-node keeps its input as invocation input, not state",
			ts: testSpan{name: "__start__", attrs: map[string]any{
				"openinference.span.kind": "CHAIN", "input.value": `{"messages":[]}`, "metadata": oiMeta("__start__", 0)}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleOther, out.role)
				assert.Equal(t, ignorePseudoNode, out.ignoreReason)
				assert.Equal(t, "__start__", out.pseudoNode)
				assert.Equal(t, `{"messages":[]}`, out.invocationInput)
				assert.Empty(t, out.stateBefore)
				assert.True(t, out.hasStep)
			},
		},
		{
			name: "llm with tokens, model and finish reason",
			ts: testSpan{name: "ChatOpenAI", attrs: map[string]any{
				"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-mini", "llm.token_count.prompt": 212,
				"llm.token_count.completion": 48, "llm.token_count.total": 260, "output.value": llmOut,
				"metadata": oiMeta("agent", 2)}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleLLM, out.role)
				assert.Equal(t, "gpt-4o-mini", out.model)
				assert.True(t, out.hasTokens)
				assert.Equal(t, [3]int64{212, 48, 260}, [3]int64{out.inputTokens, out.outputTokens, out.totalTokens})
				assert.Equal(t, "tool_calls", out.finishReason)
				assert.Equal(t, "agent", out.nodeName)
			},
		},
		{
			name: "llm model from invocation parameters, total computed",
			ts: testSpan{name: "ChatAnthropic", attrs: map[string]any{
				"openinference.span.kind": "LLM", "llm.invocation_parameters": `{"model":"claude-x"}`,
				"llm.token_count.prompt": "10", "llm.token_count.completion": 5.0,
				"output.value": `{"generations":[[{"generation_info":{"stop_reason":"end_turn"}}]]}`}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, "claude-x", out.model)
				assert.Equal(t, int64(15), out.totalTokens)
				assert.Equal(t, "end_turn", out.finishReason)
			},
		},
		{
			name: "tool with JS ToolMessage output",
			ts: testSpan{name: "get_weather", attrs: map[string]any{
				"openinference.span.kind": "TOOL", "tool.name": "get_weather", "input.value": "Paris",
				"output.value": `{"output":{"lc":1,"type":"constructor","id":["langchain_core","messages","ToolMessage"],"kwargs":{"content":"18C","tool_call_id":"call_paris_1"}}}`,
				"metadata":     oiMeta("tools", 3)}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleTool, out.role)
				assert.Equal(t, "get_weather", out.toolName)
				assert.Equal(t, "call_paris_1", out.callID)
				assert.Equal(t, "Paris", out.arguments)
				assert.Contains(t, out.result, "18C")
			},
		},
		{
			name: "tool invoked with a ToolCall input",
			ts: testSpan{name: "search", attrs: map[string]any{
				"openinference.span.kind": "TOOL", "input.value": `{"name":"search","args":{"q":"x"},"id":"call_1","type":"tool_call"}`}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, "search", out.toolName, "name from span when tool.name absent")
				assert.Equal(t, "call_1", out.callID)
			},
		},
		{
			name: "retriever is other",
			ts:   testSpan{name: "r", attrs: map[string]any{"openinference.span.kind": "RETRIEVER"}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleOther, out.role)
				assert.Equal(t, "openinference_kind_retriever", out.ignoreReason)
			},
		},
		{
			name: "malformed metadata: no node, reason recorded, session id still used",
			ts: testSpan{name: "agent", attrs: map[string]any{
				"openinference.span.kind": "CHAIN", "metadata": `{"langgraph_node": "agent",`, "session.id": "s1", "input.value": state}},
			check: func(t *testing.T, out spanInfo) {
				assert.NotEqual(t, roleNode, out.role)
				assert.Equal(t, badMetadataNotJSON, out.badReason)
				assert.Equal(t, "s1", out.threadID)
			},
		},
		{
			name: "metadata with wrong types",
			ts: testSpan{name: "agent", attrs: map[string]any{
				"openinference.span.kind": "CHAIN", "metadata": `{"langgraph_node": 5, "langgraph_step": {"x":1}, "thread_id": []}`}},
			check: func(t *testing.T, out spanInfo) {
				assert.NotEqual(t, roleNode, out.role)
				assert.False(t, out.hasStep)
				assert.Empty(t, out.threadID)
			},
		},
		{
			name: "metadata given as a map attribute",
			ts: testSpan{name: "agent", attrs: map[string]any{
				"openinference.span.kind": "CHAIN", "metadata": map[string]any{"langgraph_node": "agent", "langgraph_step": 4}}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleNode, out.role)
				assert.Equal(t, int64(4), out.step)
			},
		},
	}
	c := newOpenInferenceClassifier()
	assert.Equal(t, ConventionOpenInference, c.name())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, ok := classifyWith(t, c, tt.ts)
			require.True(t, ok)
			assert.Equal(t, ConventionOpenInference, out.convention)
			tt.check(t, out)
		})
	}
}

func TestClassifyOpenInferenceRejectsOtherConventions(t *testing.T) {
	c := newOpenInferenceClassifier()
	for _, ts := range []testSpan{
		{name: "graph.invoke", attrs: map[string]any{"graph.name": "g"}},
		{name: "invoke_agent x", attrs: map[string]any{"gen_ai.operation.name": "invoke_agent"}},
		{name: "x", attrs: map[string]any{"openinference.span.kind": ""}},
		{name: "x", attrs: map[string]any{"openinference.span.kind": []any{"CHAIN"}}},
	} {
		var out spanInfo
		res, scope, sp := ts.build(t)
		assert.False(t, c.classify(res, scope, sp, &out), ts.name)
		assert.Equal(t, spanInfo{}, out, "a rejected span leaves out untouched")
	}
}
