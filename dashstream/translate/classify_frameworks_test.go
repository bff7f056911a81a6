package translate

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// The framework layouts of classify_genai_agents.go, classify_genai_aisdk.go,
// classify_openinference_agents.go and classify_openinference_beeai.go, on
// spans shaped as the corpus' real traces show them (testdata/corpus).
func TestClassifyGenAIFrameworks(t *testing.T) {
	tests := []struct {
		name  string
		ts    testSpan
		check func(t *testing.T, out spanInfo)
	}{
		{
			name: "Pydantic AI 1.x agent run: an agent invocation (the run when outermost, a sub-agent node when nested: runs.go)",
			ts: testSpan{name: "joke_agent run", scope: "pydantic-ai", attrs: map[string]any{
				"agent_name": "joke_agent", "gen_ai.agent.name": "joke_agent",
				"pydantic_ai.all_messages": `[{"role":"user","parts":[{"type":"text","content":"hi"}]}]`}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleGraph, out.role)
				assert.Equal(t, nestedNode, out.nested)
				assert.False(t, out.weakRun)
				assert.Equal(t, "joke_agent", out.graphName)
				assert.JSONEq(t, `{"messages":[{"role":"user","parts":[{"type":"text","content":"hi"}]}]}`, out.finalState)
				assert.JSONEq(t, `{"messages":[{"role":"user","parts":[{"type":"text","content":"hi"}]}]}`, out.stateAfter)
			},
		},
		{
			name: "Pydantic AI 0.2 agent run at the root (agent_name only) is the run",
			ts: testSpan{name: "qa_agent run", root: true, scope: "pydantic-ai", attrs: map[string]any{
				"agent_name": "qa_agent", "final_result": "x"}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleGraph, out.role)
				assert.Equal(t, "qa_agent", out.graphName)
				assert.Equal(t, nestedNode, out.nested)
				assert.False(t, out.weakRun)
			},
		},
		{
			name: "a tool without operation name (Pydantic AI)",
			ts: testSpan{name: "running tool: get_pun_suggestion", scope: "pydantic-ai", attrs: map[string]any{
				"gen_ai.tool.name": "get_pun_suggestion", "gen_ai.tool.call.id": "call_X",
				"tool_arguments": `{"topic":"programming"}`, "tool_response": "Pun idea"}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleTool, out.role)
				assert.Equal(t, "get_pun_suggestion", out.toolName)
				assert.Equal(t, "call_X", out.callID)
				assert.Equal(t, `{"topic":"programming"}`, out.arguments)
				assert.Equal(t, "Pun idea", out.result)
			},
		},
		{
			name: "Pydantic AI's tool group is other",
			ts:   testSpan{name: "running 3 tools", scope: "pydantic-ai", attrs: map[string]any{"logfire.msg": "running 3 tools"}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, ignorePydanticToolGroup, out.ignoreReason)
			},
		},
		{
			name: "Pydantic AI 0.2 chat: the conversation from its events attribute",
			ts: testSpan{name: "chat gpt-4o", scope: "pydantic-ai", attrs: map[string]any{
				"gen_ai.operation.name": "chat",
				"events": `[{"content":"Be brief.","role":"system","gen_ai.message.index":0,"event.name":"gen_ai.system.message"},` +
					`{"content":"What is Langfuse?","role":"user","event.name":"gen_ai.user.message"},` +
					`{"index":0,"message":{"role":"assistant","content":"A tool."},"event.name":"gen_ai.choice"}]`}},
			check: func(t *testing.T, out spanInfo) {
				assert.True(t, out.conversation)
				assert.JSONEq(t, `{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"What is Langfuse?"}]}`, out.stateBefore)
				assert.JSONEq(t, `{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"What is Langfuse?"},`+
					`{"role":"assistant","content":"A tool."}]}`, out.stateAfter)
			},
		},
		{
			name: "Strands Python event-loop cycle is a node",
			ts:   testSpan{name: "execute_event_loop_cycle", scope: "strands.telemetry.tracer", attrs: map[string]any{"event_loop.cycle_id": "5d0c"}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleNode, out.role)
				assert.Equal(t, "cycle", out.nodeName)
				assert.False(t, out.hasStep)
			},
		},
		{
			name: "Koog's run of its strategy is the graph wherever it sits",
			ts: testSpan{name: "run.6f8d", scope: "ai.koog", attrs: map[string]any{
				"gen_ai.operation.name": "invoke_agent", "koog.agent.strategy.name": "single_run_sequential",
				"gen_ai.conversation.id": "6f8d"}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleGraph, out.role)
				assert.Equal(t, "single_run_sequential", out.graphName)
				assert.Equal(t, "6f8d", out.threadID)
				assert.True(t, out.traceWideThread)
			},
		},
		{
			name: "a Koog strategy node with its step",
			ts: testSpan{name: "node.nodeCallLLM", scope: "ai.koog", attrs: map[string]any{
				"koog.node.name": "nodeCallLLM", "langfuse.observation.metadata.langgraph_step": "1"}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleNode, out.role)
				assert.Equal(t, "nodeCallLLM", out.nodeName)
				assert.Equal(t, int64(1), out.step)
			},
		},
		{
			name: "Koog's __finish__ is a pseudo-node",
			ts:   testSpan{name: "node.__finish__", scope: "ai.koog", attrs: map[string]any{"koog.node.name": "__finish__"}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, ignoreKoogPseudoNode, out.ignoreReason)
			},
		},
		{
			name: "Koog chat: the conversation from flattened gen_ai.prompt / gen_ai.completion",
			ts: testSpan{name: "llm.chat", scope: "ai.koog", attrs: map[string]any{
				"gen_ai.operation.name":             "chat",
				"gen_ai.prompt.0.role":              "system",
				"gen_ai.prompt.0.content":           "Be nice.",
				"gen_ai.prompt.1.role":              "user",
				"gen_ai.prompt.1.content":           "Greet Bob.",
				"gen_ai.completion.0.role":          "assistant",
				"gen_ai.completion.0.content":       "Hello Bob",
				"gen_ai.completion.0.finish_reason": "stop"}},
			check: func(t *testing.T, out spanInfo) {
				assert.True(t, out.conversation)
				assert.JSONEq(t, `{"messages":[{"role":"system","content":"Be nice."},{"role":"user","content":"Greet Bob."},`+
					`{"role":"assistant","content":"Hello Bob"}]}`, out.stateAfter)
			},
		},
		{
			name: "Microsoft.Extensions.AI orchestrate_tools is a node",
			ts:   testSpan{name: "orchestrate_tools", scope: "Experimental.Microsoft.Extensions.AI", attrs: map[string]any{"gen_ai.usage.input_tokens": 5}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleNode, out.role)
				assert.Equal(t, "orchestrate_tools", out.nodeName)
			},
		},
		{
			name: "LangSmith's root chain is the run, its thread the metadata session",
			ts: testSpan{name: "claude.conversation", root: true, scope: "langsmith", attrs: map[string]any{
				"gen_ai.operation.name": "chain", "langsmith.span.kind": "chain", "langsmith.trace.name": "claude.conversation",
				"langsmith.metadata.session_id": "6fb9"}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleGraph, out.role)
				assert.Equal(t, "claude.conversation", out.graphName)
				assert.Equal(t, "6fb9", out.threadID)
			},
		},
		{
			name: "LangSmith chat: gen_ai.prompt / gen_ai.completion as JSON messages",
			ts: testSpan{name: "claude.assistant.turn", scope: "langsmith", attrs: map[string]any{
				"gen_ai.operation.name": "chat",
				"gen_ai.prompt":         `{"content":"Weather in Berlin?","role":"user"}`,
				"gen_ai.completion":     `{"content":[{"type":"text","text":"Checking."}],"role":"assistant"}`}},
			check: func(t *testing.T, out spanInfo) {
				assert.True(t, out.conversation)
				assert.JSONEq(t, `{"messages":[{"content":"Weather in Berlin?","role":"user"},`+
					`{"content":[{"type":"text","text":"Checking."}],"role":"assistant"}]}`, out.stateAfter)
			},
		},
		{
			name: "a provider client's chat only lends its messages",
			ts: testSpan{name: "openai.chat", scope: "opentelemetry.instrumentation.openai.v1", attrs: map[string]any{
				"gen_ai.operation.name": "chat", "gen_ai.input.messages": `[{"role":"user","parts":[]}]`}},
			check: func(t *testing.T, out spanInfo) {
				assert.NotEmpty(t, out.stateBefore)
				assert.False(t, out.conversation)
			},
		},
		{
			name: "an agent framework's chat (any scope) carries the conversation",
			ts: testSpan{name: "chat gpt-5-mini", scope: "agent_framework", attrs: map[string]any{
				"gen_ai.operation.name": "chat", "gen_ai.input.messages": `[{"role":"user","parts":[]}]`}},
			check: func(t *testing.T, out spanInfo) { assert.True(t, out.conversation) },
		},
		{
			name: "a chat LangGraph's metadata reached belongs to the graph's state",
			ts: testSpan{name: "chat", scope: "x", attrs: map[string]any{
				"gen_ai.operation.name": "chat", "gen_ai.input.messages": `[{"role":"user","parts":[]}]`,
				"traceloop.association.properties.langgraph_node": "agent"}},
			check: func(t *testing.T, out spanInfo) { assert.False(t, out.conversation) },
		},
		{
			name: "AI SDK ≤ 6: generateText at the root is the run",
			ts: testSpan{name: "ai.generateText", root: true, scope: "ai", attrs: map[string]any{
				"ai.operationId": "ai.generateText", "operation.name": "ai.generateText"}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleGraph, out.role)
				assert.Equal(t, "generateText", out.graphName)
			},
		},
		{
			name: "AI SDK ≤ 6: doGenerate is a model call with its conversation",
			ts: testSpan{name: "ai.generateText.doGenerate", scope: "ai", attrs: map[string]any{
				"ai.operationId": "ai.generateText.doGenerate", "ai.model.id": "gpt-5", "ai.response.model": "gpt-5-2025-08-07",
				"ai.usage.promptTokens": 62, "ai.usage.completionTokens": 85, "ai.response.finishReason": "tool-calls",
				"ai.prompt.messages":    `[{"role":"user","content":[{"type":"text","text":"Weather?"}]}]`,
				"ai.response.toolCalls": `[{"toolCallId":"call_D","toolName":"getWeather","input":"{}"}]`}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleLLM, out.role)
				assert.Equal(t, "gpt-5-2025-08-07", out.model)
				assert.Equal(t, []int64{62, 85, 147}, []int64{out.inputTokens, out.outputTokens, out.totalTokens})
				assert.Equal(t, "tool-calls", out.finishReason)
				assert.True(t, out.conversation)
				assert.JSONEq(t, `{"messages":[{"role":"user","content":[{"type":"text","text":"Weather?"}]},`+
					`{"role":"assistant","content":"","toolCalls":[{"toolCallId":"call_D","toolName":"getWeather","input":"{}"}]}]}`, out.stateAfter)
			},
		},
		{
			name: "AI SDK ≤ 6: toolCall is a tool call",
			ts: testSpan{name: "getWeather", scope: "ai", attrs: map[string]any{
				"ai.operationId": "ai.toolCall", "ai.toolCall.name": "getWeather", "ai.toolCall.id": "call_D",
				"ai.toolCall.args": `{"location":"SF"}`, "ai.toolCall.result": `{"temperature":64}`}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleTool, out.role)
				assert.Equal(t, "getWeather", out.toolName)
				assert.Equal(t, "call_D", out.callID)
				assert.Equal(t, `{"temperature":64}`, out.result)
			},
		},
		{
			name: "AI SDK ≤ 6: other operations are counted",
			ts:   testSpan{name: "ai.embed", scope: "ai", attrs: map[string]any{"ai.operationId": "ai.embed"}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, "ai_sdk_embed", out.ignoreReason)
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
	_, ok := classifyWith(t, c, testSpan{name: "ai.x", scope: "ai", attrs: map[string]any{"foo": "bar"}})
	assert.False(t, ok, "a span of tracer ai without ai.operationId is not the AI SDK's")
}

