package translate

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// benchEventSpans builds one call of event-only spans: a graph run of nodes
// with llm and tool children, no state.
func benchEventSpans(run string, nodes int) ptrace.Traces {
	var spans []sp
	spans = append(spans, sp{trace: run, id: "graph", name: "graph", start: 0, end: int64(nodes*100 + 10),
		attrs: map[string]any{"dashstream.span.kind": "graph", "dashstream.thread_id": "bench-" + run, "dashstream.graph.name": "bench"}})
	for i := 0; i < nodes; i++ {
		n := fmt.Sprintf("node%d", i)
		spans = append(spans,
			sp{trace: run, id: n, parent: "graph", name: n, start: int64(i*100 + 1), end: int64(i*100 + 90),
				attrs: map[string]any{"dashstream.span.kind": "node", "dashstream.node.name": n, "dashstream.step": i + 1}},
			sp{trace: run, id: n + "-llm", parent: n, name: "chat", start: int64(i*100 + 2), end: int64(i*100 + 50),
				attrs: map[string]any{"dashstream.span.kind": "llm", "dashstream.llm.model": "gpt-4o-mini",
					"dashstream.llm.input_tokens": 100, "dashstream.llm.output_tokens": 20, "dashstream.llm.finish_reason": "stop"}},
			sp{trace: run, id: n + "-tool", parent: n, name: "search", start: int64(i*100 + 51), end: int64(i*100 + 80),
				attrs: map[string]any{"dashstream.span.kind": "tool", "dashstream.tool.name": "search",
					"dashstream.tool.call_id": "call-1", "dashstream.tool.arguments": `{"q":"weather in Paris"}`,
					"dashstream.tool.result": `{"temp":21}`}},
		)
	}
	return buildTraces(spans...)
}

// newTrace gives every span of td the trace id of call c.
func newTrace(td ptrace.Traces, c int) {
	id := pcommon.TraceID{0xbe, 0x0c, byte(c >> 24), byte(c >> 16), byte(c >> 8), byte(c), 1}
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				spans.At(k).SetTraceID(id)
			}
		}
	}
}

