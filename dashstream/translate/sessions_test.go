package translate

import (
	"context"
	"fmt"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"
	"go.uber.org/zap"

	"github.com/dashstream/dashstreamexporter/dashstream"
	pb "github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
)

func nodeSpan(thread, trace string, step int, state string) sp {
	attrs := map[string]any{"dashstream.span.kind": "node", "dashstream.thread_id": thread,
		"dashstream.node.name": "work", "dashstream.step": step}
	if state != "" {
		attrs["dashstream.state"] = state
	}
	return sp{trace: trace, id: fmt.Sprintf("n%d", step), name: "work", start: int64(step * 10), end: int64(step*10 + 5), attrs: attrs}
}

// TestSessionsBounded feeds 100,000 threads to a translator limited to
// 1,000 sessions: the session count never exceeds the limit, the heap stays
// bounded, and a recreated session's sequences stay above the evicted one's.
func TestSessionsBounded(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxThreads = 1000
	tr := newTestTranslator(t, cfg)

	first := translateAll(t, tr, buildTraces(nodeSpan("comeback", "comeback-1", 1, `{"n":1}`)))
	lastSeq := first.Records[len(first.Records)-1].Sequence

	const threads, perCall = 100_000, 500
	payload := strings.Repeat("x", 200)
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for c := 0; c < threads/perCall; c++ {
		spans := make([]sp, 0, perCall)
		for i := 0; i < perCall; i++ {
			id := c*perCall + i
			spans = append(spans, nodeSpan(fmt.Sprintf("thread-%d", id), fmt.Sprintf("trace-%d", id), 1,
				fmt.Sprintf(`{"id":%d,"payload":%q}`, id, payload)))
		}
		res, err := tr.Translate(context.Background(), buildTraces(spans...))
		if err != nil {
			t.Fatal(err)
		}
		if n := tr.ActiveSessions(); n > cfg.MaxThreads {
			t.Fatalf("call %d: %d sessions while holding a result, limit %d", c, n, cfg.MaxThreads)
		}
		res.Release()
		if n := tr.ActiveSessions(); n > cfg.MaxThreads {
			t.Fatalf("call %d: %d sessions, limit %d", c, n, cfg.MaxThreads)
		}
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	// 1,000 sessions of ~1 KiB state plus the trace memory: far below 64 MiB,
	// while keeping all 100,000 would need well over 100 MiB.
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 64<<20 {
		t.Errorf("heap grew by %d MiB for 100,000 threads", grew>>20)
	}
	t.Logf("heap: before %d KiB, after %d KiB, sessions %d", before.HeapAlloc>>10, after.HeapAlloc>>10, tr.ActiveSessions())

	again := translateAll(t, tr, buildTraces(nodeSpan("comeback", "comeback-2", 1, `{"n":2}`)))
	if got := again.Records[0].Sequence; got <= lastSeq {
		t.Fatalf("recreated session starts at %d, evicted one reached %d", got, lastSeq)
	}
	if d := firstDiffMsg(decodeAll(t, again.Records)); d == nil || len(d.GetFullState()) == 0 {
		t.Fatalf("recreated session: %v, want a full state", eventTypes(decodeAll(t, again.Records)))
	}
}

// TestIdleEviction: sessions idle longer than IdleTimeout go on the next
// call or sweep; sessions in use are never evicted.
func TestIdleEviction(t *testing.T) {
	cfg := DefaultConfig()
	cfg.IdleTimeout = time.Minute
	clk := &fixedClock{now: testEpoch}
	tr, err := newTranslator(cfg, zap.NewNop(), clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	translateAll(t, tr, buildTraces(nodeSpan("a", "ta", 1, `{"a":1,"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`)))
	held, err := tr.Translate(context.Background(), buildTraces(nodeSpan("b", "tb", 1, `{"b":1}`)))
	if err != nil {
		t.Fatal(err)
	}
	clk.now = clk.now.Add(2 * time.Minute)
	if n := tr.SweepIdle(); n != 1 {
		t.Fatalf("swept %d sessions, want 1 (a); b is in use", n)
	}
	if n := tr.ActiveSessions(); n != 1 {
		t.Fatalf("sessions = %d, want 1", n)
	}
	held.Release()
	held.Release() // idempotent
	clk.now = clk.now.Add(2 * time.Minute)
	translateAll(t, tr, buildTraces(nodeSpan("c", "tc", 1, `{"c":1}`)))
	if n := tr.ActiveSessions(); n != 1 {
		t.Fatalf("sessions = %d, want 1 (c; b idle since its release)", n)
	}
}

// TestSequencesAboveHighWater: with the clock standing still, sessions
// created after others issued many sequences start above all of them.
func TestSequencesAboveHighWater(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxThreads = 1
	tr := newTestTranslator(t, cfg)
	var spans []sp
	for i := 1; i <= 50; i++ {
		spans = append(spans, nodeSpan("busy", "busy", i, fmt.Sprintf(`{"i":%d}`, i)))
	}
	busy := translateAll(t, tr, buildTraces(spans...))
	maxSeq := busy.Records[len(busy.Records)-1].Sequence
	next := translateAll(t, tr, buildTraces(nodeSpan("other", "other", 1, `{}`)))
	if next.Records[0].Sequence <= maxSeq {
		t.Fatalf("new session starts at %d, not above %d", next.Records[0].Sequence, maxSeq)
	}
	back := translateAll(t, tr, buildTraces(nodeSpan("busy", "busy2", 1, `{}`)))
	if back.Records[0].Sequence <= next.Records[len(next.Records)-1].Sequence {
		t.Fatalf("recreated session reuses sequences")
	}
}

// TestLossResyncs: after MarkLost or ReportLoss the next state message is a
// full state without a base checkpoint, whatever event comes first — also
// when a new run's GRAPH_START (carrying its initial state) comes before it
// (SPEC §5.6).
func TestLossResyncs(t *testing.T) {
	cfg := DefaultConfig()
	cfg.CheckpointInterval = 1
	newRun := func() ptrace.Traces {
		g := sp{trace: "t2", id: "g", name: "graph", start: 25, end: 40, attrs: map[string]any{
			"dashstream.span.kind": "graph", "dashstream.thread_id": "x",
			"dashstream.state.initial": `{"a":2,"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`, "dashstream.state": `{"a":3,"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`}}
		n := nodeSpan("x", "t2", 3, `{"a":3,"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`)
		n.parent = "g"
		return buildTraces(g, n)
	}
	for _, mode := range []string{"MarkLost", "ReportLoss"} {
		for _, next := range []string{"same_run", "new_run"} {
			t.Run(mode+"/"+next, func(t *testing.T) {
				tr := newTestTranslator(t, cfg)
				translateAll(t, tr, buildTraces(nodeSpan("x", "t", 1, `{"a":1,"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`)))
				res, err := tr.Translate(context.Background(), buildTraces(nodeSpan("x", "t", 2, `{"a":2,"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`)))
				if err != nil {
					t.Fatal(err)
				}
				if mode == "MarkLost" {
					res.MarkLost()
					res.Release()
				} else {
					res.Release()
					tr.ReportLoss(res.Threads())
				}
				td := buildTraces(nodeSpan("x", "t", 3, `{"a":3,"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`))
				if next == "new_run" {
					td = newRun()
				}
				ds := decodeAll(t, translateAll(t, tr, td).Records)
				if next == "new_run" && (len(ds) == 0 || ds[0].msg.GetEvent().GetEventType() != pb.EventType_EVENT_TYPE_GRAPH_START) {
					t.Fatalf("new run: %v, want GRAPH_START first", eventTypes(ds))
				}
				diff := firstDiffMsg(ds)
				if diff == nil || len(diff.GetFullState()) == 0 || len(diff.GetBaseCheckpointId()) != 0 {
					t.Fatalf("after loss: %v, want full state without base checkpoint", eventTypes(ds))
				}
			})
		}
	}
}

func firstDiffMsg(ds []decoded) *pb.StateDiff {
	for _, d := range ds {
		if sd := d.msg.GetStateDiff(); sd != nil {
			return sd
		}
	}
	return nil
}

// TestSameThreadSerialises: while a result holds thread a, another call on
// a waits, a call on b proceeds; after Release the waiting call continues
// with later sequences (enqueue order = translation order, SPEC §5.3).
func TestSameThreadSerialises(t *testing.T) {
	tr := newTestTranslator(t, DefaultConfig())
	held, err := tr.Translate(context.Background(), buildTraces(nodeSpan("a", "a1", 1, `{"v":1}`)))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan *Result, 1)
	go func() {
		res, err := tr.Translate(context.Background(), buildTraces(nodeSpan("a", "a1", 2, `{"v":2}`)))
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	other := translateAll(t, tr, buildTraces(nodeSpan("b", "b1", 1, `{"v":1}`)))
	if len(other.Records) == 0 {
		t.Fatal("thread b blocked by thread a")
	}
	select {
	case <-done:
		t.Fatal("a second call on thread a ran while the first result was held")
	default:
	}
	held.Release()
	var second *Result
	select {
	case second = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("second call on thread a never ran after Release")
	}
	second.Release()
	if second.Records[0].Sequence <= held.Records[len(held.Records)-1].Sequence {
		t.Fatal("second call's sequences are not after the first's")
	}
}

// graphRun is one finished run of thread: its graph span and one node
// span per state, step 1 onwards.
func graphRun(thread, run string, states ...string) []sp {
	spans := []sp{{trace: run, id: "graph", name: "graph", start: 0, end: int64(len(states)*10 + 10),
		attrs: map[string]any{"dashstream.span.kind": "graph", "dashstream.thread_id": thread, "dashstream.graph.name": "g"}}}
	for i, st := range states {
		n := nodeSpan(thread, run, i+1, st)
		n.parent = "graph"
		spans = append(spans, n)
	}
	return spans
}

// TestRestingSessionBetweenRuns: once a run ends, the session keeps only
// its state's text (accounted as such); the thread's next run builds its
// states against that text as if the index had been kept — patches, not
// full states — with redaction applied again and every hash right, and
// rests again when it ends.
func TestRestingSessionBetweenRuns(t *testing.T) {
	tr := newTestTranslator(t, DefaultConfig())
	const thread = "resting"
	// Large enough that a one-message change is sent as a patch.
	ctx := strings.Repeat("context ", 200)
	state := func(n int, msgs string) string {
		return fmt.Sprintf(`{"api_key":"sk-abcdefghijklmnopqrstuvwx","context":%q,"messages":[%s],"n":%d}`, ctx, msgs, n)
	}
	final := state(2, `"hi","hello"`)
	first := translateAll(t, tr, buildTraces(graphRun(thread, "run-1", state(1, `"hi"`), final)...))

	s := tr.sessions.m[thread]
	if s == nil {
		t.Fatal("no session for the thread")
	}
	s.mu.Lock()
	doc, resting, accounted := s.doc, s.resting, s.stateBytes
	s.mu.Unlock()
	text, err := s2.Decode(nil, resting)
	if doc != nil || err != nil || string(text) != final {
		t.Fatalf("after the run: doc %v, resting %q (%v); want no index and the final text", doc != nil, text, err)
	}
	if accounted != int64(len(resting)) || accounted >= int64(len(final))/2 || tr.sessions.stateBytes.Load() != accounted {
		t.Fatalf("accounted %d bytes (table %d), want the compressed text's %d, under half the JSON's %d",
			accounted, tr.sessions.stateBytes.Load(), len(resting), len(final))
	}

	// The next run starts from where the last one ended (a conversation's
	// next turn): its GRAPH_START replaces the base with its initial state
	// (built on its own: the resting text is not woken for it).
	run2 := graphRun(thread, "run-2", state(3, `"hi","hello","again"`))
	run2[0].attrs["dashstream.state.initial"] = final
	second := translateAll(t, tr, buildTraces(run2...))
	ds := decodeAll(t, second.Records)
	if d := firstDiffMsg(ds); d == nil || len(d.GetFullState()) != 0 {
		t.Fatalf("second run: %v, want its first state as a patch", eventTypes(ds))
	}

	s.mu.Lock()
	doc, resting = s.doc, s.resting
	s.mu.Unlock()
	if text, err = s2.Decode(nil, resting); doc != nil || err != nil || !strings.Contains(string(text), `"again"`) {
		t.Fatalf("after the second run: doc %v, resting %q (%v)", doc != nil, text, err)
	}

	r := dashstream.NewReplayer()
	for _, d := range append(decodeAll(t, first.Records), ds...) {
		if err := r.Apply(d.msg); err != nil {
			t.Fatal(err)
		}
	}
	if p := r.Problems(); len(p) != 0 {
		t.Fatalf("replay problems: %v", p)
	}
	want := strings.Replace(state(3, `"hi","hello","again"`), "sk-abcdefghijklmnopqrstuvwx", "[REDACTED]", 1)
	wantV, err := dashstream.ParseJSON([]byte(want))
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Thread(thread).State; !dashstream.Equal(got, wantV) {
		t.Fatalf("replayed state %s, want %s", dashstream.MarshalJSON(got), want)
	}
}

// TestRunsOfOneCallRestAtTheEnd: a thread whose run ends and whose next run
// starts in the same call rests once, after the call is done with it: the
// next run diffs against the state as it is, and the session ends the
// call holding the last run's final text, compressed.
func TestRunsOfOneCallRestAtTheEnd(t *testing.T) {
	tr := newTestTranslator(t, DefaultConfig())
	const thread = "two-runs"
	ctx := strings.Repeat("context ", 200)
	state := func(n int, msgs string) string {
		return fmt.Sprintf(`{"context":%q,"messages":[%s],"n":%d}`, ctx, msgs, n)
	}
	run1 := graphRun(thread, "run-1", state(1, `"hi"`), state(2, `"hi","hello"`))
	run2 := graphRun(thread, "run-2", state(3, `"hi","hello","again"`), state(4, `"hi","hello","again","bye"`))
	for i := range run2 {
		run2[i].start += 100
		run2[i].end += 100
	}
	run2[0].attrs["dashstream.state.initial"] = state(2, `"hi","hello"`)
	res := translateAll(t, tr, buildTraces(append(run1, run2...)...))
	ds := decodeAll(t, res.Records)

	s := tr.sessions.m[thread]
	s.mu.Lock()
	doc, resting, accounted := s.doc, s.resting, s.stateBytes
	s.mu.Unlock()
	text, err := s2.Decode(nil, resting)
	if doc != nil || err != nil || string(text) != state(4, `"hi","hello","again","bye"`) {
		t.Fatalf("after the call: doc %v, resting %q (%v); want the last run's final text", doc != nil, text, err)
	}
	if accounted != int64(len(resting)) {
		t.Fatalf("accounted %d bytes, want the compressed text's %d", accounted, len(resting))
	}
	r := dashstream.NewReplayer()
	for _, d := range ds {
		if err := r.Apply(d.msg); err != nil {
			t.Fatal(err)
		}
	}
	if p := r.Problems(); len(p) != 0 {
		t.Fatalf("replay problems: %v", p)
	}
	want, err := dashstream.ParseJSON([]byte(state(4, `"hi","hello","again","bye"`)))
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Thread(thread).State; !dashstream.Equal(got, want) {
		t.Fatalf("replayed state %s", dashstream.MarshalJSON(got))
	}
}
