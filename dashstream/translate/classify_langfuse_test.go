package translate

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dashstream/dashstreamexporter/dashstream"
)

func TestClassifyLangfuse(t *testing.T) {
	lg := func(node string, step int, extra map[string]any) map[string]any {
		m := map[string]any{
			"langfuse.observation.type":                    "span",
			"langfuse.observation.metadata.langgraph_node": node,
			"langfuse.observation.metadata.langgraph_step": fmt.Sprint(step),
			"langfuse.observation.metadata.thread_id":      "weather-1",
			"langfuse.observation.metadata.ls_integration": "langgraph",
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name  string
		ts    testSpan
		check func(t *testing.T, out spanInfo)
	}{
		{
			name: "the graph's root chain (ls_integration langgraph, no node) is the graph",
			ts: testSpan{name: "weather_agent", root: true, attrs: map[string]any{
				"langfuse.observation.type":                    "span",
				"langfuse.observation.metadata.thread_id":      "weather-1",
				"langfuse.observation.metadata.ls_integration": "langgraph",
				"langfuse.observation.input":                   `[{"content":"hi","role":"user"}]`,
				"langfuse.observation.output":                  `{"messages":[{"content":"hi","role":"user"}]}`,
			}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleGraph, out.role)
				assert.Equal(t, "weather_agent", out.graphName)
				assert.Equal(t, "weather-1", out.threadID)
				assert.True(t, out.traceWideThread)
				assert.JSONEq(t, `{"messages":[{"content":"hi","role":"user"}]}`, out.finalState)
				assert.Empty(t, out.invocationInput, "a message list is not an invocation object")
			},
		},
		{
			name: "Python's LangGraph root (named LangGraph, thread in metadata) is the graph",
			ts: testSpan{name: "LangGraph", root: true, attrs: map[string]any{
				"langfuse.observation.type": "span", "langfuse.observation.metadata.thread_id": "demo-thread-1"}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleGraph, out.role)
				assert.Equal(t, "demo-thread-1", out.threadID)
			},
		},
		{
			name: "a node: its input messages are the state before it",
			ts: testSpan{name: "agent", attrs: lg("agent", 2, map[string]any{
				"langfuse.observation.input": `[{"content":"hi","role":"user"}]`})},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleNode, out.role)
				assert.Equal(t, "agent", out.nodeName)
				assert.Equal(t, int64(2), out.step)
				assert.True(t, out.hasStep)
				assert.JSONEq(t, `{"messages":[{"content":"hi","role":"user"}]}`, out.stateBefore)
				assert.False(t, out.traceWideThread)
			},
		},
		{
			name: "a node whose state has no message list keeps the whole input",
			ts: testSpan{name: "count", attrs: lg("count", 1, map[string]any{
				"langfuse.observation.input": `{"counter":3}`})},
			check: func(t *testing.T, out spanInfo) {
				assert.JSONEq(t, `{"counter":3}`, out.stateBefore)
			},
		},
		{
			name: "level ERROR fails the node (the handler leaves the status unset)",
			ts: testSpan{name: "intake", attrs: lg("intake", 1, map[string]any{
				"langfuse.observation.level":          "ERROR",
				"langfuse.observation.status_message": "Error: intent service unavailable (transient)"})},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleNode, out.role)
				assert.True(t, out.failed)
				assert.Equal(t, "Error", out.exceptionType)
				assert.Equal(t, "intent service unavailable (transient)", out.errorMessage)
			},
		},
		{
			name: "level WARNING does not fail",
			ts: testSpan{name: "intake", attrs: lg("intake", 1, map[string]any{
				"langfuse.observation.level": "WARNING", "langfuse.observation.status_message": "slow"})},
			check: func(t *testing.T, out spanInfo) { assert.False(t, out.failed) },
		},
		{
			name: "pseudo-node __start__",
			ts:   testSpan{name: "__start__", attrs: lg("__start__", 0, map[string]any{"langfuse.observation.level": "DEBUG"})},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleOther, out.role)
				assert.Equal(t, "__start__", out.pseudoNode)
			},
		},
		{
			name: "a chain under a node returning a node name is a router",
			ts:   testSpan{name: "RunnableLambda", attrs: lg("agent", 2, map[string]any{"langfuse.observation.output": "tools"})},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleRouter, out.role)
				assert.Equal(t, "tools", out.routerChoice)
				assert.Equal(t, "agent", out.nodeName)
			},
		},
		{
			name: "LangGraph.js Branch returning Send is a router",
			ts: testSpan{name: "Branch<model_request,tools,__end__>", attrs: lg("model_request", 1, map[string]any{
				"langfuse.observation.output": `{"output":[{"lg_name":"Send","node":"tools","args":{}}]}`})},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleRouter, out.role)
				assert.Equal(t, "tools", out.routerChoice)
			},
		},
		{
			name: "a chain under a node returning a message is internal",
			ts: testSpan{name: "RunnableSequence", attrs: lg("agent", 2, map[string]any{
				"langfuse.observation.output": `{"content":"x","role":"assistant"}`})},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleOther, out.role)
				assert.Equal(t, ignoreInternalChain, out.ignoreReason)
			},
		},
		{
			name: "DEBUG plumbing is internal",
			ts:   testSpan{name: "ChannelWrite<...>", attrs: lg("agent", 2, map[string]any{"langfuse.observation.level": "DEBUG"})},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, ignoreInternalChain, out.ignoreReason)
			},
		},
		{
			name: "a tool observation is a tool call, the call id from its ToolMessage",
			ts: testSpan{name: "get_weather", attrs: lg("tools", 3, map[string]any{
				"langfuse.observation.type":   "tool",
				"langfuse.observation.input":  `{"city":"Paris"}`,
				"langfuse.observation.output": `{"lc":1,"type":"constructor","id":["langchain_core","messages","ToolMessage"],"kwargs":{"content":"ok","tool_call_id":"call_1"}}`})},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleTool, out.role)
				assert.Equal(t, "get_weather", out.toolName)
				assert.Equal(t, "call_1", out.callID)
				assert.Equal(t, `{"city":"Paris"}`, out.arguments)
			},
		},
		{
			name: "older handlers: a span returning a ToolMessage is a tool call",
			ts: testSpan{name: "Web-Search", attrs: lg("tools", 2, map[string]any{
				"langfuse.observation.output": `{"content":"r","type":"tool","name":"Web-Search","tool_call_id":"call_9"}`})},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleTool, out.role)
				assert.Equal(t, "call_9", out.callID)
			},
		},
		{
			name: "a generation in a graph is a model call without a conversation of its own",
			ts: testSpan{name: "ChatOpenAI", attrs: lg("agent", 2, map[string]any{
				"langfuse.observation.type":          "generation",
				"langfuse.observation.model.name":    "gpt-4o",
				"langfuse.observation.usage_details": `{"input":60,"output":15,"total":75}`,
				"langfuse.observation.input":         `[{"role":"user","content":"hi"}]`})},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleLLM, out.role)
				assert.Equal(t, "gpt-4o", out.model)
				assert.Equal(t, []int64{60, 15, 75}, []int64{out.inputTokens, out.outputTokens, out.totalTokens})
				assert.Equal(t, "agent", out.nodeName)
				assert.False(t, out.conversation)
				assert.Empty(t, out.stateBefore)
			},
		},
		{
			name: "a generation outside LangGraph carries the conversation",
			ts: testSpan{name: "chat gpt-4o", attrs: map[string]any{
				"langfuse.observation.type":   "generation",
				"langfuse.observation.input":  `{"messages":[{"role":"user","content":"hi"}]}`,
				"langfuse.observation.output": `{"role":"assistant","content":"hello"}`}},
			check: func(t *testing.T, out spanInfo) {
				assert.True(t, out.conversation)
				assert.JSONEq(t, `{"messages":[{"role":"user","content":"hi"}]}`, out.stateBefore)
				assert.JSONEq(t, `{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"}]}`, out.stateAfter)
			},
		},
		{
			name: "an agent observation is the run when outermost, nested a sub-agent node (runs.go)",
			ts:   testSpan{name: "planner", attrs: map[string]any{"langfuse.observation.type": "agent"}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleGraph, out.role)
				assert.Equal(t, "planner", out.graphName)
				assert.Equal(t, nestedNode, out.nested)
				assert.False(t, out.weakRun)
			},
		},
		{
			name: "an application span (@observe) is transparent",
			ts: testSpan{name: "run_joke_generator", root: true, attrs: map[string]any{
				"langfuse.observation.type": "span", "langfuse.observation.input": `{"args":[]}`}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleOther, out.role)
				assert.Equal(t, "langfuse_span", out.ignoreReason)
			},
		},
		{
			name: "other observation types are counted",
			ts:   testSpan{name: "retrieve", attrs: map[string]any{"langfuse.observation.type": "retriever"}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, "langfuse_retriever", out.ignoreReason)
			},
		},
		{
			name: "session.id is the thread without metadata thread_id",
			ts: testSpan{name: "planner", root: true, attrs: map[string]any{
				"langfuse.observation.type": "agent", "session.id": "s-1"}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleGraph, out.role)
				assert.Equal(t, nestedNode, out.nested)
				assert.Equal(t, "s-1", out.threadID)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, ok := classifyWith(t, newLangfuseClassifier(), tt.ts)
			require.True(t, ok)
			assert.Equal(t, ConventionLangfuse, out.convention)
			tt.check(t, out)
		})
	}
	_, ok := classifyWith(t, newLangfuseClassifier(), testSpan{name: "x", attrs: map[string]any{
		"langfuse.observation.metadata.langgraph_node": "x"}})
	assert.False(t, ok, "without langfuse.observation.type the span is not the SDK's (Koog)")
}

