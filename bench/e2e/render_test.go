package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dashstream/dashstreamexporter/bench/internal/workload"
)

func TestComputeBaseline(t *testing.T) {
	w := workload.DefaultConfig()
	w.Threads, w.Nodes = 2, 5
	b, err := computeBaseline(w)
	require.NoError(t, err)
	assert.Greater(t, b.StateJSONPerStep, float64(w.StateBytes))
	assert.Less(t, b.RecordPerStep, b.StateJSONPerStep, "zstd framing shrinks the prose-like state")
	assert.Greater(t, b.RecordPerStep, float64(traceparentLen))

	w.Kind = workload.KindPlain
	b, err = computeBaseline(w)
	require.NoError(t, err)
	assert.Zero(t, b.RecordPerStep, "plain traffic has no state")
}

// fakeResults has both collectors in the saturation and latency scenarios.
func fakeResults() *results {
	w := workload.DefaultConfig()
	sat := scenario{Name: scGraphSaturation, Title: "Sat", Workload: w, Concurrency: 4, Duration: 20 * time.Second}
	lat := scenario{Name: scGraphLatency, Title: "Lat", Workload: w, Rate: 2000, Concurrency: 2, Duration: 20 * time.Second}
	mk := func(col string, spans, cpu float64, bytes int64, byKind map[string]*kindStat, p99 float64) measurement {
		return measurement{
			Collector: col, ActiveSeconds: 10, CollectorCPUSeconds: cpu, PeakRSSKiB: 102400,
			Load:  workload.LoadResult{SpansOK: int64(spans), NodeSpansOK: int64(spans * 20 / 21), Rate: 2000},
			Kafka: recordStats{Records: 1000, Bytes: bytes, ByKind: byKind}, LatencyP50Ms: p99 / 3, LatencyP99Ms: p99, LatencySamples: 500,
		}
	}
	oursKinds := map[string]*kindStat{kindEvent: {Records: 900, Bytes: 100_000}, kindStatePatch: {Records: 100, Bytes: 50_000}}
	return &results{
		Finished:   time.Date(2026, 11, 27, 16, 0, 0, 0, time.UTC),
		Machine:    machineInfo{NProc: 2, CPUModel: "Test CPU", MemGiB: "23.0", Kernel: "6.1", Go: "go1.26.8"},
		Command:    "go run ./bench/e2e",
		Scenarios:  []scenario{sat, lat},
		Collectors: []collectorSpec{{Name: ours, Label: "ours (dashstream)"}, {Name: reference, Label: "reference (kafka, otlp_proto)"}},
		Runs: map[string]map[string]measurement{
			scGraphSaturation: {ours: mk(ours, 210_000, 12, 150_000, oursKinds, 0), reference: mk(reference, 420_000, 10, 900_000, nil, 0)},
			scGraphLatency:    {ours: mk(ours, 21_000, 3, 150_000, oursKinds, 120), reference: mk(reference, 21_000, 1, 900_000, nil, 20)},
		},
		Baselines: map[string]fullStateBaseline{scGraphLatency: {StateJSONPerStep: 4000, RecordPerStep: 2000}},
		Failures:  []string{"plain-saturation on ours: boom"},
		Warmup:    2 * time.Second,
	}
}

func TestRenderSection(t *testing.T) {
	r := fakeResults()
	o := r.Runs[scGraphSaturation][ours]
	o.ProfileShares = map[string]float64{"state document build (scan, redaction, canonical text, hash)": 10.43}
	r.Runs[scGraphSaturation][ours] = o
	s := renderSection(r)
	assert.Contains(t, s, "| state document build (scan, redaction, canonical text, hash) | 10.4% | — |")
	assert.NotContains(t, s, "| zstd compression |", "spots absent from every profile are left out")
	// Saturation: ours 210k spans over 10 s at 12 CPU-s vs 420k at 10 CPU-s.
	assert.Contains(t, s, "| sustained spans/s (accepted ÷ time until Kafka had all) | 21,000 | 42,000 | 0.50× |")
	assert.Contains(t, s, "| collector CPU-seconds per million spans | 57.14 | 23.81 | 2.40× |")
	assert.Contains(t, s, "| collector peak RSS (MiB, VmHWM) | 100.0 | 100.0 | 1.00× |")
	assert.Contains(t, s, "| latency p99 (ms) | 120.0 | 20.0 | 6.00× |")
	assert.Equal(t, 1, strings.Count(s, "| latency p99 (ms)"), "latency rows only for the fixed-rate scenario")
	// 20,000 node steps; 50,000 state bytes → 2.5 per step vs 2000.
	assert.Contains(t, s, "| append (20) | 4,000 | 2,000 | 2 | 0 | 8 | 45 | 99.9% fewer | 83.3% fewer |")
	assert.Contains(t, s, "within 1.5× of the reference: **not met**")
	assert.Contains(t, s, "under 250 ms with default batching: **met** — p99 120.0 ms")
	assert.Contains(t, s, "append pattern: **met** — 99.9% fewer")
	assert.Contains(t, s, "- plain-saturation on ours: boom")
	assert.Contains(t, s, "Test CPU")
	assert.Contains(t, s, "first 2s of a run")
	assert.NotContains(t, s, "NaN")
}

func TestRenderSectionMissingRun(t *testing.T) {
	r := fakeResults()
	delete(r.Runs[scGraphSaturation], reference)
	delete(r.Runs, scGraphLatency)
	s := renderSection(r)
	assert.Contains(t, s, "| 21,000 | failed | — |")
	assert.Contains(t, s, "p99 latency: not measured in this run.")
}
