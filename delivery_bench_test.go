package dashstreamexporter

import (
	"testing"
	"time"

	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// BenchmarkDelivery measures records/s and bytes/s (record values) that the
// exporter alone delivers to an in-process kfake broker, from ConsumeTraces
// to Kafka acknowledgement, with sending_queue batching off and on.
func BenchmarkDelivery(b *testing.B) {
	for _, variant := range []string{"defaults", "batch=off", "batch=off,linger=10ms"} {
		b.Run(variant, func(b *testing.B) {
			cluster := newClusterB(b)
			cfg := testConfig(cluster.ListenAddrs())
			cfg.QueueBatchConfig.Get().QueueSize = 100_000
			cfg.QueueBatchConfig.Get().BlockOnOverflow = true
			switch variant {
			case "batch=off,linger=10ms": // the defaults before they changed
				cfg.Producer.Linger = 10 * time.Millisecond
				fallthrough
			case "batch=off":
				cfg.QueueBatchConfig.Get().Batch = configoptional.None[exporterhelper.BatchConfig]()
			}
			exp, tel := startExporterB(b, cfg)
			threads := threadNames("bench", 16)
			b.ResetTimer()
			start := time.Now()
			for i := 0; b.Loop(); i++ {
				// Steps keep increasing so every call yields new diffs.
				td := stepTraces(threads, i+1)
				if err := exp.ConsumeTraces(b.Context(), td); err != nil {
					b.Fatal(err)
				}
			}
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
			if m, err := tel.GetMetric("otelcol_dashstream_bytes_produced"); err == nil {
				for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
					bytes += dp.Value
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(produced)/elapsed.Seconds(), "records/s")
			b.ReportMetric(float64(bytes)/elapsed.Seconds()/1e6, "MB/s")
			b.ReportMetric(float64(produced)/float64(b.N), "records/op")
		})
	}
}
