package translate

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"strings"
	"testing"

	"github.com/dashstream/dashstreamexporter/dashstream"
	pb "github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
)

// The tree-based state path, kept as the reference the indexed path
// (StateDoc) must match byte for byte: parse the whole snapshot, redact
// the whole tree, diff tree against tree, canonicalise and hash the tree.

// parseState parses one snapshot with the JSON model's limits and returns
// a bad-input reason when it is not usable.
func parseState(raw string, maxBytes int) (any, string) {
	if len(raw) > maxBytes {
		return nil, "state_too_large"
	}
	v, err := dashstream.ParseJSONString(raw, dashstream.ParseOptions{MaxDepth: maxStateDepth, MaxBytes: maxBytes})
	switch {
	case errors.Is(err, dashstream.ErrJSONTooDeep):
		return nil, "state_too_deep"
	case errors.Is(err, dashstream.ErrJSONTooLarge):
		return nil, "state_too_large"
	case err != nil:
		return nil, "state_not_json"
	}
	if _, ok := v.(*dashstream.Object); !ok {
		return nil, "state_not_object"
	}
	return v, ""
}

// stateJSONLen is the length of v's compact JSON text without building it.
func stateJSONLen(v any) int {
	return dashstream.Patch{{Op: dashstream.OpReplace, Value: v}}.JSONLen() -
		(dashstream.Patch{{Op: dashstream.OpReplace}}.JSONLen() - len("null"))
}

// refStream is the reference emitter's state handling for one thread and
// run: what StateDiffs and Checkpoints the tree path sends.
type refStream struct {
	cfg        Config
	red        *redactor
	state      any
	hasBase    bool
	stateSent  bool
	resync     bool
	sinceCP    int
	redactions int64
	out        []*pb.DashStreamMessage
}

func (r *refStream) snapshot(raw string) {
	v, reason := parseState(raw, r.cfg.StateMaxBytes)
	if reason == "" {
		_, n := r.red.redactJSON(v)
		r.redactions += int64(n)
	}
	textLen := 0
	if reason == "" {
		textLen = stateJSONLen(v)
		if textLen > r.cfg.StateMaxBytes {
			reason = "state_too_large"
		}
	}
	if reason != "" {
		if reason == "state_too_large" {
			r.state, r.hasBase, r.resync = nil, false, true
		}
		return
	}
	full := !r.hasBase || r.resync
	var ops []*pb.DiffOperation
	switch {
	case full:
	case !r.stateSent:
		if dashstream.Equal(r.state, v) {
			return
		}
		full = true
	default:
		p := dashstream.Diff(r.state, v)
		if len(p) == 0 {
			return
		}
		if dashstream.UseFullState(p.JSONLen(), textLen) {
			full = true
		} else {
			ops = p.ToProto()
		}
	}
	hash := dashstream.StateHash(v)
	msg := &pb.StateDiff{Operations: ops, StateHash: hash[:]}
	if full {
		msg.Operations = nil
		msg.FullState = dashstream.MarshalJSON(v)
	}
	r.out = append(r.out, &pb.DashStreamMessage{Message: &pb.DashStreamMessage_StateDiff{StateDiff: msg}})
	r.state, r.hasBase = v, true
	r.resync, r.stateSent = false, true
	r.sinceCP++
	if r.cfg.CheckpointInterval > 0 && r.sinceCP >= r.cfg.CheckpointInterval {
		r.sinceCP = 0
		r.out = append(r.out, &pb.DashStreamMessage{Message: &pb.DashStreamMessage_Checkpoint{
			Checkpoint: &pb.Checkpoint{State: dashstream.MarshalJSON(v)}}})
	}
}

// chatGen writes agent-like states: a growing message list, counters
// spelled in several ways, secrets, nested edits, reordered keys and
// varying whitespace.
type chatGen struct {
	r        *rand.Rand
	messages []string
	fields   []string
	turn     int
}

func (g *chatGen) next() string {
	g.turn++
	switch g.r.Intn(8) {
	case 0, 1, 2:
		role := []string{"user", "assistant", "tool"}[g.r.Intn(3)]
		content := fmt.Sprintf("turn %d: %s", g.turn, strings.Repeat("words é😀 ", g.r.Intn(20)))
		if g.r.Intn(5) == 0 {
			content += " key sk-abcdefghijklmnopqrstuvwx1234"
		}
		if g.r.Intn(6) == 0 {
			content += ` \ud800 \"quoted\" \u0041`
		}
		g.messages = append(g.messages, fmt.Sprintf(`{"role":"%s","content":"%s","id":%d}`, role, content, g.turn))
	case 3:
		if len(g.messages) > 0 {
			i := g.r.Intn(len(g.messages))
			g.messages = append(g.messages[:i], g.messages[i+1:]...)
		}
	case 4:
		if len(g.messages) > 1 {
			i, j := g.r.Intn(len(g.messages)), g.r.Intn(len(g.messages))
			g.messages[i], g.messages[j] = g.messages[j], g.messages[i]
		}
	case 5:
		g.r.Shuffle(len(g.fields), func(i, j int) { g.fields[i], g.fields[j] = g.fields[j], g.fields[i] })
	}
	sep, colon := ",", ":"
	if g.r.Intn(3) == 0 {
		sep, colon = ", ", ": "
	}
	counter := []string{fmt.Sprint(g.turn / 2), fmt.Sprintf("%d.0", g.turn/2), fmt.Sprintf("%de0", g.turn/2)}[g.r.Intn(3)]
	vals := map[string]string{
		"messages": "[" + strings.Join(g.messages, sep) + "]",
		"counter":  counter,
		"api_key":  []string{`"sk-live-abcdefghijklmnopqrstuv"`, `null`, `{"nested":"secret"}`, `"[REDACTED]"`}[g.r.Intn(4)],
		"config":   fmt.Sprintf(`{"model":"gpt-4o","temperature":%s,"limits":{"max_tokens":%d,"auth":{"access_token":"t%d"}}}`, []string{"0.5", "5e-1", "0.50"}[g.r.Intn(3)], 100+g.r.Intn(3), g.r.Intn(2)),
		"big":      []string{"12345678901234567890", "9007199254740993", "1e400", "-0"}[g.r.Intn(4)],
		"step":     []string{`"plan"`, `"act"`, `true`, `[1,2]`, `{"x":1}`}[g.r.Intn(5)],
	}
	parts := make([]string, 0, len(g.fields))
	for _, f := range g.fields {
		parts = append(parts, `"`+f+`"`+colon+vals[f])
	}
	return "{" + strings.Join(parts, sep) + "}"
}

