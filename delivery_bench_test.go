package dashstreamexporter

import (
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// BenchmarkDelivery measures records/s and bytes/s (record values) that the
// exporter alone delivers to an in-process kfake broker, from ConsumeTraces
// to Kafka acknowledgement. Each op is one ConsumeTraces call of 16 node
// spans (16 threads, one new step each); the calls are built before the
// timer starts, so only the exporter's work is measured. callers=2 runs two
// goroutines on disjoint threads, as a receiver serving two connections does.
func BenchmarkDelivery(b *testing.B) {
	for _, variant := range []struct {
		name      string
		callers   int
		consumers int
		batch     bool
		linger    time.Duration
	}{
		{"defaults", 1, 1, true, 0},
		{"defaults,callers=2", 2, 1, true, 0},
		// Several requests in flight at once (per-thread order not kept):
		// shows what a single in-flight request costs.
		{"num_consumers=4,callers=2", 2, 4, true, 0},
		{"batch=off", 1, 1, false, 0},
		{"batch=off,linger=10ms", 1, 1, false, 10 * time.Millisecond}, // the defaults before they changed
	} {
		b.Run(variant.name, func(b *testing.B) {
			cluster := newClusterB(b)
			cfg := testConfig(cluster.ListenAddrs())
			cfg.QueueBatchConfig.Get().QueueSize = 100_000
			cfg.QueueBatchConfig.Get().BlockOnOverflow = true
			cfg.QueueBatchConfig.Get().NumConsumers = variant.consumers
			cfg.Producer.Linger = variant.linger
			if !variant.batch {
				cfg.QueueBatchConfig.Get().Batch = configoptional.None[exporterhelper.BatchConfig]()
			}
			exp, tel := startExporterB(b, cfg)
			calls := make([][]ptrace.Traces, variant.callers)
			for c := range calls {
				threads := threadNames(fmt.Sprintf("bench%d", c), 16)
				calls[c] = make([]ptrace.Traces, b.N/variant.callers+1)
				for i := range calls[c] {
					// Steps keep increasing so every call yields new diffs.
					calls[c][i] = stepTraces(threads, i+1)
				}
			}
			cpu0 := processCPU()
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for c := range calls {
				wg.Go(func() {
					for i := c; i < b.N; i += variant.callers {
						if err := exp.ConsumeTraces(b.Context(), calls[c][i/variant.callers]); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			want := exp.enqueued.Load()
			var produced, bytes int64
			deadline := time.Now().Add(2 * time.Minute)
			for {
				produced, bytes = 0, 0
				if m, err := tel.GetMetric("otelcol_dashstream_records_produced"); err == nil {
					for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
						produced += dp.Value
					}
				}
				if produced >= want {
					break
				}
				if time.Now().After(deadline) {
					b.Fatalf("only %d of %d records delivered", produced, want)
				}
				time.Sleep(2 * time.Millisecond)
			}
			elapsed := time.Since(start)
			cpu := processCPU() - cpu0
			if m, err := tel.GetMetric("otelcol_dashstream_bytes_produced"); err == nil {
				for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
					bytes += dp.Value
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(produced)/elapsed.Seconds(), "records/s")
			b.ReportMetric(float64(bytes)/elapsed.Seconds()/1e6, "MB/s")
			b.ReportMetric(float64(produced)/float64(b.N), "records/op")
			// CPU of the whole process (kfake included) per record.
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(produced), "cpu-ns/record")
		})
	}
}

// processCPU is the CPU time (user + system) the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
