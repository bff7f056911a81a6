package translate

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/dashstream/dashstreamexporter/dashstream"
	pb "github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
)

// persistState is the state of a thread after step n: large enough that a
// one-note change goes out as a patch, with a secret that must never be
// saved in clear.
func persistState(thread string, n int) string {
	notes := make([]string, 0, n)
	for i := 1; i <= n; i++ {
		notes = append(notes, fmt.Sprintf("%q", fmt.Sprintf("note %d of %s", i, thread)))
	}
	return fmt.Sprintf(`{"api_key":"sk-abcdefghijklmnopqrstuvwx","context":%q,"notes":[%s],"step":%d}`,
		strings.Repeat("context ", 100), strings.Join(notes, ","), n)
}

// stepsOf translates steps from..to of threads, one call per step, and
// returns the decoded records.
func stepsOf(t *testing.T, tr *Translator, threads []string, from, to int) []decoded {
	t.Helper()
	var out []decoded
	for n := from; n <= to; n++ {
		var spans []sp
		for _, th := range threads {
			spans = append(spans, nodeSpan(th, "trace-"+th, n, persistState(th, n)))
		}
		out = append(out, decodeAll(t, translateAll(t, tr, buildTraces(spans...)).Records)...)
	}
	return out
}

// replayContiguous replays ds and fails on any problem, gaps included
// (what `dashstream verify --strict` checks).
func replayContiguous(t *testing.T, ds []decoded) *dashstream.Replayer {
	t.Helper()
	r := dashstream.NewReplayer()
	for _, d := range ds {
		if err := r.Apply(d.msg); err != nil {
			t.Fatal(err)
		}
	}
	if p := r.Problems(); len(p) != 0 {
		t.Fatalf("replay problems (gaps count): %v", p)
	}
	return r
}

// diffsOf returns, per thread, the kinds of its StateDiffs in ds.
func diffsOf(ds []decoded) map[string][]string {
	out := map[string][]string{}
	for _, d := range ds {
		if k := kindOf(d.msg); k == "PATCH" || k == "FULL_STATE" {
			th := dashstream.HeaderOf(d.msg).GetThreadId()
			out[th] = append(out[th], k)
		}
	}
	return out
}

// TestSeededSequencesContinue: a translator told the highest sequence of
// each thread (what Kafka and the persistent queue hold after kill -9)
// continues every thread at +1; without saved sessions the first state
// message is a full state. The whole stream replays without a gap.
func TestSeededSequencesContinue(t *testing.T) {
	threads := []string{"a", "b", "c"}
	first := newTestTranslator(t, DefaultConfig())
	before := stepsOf(t, first, threads, 1, 3)
	high := map[string]uint64{}
	for _, d := range before {
		h := dashstream.HeaderOf(d.msg)
		high[h.GetThreadId()] = max(high[h.GetThreadId()], h.GetSequence())
	}

	// RaiseSequences touches live sessions only: nothing is kept for later.
	raised := newTestTranslator(t, DefaultConfig())
	raised.RaiseSequences(high)
	if ds := stepsOf(t, raised, threads[:1], 4, 4); dashstream.HeaderOf(ds[0].msg).GetSequence() == high[threads[0]]+1 {
		t.Fatal("RaiseSequences seeded a thread without a session")
	}

	next := newTestTranslator(t, DefaultConfig())
	if got := next.SeedSequences(high); got != 0 {
		t.Fatalf("SeedSequences resynced %d sessions of a fresh translator", got)
	}
	after := stepsOf(t, next, threads, 4, 5)
	for _, th := range threads {
		if got := diffsOf(after)[th]; len(got) == 0 || got[0] != "FULL_STATE" {
			t.Fatalf("thread %s after the restart: %v, want a full state first", th, got)
		}
	}
	r := replayContiguous(t, append(before, after...))
	for _, th := range threads {
		if ts := r.Thread(th); ts.Gaps != 0 || ts.Sequence != high[th]+uint64(countThread(after, th)) {
			t.Fatalf("thread %s: last sequence %d, gaps %d", th, ts.Sequence, ts.Gaps)
		}
	}

	// A seed is used once: the thread's session, evicted and recreated,
	// starts at the clock again (never below what it issued).
	next.sessions.mu.Lock()
	_, kept := next.sessions.seeds["a"]
	next.sessions.mu.Unlock()
	if kept {
		t.Fatal("the seed of a stays after its session started")
	}
}

func countThread(ds []decoded, thread string) int {
	n := 0
	for _, d := range ds {
		if dashstream.HeaderOf(d.msg).GetThreadId() == thread {
			n++
		}
	}
	return n
}

