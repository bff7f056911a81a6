package workload_test

import (
	"context"
	"runtime"
	"strconv"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/dashstream/dashstreamexporter/bench/internal/workload"
	"github.com/dashstream/dashstreamexporter/dashstream/translate"
)

// BenchmarkTranslatorMemoryGC is what the translator's long-lived memory
// (sessions, span and trace memories) costs the garbage collector and the
// heap: a translator that has translated the saturation workload's first
// spans spans, then full collections with it live. spans=42000 is what the
// fixed-rate run at 2,000 spans/s sends (2,000 threads), spans=300000 fills
// the span memory (2^18 spans) and the session table (10,000 threads), as
// in a collector that has run for a while. b.N counts collections;
// gc-ns/op is the wall time of one (run it with -cpu 1: one mark worker,
// so that is its CPU time), heap-MiB the live heap after it, and
// fill-cpu-ns/span the CPU time per span of the translations (GC
// included). pooled-heap-MiB is the live heap after the first collection
// after the fill, when the sync.Pools still hold what they held (a pool
// lets go of its contents at the second collection; heap-MiB is without
// them): run with GOGC=400 to let them fill between collections as in a
// collector whose heap is mostly other components'.
func BenchmarkTranslatorMemoryGC(b *testing.B) {
	for _, n := range []int{42_000, 300_000} {
		b.Run("spans="+strconv.Itoa(n), func(b *testing.B) { benchmarkMemoryGC(b, n) })
	}
}

func benchmarkMemoryGC(b *testing.B, fill int) {
	tpl, tr := newTranslation(b, workload.DefaultConfig(), translate.DefaultConfig())
	ctx := context.Background()
	var buf []byte
	var cpu time.Duration
	spans := 0
	for gen := uint64(1); spans < fill; gen++ {
		now := uint64(time.Now().UnixNano())
		for i := range tpl.Requests {
			buf = tpl.Requests[i].Render(buf, gen, now, now, uint64(time.Millisecond))
			req := ptraceotlp.NewExportRequest()
			if err := req.UnmarshalProto(buf); err != nil {
				b.Fatal(err)
			}
			c0 := cpuTime()
			res, err := tr.Translate(ctx, req.Traces())
			if err != nil {
				b.Fatal(err)
			}
			res.Release()
			cpu += cpuTime() - c0
			spans += tpl.Requests[i].Spans
		}
	}
	runtime.GC()
	var pooled runtime.MemStats
	runtime.ReadMemStats(&pooled)
	b.ResetTimer()
	for range b.N {
		runtime.GC()
	}
	b.StopTimer()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "gc-ns/op")
	b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "heap-MiB")
	b.ReportMetric(float64(pooled.HeapAlloc)/(1<<20), "pooled-heap-MiB")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(spans), "fill-cpu-ns/span")
	b.ReportMetric(0, "ns/op")
	runtime.KeepAlive(tr)
}
