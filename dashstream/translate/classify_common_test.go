package translate

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// testSpan describes one span for classifier table tests.
type testSpan struct {
	name      string
	root      bool // no parent span id
	attrs     map[string]any
	errMsg    string // non-empty: status ERROR with this message
	exception map[string]any
	scope     string
}

var (
	testTraceID  = pcommon.TraceID([16]byte{0x5b, 0x8a, 0xa5, 0xa2, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	testSpanID   = pcommon.SpanID([8]byte{0xa1, 0xf3, 1, 2, 3, 4, 5, 6})
	testParentID = pcommon.SpanID([8]byte{0xa1, 0xf3, 9, 9, 9, 9, 9, 9})
)

// build turns the description into a real span inside a Traces value.
func (ts testSpan) build(t *testing.T) (pcommon.Resource, pcommon.InstrumentationScope, ptrace.Span) {
	t.Helper()
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "test")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName(ts.scope)
	sp := ss.Spans().AppendEmpty()
	sp.SetName(ts.name)
	sp.SetTraceID(testTraceID)
	sp.SetSpanID(testSpanID)
	if !ts.root {
		sp.SetParentSpanID(testParentID)
	}
	sp.SetStartTimestamp(pcommon.Timestamp(1_795_788_000_000_000_000))
	sp.SetEndTimestamp(pcommon.Timestamp(1_795_788_000_250_000_000))
	require.NoError(t, sp.Attributes().FromRaw(ts.attrs))
	if ts.errMsg != "" {
		sp.Status().SetCode(ptrace.StatusCodeError)
		sp.Status().SetMessage(ts.errMsg)
	} else {
		sp.Status().SetCode(ptrace.StatusCodeOk)
	}
	if ts.exception != nil {
		ev := sp.Events().AppendEmpty()
		ev.SetName("exception")
		require.NoError(t, ev.Attributes().FromRaw(ts.exception))
	}
	return rs.Resource(), ss.Scope(), sp
}

// classifyWith runs one classifier over the described span.
func classifyWith(t *testing.T, c classifier, ts testSpan) (spanInfo, bool) {
	t.Helper()
	res, scope, sp := ts.build(t)
	var out spanInfo
	ok := c.classify(res, scope, sp, &out)
	return out, ok
}

func TestClassifyCommonFillsGenericFields(t *testing.T) {
	ts := testSpan{name: "node.execute", attrs: map[string]any{"node.name": "a"}}
	res, scope, sp := ts.build(t)
	var out spanInfo
	require.True(t, newDashFlowClassifier().classify(res, scope, sp, &out))
	assert.Equal(t, ConventionDashFlow, out.convention)
	assert.Equal(t, testTraceID, out.traceID)
	assert.Equal(t, testSpanID, out.spanID)
	assert.Equal(t, testParentID, out.parentID)
	assert.Equal(t, uint64(1_795_788_000_000_000_000), out.startNanos)
	assert.Equal(t, uint64(1_795_788_000_250_000_000), out.endNanos)
	assert.Equal(t, "node.execute", out.span.Name())
	v, ok := out.resource.Attributes().Get("service.name")
	require.True(t, ok)
	assert.Equal(t, "test", v.Str())
}

func TestClassifyAttrInt(t *testing.T) {
	tests := []struct {
		name string
		val  any
		want int64
		ok   bool
	}{
		{"int", 7, 7, true},
		{"string", "12", 12, true},
		{"spaced string", " 3 ", 3, true},
		{"integral float", 4.0, 4, true},
		{"float string", "5.0", 5, true},
		{"fraction", 2.5, 0, false},
		{"nan string", "NaN", 0, false},
		{"inf string", "Infinity", 0, false},
		{"huge float", 1e300, 0, false},
		{"word", "four", 0, false},
		{"bool", true, 0, false},
		{"slice", []any{1}, 0, false},
		{"map", map[string]any{"a": 1}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := pcommon.NewMap()
			require.NoError(t, m.FromRaw(map[string]any{"k": tt.val}))
			got, ok := attrInt(m, "k")
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, got)
		})
	}
	_, ok := attrInt(pcommon.NewMap(), "absent")
	assert.False(t, ok)
}

