package translate

import (
	"bytes"
	"context"
	"testing"

	"github.com/dashstream/dashstreamexporter/dashstream"
	pb "github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
)

// TestCallArenaLending: the arena lends its map and values to one builder
// at a time; a builder started meanwhile owns its memory, and release
// hands the arena's memory to the next builder only.
func TestCallArenaLending(t *testing.T) {
	ar := newCallArena(10)
	var st Stats
	red, err := newRedactor(DefaultConfig().Redaction)
	if err != nil {
		t.Fatal(err)
	}
	base := attrBuilder{maxBytes: 100, red: red, stats: &st}

	first := ar.builder(base, 2)
	if first.ar != ar {
		t.Fatal("first builder should use the arena")
	}
	first.strRaw("a", "1")
	second := ar.builder(base, 2)
	if second.ar != nil {
		t.Fatal("second builder while the first is alive must not use the arena")
	}
	second.strRaw("b", "2")
	if len(first.m) != 1 || len(second.m) != 1 || first.m["a"].GetStringValue() != "1" || second.m["b"].GetStringValue() != "2" {
		t.Fatalf("builders share memory: first %v second %v", first.m, second.m)
	}
	ar.release(&second)
	if !ar.lent || len(first.m) != 1 {
		t.Fatal("releasing the second builder must leave the first's memory alone")
	}
	ar.release(&first)
	if ar.lent || len(ar.m) != 0 || first.m != nil {
		t.Fatalf("release: lent %v, arena map %v, builder map %v", ar.lent, ar.m, first.m)
	}
	third := ar.builder(base, 2)
	if third.ar != ar {
		t.Fatal("after release the next builder should use the arena")
	}
	for i := range poolSize + 3 { // spills to the heap past the pool
		third.int(string(rune('a'+i)), int64(i))
	}
	for i := range poolSize + 3 {
		if got := third.m[string(rune('a'+i))].GetIntValue(); got != int64(i) {
			t.Fatalf("value %d = %d", i, got)
		}
	}
}

// TestRecordsOfOneSpanShareCappedHeaders: records from the same source span
// (even with other spans' records between them) share one capped header
// slice, so appending to one record's headers never changes another's.
func TestRecordsOfOneSpanShareCappedHeaders(t *testing.T) {
	tr := newTestTranslator(t, DefaultConfig())
	res, err := tr.Translate(context.Background(), benchEventSpans("hdr", 2))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Release()
	bySpan := map[string][]Record{}
	for _, r := range res.Records {
		if len(r.Headers) == 0 || r.Headers[0].Key != "traceparent" || len(r.Headers[0].Value) != 55 {
			t.Fatalf("record %d headers %v", r.Sequence, r.Headers)
		}
		tp := string(r.Headers[0].Value)
		bySpan[tp] = append(bySpan[tp], r)
	}
	shared := 0
	for tp, recs := range bySpan {
		for _, r := range recs[1:] {
			if &r.Headers[0] == &recs[0].Headers[0] {
				shared++
			}
			if cap(r.Headers) != len(r.Headers) || cap(r.Headers[0].Value) != len(r.Headers[0].Value) {
				t.Fatalf("span %s: headers not capped", tp)
			}
		}
		before := bytes.Clone(recs[0].Headers[0].Value)
		grown := append(recs[0].Headers[0].Value, 'x')
		grown[0] = '!'
		if !bytes.Equal(recs[0].Headers[0].Value, before) {
			t.Fatalf("appending to a traceparent changed the record's")
		}
	}
	if shared == 0 {
		t.Fatal("no two records of one span share headers")
	}
	// Every Event decodes with the attributes it was built with, even though
	// the structs behind them were reused from record to record.
	dec, err := dashstream.NewDecoder(dashstream.DecoderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Records {
		msg, err := dec.Decode(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		ev := msg.GetEvent()
		if ev == nil {
			continue
		}
		switch ev.EventType {
		case pb.EventType_EVENT_TYPE_LLM_END:
			if ev.Attributes["model"].GetStringValue() != "gpt-4o-mini" || ev.Attributes["total_tokens"].GetIntValue() != 120 || len(ev.Attributes) != 6 {
				t.Fatalf("LLM_END attributes %v", ev.Attributes)
			}
		case pb.EventType_EVENT_TYPE_TOOL_START:
			// follows an LLM_END: its request id and duration must not leak
			if ev.Attributes["tool_name"].GetStringValue() != "search" || len(ev.Attributes) != 3 || ev.LlmRequestId != "" || ev.DurationUs != 0 {
				t.Fatalf("TOOL_START %v", ev)
			}
		case pb.EventType_EVENT_TYPE_NODE_START:
			if len(ev.Attributes) != 1 || ev.Attributes["step"] == nil || ev.DurationUs != 0 {
				t.Fatalf("NODE_START %v", ev)
			}
		}
		h := ev.Header
		// The compression flag must follow the record's own frame, never a
		// previous record's (GRAPH_START, carrying the observed schema, is
		// large enough to be compressed; the small events are not).
		wantCompression := pb.CompressionType_COMPRESSION_NONE
		if r.Value[0] == 1 {
			wantCompression = pb.CompressionType_COMPRESSION_ZSTD
		}
		if h.ParentId != nil || h.Compression != wantCompression || h.SchemaVersion != 1 || len(h.MessageId) != 16 {
			t.Fatalf("header %v", h)
		}
	}
}