// TestClassifyGenAIMessageEvents: the GenAI conventions' message events
// (before 1.37; Strands Python, OpenLLMetry) on a chat span.
func TestClassifyGenAIMessageEvents(t *testing.T) {
	res, scope, sp := testSpan{name: "chat", scope: "strands.telemetry.tracer", attrs: map[string]any{
		"gen_ai.operation.name": "chat"}}.build(t)
	add := func(name string, attrs map[string]any) {
		ev := sp.Events().AppendEmpty()
		ev.SetName(name)
		require.NoError(t, ev.Attributes().FromRaw(attrs))
	}
	add("gen_ai.user.message", map[string]any{"content": `[{"text":"Weather in Paris?"}]`})
	add("gen_ai.assistant.message", map[string]any{"content": `[{"toolUse":{"name":"weather"}}]`})
	add("gen_ai.tool.message", map[string]any{"content": `[{"toolResult":{"status":"ok"}}]`, "id": "t1"})
	add("gen_ai.choice", map[string]any{"finish_reason": "end_turn", "message": `[{"text":"Sunny."}]`})
	var out spanInfo
	require.True(t, newGenAIClassifier().classify(res, scope, sp, &out))
	assert.True(t, out.conversation)
	assert.JSONEq(t, `{"messages":[{"role":"user","content":[{"text":"Weather in Paris?"}]},`+
		`{"role":"assistant","content":[{"toolUse":{"name":"weather"}}]},`+
		`{"role":"tool","content":[{"toolResult":{"status":"ok"}}],"id":"t1"}]}`, out.stateBefore)
	assert.Contains(t, out.stateAfter, `[{"text":"Sunny."}]`)
}