func TestClassifyJSONInt(t *testing.T) {
	for in, want := range map[string]int64{`3`: 3, `"4"`: 4, `7.0`: 7} {
		got, ok := jsonInt(json.RawMessage(in))
		assert.True(t, ok, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{``, `null`, `"x"`, `{}`, `[1]`, `1.5`, `"`} {
		_, ok := jsonInt(json.RawMessage(in))
		assert.False(t, ok, in)
	}
}

func TestClassifyRouterChoice(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"tools", "tools", true},
		{" respond ", "respond", true},
		{`"lookup"`, "lookup", true},
		{`["a","b"]`, "a,b", true},
		{`[]`, "", false},
		{`["a",""]`, "", false},
		{`[1,2]`, "", false},
		{`{"messages":[]}`, "", false},
		{`true`, "", false},
		{`42`, "", false},
		{`null`, "", false},
		{"", "", false},
		{"two\nlines", "", false},
		{strings.Repeat("x", 5000), "", false},
		{`"unterminated`, "", false},
	}
	for _, tt := range tests {
		got, ok := routerChoice(tt.in)
		assert.Equal(t, tt.ok, ok, "%.40q", tt.in)
		assert.Equal(t, tt.want, got, "%.40q", tt.in)
	}
}

func TestClassifyStateObject(t *testing.T) {
	tests := []struct {
		in, want, bad string
	}{
		{`{"a":1}`, `{"a":1}`, ""},
		{" {\"a\":1}\n", `{"a":1}`, ""},
		{``, ``, ""},
		{`[1,2]`, ``, badStateNotObject},
		{`"text"`, ``, badStateNotObject},
		{`42`, ``, badStateNotObject},
		{`hello`, ``, badStateNotJSON},
		{`{"a":`, ``, badStateNotJSON},
		{"{\"a\":\"\xff\"}", ``, badStateNotUTF8},
		{strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000), ``, badStateNotObject},
		// Syntax inside an object-shaped text is left to the engine's parser
		// (parseState), which parses every snapshot anyway.
		{`{"a":NaN}`, `{"a":NaN}`, ""},
	}
	for _, tt := range tests {
		var out spanInfo
		assert.Equal(t, tt.want, stateObject(tt.in, &out), "%.30q", tt.in)
		assert.Equal(t, tt.bad, out.badReason, "%.30q", tt.in)
	}
}

func TestClassifyOutcome(t *testing.T) {
	tests := []struct {
		name                    string
		ts                      testSpan
		failed                  bool
		msg, excType, stackPart string
	}{
		{
			name: "ok status with recovered exception is not a failure",
			ts: testSpan{name: "n", exception: map[string]any{
				"exception.type": "GraphInterrupt", "exception.message": "interrupt"}},
			failed: false,
		},
		{
			name: "status error and python exception event",
			ts: testSpan{name: "n", errMsg: "ConnectionError('x')", exception: map[string]any{
				"exception.type": "ConnectionError", "exception.message": "x",
				"exception.stacktrace": "Traceback (most recent call last):\n  File \"a.py\"", "exception.escaped": "False"}},
			failed: true, msg: "ConnectionError('x')", excType: "ConnectionError", stackPart: "Traceback",
		},
		{
			name: "langchain.js message with appended stack",
			ts: testSpan{name: "n",
				errMsg: "intent service unavailable\n\nError: intent service unavailable\n    at file:///a.mjs:1:2\n    at run (b.js:3:4)",
				exception: map[string]any{
					"exception.message": "intent service unavailable\n\nError: intent service unavailable\n    at file:///a.mjs:1:2"}},
			failed: true, msg: "intent service unavailable", excType: "Error", stackPart: "    at file:///a.mjs:1:2",
		},
		{
			name:   "status error only",
			ts:     testSpan{name: "n", errMsg: "boom"},
			failed: true, msg: "boom",
		},
		{
			name:   "status error without message falls back to attributes",
			ts:     testSpan{name: "n", errMsg: " ", attrs: map[string]any{"exception.type": "Timeout"}},
			failed: true, msg: " ", excType: "Timeout",
		},
		{
			name: "exception attributes of wrong types",
			ts: testSpan{name: "n", errMsg: "e", exception: map[string]any{
				"exception.type": []any{"x"}, "exception.message": map[string]any{"a": 1}, "exception.stacktrace": 12}},
			failed: true, msg: "e", stackPart: "12",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, sp := tt.ts.build(t)
			var out spanInfo
			fillOutcome(sp, &out)
			assert.Equal(t, tt.failed, out.failed)
			assert.Equal(t, tt.msg, out.errorMessage)
			assert.Equal(t, tt.excType, out.exceptionType)
			if tt.stackPart != "" {
				assert.Contains(t, out.stackTrace, tt.stackPart)
			}
		})
	}
}

