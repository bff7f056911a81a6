package translate

import (
	"context"
	"testing"

	"github.com/dashstream/dashstreamexporter/dashstream"
)

// FuzzTranslate feeds arbitrary attribute values (states, names, ids, tool
// payloads, steps, times) through classification and translation: it must
// never panic, every record must decode, and every stream must replay.
func FuzzTranslate(f *testing.F) {
	f.Add(`{"a":1}`, `{"a":2,"b":[1,2]}`, "node", "thread", `{"q":"x","api_key":"k"}`, int64(1), int64(5), int64(1))
	f.Add(`{"a": tru`, `[1]`, "wo\xffrk", "", "Bearer abcdefghijklmnop", int64(-3), int64(0), int64(-7))
	f.Add(`{"x":NaN}`, `{"d":[[[[[[[[]]]]]]]]}`, "__start__", "t\x00h", "", int64(1<<40), int64(1), int64(0))
	f.Add(`{"n":123456789012345678901234567890}`, `{"n":1e400}`, "", "sk-abcdefghijklmnopqrstuvwx", `{"\u0074oken":"v"}`, int64(2), int64(2), int64(3))
	f.Fuzz(func(t *testing.T, before, after, nodeName, thread, toolArgs string, step, dur, step2 int64) {
		cfg := DefaultConfig()
		cfg.CheckpointInterval = 1
		cfg.AttributeMaxBytes = 64
		tr, err := New(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		attrs := func(kind string, extra map[string]any) map[string]any {
			m := map[string]any{"dashstream.span.kind": kind, "dashstream.thread_id": thread, "dashstream.node.name": nodeName}
			for k, v := range extra {
				m[k] = v
			}
			return m
		}
		spans := []sp{
			{trace: "f", id: "g", name: "g", start: 0, end: dur, attrs: attrs("graph", map[string]any{"dashstream.state.initial": before, "dashstream.state": after, "dashstream.graph.schema": toolArgs})},
			{trace: "f", id: "n1", parent: "g", name: nodeName, start: 1, end: dur, attrs: attrs("node", map[string]any{"dashstream.step": step, "dashstream.state": after})},
			{trace: "f", id: "n2", parent: "g", name: "n2", start: 2, end: 1 + dur, attrs: attrs("node", map[string]any{"dashstream.step": step2, "dashstream.state": before})},
			{trace: "f", id: "tool", parent: "n1", name: "tool", start: 3, end: 4, attrs: attrs("tool", map[string]any{"dashstream.tool.arguments": toolArgs, "dashstream.tool.result": before})},
			{trace: "f", id: "llm", parent: "missing", name: "llm", start: 3, end: dur, attrs: attrs("llm", map[string]any{"dashstream.llm.model": toolArgs, "dashstream.llm.input_tokens": step})},
			{trace: "f", id: "r", parent: "n1", name: "router", start: 4, end: 4, attrs: attrs("router", map[string]any{"dashstream.router.choice": nodeName})},
		}
		dec, err := dashstream.NewDecoder(dashstream.DecoderOptions{})
		if err != nil {
			t.Fatal(err)
		}
		r := dashstream.NewReplayer()
		for pass := 0; pass < 2; pass++ {
			res, err := tr.Translate(context.Background(), buildTraces(spans...))
			if err != nil {
				t.Fatal(err)
			}
			for i, rec := range res.Records {
				msg, err := dec.Decode(rec.Value)
				if err != nil {
					t.Fatalf("record %d does not decode: %v", i, err)
				}
				if err := r.Apply(msg); err != nil {
					t.Fatalf("record %d: %v", i, err)
				}
			}
			res.Release()
		}
		for _, p := range r.Problems() {
			if !p.Kind.IsNote() {
				t.Fatalf("replay problem: %v", p)
			}
		}
	})
}
