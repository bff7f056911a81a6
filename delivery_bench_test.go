package dashstreamexporter

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
	"github.com/dashstream/dashstreamexporter/dashstream/translate"

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

// BenchmarkProduceHeaders measures the producer alone (kafkaProducer.send to
// an in-process kfake broker over TCP, real sarama) with the record headers
// the exporter writes, added one by one: what each header costs per record
// in CPU, allocation and bytes on the wire. One op is one request of
// defaultBatchMinRecords records, four per span (a span's records share
// their header slice, as translate builds them), 64 threads, 200-byte
// values. ns/record and B/record are the whole process's (kfake included);
// compare variants against "none".
func BenchmarkProduceHeaders(b *testing.B) {
	const (
		records        = defaultBatchMinRecords
		recordsPerSpan = 4
		threads        = 64
		valueBytes     = 200
	)
	instance := []byte("0123456789abcdef0123456789abcdef") // newInstanceID's form
	static := []translate.Header{{Key: "env", Value: []byte("production")}, {Key: "source", Value: []byte("otelcol")}}
	for _, v := range []struct {
		name                    string
		traceparent, tracestate bool
		instance                bool
		static                  bool
	}{
		{name: "none"},
		{name: "traceparent", traceparent: true},
		{name: "traceparent+tracestate", traceparent: true, tracestate: true},
		{name: "traceparent+instance", traceparent: true, instance: true},
		{name: "traceparent+instance+2static", traceparent: true, instance: true, static: true},
		{name: "all", traceparent: true, tracestate: true, instance: true, static: true},
	} {
		b.Run(v.name, func(b *testing.B) {
			recs := make([]*translate.Record, records)
			var hs []translate.Header
			for i := range recs {
				if i%recordsPerSpan == 0 {
					hs = nil
					if v.traceparent {
						tp := fmt.Sprintf("00-%032x-%016x-01", i, i)
						hs = append(hs, translate.Header{Key: "traceparent", Value: []byte(tp)})
					}
					if v.tracestate {
						hs = append(hs, translate.Header{Key: "tracestate", Value: []byte("vendor=00f067aa0ba902b7")})
					}
					if v.instance {
						hs = append(hs, translate.Header{Key: instanceHeader, Value: instance})
					}
					if v.static {
						hs = append(hs, static...)
					}
					slices.SortStableFunc(hs[min(len(hs), 1):], func(a, b translate.Header) int { return strings.Compare(a.Key, b.Key) })
					hs = hs[:len(hs):len(hs)]
				}
				thread := fmt.Sprintf("thread-%02d", (i/recordsPerSpan)%threads)
				recs[i] = &translate.Record{
					Topic: testTopic, Key: []byte(thread), Value: make([]byte, valueBytes),
					Headers: hs, ThreadID: thread, Sequence: uint64(i), Type: dashstreampb.MessageType_MESSAGE_TYPE_STATE_DIFF,
				}
			}
			cluster := newClusterB(b)
			cfg := testConfig(cluster.ListenAddrs())
			sc, err := newSaramaConfig(b.Context(), cfg)
			if err != nil {
				b.Fatal(err)
			}
			p := newKafkaProducer(cfg.ClientConfig.Brokers, sc, minReadBack, zap.NewNop())
			b.Cleanup(func() { _ = p.close() })
			send := func() {
				for _, err := range p.send(recs) {
					if err != nil {
						b.Fatal(err)
					}
				}
			}
			send() // connect, read the tails back
			cpu0 := processCPU()
			b.ResetTimer()
			for b.Loop() {
				send()
			}
			b.StopTimer()
			n := float64(b.N * records)
			b.ReportMetric(float64((processCPU()-cpu0).Nanoseconds())/n, "cpu-ns/record")
			b.ReportMetric(float64(recordWireBytes(recs[0])), "wire-B/record")
		})
	}
}

// recordWireBytes is r's size inside a v2 record batch, as Kafka stores it
// (record length varint included; timestamp and offset deltas of one byte).
func recordWireBytes(r *translate.Record) int {
	n := 1 + 1 + 1 // attributes, timestamp delta, offset delta
	n += varintLen(len(r.Key)) + len(r.Key) + varintLen(len(r.Value)) + len(r.Value)
	n += varintLen(len(r.Headers))
	for _, h := range r.Headers {
		n += varintLen(len(h.Key)) + len(h.Key) + varintLen(len(h.Value)) + len(h.Value)
	}
	return varintLen(n) + n
}

func varintLen(n int) int { return len(binary.AppendVarint(nil, int64(n))) }