func TestClassifyBuildGraphSchema(t *testing.T) {
	text := buildGraphSchema("g", "openllmetry", []string{"a", "b", "a", "__start__"},
		[][2]string{{"__start__", "a"}, {"a", "b"}, {"b", "__end__"}, {"a", "c"}})
	var gs graphSchema
	require.NoError(t, json.Unmarshal([]byte(text), &gs))
	assert.Equal(t, "g", gs.Name)
	assert.Equal(t, "a", gs.EntryPoint)
	var names []string
	for _, n := range gs.Nodes {
		names = append(names, n.Name)
		assert.NotNil(t, n.InputFields)
		assert.Equal(t, "custom", n.NodeType)
	}
	assert.Equal(t, []string{"a", "b", "c"}, names)
	require.Len(t, gs.Edges, 3)
	assert.Equal(t, graphSchemaEdge{From: "b", To: "__end__", EdgeType: "direct"}, gs.Edges[1])
	assert.Equal(t, "openllmetry", gs.Metadata["source"])
}

// TestClassifyHostileAttributesNeverPanic feeds every classifier spans whose
// attributes have wrong types, huge or deeply nested values and invalid
// UTF-8; classification must not panic and must leave states empty.
func TestClassifyHostileAttributesNeverPanic(t *testing.T) {
	big := `{"a":"` + strings.Repeat("x", 10<<20) + `"`
	// deep is object-shaped: the classifier passes it on and the engine's
	// parser rejects it (state_too_deep); it must still not panic here.
	deep := strings.Repeat(`{"a":`, 100_000) + "1" + strings.Repeat("}", 100_000)
	deepArr := strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000)
	badUTF8 := "{\"a\":\"\xff\xfe\"}"
	hostile := map[string]bool{big: true, deepArr: true, badUTF8: true}
	values := []any{big, deep, deepArr, badUTF8, "NaN", "Infinity", "", 12, 3.5, true,
		[]any{"a", 1, map[string]any{"b": 2}}, map[string]any{"x": []any{1}}, "{", "[\"a\",", `{"langgraph_node":5}`}
	keys := []string{
		oiKeyInputValue, oiKeyOutputValue, oiKeyMetadata, oiKeySessionID, oiKeyModelName,
		oiKeyTokensPrompt, oiKeyToolName, oiKeyInvocationParam,
		tlKeyEntityName, tlKeyEntityInput, tlKeyEntityOutput, tlAssocStep,
		genAIKeyWorkflowNodes, genAIKeyWorkflowEdges, genAIKeyFinishReasons, genAIKeyInputTokens,
		genAIKeyToolCallID, dfKeyGraphName, dfKeyNodeName, dfKeyThreadID, dfKeyInputTokens,
	}
	type target struct {
		c          classifier
		name       string
		kindKey    string
		kind       string
		nodeAssocs string
	}
	targets := []target{
		{newOpenInferenceClassifier(), "LangGraph", oiKeySpanKind, "CHAIN", ""},
		{newOpenInferenceClassifier(), "agent", oiKeySpanKind, "AGENT", ""},
		{newOpenInferenceClassifier(), "ChatOpenAI", oiKeySpanKind, "LLM", ""},
		{newOpenInferenceClassifier(), "get_weather", oiKeySpanKind, "TOOL", ""},
		{newOpenLLMetryClassifier(), "invoke_agent LangGraph", tlKeySpanKind, "workflow", ""},
		{newOpenLLMetryClassifier(), "execute_task agent", tlKeySpanKind, "task", "agent"},
		{newOpenLLMetryClassifier(), "execute_task route", tlKeySpanKind, "task", "agent"},
		{newOpenLLMetryClassifier(), "execute_tool t", tlKeySpanKind, "tool", "agent"},
		{newGenAIClassifier(), "invoke_agent x", genAIKeyOperation, "invoke_agent", ""},
		{newGenAIClassifier(), "chat m", genAIKeyOperation, "chat", ""},
		{newDashFlowClassifier(), "graph.invoke", "", "", ""},
		{newDashFlowClassifier(), "llm.generate", "", "", ""},
		{newDashFlowClassifier(), "checkpoint.save", "", "", ""},
		{newDashFlowClassifier(), "\xff", "", "", ""},
	}
	for _, v := range values {
		for _, tg := range targets {
			attrs := map[string]any{}
			for _, k := range keys {
				attrs[k] = v
			}
			if tg.kindKey != "" {
				attrs[tg.kindKey] = tg.kind
			}
			if tg.nodeAssocs != "" {
				attrs[tlAssocNode] = tg.nodeAssocs
			}
			ts := testSpan{name: tg.name, attrs: attrs, exception: map[string]any{"exception.message": v}}
			out, _ := classifyWith(t, tg.c, ts)
			if s, ok := v.(string); ok && hostile[s] {
				assert.Empty(t, out.stateBefore, "%s %s", tg.c.name(), tg.name)
				assert.Empty(t, out.finalState, "%s %s", tg.c.name(), tg.name)
			}
		}
	}
}
