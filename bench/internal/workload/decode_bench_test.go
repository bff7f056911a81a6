package workload_test

import (
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/dashstream/dashstreamexporter/bench/internal/workload"
)

// BenchmarkDecodeSaturation is the receive path before the exporter: the
// OTLP/protobuf decoding the collector's receiver does for the requests of
// the graph saturation scenario (pdata's ExportRequest.UnmarshalProto),
// per span. It is the same work for every exporter behind the receiver,
// contrib's Kafka exporter included; BenchmarkTranslateSaturation starts
// where it ends. b.N counts spans.
func BenchmarkDecodeSaturation(b *testing.B) {
	tpl, err := workload.Build(workload.DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	now := uint64(time.Now().UnixNano())
	bufs := make([][]byte, len(tpl.Requests))
	bytes, spansPerGen := 0, 0
	for i := range tpl.Requests {
		bufs[i] = tpl.Requests[i].Render(nil, 1, now, now, uint64(time.Millisecond))
		bytes += len(bufs[i])
		spansPerGen += tpl.Requests[i].Spans
	}
	spans := 0
	b.ReportAllocs()
	b.ResetTimer()
	for spans < b.N {
		for i, buf := range bufs {
			req := ptraceotlp.NewExportRequest()
			if err := req.UnmarshalProto(buf); err != nil {
				b.Fatal(err)
			}
			spans += tpl.Requests[i].Spans
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(spans), "ns/span")
	b.ReportMetric(float64(bytes)/float64(spansPerGen), "otlp-bytes/span")
	b.ReportMetric(0, "ns/op")
}