// TestStateRecordsMatchTreePath runs random state sequences through the
// translator and checks every StateDiff (operations, hash, full state) and
// Checkpoint byte for byte against the tree path.
func TestStateRecordsMatchTreePath(t *testing.T) {
	for seed := int64(1); seed <= 40; seed++ {
		cfg := DefaultConfig()
		cfg.CheckpointInterval = 4
		if seed%4 == 0 {
			cfg.StateMaxBytes = 3000 // some states are too large: resync
		}
		if seed%5 == 0 {
			cfg.Redaction.Enabled = false
		}
		tr := newTestTranslator(t, cfg)
		ref := &refStream{cfg: cfg, red: tr.red, state: dashstream.NewObject(0), hasBase: true}
		g := &chatGen{r: rand.New(rand.NewSource(seed)), fields: []string{"messages", "counter", "api_key", "config", "big", "step"}}
		thread := fmt.Sprintf("prop-%d", seed)
		var got []*pb.DashStreamMessage
		var gotRed int64
		for step := 1; step <= 60; step++ {
			raw := g.next()
			if g.r.Intn(25) == 0 {
				raw = raw[:len(raw)/2]
			}
			ref.snapshot(raw)
			res := translateAll(t, tr, buildTraces(sp{trace: thread, id: fmt.Sprintf("n%d", step), name: "work",
				start: int64(step * 10), end: int64(step*10 + 5),
				attrs: map[string]any{"dashstream.span.kind": "node", "dashstream.thread_id": thread, "dashstream.run_id": thread,
					"dashstream.node.name": "work", "dashstream.step": step, "dashstream.state": raw}}))
			gotRed += res.Stats.Redactions
			for _, d := range decodeAll(t, res.Records) {
				switch d.msg.GetMessage().(type) {
				case *pb.DashStreamMessage_StateDiff, *pb.DashStreamMessage_Checkpoint:
					got = append(got, d.msg)
				}
			}
			res.Release()
		}
		if len(got) != len(ref.out) {
			t.Fatalf("seed %d: %d state records, tree path %d", seed, len(got), len(ref.out))
		}
		patches, fulls, cps := 0, 0, 0
		for i := range got {
			compareStateRecord(t, seed, i, got[i], ref.out[i])
			switch {
			case got[i].GetCheckpoint() != nil:
				cps++
			case got[i].GetStateDiff().GetFullState() != nil:
				fulls++
			default:
				patches++
			}
		}
		if patches < 10 || fulls < 1 || cps < 5 {
			t.Fatalf("seed %d: only %d patches, %d full states, %d checkpoints: the sequence tests too little", seed, patches, fulls, cps)
		}
		if gotRed != ref.redactions {
			t.Errorf("seed %d: %d redactions counted, tree path %d", seed, gotRed, ref.redactions)
		}
	}
}

func compareStateRecord(t *testing.T, seed int64, i int, got, want *pb.DashStreamMessage) {
	t.Helper()
	if w := want.GetCheckpoint(); w != nil {
		if !bytes.Equal(got.GetCheckpoint().GetState(), w.GetState()) {
			t.Fatalf("seed %d record %d: checkpoint\n got %s\nwant %s", seed, i, got.GetCheckpoint().GetState(), w.GetState())
		}
		return
	}
	g, w := got.GetStateDiff(), want.GetStateDiff()
	if g == nil {
		t.Fatalf("seed %d record %d: got %T, want a StateDiff", seed, i, got.GetMessage())
	}
	if !bytes.Equal(g.GetStateHash(), w.GetStateHash()) || !bytes.Equal(g.GetFullState(), w.GetFullState()) {
		t.Fatalf("seed %d record %d: hash or full state differ\n got %s\nwant %s", seed, i, g.GetFullState(), w.GetFullState())
	}
	if len(g.GetOperations()) != len(w.GetOperations()) {
		t.Fatalf("seed %d record %d: %d operations, want %d", seed, i, len(g.GetOperations()), len(w.GetOperations()))
	}
	for j, op := range g.GetOperations() {
		wo := w.GetOperations()[j]
		if op.GetOp() != wo.GetOp() || op.GetPath() != wo.GetPath() || !bytes.Equal(op.GetValue(), wo.GetValue()) || op.GetEncoding() != wo.GetEncoding() {
			t.Fatalf("seed %d record %d op %d: %v %s %s, want %v %s %s", seed, i, j, op.GetOp(), op.GetPath(), op.GetValue(), wo.GetOp(), wo.GetPath(), wo.GetValue())
		}
	}
}
