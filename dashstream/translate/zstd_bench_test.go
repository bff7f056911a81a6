package translate

import (
	"fmt"
	"strings"
	"testing"

	"github.com/dashstream/dashstreamexporter/dashstream"
)

// BenchmarkTranslateStateZstd runs the state benchmarks' spans (a 4 KiB
// state with one field changing, and a 64 KiB chat state growing by one
// message) at each frame compression level: their checkpoints, every 20
// diffs, and first full states are the compressed records.
// docs/BENCHMARKS.md ("Frame compression") compares the levels.
func BenchmarkTranslateStateZstd(b *testing.B) {
	var fields []string
	for i := 0; len(strings.Join(fields, ",")) < 4000; i++ {
		fields = append(fields, fmt.Sprintf(`"field_%03d":"value number %03d of the benchmark state"`, i, i))
	}
	base := strings.Join(fields, ",")
	msgs, n := benchMessages(64 << 10)
	var extra []string
	states := []struct {
		name    string
		perCall int
		next    func(step int) string
	}{
		{"4KiBOneField", 50, func(step int) string { return fmt.Sprintf(`{"counter":%d,%s}`, step, base) }},
		{"64KiBAppend", 8, func(step int) string {
			k := step % 32
			extra = extra[:0]
			for i := 0; i < k; i++ {
				extra = append(extra, benchMessage(n+i))
			}
			if k == 0 {
				return `{"messages":` + msgs + `}`
			}
			return `{"messages":` + msgs[:len(msgs)-1] + "," + strings.Join(extra, ",") + `]}`
		}},
	}
	for _, st := range states {
		for _, level := range []dashstream.ZstdLevel{dashstream.ZstdFastest, dashstream.ZstdDefault, dashstream.ZstdBetter} {
			b.Run(fmt.Sprintf("state=%s/level=%s", st.name, level), func(b *testing.B) {
				cfg := DefaultConfig()
				cfg.CompressionLevel = level
				benchStatesWith(b, cfg, st.perCall, st.next)
			})
		}
	}
}
