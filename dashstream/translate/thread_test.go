package translate

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"

	pb "github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
)

// TestThreadResolution covers SPEC §4.2's order: the convention's thread,
// the configured attribute (span, then resource), what an earlier call
// taught about the trace, and the trace id.
func TestThreadResolution(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ThreadAttribute = "session.id"
	tr := newTestTranslator(t, cfg)
	// A lone node (a lone model call opens no run: no_run, runs.go); the
	// later child of trace e is a model call of the run learnt.
	llm := func(trace string, attrs map[string]any, res map[string]any) sp {
		m := map[string]any{"dashstream.span.kind": "node", "dashstream.llm.model": "m"}
		if trace == "e" {
			m["dashstream.span.kind"] = "llm"
		}
		for k, v := range attrs {
			m[k] = v
		}
		return sp{trace: trace, id: "llm", name: "chat", start: 1, end: 2, attrs: m, resource: res}
	}
	cases := []struct {
		name string
		span sp
		want string
	}{
		{"convention", llm("a", map[string]any{"dashstream.thread_id": "conv", "session.id": "attr"}, nil), "conv"},
		{"span attribute", llm("b", map[string]any{"session.id": "span-attr"}, map[string]any{"session.id": "res-attr"}), "span-attr"},
		{"resource attribute", llm("c", nil, map[string]any{"session.id": "res-attr"}), "res-attr"},
		{"trace id", llm("d", nil, nil), traceID("d").String()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := translateAll(t, tr, buildTraces(c.span))
			if len(res.Records) == 0 || res.Records[0].ThreadID != c.want || string(res.Records[0].Key) != c.want {
				t.Fatalf("thread = %v, want %q", res.Threads(), c.want)
			}
		})
	}
	// A graph span naming the thread first; later children of the same
	// trace without any thread id land on the same thread.
	translateAll(t, tr, buildTraces(sp{trace: "e", id: "g", name: "g", start: 0, end: 1,
		attrs: map[string]any{"dashstream.span.kind": "graph", "dashstream.thread_id": "learnt", "dashstream.run_id": "run-e"}}))
	res := translateAll(t, tr, buildTraces(llm("e", nil, nil)))
	if got := res.Threads(); len(got) != 1 || got[0] != "learnt" {
		t.Fatalf("later child landed on %v, want the learnt thread", got)
	}
	if types := eventTypes(decodeAll(t, res.Records)); types[0] == "GRAPH_START" {
		t.Fatalf("the run learnt with its thread started again: %v", types)
	}
}

// TestRecordEnvelope: topic (static and resolved), key, traceparent,
// tracestate, static headers, tenant (static and from the resource).
func TestRecordEnvelope(t *testing.T) {
	cfg := DefaultConfig()
	cfg.TenantID = "static-tenant"
	cfg.TenantAttribute = "tenant"
	cfg.StaticHeaders = map[string]string{"x-b": "2", "x-a": "1"}
	cfg.ResolveTopic = func(_ context.Context, res pcommon.Resource) string {
		if v, ok := res.Attributes().Get("topic"); ok {
			return v.Str()
		}
		return ""
	}
	tr := newTestTranslator(t, cfg)
	span := nodeSpan("env", "env", 1, "")
	span.resource = map[string]any{"tenant": "res-tenant", "topic": "custom-topic"}
	td := buildTraces(span, nodeSpan("env2", "env2", 1, ""))
	td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).TraceState().FromRaw("vendor=abc")
	res := translateAll(t, tr, td)
	ds := decodeAll(t, res.Records)
	for _, d := range ds {
		h := map[string]string{}
		var keys []string
		for _, hd := range d.rec.Headers {
			h[hd.Key] = string(hd.Value)
			keys = append(keys, hd.Key)
		}
		tp := h["traceparent"]
		if len(tp) != 55 || !strings.HasPrefix(tp, "00-") || !strings.HasSuffix(tp, "-01") {
			t.Errorf("traceparent %q", tp)
		}
		if h["x-a"] != "1" || h["x-b"] != "2" {
			t.Errorf("static headers %v", h)
		}
		hdr := d.msg.GetEvent().GetHeader()
		if hdr == nil {
			hdr = d.msg.GetStateDiff().GetHeader()
		}
		switch d.rec.ThreadID {
		case "env":
			if d.rec.Topic != "custom-topic" || hdr.GetTenantId() != "res-tenant" || h["tracestate"] != "vendor=abc" {
				t.Errorf("env record: topic %q tenant %q headers %v", d.rec.Topic, hdr.GetTenantId(), keys)
			}
			if !strings.Contains(tp, traceID("env").String()) {
				t.Errorf("traceparent %q is not the source span's", tp)
			}
		case "env2":
			if d.rec.Topic != "dashstream-events" || hdr.GetTenantId() != "static-tenant" {
				t.Errorf("env2 record: topic %q tenant %q", d.rec.Topic, hdr.GetTenantId())
			}
			if _, ok := h["tracestate"]; ok {
				t.Error("empty tracestate sent")
			}
		}
		if hdr.GetSchemaVersion() != 1 || len(hdr.GetMessageId()) != 16 || hdr.GetSequence() == 0 {
			t.Errorf("header %v", hdr)
		}
	}
}

