package workload_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/dashstream/dashstreamexporter/bench/internal/workload"
	"github.com/dashstream/dashstreamexporter/dashstream/translate"
)

// BenchmarkTranslateSaturation runs the requests of make bench-e2e's graph
// saturation scenario (the workload's defaults: 50 threads, 20 nodes, a
// 1 KiB context and one 256-byte message appended per node) through a
// translator at its defaults: the collector's translation and encoding
// work per span without OTLP decoding, Kafka or the load generator. b.N
// counts spans. Each generation's requests are rendered and decoded
// outside the timer and the CPU clock.
func BenchmarkTranslateSaturation(b *testing.B) {
	benchmarkTranslate(b, workload.DefaultConfig())
}

// BenchmarkTranslateLongMessages is BenchmarkTranslateSaturation with
// 2 KiB messages and 10 nodes (states grow to about 23 KiB): what a chat
// agent's longer answers cost, each message too large to be kept as one
// piece of the state index.
func BenchmarkTranslateLongMessages(b *testing.B) {
	c := workload.DefaultConfig()
	c.MessageBytes, c.Nodes = 2048, 10
	benchmarkTranslate(b, c)
}

// benchmarkTranslate translates generations of the workload c renders,
// b.N spans in all.
func benchmarkTranslate(b *testing.B, c workload.Config) {
	tpl, tr := newTranslation(b, c, translate.DefaultConfig())
	ctx := context.Background()
	var buf []byte
	var cpu time.Duration
	records, spans := 0, 0
	b.ReportAllocs()
	b.ResetTimer()
	for gen := uint64(1); spans < b.N; gen++ {
		now := uint64(time.Now().UnixNano())
		for i := range tpl.Requests {
			b.StopTimer()
			buf = tpl.Requests[i].Render(buf, gen, now, now, uint64(time.Millisecond))
			req := ptraceotlp.NewExportRequest()
			if err := req.UnmarshalProto(buf); err != nil {
				b.Fatal(err)
			}
			td := req.Traces()
			c0 := cpuTime()
			b.StartTimer()
			res, err := tr.Translate(ctx, td)
			if err != nil {
				b.Fatal(err)
			}
			records += len(res.Records)
			res.Release()
			b.StopTimer()
			cpu += cpuTime() - c0
			b.StartTimer()
			spans += tpl.Requests[i].Spans
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(spans), "ns/span")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(spans), "cpu-ns/span")
	b.ReportMetric(float64(records)/float64(spans), "records/span")
	b.ReportMetric(0, "ns/op")
}

// cpuTime is the process's user plus system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// newTranslation builds the workload c renders and a translator with cfg:
// how every translation benchmark and test of this package starts.
func newTranslation(tb testing.TB, c workload.Config, cfg translate.Config) (*workload.Template, *translate.Translator) {
	tb.Helper()
	tpl, err := workload.Build(c)
	if err != nil {
		tb.Fatal(err)
	}
	tr, err := translate.New(cfg, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return tpl, tr
}
