package translate

import (
	"testing"

	"github.com/dashstream/dashstreamexporter/dashstream"
)

// FuzzAgentConversation feeds arbitrary message payloads and names through
// the agent layouts (GenAI chat messages, ADK's llm_request/llm_response,
// Strands cycles, OpenLLMetry JS chains): no panic, every record decodes,
// every stream replays.
func FuzzAgentConversation(f *testing.F) {
	f.Add(`[{"role":"user","parts":[{"type":"text","content":"hi"}]}]`, `[{"role":"assistant","parts":[],"finish_reason":"stop"}]`, "step 1", `{"output":"tools"}`)
	f.Add(`{"contents":[{"role":"user","parts":[{"text":"q"}]}]}`, `{"content":{"role":"model","parts":[]}}`, "cycle-2", `{"messages":[]}`)
	f.Add(`[{"finish_reason":1,"finish_reason":2}]`, `[{"role":"assistant","finish_reason":"x","parts":"\xff"}]`, "step 99999999999999999999", `{"output":["a","b"]}`)
	f.Add(`[`, `]`, "", `{"lc":1,"kwargs":{"name":"get_weather"}}`)
	f.Fuzz(func(t *testing.T, in, out, name, chain string) {
		tr := newTestTranslator(t, goldenConfig())
		spans := []sp{
			{trace: "g", id: "a", name: "invoke_agent a", start: 0, end: 100, attrs: map[string]any{
				"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": name, "gen_ai.conversation.id": "c"}},
			{trace: "g", id: "s", parent: "a", name: name, start: 1, end: 50, attrs: map[string]any{"gen_ai.operation.name": "agent_step"}},
			{trace: "g", id: "c", parent: "s", name: "chat", start: 2, end: 10, attrs: map[string]any{
				"gen_ai.operation.name": "chat", "gen_ai.input.messages": in, "gen_ai.output.messages": out}},
			{trace: "g", id: "l", parent: "s", name: "call_llm", start: 11, end: 20, attrs: map[string]any{
				adkKeyLLMRequest: in, adkKeyLLMResp: out, adkKeySessionID: name}},
			{trace: "j", id: "w", name: "app.workflow", start: 0, end: 100, attrs: map[string]any{
				"traceloop.span.kind": "workflow", "traceloop.entity.name": "app", tlAssocThread: name}},
			{trace: "j", id: "n", parent: "w", name: "workflow RunnableSequence", start: 1, end: 40, attrs: map[string]any{
				"traceloop.span.kind": "workflow", "gen_ai.operation.name": "workflow", "traceloop.workflow.name": "RunnableSequence",
				"traceloop.entity.input": chain, "traceloop.entity.output": out}},
			{trace: "j", id: "r", parent: "w", name: "workflow RunnableLambda", start: 30, end: 35, attrs: map[string]any{
				"traceloop.span.kind": "workflow", "gen_ai.operation.name": "workflow", "traceloop.workflow.name": "RunnableLambda",
				"traceloop.entity.output": chain}},
			{trace: "j", id: "x", parent: "w", name: "execute_tool X", start: 41, end: 45, attrs: map[string]any{
				"traceloop.span.kind": "task", "gen_ai.operation.name": "execute_tool", "traceloop.entity.output": chain}},
		}
		td := buildTraces(spans...)
		// The ADK and traceloop JS rules are scope-bound: give each trace's
		// spans the scope of their runtime.
		scopes := td.ResourceSpans().At(0).ScopeSpans()
		scopes.At(0).Scope().SetName(adkScope)
		res, err := tr.Translate(t.Context(), td)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Release()
		dec, err := dashstream.NewDecoder(dashstream.DecoderOptions{})
		if err != nil {
			t.Fatal(err)
		}
		r := dashstream.NewReplayer()
		for i, rec := range res.Records {
			m, err := dec.Decode(rec.Value)
			if err != nil {
				t.Fatalf("record %d: %v", i, err)
			}
			if err := r.Apply(m); err != nil {
				t.Fatalf("record %d: %v", i, err)
			}
		}
		if p := r.Problems(); len(p) > 0 {
			t.Fatalf("replay problems: %v", p)
		}
	})
}
