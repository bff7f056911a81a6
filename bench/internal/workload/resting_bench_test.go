package workload_test

import (
	"testing"

	"github.com/klauspost/compress/s2"

	"github.com/dashstream/dashstreamexporter/bench/internal/workload"
	"github.com/dashstream/dashstreamexporter/dashstream"
)

// BenchmarkRestingStateS2 is what resting a finished run's state costs and
// buys (translate's restState): s2 of the saturation workload's final
// state, with the bytes it keeps against the state document it replaces.
func BenchmarkRestingStateS2(b *testing.B) {
	_, after, err := workload.DefaultConfig().States(0)
	if err != nil {
		b.Fatal(err)
	}
	final := after[len(after)-1]
	doc, err := dashstream.BuildStateDoc(string(final), nil, nil, 0)
	if err != nil {
		b.Fatal(err)
	}
	dst := make([]byte, s2.MaxEncodedLen(len(final)))
	b.SetBytes(int64(len(final)))
	var out []byte
	for b.Loop() {
		out = s2.Encode(dst, final)
	}
	b.ReportMetric(float64(len(out)), "resting-bytes")
	b.ReportMetric(float64(doc.MemSize()), "doc-bytes")
}
