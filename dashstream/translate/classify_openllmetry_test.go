package translate

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tlAssoc returns the association properties traceloop sets below a node.
func tlAssoc(node string, step any) map[string]any {
	return map[string]any{
		"traceloop.workflow.name":                                  "LangGraph",
		"traceloop.association.properties.thread_id":               "support-7f3a",
		"traceloop.association.properties.langgraph_node":          node,
		"traceloop.association.properties.langgraph_step":          step,
		"traceloop.association.properties.langgraph_triggers":      []any{"branch:to:" + node},
		"traceloop.association.properties.langgraph_path":          []any{"__pregel_pull", node},
		"traceloop.association.properties.langgraph_checkpoint_ns": node + ":1e2d3c4b",
	}
}

func with(base map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range base {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

func TestClassifyOpenLLMetry(t *testing.T) {
	state := `{"messages":[{"lc":1,"type":"constructor","id":["langchain","schema","messages","HumanMessage"],"kwargs":{"content":"hi","type":"human"}}],"intent":"order_status"}`
	entityIn := func(inputs string) string {
		return `{"inputs": ` + inputs + `, "tags": ["graph:step:2"], "metadata": {"thread_id": "support-7f3a"}, "kwargs": {"run_type": null, "name": "x"}}`
	}
	entityOut := func(outputs string) string { return `{"outputs": ` + outputs + `, "kwargs": {"tags": []}}` }
	tests := []struct {
		name  string
		ts    testSpan
		check func(t *testing.T, out spanInfo)
	}{
		{
			name: "invoke_agent LangGraph workflow is the graph with schema and final state",
			ts: testSpan{name: "invoke_agent LangGraph", root: true, attrs: map[string]any{
				"traceloop.span.kind": "workflow", "traceloop.entity.name": "LangGraph", "traceloop.workflow.name": "LangGraph",
				"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "LangGraph", "gen_ai.conversation.id": "support-7f3a",
				"gen_ai.workflow.nodes":  []any{"classify", "lookup"},
				"gen_ai.workflow.edges":  []any{"classify -> lookup", "lookup -> __end__"},
				"traceloop.entity.input": entityIn(`{"messages": []}`), "traceloop.entity.output": entityOut(state)}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleGraph, out.role)
				assert.Equal(t, "LangGraph", out.graphName)
				assert.Equal(t, "support-7f3a", out.threadID)
				assert.True(t, out.traceWideThread)
				assert.JSONEq(t, state, out.finalState)
				assert.JSONEq(t, `{"messages": []}`, out.invocationInput)
				var gs graphSchema
				require.NoError(t, json.Unmarshal([]byte(out.graphSchemaJSON), &gs))
				require.Len(t, gs.Nodes, 2)
				assert.Equal(t, "lookup", gs.Edges[1].From)
				assert.Equal(t, "__end__", gs.Edges[1].To)
			},
		},
		{
			name: "older layout LangGraph.workflow with JSON-text edges pairs",
			ts: testSpan{name: "LangGraph.workflow", root: true, attrs: map[string]any{
				"traceloop.span.kind": "workflow", "traceloop.entity.name": "LangGraph",
				"traceloop.association.properties.thread_id": "t-old",
				"gen_ai.workflow.edges":                      `[[["__start__"],["a"]],[["a"],["b","__end__"]]]`}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleGraph, out.role)
				assert.Equal(t, "t-old", out.threadID, "thread from association properties")
				var gs graphSchema
				require.NoError(t, json.Unmarshal([]byte(out.graphSchemaJSON), &gs))
				assert.Equal(t, "a", gs.EntryPoint)
				assert.Len(t, gs.Edges, 2)
			},
		},
		{
			name: "malformed workflow edges record a reason, graph still classified",
			ts: testSpan{name: "invoke_agent LangGraph", root: true, attrs: map[string]any{
				"traceloop.span.kind": "workflow", "traceloop.entity.name": "LangGraph",
				"gen_ai.workflow.edges": `[[["a"`, "traceloop.entity.output": `{"outputs": [1]}`}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleGraph, out.role)
				assert.Equal(t, badWorkflowSchemaJSON, out.badReason)
				assert.Empty(t, out.finalState)
			},
		},
		{
			name: "plain LangChain workflow is not a graph",
			ts: testSpan{name: "RunnableSequence.workflow", root: true, attrs: map[string]any{
				"traceloop.span.kind": "workflow", "traceloop.entity.name": "RunnableSequence"}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleOther, out.role)
				assert.Equal(t, ignoreNotInGraph, out.ignoreReason)
			},
		},
		{
			name: "JS 0.27 chain span without LangGraph keys is not given a node name",
			ts: testSpan{name: "workflow RunnableSequence", attrs: map[string]any{
				"traceloop.span.kind": "workflow", "traceloop.workflow.name": "RunnableSequence",
				"gen_ai.operation.name": "workflow", "gen_ai.provider.name": "langchain",
				"traceloop.entity.input": state}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleOther, out.role)
				assert.Equal(t, "openllmetry_js_chain_unnamed", out.ignoreReason)
				assert.Empty(t, out.nodeName)
				assert.Empty(t, out.stateBefore)
			},
		},
		{
			name: "JS 0.27 graph span: raw chain values are the final state",
			ts: testSpan{name: "workflow LangGraph", attrs: map[string]any{
				"traceloop.span.kind": "workflow", "traceloop.workflow.name": "LangGraph", "traceloop.entity.name": "LangGraph",
				"gen_ai.operation.name": "workflow", "traceloop.entity.output": state}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleGraph, out.role)
				assert.JSONEq(t, state, out.finalState)
			},
		},
		{
			name: "execute_task node with step as int and state before from inputs",
			ts: testSpan{name: "execute_task lookup", attrs: with(tlAssoc("lookup", 2),
				"traceloop.span.kind", "task", "traceloop.entity.name", "lookup", "gen_ai.operation.name", "execute_task",
				"gen_ai.task.name", "lookup", "traceloop.entity.input", entityIn(state), "traceloop.entity.output", entityOut(`{"order": {}}`))},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleNode, out.role)
				assert.Equal(t, "lookup", out.nodeName)
				assert.Equal(t, int64(2), out.step)
				assert.JSONEq(t, state, out.stateBefore)
				assert.Empty(t, out.stateAfter)
				assert.Equal(t, "support-7f3a", out.threadID)
			},
		},
		{
			name: "older layout node.task with step as string, entity name from span name",
			ts:   testSpan{name: "action.task", attrs: with(tlAssoc("action", "4"), "traceloop.span.kind", "task")},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleNode, out.role)
				assert.Equal(t, int64(4), out.step)
			},
		},
		{
			name: "node error with exception event",
			ts: testSpan{name: "execute_task send_reply", errMsg: "SMTP relay timed out",
				exception: map[string]any{"exception.type": "ConnectionError", "exception.message": "SMTP relay timed out",
					"exception.stacktrace": "Traceback (most recent call last):\n"},
				attrs: with(tlAssoc("send_reply", 4), "traceloop.span.kind", "task", "traceloop.entity.name", "send_reply",
					"traceloop.entity.input", entityIn(state))},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleNode, out.role)
				assert.True(t, out.failed)
				assert.Equal(t, "ConnectionError", out.exceptionType)
				assert.Equal(t, "SMTP relay timed out", out.errorMessage)
				assert.Contains(t, out.stackTrace, "Traceback")
			},
		},
		{
			name: "node with malformed entity input",
			ts: testSpan{name: "execute_task lookup", attrs: with(tlAssoc("lookup", 2),
				"traceloop.span.kind", "task", "traceloop.entity.name", "lookup", "traceloop.entity.input", `{"inputs": {"a": `)},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleNode, out.role)
				assert.Empty(t, out.stateBefore)
				assert.Equal(t, badEntityNotJSON, out.badReason)
			},
		},
		{
			name: "node whose inputs is a string is not a state",
			ts: testSpan{name: "execute_task lookup", attrs: with(tlAssoc("lookup", 2),
				"traceloop.span.kind", "task", "traceloop.entity.name", "lookup", "traceloop.entity.input", `{"inputs": "hi"}`)},
			check: func(t *testing.T, out spanInfo) {
				assert.Empty(t, out.stateBefore)
				assert.Equal(t, badStateNotObject, out.badReason)
			},
		},
		{
			name: "router task below node returns the branch",
			ts: testSpan{name: "execute_task route_by_intent", attrs: with(tlAssoc("classify", 1),
				"traceloop.span.kind", "task", "traceloop.entity.name", "route_by_intent",
				"traceloop.entity.input", entityIn(state), "traceloop.entity.output", entityOut(`"lookup"`))},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleRouter, out.role)
				assert.Equal(t, "lookup", out.routerChoice)
				assert.Equal(t, "classify", out.nodeName)
			},
		},
		{
			name: "task below node returning an object is internal",
			ts: testSpan{name: "execute_task RunnableSequence", attrs: with(tlAssoc("draft", 3),
				"traceloop.span.kind", "task", "traceloop.entity.name", "RunnableSequence",
				"traceloop.entity.output", entityOut(`{"text": "x"}`))},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleOther, out.role)
				assert.Equal(t, ignoreInternalChain, out.ignoreReason)
			},
		},
		{
			name: "task outside a graph",
			ts: testSpan{name: "execute_task x", attrs: map[string]any{
				"traceloop.span.kind": "task", "traceloop.entity.name": "x"}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleOther, out.role)
				assert.Equal(t, ignoreNotInGraph, out.ignoreReason)
			},
		},
		{
			name: "__start__ task is a pseudo-node",
			ts: testSpan{name: "execute_task __start__", attrs: with(tlAssoc("__start__", 0),
				"traceloop.span.kind", "task", "traceloop.entity.name", "__start__", "traceloop.entity.input", entityIn(`{"messages": []}`))},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleOther, out.role)
				assert.Equal(t, "__start__", out.pseudoNode)
				assert.JSONEq(t, `{"messages": []}`, out.invocationInput)
			},
		},
		{
			name: "tool with gen_ai keys",
			ts: testSpan{name: "execute_tool get_order_status", attrs: with(tlAssoc("lookup", 2),
				"traceloop.span.kind", "tool", "gen_ai.tool.name", "get_order_status", "gen_ai.tool.call.id", "call_1",
				"gen_ai.tool.call.arguments", `{"order_id":"A1"}`, "gen_ai.tool.call.result", "shipped")},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleTool, out.role)
				assert.Equal(t, "get_order_status", out.toolName)
				assert.Equal(t, "call_1", out.callID)
				assert.Equal(t, `{"order_id":"A1"}`, out.arguments)
				assert.Equal(t, "shipped", out.result)
				assert.Equal(t, "lookup", out.nodeName)
			},
		},
		{
			name: "tool from the entity wrapper (older layout)",
			ts: testSpan{name: "get_order_status.tool", attrs: with(tlAssoc("lookup", 2),
				"traceloop.span.kind", "tool", "traceloop.entity.name", "get_order_status",
				"traceloop.entity.input", `{"input_str": "{'order_id': 'A1'}", "inputs": {"order_id": "A1"}}`,
				"traceloop.entity.output", `{"output": {"lc": 1, "kwargs": {"content": "shipped", "tool_call_id": "call_9"}}}`)},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, "get_order_status", out.toolName)
				assert.Equal(t, "{'order_id': 'A1'}", out.arguments)
				assert.Equal(t, "call_9", out.callID)
				assert.Contains(t, out.result, "shipped")
			},
		},
		{
			name: "llm span without span kind",
			ts: testSpan{name: "ChatOpenAI.chat", attrs: with(tlAssoc("draft_reply", 3),
				"llm.request.type", "chat", "gen_ai.request.model", "gpt-4o-mini", "gen_ai.response.model", "gpt-4o-mini-2024-07-18",
				"gen_ai.usage.input_tokens", 212, "gen_ai.usage.output_tokens", 48, "llm.usage.total_tokens", 260,
				"gen_ai.completion.0.finish_reason", "stop")},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleLLM, out.role)
				assert.Equal(t, "gpt-4o-mini-2024-07-18", out.model)
				assert.Equal(t, [3]int64{212, 48, 260}, [3]int64{out.inputTokens, out.outputTokens, out.totalTokens})
				assert.Equal(t, "stop", out.finishReason)
				assert.Equal(t, "draft_reply", out.nodeName)
			},
		},
		{
			name: "goto span of a Command is a router",
			ts: testSpan{name: "goto escalate", attrs: with(tlAssoc("classify", 1),
				"langgraph.command.source_node", "classify", "langgraph.command.goto_node", "escalate")},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleRouter, out.role)
				assert.Equal(t, "escalate", out.routerChoice)
				assert.Equal(t, "classify", out.nodeName)
			},
		},
		{
			name: "llm span with older token keys and finish reasons list",
			ts: testSpan{name: "chat gpt-4o", attrs: map[string]any{
				"traceloop.workflow.name": "LangGraph", "gen_ai.operation.name": "chat",
				"gen_ai.usage.prompt_tokens": 5, "gen_ai.usage.completion_tokens": 6,
				"gen_ai.response.finish_reasons": []any{"length"}}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleLLM, out.role)
				assert.Equal(t, int64(11), out.totalTokens)
				assert.Equal(t, "length", out.finishReason)
			},
		},
	}
	c := newOpenLLMetryClassifier()
	assert.Equal(t, ConventionOpenLLMetry, c.name())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, ok := classifyWith(t, c, tt.ts)
			require.True(t, ok)
			assert.Equal(t, ConventionOpenLLMetry, out.convention)
			tt.check(t, out)
		})
	}
}

func TestClassifyOpenLLMetryLeavesPlainGenAISpans(t *testing.T) {
	c := newOpenLLMetryClassifier()
	for _, ts := range []testSpan{
		{name: "chat gpt-4o", attrs: map[string]any{"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"}},
		{name: "invoke_agent x", attrs: map[string]any{"gen_ai.operation.name": "invoke_agent"}},
		{name: "agent", attrs: map[string]any{"openinference.span.kind": "CHAIN"}},
	} {
		_, ok := classifyWith(t, c, ts)
		assert.False(t, ok, ts.name)
	}
}
