package translate

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestClassifyGenAI(t *testing.T) {
	tests := []struct {
		name  string
		ts    testSpan
		check func(t *testing.T, out spanInfo)
	}{
		{
			name: "invoke_workflow is the graph",
			ts: testSpan{name: "invoke_workflow support_agent", attrs: map[string]any{
				"gen_ai.operation.name": "invoke_workflow", "gen_ai.workflow.name": "support_agent",
				"gen_ai.conversation.id": "support-7f3a"}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleGraph, out.role)
				assert.Equal(t, "support_agent", out.graphName)
				assert.Equal(t, "support-7f3a", out.threadID)
				assert.True(t, out.traceWideThread)
			},
		},
		{
			name: "invoke_workflow name from span name",
			ts:   testSpan{name: "invoke_workflow pipeline", attrs: map[string]any{"gen_ai.operation.name": "invoke_workflow"}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, "pipeline", out.graphName)
				assert.Empty(t, out.threadID)
			},
		},
		{
			name: "root invoke_agent is the graph",
			ts: testSpan{name: "invoke_agent planner", root: true, attrs: map[string]any{
				"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "planner", "gen_ai.conversation.id": "c1"}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleGraph, out.role)
				assert.Equal(t, "planner", out.graphName)
				assert.Equal(t, nestedNode, out.nested, "inside another run: a sub-agent node")
			},
		},
		{
			// The engine decides whether an agent is the run or a node
			// (runs.go, TestRunRules): the classifier says what it is in
			// either case.
			name: "nested invoke_agent is the run or a node, no state, no step",
			ts: testSpan{name: "invoke_agent lookup", attrs: map[string]any{
				"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "lookup", "gen_ai.agent.id": "agt_1",
				"gen_ai.conversation.id": "c1"}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleGraph, out.role)
				assert.Equal(t, nestedNode, out.nested)
				assert.False(t, out.weakRun)
				assert.Equal(t, "lookup", out.graphName, "and its node name when nested")
				assert.Equal(t, "c1", out.threadID)
				assert.False(t, out.hasStep)
				assert.Empty(t, out.stateBefore+out.stateAfter+out.finalState+out.initialState)
			},
		},
		{
			name: "nested invoke_agent named only by span name",
			ts:   testSpan{name: "invoke_agent writer", attrs: map[string]any{"gen_ai.operation.name": "invoke_agent"}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleGraph, out.role)
				assert.Equal(t, nestedNode, out.nested)
				assert.Equal(t, "writer", out.graphName)
			},
		},
		{
			name: "nested invoke_agent without any name is not guessed (ignored inside a run)",
			ts:   testSpan{name: "invoke_agent", attrs: map[string]any{"gen_ai.operation.name": "invoke_agent"}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleGraph, out.role, "the run when outermost")
				assert.Equal(t, nestedIgnored, out.nested)
				assert.Equal(t, "gen_ai_agent_unnamed", out.nestedReason)
			},
		},
		{
			name: "node error with error.type and exception event",
			ts: testSpan{name: "invoke_agent send_reply", errMsg: "SMTP timed out",
				exception: map[string]any{"exception.type": "ConnectionError", "exception.message": "SMTP timed out"},
				attrs:     map[string]any{"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "send_reply", "error.type": "ConnectionError"}},
			check: func(t *testing.T, out spanInfo) {
				assert.True(t, out.failed)
				assert.Equal(t, "ConnectionError", out.exceptionType)
				assert.Equal(t, "SMTP timed out", out.errorMessage)
			},
		},
		{
			name: "error.type alone names the error",
			ts:   testSpan{name: "chat m", errMsg: "", attrs: map[string]any{"gen_ai.operation.name": "chat", "error.type": "timeout"}},
			check: func(t *testing.T, out spanInfo) {
				assert.False(t, out.failed, "status unset/ok: not failed")
			},
		},
		{
			name: "chat is llm",
			ts: testSpan{name: "chat gpt-4o-mini", attrs: map[string]any{
				"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini", "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
				"gen_ai.usage.input_tokens": 212, "gen_ai.usage.output_tokens": 48, "gen_ai.response.finish_reasons": []any{"stop"}}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleLLM, out.role)
				assert.Equal(t, "gpt-4o-mini-2024-07-18", out.model)
				assert.Equal(t, int64(260), out.totalTokens)
				assert.Equal(t, "stop", out.finishReason)
			},
		},
		{
			name: "generate_content and text_completion are llm",
			ts:   testSpan{name: "generate_content gemini", attrs: map[string]any{"gen_ai.operation.name": "GENERATE_CONTENT"}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleLLM, out.role)
				assert.False(t, out.hasTokens)
			},
		},
		{
			name: "execute_tool",
			ts: testSpan{name: "execute_tool get_order_status", attrs: map[string]any{
				"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "get_order_status", "gen_ai.tool.call.id": "call_V",
				"gen_ai.tool.call.arguments": `{"order_id":"A1042"}`, "gen_ai.tool.call.result": "shipped"}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleTool, out.role)
				assert.Equal(t, "get_order_status", out.toolName)
				assert.Equal(t, "call_V", out.callID)
				assert.Equal(t, `{"order_id":"A1042"}`, out.arguments)
				assert.Equal(t, "shipped", out.result)
			},
		},
		{
			name: "agent_step is node step N",
			ts:   testSpan{name: "step 3", attrs: map[string]any{"gen_ai.operation.name": "agent_step", "gen_ai.conversation.id": "c1"}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleNode, out.role)
				assert.Equal(t, "step", out.nodeName)
				assert.True(t, out.hasStep)
				assert.Equal(t, int64(3), out.step)
			},
		},
		{
			name: "chat carries the conversation before and after, finish_reason dropped",
			ts: testSpan{name: "chat m", attrs: map[string]any{"gen_ai.operation.name": "chat",
				"gen_ai.input.messages":  `[{"role":"user","parts":[{"type":"text","content":"hi"}]}]`,
				"gen_ai.output.messages": `[{"role":"assistant","parts":[{"type":"text","content":"yo"}],"finish_reason":"stop"}]`}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleLLM, out.role)
				assert.JSONEq(t, `{"messages":[{"role":"user","parts":[{"type":"text","content":"hi"}]}]}`, out.stateBefore)
				assert.JSONEq(t, `{"messages":[{"role":"user","parts":[{"type":"text","content":"hi"}]},`+
					`{"role":"assistant","parts":[{"type":"text","content":"yo"}]}]}`, out.stateAfter)
				assert.Empty(t, out.badReason)
			},
		},
		{
			name: "malformed messages are counted, no state",
			ts: testSpan{name: "chat m", attrs: map[string]any{"gen_ai.operation.name": "chat",
				"gen_ai.input.messages": `{"role":"user"}`}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleLLM, out.role)
				assert.Empty(t, out.stateBefore+out.stateAfter)
				assert.Equal(t, badMessagesNotJSON, out.badReason)
			},
		},
		{
			name: "embeddings is other with a safe reason",
			ts:   testSpan{name: "embeddings x", attrs: map[string]any{"gen_ai.operation.name": "embeddings"}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleOther, out.role)
				assert.Equal(t, "gen_ai_embeddings", out.ignoreReason)
			},
		},
		{
			name: "hostile operation value is sanitised in the reason",
			ts:   testSpan{name: "x", attrs: map[string]any{"gen_ai.operation.name": "Drop Table;\xff" + string(make([]byte, 100))}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleOther, out.role)
				assert.LessOrEqual(t, len(out.ignoreReason), 47)
				assert.Regexp(t, `^gen_ai_[a-z0-9_]+$`, out.ignoreReason)
			},
		},
	}
	c := newGenAIClassifier()
	assert.Equal(t, ConventionGenAI, c.name())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, ok := classifyWith(t, c, tt.ts)
			require.True(t, ok)
			tt.check(t, out)
		})
	}
	_, ok := classifyWith(t, c, testSpan{name: "x", attrs: map[string]any{"gen_ai.operation.name": 5}})
	assert.True(t, ok, "a numeric operation reads as its text")
	_, ok = classifyWith(t, c, testSpan{name: "x", attrs: map[string]any{"gen_ai.system": "openai"}})
	assert.False(t, ok)
}