// TestConventionLangfuseCapture translates the real capture of the
// LangGraph.js example traced by @langfuse/langchain 5.11
// (testdata/spans/langfuse_js.json, graph.mjs --instrumentation langfuse)
// and checks it against what the program recorded itself
// (langfuse_js.expected.json): node executions, routing, and each
// thread's final state as far as the handler's spans hold it.
func TestConventionLangfuseCapture(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "spans", "langfuse_js.expected.json"))
	require.NoError(t, err)
	var expected struct {
		GraphName string `json:"graph_name"`
		Threads   []struct {
			ThreadID string `json:"thread_id"`
			Runs     []struct {
				Status     string `json:"status"`
				Executions []struct {
					Step   int64  `json:"step"`
					Kind   string `json:"kind"`
					Node   string `json:"node"`
					Status string `json:"status"`
					To     string `json:"to"`
				} `json:"executions"`
			} `json:"runs"`
			FinalState json.RawMessage `json:"final_state"`
		} `json:"threads"`
	}
	require.NoError(t, json.Unmarshal(raw, &expected))
	var want []string
	for _, th := range expected.Threads {
		for _, run := range th.Runs {
			want = append(want, fmt.Sprintf("graph %s thread=%s failed=%v", expected.GraphName, th.ThreadID, run.Status != "ok"))
			for _, ex := range run.Executions {
				switch ex.Kind {
				case "node":
					want = append(want, fmt.Sprintf("node %s step=%d failed=%v", ex.Node, ex.Step, ex.Status != "ok"))
				case "route":
					want = append(want, fmt.Sprintf("router %s step=%d ->%s", ex.Node, ex.Step, ex.To))
				}
			}
		}
	}
	sort.Strings(want)
	var got []string
	llms, tools := 0, 0
	for _, in := range classifyFixture(t, "langfuse_js.json") {
		assert.Equal(t, ConventionLangfuse, in.convention, in.span.Name())
		switch in.role {
		case roleGraph:
			got = append(got, fmt.Sprintf("graph %s thread=%s failed=%v", in.graphName, in.threadID, in.failed))
		case roleNode:
			got = append(got, fmt.Sprintf("node %s step=%d failed=%v", in.nodeName, in.step, in.failed))
			assert.NotEmpty(t, in.stateBefore, "node %s step %d", in.nodeName, in.step)
		case roleRouter:
			got = append(got, fmt.Sprintf("router %s step=%d ->%s", in.nodeName, in.step, in.routerChoice))
		case roleLLM:
			llms++
		case roleTool:
			tools++
			assert.Equal(t, "get_weather", in.toolName)
		}
	}
	sort.Strings(got)
	assert.Equal(t, want, got)
	assert.Equal(t, 8, llms, "six ScriptedChatModel calls (two per run) and two FakeListChatModel calls (the runs that answer)")
	assert.Equal(t, 3, tools)

	// The stream replays to each thread's state as the handler shows it.
	tr := newTestTranslator(t, goldenConfig())
	res := translateAll(t, tr, loadFixture(t, filepath.Join("testdata", "spans", "langfuse_js.json")))
	r := replayStream(t, decodeAll(t, res.Records), nil)
	for _, th := range expected.Threads {
		ts := r.Thread(th.ThreadID)
		require.NotNil(t, ts, th.ThreadID)
		want, err := dashstream.ParseJSON(th.FinalState)
		require.NoError(t, err)
		assert.True(t, dashstream.Equal(ts.State, want), "%s: replayed %s, want %s",
			th.ThreadID, dashstream.MarshalJSON(ts.State), th.FinalState)
	}
}