// TestSavedSessionsContinueWithPatches: sessions saved at a graceful
// shutdown, encoded and decoded, continue in the next translator: the same
// sequence + 1, a patch against the state consumers hold (not a full
// state), the base checkpoint and the checkpoint schedule kept; the state
// is saved redacted.
func TestSavedSessionsContinueWithPatches(t *testing.T) {
	cfg := DefaultConfig()
	cfg.CheckpointInterval = 3
	threads := []string{"a", "b"}
	first := newTestTranslator(t, cfg)
	before := stepsOf(t, first, threads, 1, 4) // a checkpoint after step 3, one diff since
	enc, n := first.ExportSessions(0)
	if n != len(threads) {
		t.Fatalf("exported %d sessions, want %d", n, len(threads))
	}
	if bytes.Contains(enc, []byte("sk-abcdefghijklmnopqrstuvwx")) {
		t.Fatal("a secret was saved in clear")
	}
	next := newTestTranslator(t, cfg)
	if got, err := next.ImportSessions(enc); err != nil || got.Restored != len(threads) || got.Skipped != 0 {
		t.Fatalf("imported %+v (%v)", got, err)
	}
	// What Kafka holds is what the first translator issued: no resync.
	high := map[string]uint64{}
	for _, d := range before {
		h := dashstream.HeaderOf(d.msg)
		high[h.GetThreadId()] = max(high[h.GetThreadId()], h.GetSequence())
	}
	if got := next.SeedSequences(high); got != 0 {
		t.Fatalf("%d imported sessions resynced although nobody else wrote their threads", got)
	}
	after := stepsOf(t, next, threads, 5, 7) // step 6 fills the checkpoint slot
	if kinds := eventTypes(after); kinds[0] == "GRAPH_START" {
		t.Fatalf("the run in progress started again after the restart: %v", kinds)
	}
	for _, th := range threads {
		if got := diffsOf(after)[th]; len(got) != 3 || got[0] != "PATCH" || got[1] != "PATCH" {
			t.Fatalf("thread %s after the restart: %v, want patches", th, got)
		}
	}
	if got := countType(recordsOf(after), pb.MessageType_MESSAGE_TYPE_CHECKPOINT); got != len(threads) {
		t.Fatalf("%d checkpoints after the restart, want one per thread (schedule kept)", got)
	}
	replayContiguous(t, append(before, after...))
	var firstPatch *decoded
	for i := range after {
		if kindOf(after[i].msg) == "PATCH" {
			firstPatch = &after[i]
			break
		}
	}
	if firstPatch == nil || len(firstPatch.msg.GetStateDiff().GetBaseCheckpointId()) != 16 {
		t.Fatal("the first patch after the restart names no base checkpoint")
	}
}

func recordsOf(ds []decoded) []Record {
	out := make([]Record, len(ds))
	for i, d := range ds {
		out[i] = d.rec
	}
	return out
}

// TestSeedBeyondSavedSessionResyncs: Kafka holds a sequence of a thread at
// or above what its saved session would issue next (another instance wrote
// the thread meanwhile): the session moves past it and its next state
// message is a full state without a base checkpoint.
func TestSeedBeyondSavedSessionResyncs(t *testing.T) {
	cfg := DefaultConfig()
	cfg.CheckpointInterval = 1
	first := newTestTranslator(t, cfg)
	stepsOf(t, first, []string{"moved"}, 1, 2)
	saved := first.exportSessions()
	enc, _ := first.ExportSessions(0)
	next := newTestTranslator(t, cfg)
	if _, err := next.ImportSessions(enc); err != nil {
		t.Fatal(err)
	}
	other := saved[0].NextSequence + 40 // the other instance's last record
	if got := next.SeedSequences(map[string]uint64{"moved": other}); got != 1 {
		t.Fatalf("SeedSequences resynced %d sessions, want 1", got)
	}
	after := stepsOf(t, next, []string{"moved"}, 3, 3)
	if seq := dashstream.HeaderOf(after[0].msg).GetSequence(); seq != other+1 {
		t.Fatalf("first sequence %d, want %d", seq, other+1)
	}
	d := firstDiffMsg(after)
	if d == nil || len(d.GetFullState()) == 0 || len(d.GetBaseCheckpointId()) != 0 {
		t.Fatalf("after another instance wrote the thread: %v, want a full state without base checkpoint", eventTypes(after))
	}
}