func TestClassifyOpenInferenceAgents(t *testing.T) {
	tests := []struct {
		name  string
		ts    testSpan
		check func(t *testing.T, out spanInfo)
	}{
		{
			name: "OpenAI Agents: an AGENT is an agent invocation, a node named by graph.node.id when nested",
			ts: testSpan{name: "Hello world", scope: "openinference.instrumentation.openai_agents", attrs: map[string]any{
				"openinference.span.kind": "AGENT", "graph.node.id": "Hello world"}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleGraph, out.role)
				assert.Equal(t, nestedNode, out.nested)
				assert.False(t, out.weakRun)
				assert.Equal(t, "Hello world", out.nodeName)
			},
		},
		{
			name: "OpenAI Agents: the root AGENT is the run",
			ts:   testSpan{name: "Agent workflow", root: true, attrs: map[string]any{"openinference.span.kind": "AGENT"}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleGraph, out.role)
				assert.Equal(t, nestedNode, out.nested)
				assert.False(t, out.weakRun)
			},
		},
		{
			name: "ADK Python: agent_run [name] is node name",
			ts: testSpan{name: "agent_run [hello_agent]", attrs: map[string]any{
				"openinference.span.kind": "AGENT", "session.id": "demo-session"}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, "hello_agent", out.nodeName)
				assert.Equal(t, "demo-session", out.threadID)
			},
		},
		{
			name: "CrewAI: Crew.kickoff under an application span is the run",
			ts: testSpan{name: "Crew.kickoff", scope: "openinference.instrumentation.crewai", attrs: map[string]any{
				"openinference.span.kind": "CHAIN", "output.value": `{"raw":"x"}`}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleGraph, out.role)
				assert.Equal(t, "crew", out.graphName)
			},
		},
		{
			name: "CrewAI: a task is a node named after its agent's role",
			ts: testSpan{name: "Task._execute_core", scope: "openinference.instrumentation.crewai", attrs: map[string]any{
				"openinference.span.kind": "AGENT", "output.value": `{"name":null,"agent":"Software developer"}`}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleGraph, out.role)
				assert.Equal(t, nestedNode, out.nested)
				assert.Equal(t, "Software developer", out.nodeName)
			},
		},
		{
			name: "a CHAIN outside LangGraph is a weak run, plumbing inside a run",
			ts:   testSpan{name: "RunnableSequence", attrs: map[string]any{"openinference.span.kind": "CHAIN"}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleGraph, out.role)
				assert.True(t, out.weakRun)
				assert.Equal(t, nestedIgnored, out.nested)
				assert.Equal(t, ignoreNotInGraph, out.nestedReason)
			},
		},
		{
			name: "an agent's LLM: the conversation from flattened llm.input_messages (tool calls as lists)",
			ts: testSpan{name: "response", scope: "openinference.instrumentation.openai_agents", attrs: map[string]any{
				"openinference.span.kind":                                           "LLM",
				"llm.input_messages.0.message.role":                                 "system",
				"llm.input_messages.0.message.content":                              "Be helpful.",
				"llm.input_messages.1.message.role":                                 "assistant",
				"llm.input_messages.1.message.tool_calls.0.tool_call.function.name": "get_weather",
				"llm.input_messages.1.message.tool_calls.0.tool_call.id":            "call_K",
				"llm.output_messages.0.message.role":                                "assistant",
				"llm.output_messages.0.message.content":                             "Sunny."}},
			check: func(t *testing.T, out spanInfo) {
				assert.True(t, out.conversation)
				assert.JSONEq(t, `{"messages":[{"role":"system","content":"Be helpful."},`+
					`{"role":"assistant","tool_calls":[{"tool_call":{"function":{"name":"get_weather"},"id":"call_K"}}]},`+
					`{"role":"assistant","content":"Sunny."}]}`, out.stateAfter)
			},
		},
		{
			name: "a provider client's LLM (LiteLLM) only lends its messages",
			ts: testSpan{name: "completion", scope: "openinference.instrumentation.litellm", attrs: map[string]any{
				"openinference.span.kind": "LLM", "llm.input_messages.0.message.role": "user",
				"llm.input_messages.0.message.content": "hi"}},
			check: func(t *testing.T, out spanInfo) {
				assert.NotEmpty(t, out.stateBefore)
				assert.False(t, out.conversation)
			},
		},
		{
			name: "an LLM inside LangGraph has no conversation of its own",
			ts: testSpan{name: "ChatOpenAI", attrs: map[string]any{
				"openinference.span.kind": "LLM", "metadata": `{"langgraph_node":"agent"}`,
				"llm.input_messages.0.message.role": "user"}},
			check: func(t *testing.T, out spanInfo) {
				assert.Empty(t, out.stateBefore)
				assert.False(t, out.conversation)
			},
		},
		{
			name: "BeeAI: an iteration is node iteration N",
			ts: testSpan{name: "iteration-2", scope: "openinference.instrumentation.beeai", attrs: map[string]any{
				"openinference.span.kind": "CHAIN", "target": "groupId"}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleNode, out.role)
				assert.Equal(t, "iteration", out.nodeName)
				assert.Equal(t, int64(2), out.step)
			},
		},
		{
			name: "BeeAI: a model call is its start event, placed by the node hint",
			ts: testSpan{name: "backend.openai.chat.start-14", scope: "openinference.instrumentation.beeai", attrs: map[string]any{
				"openinference.span.kind": "LLM", "target": "backend.openai.chat.start", "llm.model_name": "gpt-4o-mini"}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleLLM, out.role)
				assert.Equal(t, "iteration", out.nodeName)
				assert.Equal(t, "gpt-4o-mini", out.model)
			},
		},
		{
			name: "BeeAI: a tool call is its start event",
			ts: testSpan{name: "tool.search.wikipedia.start-12", scope: "openinference.instrumentation.beeai", attrs: map[string]any{
				"openinference.span.kind": "TOOL", "target": "tool.search.wikipedia.start"}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleTool, out.role)
				assert.Equal(t, "search.wikipedia", out.toolName)
			},
		},
		{
			name: "BeeAI: other events are other",
			ts: testSpan{name: "backend.openai.chat.success-16", scope: "openinference.instrumentation.beeai", attrs: map[string]any{
				"openinference.span.kind": "LLM", "target": "backend.openai.chat.success"}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, ignoreBeeAIEvent, out.ignoreReason)
			},
		},
	}
	c := newOpenInferenceClassifier()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, ok := classifyWith(t, c, tt.ts)
			require.True(t, ok)
			tt.check(t, out)
		})
	}
}

func TestIsClientInstrumentation(t *testing.T) {
	for name, want := range map[string]bool{
		"opentelemetry.instrumentation.openai.v1":    true,
		"@opentelemetry/instrumentation-openai":      true,
		"openinference.instrumentation.litellm":      true,
		"openinference.instrumentation.google_genai": true,
		"openinference.instrumentation.crewai":       false,
		"opentelemetry.instrumentation.langchain":    false,
		"pydantic-ai": false,
		"":            false,
	} {
		sc := ptrace.NewScopeSpans().Scope()
		sc.SetName(name)
		assert.Equal(t, want, isClientInstrumentation(sc), name)
	}
}
