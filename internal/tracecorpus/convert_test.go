package tracecorpus

import (
	"encoding/json"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// exportJSON is shaped like the framework-traces exports: a LangGraph root
// span of the Langfuse SDK (no attributes, metadata flattened), a node, a
// pydantic-ai chat span whose messages Langfuse lifted, an OpenInference
// tool whose input.value is still there, and a failing span.
const exportJSON = `{
 "trace": {"id": "e1fde3efec57ce8a69bafd3fb928a7eb", "name": "LangGraph", "sessionId": "s-1", "userId": "u-1", "tags": ["demo"]},
 "observations": [
  {"id": "b024c7ee7680b708", "traceId": "e1fde3efec57ce8a69bafd3fb928a7eb", "parentObservationId": null,
   "type": "SPAN", "name": "LangGraph", "level": "DEFAULT", "statusMessage": null,
   "startTime": "2025-08-22T09:38:56.228Z", "endTime": "2025-08-22T09:38:58.835Z",
   "input": "{\"messages\": []}", "output": "{\"messages\": [1]}",
   "metadata": "{\"thread_id\":\"demo-thread-1\",\"resourceAttributes\":{\"service.name\":\"svc\"},\"scope\":{\"name\":\"langfuse-sdk\",\"version\":\"3.3.0\",\"attributes\":{\"public_key\":\"pk\"}}}"},
  {"id": "98d3e02591797c04", "traceId": "e1fde3efec57ce8a69bafd3fb928a7eb", "parentObservationId": "b024c7ee7680b708",
   "type": "SPAN", "name": "agent", "level": "DEFAULT",
   "startTime": "2025-08-22T09:38:57.000Z", "endTime": "2025-08-22T09:38:58.000Z",
   "input": "{\"messages\": []}", "output": {"messages": [1]},
   "metadata": {"langgraph_step": 1, "langgraph_node": "agent", "tags": ["graph:step:1"],
    "resourceAttributes": {"service.name": "svc"}, "scope": {"name": "langfuse-sdk", "version": "3.3.0", "attributes": {"public_key": "pk"}}}},
  {"id": "4f6535aaebcda355", "traceId": "e1fde3efec57ce8a69bafd3fb928a7eb", "parentObservationId": "98d3e02591797c04",
   "type": "GENERATION", "name": "chat gpt-4o", "level": "DEFAULT",
   "startTime": "2025-08-22T09:38:57.100Z", "endTime": "2025-08-22T09:38:57.900Z",
   "input": [{"role": "system", "content": "Be brief."}, {"role": "user", "parts": [{"type": "text", "content": "hi"}]}],
   "output": [{"role": "assistant", "parts": [{"type": "text", "content": "hello"}]}],
   "metadata": {"attributes": {"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": "31",
     "gen_ai.request.temperature": "0.7", "gen_ai.response.finish_reasons": "[\"stop\"]",
     "gen_ai.response.id": "123", "gen_ai.system_instructions": "[{\"type\":\"text\",\"content\":\"Be brief.\"}]",
     "model_request_parameters": {"topic": "x"}},
    "resourceAttributes": {"service.name": "py"}, "scope": {"name": "pydantic-ai", "version": "1.26.0"}}},
  {"id": "5b99c3e3411ed17b", "traceId": "e1fde3efec57ce8a69bafd3fb928a7eb", "parentObservationId": "98d3e02591797c04",
   "type": "TOOL", "name": "get_weather", "level": "ERROR", "statusMessage": "boom",
   "startTime": "2025-08-22T09:38:57.200Z", "endTime": null,
   "input": "{\"city\":\"Tokyo\"}", "output": "sunny",
   "metadata": {"attributes": {"input.value": "{\"city\":\"Tokyo\"}", "openinference.span.kind": "TOOL"},
    "resourceAttributes": {"service.name": "py"}, "scope": {"name": "openinference.instrumentation.openai_agents", "version": "1.3.0"}}}
 ]
}`

func convertTest(t *testing.T) (ptrace.Traces, *Report) {
	t.Helper()
	e, err := ParseExport([]byte(exportJSON))
	if err != nil {
		t.Fatal(err)
	}
	td, rep, err := Convert(e, Source{Repository: "r", Path: "p", Commit: "c"})
	if err != nil {
		t.Fatal(err)
	}
	return td, rep
}

func spansByName(td ptrace.Traces) map[string]ptrace.Span {
	out := map[string]ptrace.Span{}
	for i := 0; i < td.ResourceSpans().Len(); i++ {
		ss := td.ResourceSpans().At(i).ScopeSpans()
		for j := 0; j < ss.Len(); j++ {
			for k := 0; k < ss.At(j).Spans().Len(); k++ {
				s := ss.At(j).Spans().At(k)
				out[s.Name()] = s
			}
		}
	}
	return out
}

func attr(t *testing.T, s ptrace.Span, key string) pcommon.Value {
	t.Helper()
	v, ok := s.Attributes().Get(key)
	if !ok {
		t.Fatalf("span %s: no %s (has %v)", s.Name(), key, s.Attributes().AsRaw())
	}
	return v
}

func TestConvertLangfuseSDKSpans(t *testing.T) {
	td, rep := convertTest(t)
	spans := spansByName(td)
	root, node := spans["LangGraph"], spans["agent"]
	for key, want := range map[string]string{
		"langfuse.observation.type":               "span",
		"langfuse.observation.input":              `{"messages": []}`,
		"langfuse.observation.output":             `{"messages": [1]}`,
		"langfuse.observation.metadata.thread_id": "demo-thread-1",
		"session.id": "s-1",
		"user.id":    "u-1",
	} {
		if got := attr(t, root, key).AsString(); got != want {
			t.Errorf("root %s = %q, want %q", key, got, want)
		}
	}
	if got := attr(t, root, "langfuse.trace.tags").AsString(); got != `["demo"]` {
		t.Errorf("tags = %s", got)
	}
	// Non-string metadata is written as the SDK writes it: JSON text.
	for key, want := range map[string]string{
		"langfuse.observation.metadata.langgraph_step": "1",
		"langfuse.observation.metadata.langgraph_node": "agent",
		"langfuse.observation.metadata.tags":           `["graph:step:1"]`,
		"langfuse.observation.output":                  `{"messages":[1]}`,
	} {
		if got := attr(t, node, key).AsString(); got != want {
			t.Errorf("node %s = %q, want %q", key, got, want)
		}
	}
	if _, ok := node.Attributes().Get("session.id"); ok {
		t.Error("session.id restored on a span that is not the root")
	}
	if td.ResourceSpans().Len() != 2 {
		t.Errorf("%d resources, want 2 (svc, py)", td.ResourceSpans().Len())
	}
	sc := td.ResourceSpans().At(0).ScopeSpans().At(0).Scope()
	if sc.Name() != "langfuse-sdk" || sc.Version() != "3.3.0" {
		t.Errorf("scope %s@%s", sc.Name(), sc.Version())
	}
	if root.ParentSpanID() != (pcommon.SpanID{}) || node.ParentSpanID() != root.SpanID() {
		t.Error("parent links not kept")
	}
	if got := root.EndTimestamp().AsTime().Sub(root.StartTimestamp().AsTime()).Milliseconds(); got != 2607 {
		t.Errorf("root lasts %d ms, want 2607", got)
	}
	if !restoredOn(rep, "langfuse.observation.metadata.langgraph_node", "agent#98d3e02591797c04") {
		t.Errorf("report does not list the node's metadata: %+v", rep.Restored)
	}
}

func TestConvertRestoresLiftedMessagesAndTypes(t *testing.T) {
	td, rep := convertTest(t)
	chat := spansByName(td)["chat gpt-4o"]
	in := attr(t, chat, "gen_ai.input.messages").AsString()
	if strings.Contains(in, `"Be brief."`) || !strings.Contains(in, `"hi"`) {
		t.Errorf("input messages %s: want the user message without Langfuse's prepended system message", in)
	}
	if out := attr(t, chat, "gen_ai.output.messages").AsString(); !strings.Contains(out, "hello") {
		t.Errorf("output messages %s", out)
	}
	if v := attr(t, chat, "gen_ai.usage.input_tokens"); v.Type() != pcommon.ValueTypeInt || v.Int() != 31 {
		t.Errorf("input tokens %v (%s), want int 31", v.AsRaw(), v.Type())
	}
	if v := attr(t, chat, "gen_ai.request.temperature"); v.Type() != pcommon.ValueTypeDouble || v.Double() != 0.7 {
		t.Errorf("temperature %v", v.AsRaw())
	}
	if v := attr(t, chat, "gen_ai.response.finish_reasons"); v.Type() != pcommon.ValueTypeSlice || v.Slice().At(0).Str() != "stop" {
		t.Errorf("finish reasons %v (%s)", v.AsRaw(), v.Type())
	}
	if v := attr(t, chat, "gen_ai.response.id"); v.Type() != pcommon.ValueTypeStr {
		t.Errorf("an id must stay a string, got %s", v.Type())
	}
	if v := attr(t, chat, "model_request_parameters"); v.Str() != `{"topic":"x"}` {
		t.Errorf("object attribute %q, want its JSON text", v.Str())
	}
	if rep.Typed["gen_ai.usage.input_tokens"] != "int" || rep.Typed["gen_ai.response.finish_reasons"] != "array" {
		t.Errorf("typed %v", rep.Typed)
	}
	found := false
	for _, r := range rep.Restored {
		if r.Key == "gen_ai.input.messages" && strings.Contains(r.Note, "system") {
			found = true
		}
	}
	if !found {
		t.Errorf("report does not say the system message was removed: %+v", rep.Restored)
	}
}

func TestConvertKeepsWhatIsPresent(t *testing.T) {
	td, rep := convertTest(t)
	tool := spansByName(td)["get_weather"]
	// input.value was never lifted; output.value was, and comes back.
	if got := attr(t, tool, "output.value").Str(); got != "sunny" {
		t.Errorf("output.value %q", got)
	}
	if restoredOn(rep, "input.value", "get_weather#5b99c3e3411ed17b") {
		t.Error("input.value reported as restored though the export kept it")
	}
	if tool.Status().Code() != ptrace.StatusCodeError || tool.Status().Message() != "boom" {
		t.Errorf("status %v %q", tool.Status().Code(), tool.Status().Message())
	}
	if tool.EndTimestamp() != tool.StartTimestamp() {
		t.Error("a span without end time must end at its start")
	}
	if !strings.Contains(strings.Join(rep.Lost, "\n"), "end time of get_weather") {
		t.Errorf("lost %v", rep.Lost)
	}
}

func TestConvertRejectsBadExports(t *testing.T) {
	for name, in := range map[string]string{
		"not json":        `{`,
		"no observations": `{"trace":{"id":"x"},"observations":[]}`,
		"bad span id":     strings.Replace(exportJSON, `"id": "b024c7ee7680b708"`, `"id": "zz"`, 1),
		"bad time":        strings.Replace(exportJSON, "2025-08-22T09:38:56.228Z", "yesterday", 1),
		"bad metadata":    strings.Replace(exportJSON, `"metadata": {"langgraph_step"`, `"metadata": [{"langgraph_step"`, 1),
	} {
		t.Run(name, func(t *testing.T) {
			e, err := ParseExport([]byte(in))
			if err == nil {
				_, _, err = Convert(e, Source{})
			}
			if err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func TestMarshalIsOTLPJSON(t *testing.T) {
	td, _ := convertTest(t)
	b, err := Marshal(td)
	if err != nil {
		t.Fatal(err)
	}
	back, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(b)
	if err != nil {
		t.Fatal(err)
	}
	if back.SpanCount() != 4 {
		t.Errorf("%d spans after a round trip", back.SpanCount())
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil || v["resourceSpans"] == nil {
		t.Errorf("not OTLP/JSON: %v", err)
	}
}

func restoredOn(rep *Report, key, span string) bool {
	for _, r := range rep.Restored {
		if r.Key != key {
			continue
		}
		for _, s := range r.Spans {
			if s == span {
				return true
			}
		}
	}
	return false
}
