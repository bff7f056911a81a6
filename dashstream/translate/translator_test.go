package translate

import (
	"strings"
	"testing"

	"github.com/dashstream/dashstreamexporter/dashstream"
	pb "github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
)

// redactedTruth is what consumers must see of a fixture state: the api_key
// value redacted.
func redactedTruth(t testing.TB, s string) any {
	t.Helper()
	s = strings.ReplaceAll(s, `"sk-live-abcdefghijklmnop1234"`, `"[REDACTED]"`)
	v, err := dashstream.ParseJSON([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// replayStream feeds decoded records to a Replayer and calls after(i, d, r)
// after each; it fails on any replay problem (gaps included) and on
// sequences that do not strictly increase per thread.
func replayStream(t testing.TB, ds []decoded, after func(i int, d decoded, r *dashstream.Replayer)) *dashstream.Replayer {
	t.Helper()
	r := dashstream.NewReplayer()
	last := map[string]uint64{}
	for i, d := range ds {
		h := dashstream.HeaderOf(d.msg)
		if h.GetSequence() == 0 || h.GetSequence() <= last[h.GetThreadId()] {
			t.Fatalf("record %d: sequence %d after %d on thread %q", i, h.GetSequence(), last[h.GetThreadId()], h.GetThreadId())
		}
		last[h.GetThreadId()] = h.GetSequence()
		if err := r.Apply(d.msg); err != nil {
			t.Fatalf("record %d (%s): %v", i, kindOf(d.msg), err)
		}
		if after != nil {
			after(i, d, r)
		}
	}
	if p := r.Problems(); len(p) > 0 {
		t.Fatalf("replay problems: %v", p)
	}
	return r
}

// TestReplayDashStreamFixture replays the fixture's stream and checks the
// reconstructed state after every node against the true state.
func TestReplayDashStreamFixture(t *testing.T) {
	spans, truth := dashStreamFixture()
	tr := newTestTranslator(t, goldenConfig())
	res := translateAll(t, tr, buildTraces(spans...))
	ds := decodeAll(t, res.Records)
	run := ""
	checked := 0
	r := replayStream(t, ds, func(i int, d decoded, r *dashstream.Replayer) {
		ev := d.msg.GetEvent()
		if ev == nil {
			return
		}
		switch ev.GetEventType() {
		case pb.EventType_EVENT_TYPE_GRAPH_START:
			run = ev.GetAttributes()["run_id"].GetStringValue()
			want := redactedTruth(t, truth.byNode[run+"/"])
			if got := r.Thread(d.rec.ThreadID).State; !dashstream.Equal(got, want) {
				t.Errorf("record %d: state after GRAPH_START of %s = %s, want %s", i, run, dashstream.MarshalJSON(got), dashstream.MarshalJSON(want))
			}
			checked++
		case pb.EventType_EVENT_TYPE_NODE_END, pb.EventType_EVENT_TYPE_NODE_ERROR:
			want := redactedTruth(t, truth.byNode[run+"/"+ev.GetNodeId()])
			if got := r.Thread(d.rec.ThreadID).State; !dashstream.Equal(got, want) {
				t.Errorf("record %d: state after %s/%s = %s, want %s", i, run, ev.GetNodeId(), dashstream.MarshalJSON(got), dashstream.MarshalJSON(want))
			}
			checked++
		}
	})
	if checked != 2+4+4 {
		t.Errorf("checked %d states, want 10", checked)
	}
	ts := r.Thread("support-thread-7")
	if ts == nil || ts.Checkpoints != 2 || ts.Runs != 2 {
		t.Fatalf("thread replay = %+v, want 2 runs and 2 checkpoints", ts)
	}
	// The session's first change after GRAPH_START goes out in full (a new
	// session cannot know consumers' checkpoint, SPEC §8); the rest are patches.
	if res.Stats.Checkpoints != 2 || res.Stats.StateDiffsFull != 1 || res.Stats.StateDiffsPatch != 6 || res.Stats.SpansIgnored["unrecognised"] != 1 {
		t.Errorf("stats = %+v", res.Stats)
	}
	if res.Stats.Redactions == 0 {
		t.Error("no redaction counted; the fixture carries an api_key and a bearer token")
	}
}

// TestSecondInvocationStartsFromThreadState: the second run's GRAPH_START
// carries the whole thread state it starts from, and the next StateDiff is
// computed against exactly that.
func TestSecondInvocationStartsFromThreadState(t *testing.T) {
	spans, truth := dashStreamFixture()
	tr := newTestTranslator(t, goldenConfig())
	// Each invocation in its own call, as a collector would receive them.
	var first, second []sp
	for _, s := range spans {
		if s.trace == "t1" {
			first = append(first, s)
		} else {
			second = append(second, s)
		}
	}
	translateAll(t, tr, buildTraces(first...))
	ds := decodeAll(t, translateAll(t, tr, buildTraces(second...)).Records)
	if kindOf(ds[0].msg) != "GRAPH_START" {
		t.Fatalf("first record of the second call is %s", kindOf(ds[0].msg))
	}
	initText := ds[0].msg.GetEvent().GetAttributes()["initial_state_json"].GetStringValue()
	initial, err := dashstream.ParseJSON([]byte(initText))
	if err != nil {
		t.Fatalf("initial_state_json: %v", err)
	}
	if want := redactedTruth(t, truth.byNode["run-2/"]); !dashstream.Equal(initial, want) {
		t.Fatalf("initial_state_json = %s, want the whole thread state %s", initText, dashstream.MarshalJSON(want))
	}
	var diff *pb.StateDiff
	for _, d := range ds[1:] {
		if diff = d.msg.GetStateDiff(); diff != nil {
			break
		}
	}
	if diff == nil || len(diff.GetFullState()) > 0 {
		t.Fatalf("next state message = %v, want a patch", diff)
	}
	p, err := dashstream.PatchFromProto(diff.GetOperations())
	if err != nil {
		t.Fatal(err)
	}
	if len(p) != 1 || p[0].Path != "/intent" {
		t.Errorf("patch = %+v, want one operation on /intent", p)
	}
	got, err := dashstream.Apply(dashstream.Clone(initial), p)
	if err != nil {
		t.Fatal(err)
	}
	if want := redactedTruth(t, truth.byNode["run-2/classify"]); !dashstream.Equal(got, want) {
		t.Errorf("initial + patch = %s, want %s", dashstream.MarshalJSON(got), dashstream.MarshalJSON(want))
	}
}

// TestSplitDelivery: run 1 cut into three calls, children first and the
// graph span last, yields one GRAPH_START, every event, and no backwards
// StateDiff from the node that arrives after its successors.
func TestSplitDelivery(t *testing.T) {
	spans, truth := dashStreamFixture()
	byID := map[string]sp{}
	for _, s := range spans {
		if s.trace == "t1" {
			byID[s.id] = s
		}
	}
	calls := [][]string{
		{"route", "tool", "lookup", "llm", "draft"}, // children and later nodes first
		{"classify", "notify"},                      // step 1 arrives after steps 2 and 3
		{"graph"},
	}
	tr := newTestTranslator(t, goldenConfig())
	var all []decoded
	var perCall [][]string
	for _, ids := range calls {
		var part []sp
		for _, id := range ids {
			part = append(part, byID[id])
		}
		ds := decodeAll(t, translateAll(t, tr, buildTraces(part...)).Records)
		perCall = append(perCall, eventTypes(ds))
		all = append(all, ds...)
	}
	want := [][]string{
		{"GRAPH_START", "NODE_START:lookup_order", "TOOL_START:lookup_order", "TOOL_END:lookup_order", "FULL_STATE",
			"NODE_END:lookup_order", "EDGE_TRAVERSAL:lookup_order", "NODE_START:draft_reply", "LLM_START:draft_reply",
			"LLM_END:draft_reply", "PATCH", "NODE_END:draft_reply"},
		{"NODE_START:classify", "NODE_END:classify", "EDGE_TRAVERSAL:draft_reply", "NODE_START:notify", "NODE_ERROR:notify", "ERROR"},
		{"GRAPH_ERROR"},
	}
	for i := range want {
		if strings.Join(perCall[i], " ") != strings.Join(want[i], " ") {
			t.Errorf("call %d:\n got  %v\n want %v", i+1, perCall[i], want[i])
		}
	}
	r := replayStream(t, all, nil)
	if got, w := r.Thread("support-thread-7").State, redactedTruth(t, truth.byNode["run-1/draft_reply"]); !dashstream.Equal(got, w) {
		t.Errorf("final state %s, want %s", dashstream.MarshalJSON(got), dashstream.MarshalJSON(w))
	}
}

// TestSecondInvocationOpenInference: on the captured LangGraph.js thread
// with two invocations, the second GRAPH_START's initial_state_json is the
// whole thread state (run 1's final messages, then the new input), not just
// the invocation's input, and the stream replays against it.
func TestSecondInvocationOpenInference(t *testing.T) {
	path := "testdata/spans/openinference.json"
	tr := newTestTranslator(t, goldenConfig())
	ds := decodeAll(t, translateAll(t, tr, loadFixture(t, path)).Records)
	var finals []any   // replayed state of weather-1 after each GRAPH_START
	var previous []any // and just before it
	var initials []any
	var last any
	replayStream(t, ds, func(i int, d decoded, r *dashstream.Replayer) {
		if d.rec.ThreadID != "weather-1" {
			return
		}
		ev := d.msg.GetEvent()
		if ev.GetEventType() != pb.EventType_EVENT_TYPE_GRAPH_START {
			last = r.Thread(d.rec.ThreadID).State
			return
		}
		previous = append(previous, last)
		v, err := dashstream.ParseJSON([]byte(ev.GetAttributes()["initial_state_json"].GetStringValue()))
		if err != nil {
			t.Fatalf("initial_state_json: %v", err)
		}
		initials = append(initials, v)
		finals = append(finals, r.Thread(d.rec.ThreadID).State)
	})
	if len(initials) != 2 {
		t.Fatalf("%d GRAPH_STARTs on weather-1, want 2", len(initials))
	}
	msgs := func(v any) []any {
		m, _ := v.(*dashstream.Object).Get("messages")
		a, _ := m.([]any)
		return a
	}
	history := msgs(previous[1]) // what run 1 left on the thread
	second := msgs(initials[1])
	if len(history) < 2 || len(second) <= len(history) {
		t.Fatalf("run 2 starts with %d messages, run 1 left %d: not the whole thread state", len(second), len(history))
	}
	for i := range history {
		if !dashstream.Equal(second[i], history[i]) {
			t.Fatalf("run 2's initial message %d differs from run 1's history", i)
		}
	}
	if !dashstream.Equal(finals[1], initials[1]) {
		t.Errorf("consumer state after GRAPH_START differs from initial_state_json")
	}
}
