package translate

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"
)

var updateFixture = flag.Bool("update-fixture", false, "rewrite testdata/spans/dashstream.json from dashStreamFixture")

// fixtureStates are the true thread states of the dashstream fixture after
// each node that changes it (already redacted as consumers must see them).
type fixtureStates struct {
	byNode map[string]string // "run/node" → state JSON after the node
}

// dashStreamFixture is a realistic two-invocation thread of a customer
// support agent instrumented with our dashstream.* keys, spans in the order
// an OTel batch processor exports them (children end first).
func dashStreamFixture() ([]sp, fixtureStates) {
	const thread = "support-thread-7"
	res := map[string]any{"service.name": "support-agent", "service.version": "1.4.2"}
	schema := map[string]any{
		"name": "support_agent", "entry_point": "classify",
		"nodes": []string{"classify", "lookup_order", "check_faq", "draft_reply", "notify"},
		"edges": []map[string]any{
			{"from": "classify", "to": "lookup_order", "conditional": true},
			{"from": "classify", "to": "check_faq", "conditional": true},
			{"from": "lookup_order", "to": "draft_reply"},
			{"from": "check_faq", "to": "draft_reply"},
			{"from": "draft_reply", "to": "notify"},
		},
	}
	user := `{"role":"user","content":"Where is my order A-1001?"}`
	s0 := `{"messages":[` + user + `],"user":{"id":"u-7","api_key":"sk-live-abcdefghijklmnop1234"}}`
	s1 := `{"messages":[` + user + `],"user":{"id":"u-7","api_key":"sk-live-abcdefghijklmnop1234"},"intent":"order_status"}`
	s2 := `{"messages":[` + user + `],"user":{"id":"u-7","api_key":"sk-live-abcdefghijklmnop1234"},"intent":"order_status","order":{"id":"A-1001","status":"shipped","eta":"2026-11-29"}}`
	reply := `{"role":"assistant","content":"Your order A-1001 has shipped and should arrive on 29 November."}`
	s3 := `{"messages":[` + user + `,` + reply + `],"user":{"id":"u-7","api_key":"sk-live-abcdefghijklmnop1234"},"intent":"order_status","order":{"id":"A-1001","status":"shipped","eta":"2026-11-29"}}`
	user2 := `{"role":"user","content":"Thanks! And A-1002, and do you ship to Norway?"}`
	r0 := `{"messages":[` + user + `,` + reply + `,` + user2 + `],"user":{"id":"u-7","api_key":"sk-live-abcdefghijklmnop1234"},"intent":"order_status","order":{"id":"A-1001","status":"shipped","eta":"2026-11-29"}}`
	r1 := `{"messages":[` + user + `,` + reply + `,` + user2 + `],"user":{"id":"u-7","api_key":"sk-live-abcdefghijklmnop1234"},"intent":"order_status_and_faq","order":{"id":"A-1001","status":"shipped","eta":"2026-11-29"}}`
	r2a := `{"messages":[` + user + `,` + reply + `,` + user2 + `],"user":{"id":"u-7","api_key":"sk-live-abcdefghijklmnop1234"},"intent":"order_status_and_faq","order":{"id":"A-1002","status":"processing","eta":null}}`
	r2b := `{"messages":[` + user + `,` + reply + `,` + user2 + `],"user":{"id":"u-7","api_key":"sk-live-abcdefghijklmnop1234"},"intent":"order_status_and_faq","order":{"id":"A-1002","status":"processing","eta":null},"faq":["We ship to Norway within 5 working days."]}`
	reply2 := `{"role":"assistant","content":"A-1002 is being processed. Yes, we ship to Norway within 5 working days."}`
	r3 := `{"messages":[` + user + `,` + reply + `,` + user2 + `,` + reply2 + `],"user":{"id":"u-7","api_key":"sk-live-abcdefghijklmnop1234"},"intent":"order_status_and_faq","order":{"id":"A-1002","status":"processing","eta":null},"faq":["We ship to Norway within 5 working days."]}`

	node := func(run, name string, step int, state string) map[string]any {
		m := map[string]any{
			"dashstream.span.kind": "node", "dashstream.thread_id": thread, "dashstream.run_id": run,
			"dashstream.node.name": name, "dashstream.step": step,
		}
		if state != "" {
			m["dashstream.state"] = state
		}
		return m
	}
	kind := func(run, k string, extra map[string]any) map[string]any {
		m := map[string]any{"dashstream.span.kind": k, "dashstream.thread_id": thread, "dashstream.run_id": run}
		for key, v := range extra {
			m[key] = v
		}
		return m
	}
	spans := []sp{
		// Run 1: classify → (router) → lookup_order (tool) → draft_reply (LLM) → notify (fails).
		{trace: "t1", id: "route", parent: "classify", name: "route_intent", start: 100, end: 110,
			attrs: kind("run-1", "router", map[string]any{"dashstream.router.choice": "lookup_order", "dashstream.node.name": "classify"})},
		{trace: "t1", id: "classify", parent: "graph", name: "classify", start: 5, end: 120, attrs: node("run-1", "classify", 1, s1)},
		{trace: "t1", id: "tool", parent: "lookup", name: "get_order", start: 150, end: 450,
			attrs: kind("run-1", "tool", map[string]any{
				"dashstream.tool.name": "get_order", "dashstream.tool.call_id": "call_8f2e",
				"dashstream.tool.arguments": `{"order_id":"A-1001","authorization":"Bearer abcdefghijklmnopqrstuv"}`,
				"dashstream.tool.result":    `{"status":"shipped","eta":"2026-11-29"}`,
			})},
		{trace: "t1", id: "lookup", parent: "graph", name: "lookup_order", start: 130, end: 480, attrs: node("run-1", "lookup_order", 2, s2)},
		{trace: "t1", id: "http", parent: "llm", name: "POST /v1/chat/completions", start: 530, end: 1670,
			attrs: map[string]any{"http.request.method": "POST", "server.address": "api.openai.com", "http.response.status_code": 200}},
		{trace: "t1", id: "llm", parent: "draft", name: "ChatOpenAI", start: 520, end: 1680,
			attrs: kind("run-1", "llm", map[string]any{
				"dashstream.llm.model": "gpt-4o-mini", "dashstream.llm.input_tokens": 412, "dashstream.llm.output_tokens": 58,
				"dashstream.llm.finish_reason": "stop",
			})},
		{trace: "t1", id: "draft", parent: "graph", name: "draft_reply", start: 500, end: 1700, attrs: node("run-1", "draft_reply", 3, s3)},
		{trace: "t1", id: "notify", parent: "graph", name: "notify", start: 1720, end: 1800, attrs: node("run-1", "notify", 4, ""),
			errMsg: "SMTP server refused connection",
			exception: &exc{typ: "smtplib.SMTPConnectError", msg: "SMTP server refused connection",
				stack: "Traceback (most recent call last):\n  File \"agent/notify.py\", line 42, in notify\n    smtp.send(msg)\nsmtplib.SMTPConnectError: (421, b'refused')"}},
		{trace: "t1", id: "graph", name: "support_agent", start: 0, end: 1810, errMsg: "node notify failed",
			attrs: kind("run-1", "graph", map[string]any{
				"dashstream.graph.name": "support_agent", "dashstream.graph.schema": mustJSON(schema),
				"dashstream.state.initial": s0, "dashstream.state": s3,
			})},

		// Run 2 on the same thread: classify → {lookup_order ∥ check_faq} → draft_reply.
		{trace: "t2", id: "route", parent: "classify", name: "route_intent", start: 60090, end: 60095,
			attrs: kind("run-2", "router", map[string]any{"dashstream.router.choice": "lookup_order,check_faq"})},
		{trace: "t2", id: "classify", parent: "graph", name: "classify", start: 60005, end: 60100, attrs: node("run-2", "classify", 1, r1)},
		{trace: "t2", id: "tool", parent: "lookup", name: "get_order", start: 60120, end: 60300,
			attrs: kind("run-2", "tool", map[string]any{
				"dashstream.tool.name": "get_order", "dashstream.tool.call_id": "call_91aa",
				"dashstream.tool.arguments": `{"order_id":"A-1002"}`,
				"dashstream.tool.result":    `{"status":"processing","eta":null}`,
			})},
		{trace: "t2", id: "lookup", parent: "graph", name: "lookup_order", start: 60110, end: 60310, attrs: node("run-2", "lookup_order", 2, r2a)},
		{trace: "t2", id: "faq", parent: "graph", name: "check_faq", start: 60112, end: 60200, attrs: node("run-2", "check_faq", 2, r2b)},
		{trace: "t2", id: "llm", parent: "draft", name: "ChatOpenAI", start: 60330, end: 61200,
			attrs: kind("run-2", "llm", map[string]any{
				"dashstream.llm.model": "gpt-4o-mini", "dashstream.llm.input_tokens": 530, "dashstream.llm.output_tokens": 41,
				"dashstream.llm.total_tokens": 571, "dashstream.llm.finish_reason": "stop",
			})},
		{trace: "t2", id: "draft", parent: "graph", name: "draft_reply", start: 60320, end: 61210, attrs: node("run-2", "draft_reply", 3, r3)},
		{trace: "t2", id: "graph", name: "support_agent", start: 60000, end: 61220,
			attrs: kind("run-2", "graph", map[string]any{
				"dashstream.graph.name": "support_agent", "dashstream.graph.schema": mustJSON(schema),
				"dashstream.state.initial": r0, "dashstream.state": r3,
			})},
	}
	for i := range spans {
		spans[i].resource = res
	}
	return spans, fixtureStates{byNode: map[string]string{
		"run-1/": s0, "run-1/classify": s1, "run-1/lookup_order": s2, "run-1/draft_reply": s3, "run-1/notify": s3,
		"run-2/": r0, "run-2/classify": r1, "run-2/lookup_order": r2a, "run-2/check_faq": r2b, "run-2/draft_reply": r3,
	}}
}

// TestDashStreamFixtureUpToDate keeps testdata/spans/dashstream.json equal
// to dashStreamFixture (-update-fixture rewrites it).
func TestDashStreamFixtureUpToDate(t *testing.T) {
	spans, _ := dashStreamFixture()
	td := buildTraces(spans...)
	want, err := (&ptrace.JSONMarshaler{}).MarshalTraces(td)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "spans", "dashstream.json")
	if *updateFixture {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update-fixture)", err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s is out of date; run go test -run TestDashStreamFixtureUpToDate -update-fixture", path)
	}
}