// TestSavedSessionsBadInput: corrupt or hostile saved sessions are errors
// or skipped sessions, never a panic; a state that fails to rebuild is
// treated as unknown (full state).
func TestSavedSessionsBadInput(t *testing.T) {
	good, _ := marshalSessions([]savedSession{{ThreadID: "t", NextSequence: 9, State: []byte(`{"a":1}`), StateSent: true}}, 0)
	for name, tc := range map[string]struct {
		data    []byte
		corrupt bool
		skipped int
	}{
		"empty":           {nil, true, 0},
		"unknown version": {append([]byte{9}, good[1:]...), true, 0},
		"truncated":       {good[:len(good)-3], true, 0},
		"no thread":       {enc1(savedSession{NextSequence: 3}), false, 1},
		"sequence 0":      {enc1(savedSession{ThreadID: "t"}), false, 1},
		"state not JSON":  {enc1(savedSession{ThreadID: "t", NextSequence: 3, State: []byte("nope")}), false, 1},
		"huge thread id":  {enc1(savedSession{ThreadID: strings.Repeat("x", maxSavedThreadID+1), NextSequence: 3}), false, 1},
		"unknown fields":  {append(bytes.Clone(good), 0x10, 0x01), false, 0},
	} {
		got, skipped, err := unmarshalSessions(tc.data, 1<<20)
		if (err != nil) != tc.corrupt || skipped != tc.skipped {
			t.Errorf("%s: err %v, skipped %d (sessions %d)", name, err, skipped, len(got))
		}
	}

	// A state that passes the cheap check but does not parse.
	first := newTestTranslator(t, DefaultConfig())
	stepsOf(t, first, []string{"t"}, 1, 1)
	saved := first.exportSessions()
	saved[0].State = []byte(`{"a":}`)
	tr := newTestTranslator(t, DefaultConfig())
	if got, err := tr.ImportSessions(enc1(saved[0])); err != nil || got.Restored != 1 {
		t.Fatal(got, err)
	}
	ds := stepsOf(t, tr, []string{"t"}, 2, 2)
	if seq := dashstream.HeaderOf(ds[0].msg).GetSequence(); seq != saved[0].NextSequence {
		t.Fatalf("first sequence %d, want the saved %d", seq, saved[0].NextSequence)
	}
	if d := firstDiffMsg(ds); d == nil || len(d.GetFullState()) == 0 {
		t.Fatalf("a saved state that does not build: %v, want a full state", eventTypes(ds))
	}
	// Data that does not decode restores nothing.
	if got, err := tr.ImportSessions([]byte{1, 0x0a, 0xff}); !errors.Is(err, ErrCorruptSessions) || got.Restored != 0 {
		t.Fatalf("corrupt data: %+v, %v", got, err)
	}
}

func enc1(s savedSession) []byte {
	b, _ := marshalSessions([]savedSession{s}, 0)
	return b
}

// TestMarshalSessionsBounded: the encoding stops before maxBytes, keeping
// the first (most recently used) sessions.
func TestMarshalSessionsBounded(t *testing.T) {
	var ss []savedSession
	for i := range 100 {
		ss = append(ss, savedSession{ThreadID: fmt.Sprintf("t%d", i), NextSequence: uint64(i + 1), State: []byte(`{"x":"` + strings.Repeat("y", 100) + `"}`)})
	}
	b, n := marshalSessions(ss, 2000)
	if len(b) > 2000 || n == 0 || n >= len(ss) {
		t.Fatalf("%d bytes, %d sessions", len(b), n)
	}
	back, _, err := unmarshalSessions(b, 1<<20)
	if err != nil || len(back) != n || back[0].ThreadID != "t0" {
		t.Fatalf("decoded %d sessions (%v)", len(back), err)
	}
}

// FuzzUnmarshalSessions: arbitrary bytes never panic, and what decodes
// encodes and decodes to the same sessions.
func FuzzUnmarshalSessions(f *testing.F) {
	good, _ := marshalSessions([]savedSession{
		{ThreadID: "t", NextSequence: 9, State: []byte(`{"a":1}`), StateSent: true, LastCheckpoint: bytes.Repeat([]byte{1}, 16), DiffsSinceCheckpoint: 4},
		{ThreadID: "u", NextSequence: 1, Resync: true, Runs: []savedRun{{ID: "r", Started: true,
			Last: stepCursor{nodes: []string{"a", "b"}, step: -3, have: true}, MaxStatePos: 7}}},
	}, 0)
	f.Add(good)
	f.Add([]byte{1})
	f.Add([]byte{1, 0x0a, 0x02, 0x08, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		ss, _, err := unmarshalSessions(data, 1<<20)
		if err != nil {
			return
		}
		again, n := marshalSessions(ss, 0)
		if n != len(ss) {
			t.Fatalf("encoded %d of %d", n, len(ss))
		}
		back, skipped, err := unmarshalSessions(again, 1<<20)
		if err != nil || skipped != 0 || len(back) != len(ss) {
			t.Fatalf("round trip: %v, %d skipped, %d of %d", err, skipped, len(back), len(ss))
		}
		for i := range ss {
			a, b := ss[i], back[i]
			if a.ThreadID != b.ThreadID || a.NextSequence != b.NextSequence || !bytes.Equal(a.State, b.State) ||
				(a.State == nil) != (b.State == nil) || a.StateSent != b.StateSent || a.Resync != b.Resync ||
				!bytes.Equal(a.LastCheckpoint, b.LastCheckpoint) || a.DiffsSinceCheckpoint != b.DiffsSinceCheckpoint ||
				fmt.Sprint(a.Runs) != fmt.Sprint(b.Runs) {
				t.Fatalf("session %d: %+v became %+v", i, a, b)
			}
		}
	})
}
