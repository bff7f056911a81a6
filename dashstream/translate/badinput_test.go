package translate

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/dashstream/dashstreamexporter/dashstream"
)

// TestBadInput: each bad part is skipped and counted while the events of
// the run still flow, and nothing panics.
func TestBadInput(t *testing.T) {
	deep := strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000)
	huge := strings.Repeat("a", 10<<20)
	node := func(extra map[string]any) map[string]any {
		m := map[string]any{"dashstream.span.kind": "node", "dashstream.thread_id": "bad", "dashstream.run_id": "r",
			"dashstream.node.name": "work", "dashstream.step": 1}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	cases := []struct {
		name   string
		spans  []sp
		reason string // expected Stats.BadInput key ("" = checked by check)
		check  func(t *testing.T, res *Result, ds []decoded)
	}{
		{name: "state not JSON", reason: "state_not_json",
			spans: []sp{{trace: "b", id: "n", name: "work", start: 1, end: 2, attrs: node(map[string]any{"dashstream.state": `{"a": tru`})}}},
		{name: "state not an object", reason: "state_not_object",
			spans: []sp{{trace: "b", id: "n", name: "work", start: 1, end: 2, attrs: node(map[string]any{"dashstream.state": `[1,2,3]`})}}},
		{name: "NaN and Infinity", reason: "state_not_json",
			spans: []sp{{trace: "b", id: "n", name: "work", start: 1, end: 2, attrs: node(map[string]any{"dashstream.state": `{"x":NaN,"y":Infinity}`})}}},
		{name: "100,000-deep nesting", reason: "state_too_deep",
			spans: []sp{{trace: "b", id: "n", name: "work", start: 1, end: 2, attrs: node(map[string]any{"dashstream.state": `{"d":` + deep + `}`})}}},
		{name: "10 MB state", reason: "state_too_large",
			spans: []sp{{trace: "b", id: "n", name: "work", start: 1, end: 2, attrs: node(map[string]any{"dashstream.state": `{"big":"` + huge + `"}`})}}},
		{name: "10 MB tool argument",
			spans: []sp{
				{trace: "b", id: "n", name: "work", start: 1, end: 5, attrs: node(nil)},
				{trace: "b", id: "tool", parent: "n", name: "t", start: 2, end: 3, attrs: map[string]any{
					"dashstream.span.kind": "tool", "dashstream.tool.name": "t", "dashstream.tool.arguments": huge}},
			},
			check: func(t *testing.T, res *Result, ds []decoded) {
				if res.Stats.Truncations == 0 {
					t.Error("no truncation counted")
				}
				for _, d := range ds {
					ev := d.msg.GetEvent()
					if ev.GetEventType().String() == "EVENT_TYPE_TOOL_START" {
						if n := len(ev.GetAttributes()["arguments"].GetStringValue()); n != DefaultAttributeMaxBytes {
							t.Errorf("arguments kept %d bytes, want %d", n, DefaultAttributeMaxBytes)
						}
						if !ev.GetAttributes()["truncated"].GetBoolValue() {
							t.Error("truncated attribute not set")
						}
						return
					}
				}
				t.Error("no TOOL_START")
			}},
		{name: "invalid UTF-8", reason: "invalid_utf8",
			spans: []sp{{trace: "b", id: "n", name: "work", start: 1, end: 2, attrs: node(map[string]any{
				"dashstream.node.name": "wo\xffrk", "dashstream.state": `{"s":"ok"}`})}},
			check: func(t *testing.T, res *Result, ds []decoded) {
				for _, d := range ds {
					if id := d.msg.GetEvent().GetNodeId(); id != "" && !utf8.ValidString(id) {
						t.Errorf("node id %q not valid UTF-8", id)
					}
				}
			}},
		{name: "invalid UTF-8 thread id", reason: "invalid_utf8",
			spans: []sp{{trace: "b", id: "n", name: "work", start: 1, end: 2, attrs: node(map[string]any{"dashstream.thread_id": "th\xc3read"})}},
			check: func(t *testing.T, res *Result, ds []decoded) {
				if th := ds[0].rec.ThreadID; !utf8.ValidString(th) || th == "" {
					t.Errorf("thread id %q", th)
				}
			}},
		{name: "missing parent", reason: "missing_parent",
			spans: []sp{
				// The run's own span is here: the parent will not come.
				{trace: "b", id: "g", name: "g", start: 0, end: 10, attrs: map[string]any{
					"dashstream.span.kind": "graph", "dashstream.thread_id": "bad", "dashstream.run_id": "r"}},
				{trace: "b", id: "n", parent: "g", name: "work", start: 1, end: 9, attrs: node(nil)},
				{trace: "b", id: "llm", parent: "gone", name: "chat", start: 2, end: 3, attrs: map[string]any{
					"dashstream.span.kind": "llm", "dashstream.run_id": "r", "dashstream.llm.model": "m"}},
			},
			check: func(t *testing.T, res *Result, ds []decoded) {
				if !strings.Contains(strings.Join(eventTypes(ds), " "), "LLM_START") {
					t.Errorf("orphan llm span yields no events: %v", eventTypes(ds))
				}
			}},
		{name: "end before start", reason: "end_before_start",
			spans: []sp{{trace: "b", id: "n", name: "work", start: 10, end: 2, attrs: node(nil)}}},
		{name: "long thread id",
			spans: []sp{{trace: "b", id: "n", name: "work", start: 1, end: 2, attrs: node(map[string]any{"dashstream.thread_id": strings.Repeat("t", 1000)})}},
			check: func(t *testing.T, res *Result, ds []decoded) {
				if th := ds[0].rec.ThreadID; !strings.HasPrefix(th, "sha256:") || len(th) > maxThreadIDLen {
					t.Errorf("thread id %q", th)
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr := newTestTranslator(t, DefaultConfig())
			res := translateAll(t, tr, buildTraces(c.spans...))
			ds := decodeAll(t, res.Records)
			types := strings.Join(eventTypes(ds), " ")
			if !strings.Contains(types, "NODE_START:") || !strings.Contains(types, "NODE_END:") {
				t.Errorf("events did not flow: %s", types)
			}
			if c.reason != "" && res.Stats.BadInput[c.reason] == 0 {
				t.Errorf("BadInput[%q] not counted: %v", c.reason, res.Stats.BadInput)
			}
			if c.check != nil {
				c.check(t, res, ds)
			}
			replayStream(t, ds, nil)
		})
	}
}

// TestUnrecognisedSpansIgnored: spans of no convention are counted, not sent.
func TestUnrecognisedSpansIgnored(t *testing.T) {
	tr := newTestTranslator(t, DefaultConfig())
	res := translateAll(t, tr, buildTraces(sp{trace: "x", id: "h", name: "GET /health", start: 1, end: 2,
		attrs: map[string]any{"http.request.method": "GET"}}))
	if len(res.Records) != 0 || res.Stats.SpansIgnored["unrecognised"] != 1 || res.Stats.Spans != 1 {
		t.Fatalf("records %d, stats %+v", len(res.Records), res.Stats)
	}
}

// TestOversizeRecordDropped: a record over MaxRecordBytes is dropped and
// counted, the thread resyncs, and the sequence has no hole for it.
func TestOversizeRecordDropped(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Compression = false
	cfg.MaxRecordBytes = 4096
	tr := newTestTranslator(t, cfg)
	big := `{"blob":"` + strings.Repeat("z", 8000) + `"}`
	res := translateAll(t, tr, buildTraces(nodeSpan("o", "o", 1, big)))
	if res.Stats.OversizeDrops != 1 {
		t.Fatalf("oversize drops = %d", res.Stats.OversizeDrops)
	}
	for i := 1; i < len(res.Records); i++ {
		if res.Records[i].Sequence != res.Records[i-1].Sequence+1 {
			t.Fatalf("sequence hole at %d", i)
		}
	}
	ds := decodeAll(t, translateAll(t, tr, buildTraces(nodeSpan("o", "o", 2, `{"blob":"small"}`))).Records)
	if d := firstDiffMsg(ds); d == nil || len(d.GetFullState()) == 0 {
		t.Fatalf("after an oversize drop: %v, want a full state", eventTypes(ds))
	}
}

// TestCompressedRecordUnderLimitKept: a record whose plain frame is over
// MaxRecordBytes but whose zstd frame fits is sent compressed, not dropped;
// the other compressed records are finished at the end of the call, and the
// byte counts are those of the values sent.
func TestCompressedRecordUnderLimitKept(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxRecordBytes = 4096
	cfg.CheckpointInterval = 1
	tr := newTestTranslator(t, cfg)
	big := `{"blob":"` + strings.Repeat("z", 8000) + `"}`
	mid := `{"blob":"` + strings.Repeat("y", 2000) + `"}`
	res := translateAll(t, tr, buildTraces(nodeSpan("c", "c", 1, big), nodeSpan("c", "c2", 2, mid)))
	if res.Stats.OversizeDrops != 0 {
		t.Fatalf("oversize drops = %d", res.Stats.OversizeDrops)
	}
	var total int64
	for _, n := range res.Stats.BytesByType {
		total += n
	}
	var sent int64
	compressed := 0
	for _, r := range res.Records {
		if len(r.Value) == 0 || len(r.Value) > cfg.MaxRecordBytes {
			t.Fatalf("%v record of %d bytes", r.Type, len(r.Value))
		}
		if r.Value[0] == dashstream.FrameZstd {
			compressed++
		}
		sent += int64(len(r.Value))
	}
	if compressed < 4 || total != sent {
		t.Fatalf("%d compressed records, stats count %d bytes of the %d sent", compressed, total, sent)
	}
	ds := decodeAll(t, res.Records)
	if d := firstDiffMsg(ds); d == nil || string(d.GetFullState()) != big {
		t.Fatal("the first state is not the full state sent compressed")
	}

	// Incompressible and over the limit: dropped, whatever compression does.
	rnd := rand.New(rand.NewPCG(1, 2))
	noise := make([]byte, 6000)
	for i := range noise {
		noise[i] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/"[rnd.IntN(64)]
	}
	res = translateAll(t, tr, buildTraces(nodeSpan("n", "n", 1, `{"blob":"`+string(noise)+`"}`)))
	if res.Stats.OversizeDrops == 0 {
		t.Fatal("an incompressible record over the limit was not dropped")
	}
	for _, r := range res.Records {
		if len(r.Value) > cfg.MaxRecordBytes {
			t.Fatalf("%v record of %d bytes over the %d limit", r.Type, len(r.Value), cfg.MaxRecordBytes)
		}
	}
}

// TestEmptyAndOddTraces: empty input and spans without ids never panic.
func TestEmptyAndOddTraces(t *testing.T) {
	tr := newTestTranslator(t, DefaultConfig())
	if res := translateAll(t, tr, ptrace.NewTraces()); len(res.Records) != 0 {
		t.Fatal("records from nothing")
	}
	td := ptrace.NewTraces()
	span := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	span.Attributes().PutStr("dashstream.span.kind", "node")
	span.Attributes().PutEmptyMap("dashstream.state").PutStr("x", "y")
	span.Attributes().PutEmptySlice("dashstream.step").AppendEmpty().SetInt(1)
	res, err := tr.Translate(context.Background(), td)
	if err != nil {
		t.Fatal(err)
	}
	res.Release()
	if res.Stats.BadInput["missing_trace_id"] != 1 {
		t.Fatalf("stats %+v", res.Stats)
	}
	span.SetTraceID(pcommon.TraceID{1})
	res = translateAll(t, tr, td)
	if len(res.Records) == 0 {
		t.Fatal("span with a trace id but odd attribute types yields nothing")
	}
}
