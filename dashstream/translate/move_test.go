package translate

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/dashstream/dashstreamexporter/dashstream"
)

// TestThreadMovesToAnotherInstance (SPEC §8): run 1 of a thread goes through
// one translator (with checkpoints), run 2 through a fresh one, as when a
// routing tier moves the thread to another collector. The new instance's
// first state message is a full state without a base checkpoint, and the
// joined stream replays cleanly to the true state (a sequence gap is a note).
func TestThreadMovesToAnotherInstance(t *testing.T) {
	const thread = "moving-thread"
	// States big enough that a one-field change is a patch, not a full state.
	st := func(n int, extra string) string {
		return fmt.Sprintf(`{"n":%d,"notes":"%s"%s}`, n, strings.Repeat("context ", 20), extra)
	}
	run := func(runID, trace string, first int, initial string, states []string) []sp {
		spans := []sp{}
		for i, st := range states {
			spans = append(spans, sp{trace: trace, id: fmt.Sprint("n", i), parent: "g", name: fmt.Sprint("node", i),
				start: int64(10 * (i + 1)), end: int64(10*(i+1) + 5),
				attrs: map[string]any{"dashstream.span.kind": "node", "dashstream.thread_id": thread,
					"dashstream.run_id": runID, "dashstream.node.name": fmt.Sprint("node", i),
					"dashstream.step": first + i, "dashstream.state": st}})
		}
		return append(spans, sp{trace: trace, id: "g", name: "graph", start: 0, end: 100,
			attrs: map[string]any{"dashstream.span.kind": "graph", "dashstream.thread_id": thread,
				"dashstream.run_id": runID, "dashstream.graph.name": "g", "dashstream.state.initial": initial}})
	}
	cfg := DefaultConfig()
	cfg.CheckpointInterval = 2
	instanceA := newTestTranslator(t, cfg)
	// The new instance starts later: its clock-seeded sequences continue above.
	later := &fixedClock{now: time.Date(2026, 11, 27, 12, 0, 1, 0, time.UTC)}
	instanceB, err := newTranslator(cfg, zap.NewNop(), later.Now)
	if err != nil {
		t.Fatal(err)
	}

	resA := translateAll(t, instanceA, buildTraces(run("r1", "t1", 1, st(0, ""),
		[]string{st(1, ""), st(2, ""), st(3, ""), st(4, "")})...))
	resB := translateAll(t, instanceB, buildTraces(run("r2", "t2", 5, st(4, `,"turn":2`),
		[]string{st(5, `,"turn":2`), st(6, `,"turn":2`)})...))
	if resA.Stats.Checkpoints != 2 {
		t.Fatalf("instance A made %d checkpoints, want 2", resA.Stats.Checkpoints)
	}

	firstB := true
	r := dashstream.NewReplayer()
	for _, d := range decodeAll(t, append(append([]Record{}, resA.Records...), resB.Records...)) {
		if sd := d.msg.GetStateDiff(); sd != nil && firstB && d.rec.Sequence > resA.Records[len(resA.Records)-1].Sequence {
			firstB = false
			if len(sd.GetFullState()) == 0 || len(sd.GetBaseCheckpointId()) != 0 {
				t.Errorf("first state message on the new instance: full=%v base=%x, want a full state without base",
					len(sd.GetFullState()) > 0, sd.GetBaseCheckpointId())
			}
		}
		_ = r.Apply(d.msg)
	}
	for _, p := range r.Problems() {
		if p.Kind != dashstream.ProblemGap {
			t.Errorf("replay problem: %v", p)
		}
	}
	want, _ := dashstream.ParseJSON([]byte(st(6, `,"turn":2`)))
	if got := r.Thread(thread).State; !dashstream.Equal(got, want) {
		t.Errorf("final state %s, want %s", dashstream.MarshalJSON(got), dashstream.MarshalJSON(want))
	}
}