// TestTimestampsAndDurations: START at span start, END at span end, in µs;
// NODE_END duration_us both as field and float attribute.
func TestTimestampsAndDurations(t *testing.T) {
	tr := newTestTranslator(t, DefaultConfig())
	ds := decodeAll(t, translateAll(t, tr, buildTraces(nodeSpan("ts", "ts", 1, ""))).Records)
	start := testEpoch.Add(10e6).UnixMicro()
	end := testEpoch.Add(15e6).UnixMicro()
	for _, d := range ds {
		ev := d.msg.GetEvent()
		switch ev.GetEventType().String() {
		case "EVENT_TYPE_NODE_START", "EVENT_TYPE_GRAPH_START":
			if ev.GetHeader().GetTimestampUs() != start {
				t.Errorf("%s at %d, want %d", ev.GetEventType(), ev.GetHeader().GetTimestampUs(), start)
			}
		case "EVENT_TYPE_NODE_END":
			if ev.GetHeader().GetTimestampUs() != end || ev.GetDurationUs() != 5000 {
				t.Errorf("NODE_END at %d duration %d", ev.GetHeader().GetTimestampUs(), ev.GetDurationUs())
			}
			if a := ev.GetAttributes()["duration_us"]; a.GetFloatValue() != 5000 {
				t.Errorf("duration_us attribute %v, want float 5000", a)
			}
		}
	}
}

// TestThreadWorkRuns: a thread's runs are found by id before and after
// their number passes threadIndexAfter (then through a map).
func TestThreadWorkRuns(t *testing.T) {
	var tw threadWork
	var added []*runWork
	for i := range 3 * threadIndexAfter {
		id := fmt.Sprintf("run-%d", i)
		if tw.run(id) != nil {
			t.Fatalf("%s found before it was added", id)
		}
		rw := &runWork{runID: id}
		tw.addRun(rw)
		added = append(added, rw)
		for j, want := range added {
			if got := tw.run(want.runID); got != want {
				t.Fatalf("after %d runs: run %d not found", i+1, j)
			}
		}
	}
	if tw.idx == nil || len(tw.idx) != len(tw.runs) {
		t.Fatalf("index of %d entries for %d runs", len(tw.idx), len(tw.runs))
	}
}

// TestManyRunsOfOneThreadInOneCall: past threadIndexAfter runs a thread's
// work is looked up by map; every run is emitted once and in start order,
// whatever order their spans came in.
func TestManyRunsOfOneThreadInOneCall(t *testing.T) {
	for _, runs := range []int{1, threadIndexAfter, threadIndexAfter + 1, 3 * threadIndexAfter} {
		t.Run(fmt.Sprint(runs), func(t *testing.T) {
			tr := newTestTranslator(t, DefaultConfig())
			var spans []sp
			for i := runs; i >= 1; i-- { // latest run first
				trace := fmt.Sprintf("run-%02d", i)
				spans = append(spans, nodeSpan("many", trace, i, ""))
			}
			ds := decodeAll(t, translateAll(t, tr, buildTraces(spans...)).Records)
			var starts []int64
			for _, d := range ds {
				if ev := d.msg.GetEvent(); ev.GetEventType() == pb.EventType_EVENT_TYPE_NODE_START {
					starts = append(starts, ev.GetHeader().GetTimestampUs())
				}
			}
			if len(starts) != runs {
				t.Fatalf("%d NODE_STARTs for %d runs: %v", len(starts), runs, eventTypes(ds))
			}
			if !slices.IsSorted(starts) {
				t.Fatalf("runs not in start order: %v", starts)
			}
		})
	}
}