// BenchmarkTranslateEventSpans: ns and allocs per event-only span (b.N
// counts spans, so B/op and allocs/op are per span). Each call carries one
// run of 20 nodes, each with an llm and a tool span (61 spans, ~140 records).
func BenchmarkTranslateEventSpans(b *testing.B) {
	tr := newTestTranslator(b, DefaultConfig())
	const nodes = 20
	tds := make([]ptrace.Traces, 64)
	for i := range tds {
		tds[i] = benchEventSpans(fmt.Sprintf("r%d", i), nodes)
	}
	perCall := tds[0].SpanCount()
	ctx := context.Background()
	b.ReportAllocs()
	cpu0 := cpuNanos()
	b.ResetTimer()
	n := 0
	for c := 0; n < b.N; c++ {
		// A span seen before is a duplicate (nothing to translate): each
		// call's spans get a trace id of their own, so each is a new run.
		td := tds[c%len(tds)]
		newTrace(td, c)
		res, err := tr.Translate(ctx, td)
		if err != nil {
			b.Fatal(err)
		}
		res.Release()
		n += perCall
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/span")
	b.ReportMetric(float64(cpuNanos()-cpu0)/float64(n), "cpu-ns/span")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkTranslateNodeSpan4KiBState: node spans carrying a 4 KiB state of
// which one field changes from span to span, 50 per call. Like the other
// state benchmarks (benchStates) it builds each call's spans outside the
// timer and the CPU clock: building every call first would keep hundreds
// of MiB of input alive, and the collector's work on that heap counted as
// translation.
func BenchmarkTranslateNodeSpan4KiBState(b *testing.B) {
	var fields []string
	for i := 0; len(strings.Join(fields, ",")) < 4000; i++ {
		fields = append(fields, fmt.Sprintf(`"field_%03d":"value number %03d of the benchmark state"`, i, i))
	}
	base := strings.Join(fields, ",")
	benchStates(b, 50, func(step int) string {
		return fmt.Sprintf(`{"counter":%d,%s}`, step, base)
	})
}

// cpuNanos is the CPU time (user + system) the process has used: on a
// shared machine wall time per span also counts other processes' load.
func cpuNanos() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// benchMiB is the "1 MiB" state size of the benchmarks: a full state must
// fit in one DashStream message (dashstream.MaxMessageBytes) with its header.
const benchMiB = 1<<20 - 1024

// benchMessage is one chat message of about 200 bytes.
func benchMessage(i int) string {
	return fmt.Sprintf(`{"role":"assistant","content":"message %06d: the quick brown fox jumps over the lazy dog while the agent thinks about the next tool call and writes a long answer"}`, i)
}

// benchMessages is a JSON array of chat messages of about size bytes.
func benchMessages(size int) (string, int) {
	var sb strings.Builder
	sb.WriteByte('[')
	n := 0
	for sb.Len() < size-200 || n == 0 {
		if n > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(benchMessage(n))
		n++
	}
	sb.WriteByte(']')
	return sb.String(), n
}

// benchStates measures node spans of one run whose states next returns,
// step by step: ns, CPU-ns and allocations per span. Spans are built
// outside the timer, perCall per Translate call.
func benchStates(b *testing.B, perCall int, next func(step int) string) {
	benchStatesWith(b, DefaultConfig(), perCall, next)
}

// benchStatesWith is benchStates with a translator built from cfg.
func benchStatesWith(b *testing.B, cfg Config, perCall int, next func(step int) string) {
	cfg.StateMaxBytes = 4 << 20 // room for the 1 MiB states
	cfg.MaxRecordBytes = 8 << 20
	tr := newTestTranslator(b, cfg)
	ctx := context.Background()
	step := 0
	build := func() ptrace.Traces {
		spans := make([]sp, 0, perCall)
		for i := 0; i < perCall; i++ {
			step++
			spans = append(spans, sp{trace: "bench-state", id: fmt.Sprintf("n%d", step), name: "work",
				start: int64(step * 10), end: int64(step*10 + 5),
				attrs: map[string]any{"dashstream.span.kind": "node", "dashstream.thread_id": "bench-state",
					"dashstream.run_id": "bench-state", "dashstream.node.name": "work", "dashstream.step": step, "dashstream.state": next(step)}})
		}
		return buildTraces(spans...)
	}
	// Warm the session: the measured spans are patches against a known base.
	res, err := tr.Translate(ctx, build())
	if err != nil {
		b.Fatal(err)
	}
	if res.Stats.StateDiffsFull != 1 {
		b.Fatalf("warm-up: %d full states, stats %+v", res.Stats.StateDiffsFull, res.Stats)
	}
	res.Release()
	var cpu int64
	var patches, valueBytes int64
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for n < b.N {
		b.StopTimer()
		td := build()
		b.StartTimer()
		c0 := cpuNanos()
		res, err := tr.Translate(ctx, td)
		cpu += cpuNanos() - c0
		if err != nil {
			b.Fatal(err)
		}
		patches += res.Stats.StateDiffsPatch
		for _, r := range res.Records {
			valueBytes += int64(len(r.Value))
		}
		res.Release()
		n += perCall
	}
	b.StopTimer()
	if patches == 0 {
		b.Fatal("no patches")
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/span")
	b.ReportMetric(float64(cpu)/float64(n), "cpu-ns/span")
	b.ReportMetric(float64(valueBytes)/float64(n), "value-B/span")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkTranslateNodeSpan64KiBAppend: each node span appends one chat
// message to a 64 KiB state (the list is cut back every 32 messages, so
// the state stays near 64 KiB).
func BenchmarkTranslateNodeSpan64KiBAppend(b *testing.B) {
	msgs, n := benchMessages(64 << 10)
	var extra []string
	benchStates(b, 8, func(step int) string {
		k := step % 32
		extra = extra[:0]
		for i := 0; i < k; i++ {
			extra = append(extra, benchMessage(n+i))
		}
		if k == 0 {
			return `{"messages":` + msgs + `}`
		}
		return `{"messages":` + msgs[:len(msgs)-1] + "," + strings.Join(extra, ",") + `]}`
	})
}

// BenchmarkTranslateNodeSpan1MiBOneField: a 1 MiB state of which one
// field changes from span to span. "first" names the field so that it
// sorts before the message list in the canonical text (the whole text is
// rehashed), "last" after it (only the tail is).
func BenchmarkTranslateNodeSpan1MiBOneField(b *testing.B) {
	msgs, _ := benchMessages(benchMiB)
	for _, field := range []string{"first", "last"} {
		key := "counter"
		if field == "last" {
			key = "step"
		}
		b.Run(field, func(b *testing.B) {
			benchStates(b, 4, func(step int) string {
				return `{"` + key + `":` + fmt.Sprint(step) + `,"messages":` + msgs + `}`
			})
		})
	}
}

// BenchmarkStateCostCurve: the cost of a node span against the size of
// its state (1 KiB to 1 MiB of chat messages) for a change of constant
// size: one field that sorts first in the canonical text, and one
// appended message. docs/BENCHMARKS.md plots it (make bench-plot).
func BenchmarkStateCostCurve(b *testing.B) {
	for _, kib := range []int{1, 4, 16, 64, 256, 1024} {
		msgs, n := benchMessages(min(kib<<10, benchMiB))
		b.Run(fmt.Sprintf("floor=copy+SHA-256/size=%dKiB", kib), func(b *testing.B) {
			// What no incremental scheme avoids when the change sorts
			// first: one copy of the canonical text and its SHA-256.
			src := []byte(`{"counter":1,"messages":` + msgs + `}`)
			b.ReportAllocs()
			c0 := cpuNanos()
			for i := 0; i < b.N; i++ {
				dst := append([]byte(nil), src...)
				sum := sha256.Sum256(dst)
				src[0] = sum[0] | '{'
			}
			b.ReportMetric(float64(cpuNanos()-c0)/float64(b.N), "cpu-ns/span")
		})
		b.Run(fmt.Sprintf("change=field/size=%dKiB", kib), func(b *testing.B) {
			benchStates(b, 4, func(step int) string {
				return `{"counter":` + fmt.Sprint(step) + `,"messages":` + msgs + `}`
			})
		})
		b.Run(fmt.Sprintf("change=append/size=%dKiB", kib), func(b *testing.B) {
			var extra []string
			benchStates(b, 4, func(step int) string {
				k := step % 16
				extra = extra[:0]
				for i := 0; i < k; i++ {
					extra = append(extra, benchMessage(n+i))
				}
				if k == 0 {
					return `{"messages":` + msgs + `}`
				}
				return `{"messages":` + msgs[:len(msgs)-1] + "," + strings.Join(extra, ",") + `]}`
			})
		})
	}
}
