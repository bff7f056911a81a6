package translate

import (
	"encoding/json"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// FuzzFrameworkMessages feeds arbitrary keys and values to the message
// forms and framework layouts of classify_messages.go and the framework
// classifiers (flattened message keys, events arrays, Langfuse, AI SDK,
// Mastra and Pydantic AI payloads): classification must never panic, and
// every state it yields must be a JSON object.
func FuzzFrameworkMessages(f *testing.F) {
	f.Add("llm.input_messages.0.message.tool_calls.1.tool_call.id", "x", `[{"event.name":"gen_ai.user.message","content":"hi"}]`, `{"role":"user"}`, "pydantic-ai")
	f.Add("gen_ai.prompt.99999999999.content", "\xff", `[{"event.name":"gen_ai.choice","message":"{\"a\":"}]`, `[`, "ai")
	f.Add("gen_ai.prompt.0..role", "", `{"messages":[1,2]}`, `{"output":[{"lg_name":"Send","node":""}]}`, "@mastra/otel-exporter")
	f.Add("llm.input_messages.3.message.a.0.b.1.c", "v", `[[[[[]]]]]`, `null`, "openinference.instrumentation.beeai")
	f.Fuzz(func(t *testing.T, key, value, events, payload, scope string) {
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName(scope)
		layouts := []map[string]any{
			{"gen_ai.operation.name": "chat", key: value, "events": events, "gen_ai.prompt": payload, "gen_ai.completion": events},
			{"openinference.span.kind": "LLM", key: value, "target": "x.start"},
			{"langfuse.observation.type": "generation", "langfuse.observation.input": payload, "langfuse.observation.output": events},
			{"langfuse.observation.type": "span", "langfuse.observation.metadata.langgraph_node": value, "langfuse.observation.output": payload, "langfuse.observation.input": events},
			{"ai.operationId": "ai.generateText.doGenerate", "ai.prompt.messages": events, "ai.response.toolCalls": payload, key: value},
			{"gen_ai.operation.name": "workflow_step", "mastra.workflow_step.input": payload, "mastra.workflow_step.output": events, "mastra.workflow_conditional_eval.condition_index": value},
			{"gen_ai.agent.name": value, "pydantic_ai.all_messages": events, "gen_ai.tool.name": value},
		}
		for _, attrs := range layouts {
			sp := ss.Spans().AppendEmpty()
			sp.SetName(value)
			sp.SetTraceID(pcommon.TraceID{1})
			sp.SetSpanID(pcommon.SpanID{2})
			sp.SetParentSpanID(pcommon.SpanID{3})
			for k, v := range attrs {
				if s, ok := v.(string); ok {
					sp.Attributes().PutStr(k, s)
				}
			}
			ev := sp.Events().AppendEmpty()
			ev.SetName("gen_ai.user.message")
			ev.Attributes().PutStr("content", payload)
			ev.Attributes().PutStr(key, value)
		}
		cls, err := buildClassifiers(allConventionsInOrder)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < ss.Spans().Len(); i++ {
			for _, c := range cls {
				var out spanInfo
				if !c.classify(rs.Resource(), ss.Scope(), ss.Spans().At(i), &out) {
					continue
				}
				for _, st := range []string{out.stateBefore, out.stateAfter, out.finalState, out.initialState} {
					var m map[string]any
					if st != "" && json.Unmarshal([]byte(st), &m) != nil {
						t.Fatalf("%s: state %q is not a JSON object", c.name(), st)
					}
				}
				break
			}
		}
	})
}
