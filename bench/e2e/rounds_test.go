package main

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRoundOrderAlternates(t *testing.T) {
	cols := []collectorSpec{{Name: ours}, {Name: reference}}
	names := func(cs []collectorSpec) string {
		var n []string
		for _, c := range cs {
			n = append(n, c.Name)
		}
		return strings.Join(n, ",")
	}
	for i, want := range []string{"ours,reference", "reference,ours", "ours,reference", "reference,ours"} {
		assert.Equal(t, want, names(roundOrder(cols, i)), "round %d", i)
	}
	assert.Equal(t, "ours,reference", names(cols), "the collectors' own order is left alone")
}

// pairRound is a complete round in which ours took oursCPU and the
// reference refCPU CPU-seconds for 1M spans over 10 s.
func pairRound(oursCPU, refCPU float64, oursRSS, refRSS int64, order ...string) round {
	mk := func(col string, cpu float64, rss int64, load float64) measurement {
		m := measurement{Collector: col, ActiveSeconds: 10, CollectorCPUSeconds: cpu, PeakRSSKiB: rss,
			LoadAvgBefore: load, LoadAvgAfter: load + 1}
		m.Load.SpansOK = 1_000_000
		return m
	}
	if len(order) == 0 {
		order = []string{ours, reference}
	}
	return round{Order: order, Runs: map[string]measurement{
		ours: mk(ours, oursCPU, oursRSS, 1), reference: mk(reference, refCPU, refRSS, 2)}}
}

func TestMedianRatioAndRepresentative(t *testing.T) {
	tests := []struct {
		name     string
		rounds   []round
		wantMed  float64
		wantLo   float64
		wantHi   float64
		wantRepO float64 // ours' CPU in the representative round
	}{
		{"one round", []round{pairRound(40, 20, 100, 100)}, 2, 2, 2, 40},
		{"three rounds: the middle ratio", []round{pairRound(45, 30, 100, 100), pairRound(40, 20, 100, 100), pairRound(48, 20, 100, 100)}, 2, 1.5, 2.4, 40},
		{"four rounds: mean of the middle two, lower middle shown", []round{
			pairRound(30, 20, 1, 1), pairRound(40, 20, 1, 1), pairRound(50, 20, 1, 1), pairRound(60, 20, 1, 1)}, 2.25, 1.5, 3, 40},
		{"an incomplete round is left out", []round{
			pairRound(40, 20, 1, 1), {Order: []string{ours}, Runs: map[string]measurement{ours: {CollectorCPUSeconds: 99}}}}, 2, 2, 2, 40},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &results{Rounds: map[string][]round{scGraphSaturation: tt.rounds}, Runs: map[string]map[string]measurement{}}
			med, lo, hi, _, ok := r.medianRatio(scGraphSaturation, cpuRatio)
			require.True(t, ok)
			assert.InDelta(t, tt.wantMed, med, 1e-9)
			assert.InDelta(t, tt.wantLo, lo, 1e-9)
			assert.InDelta(t, tt.wantHi, hi, 1e-9)
			rep, ok := r.representative(scGraphSaturation)
			require.True(t, ok)
			assert.InDelta(t, tt.wantRepO, rep.Runs[ours].CollectorCPUSeconds, 1e-9)

			r.settleRuns()
			o, okO := r.get(scGraphSaturation, ours)
			ref, okR := r.get(scGraphSaturation, reference)
			require.True(t, okO && okR)
			assert.Equal(t, rep.Runs[ours], o, "the table shows one round's pair")
			assert.Equal(t, rep.Runs[reference], ref)
		})
	}

	r := &results{Rounds: map[string][]round{scGraphSaturation: {{Order: []string{ours}, Runs: map[string]measurement{ours: {CollectorCPUSeconds: 7}}}}},
		Runs: map[string]map[string]measurement{}}
	_, _, _, _, ok := r.medianRatio(scGraphSaturation, cpuRatio)
	assert.False(t, ok, "no complete round, no ratio")
	r.settleRuns()
	o, ok := r.get(scGraphSaturation, ours)
	require.True(t, ok, "a collector measured alone still has its table column")
	assert.InDelta(t, 7, o.CollectorCPUSeconds, 1e-9)
}

func TestSettleRunsKeepsFirstRoundProfile(t *testing.T) {
	first := pairRound(60, 20, 1, 1)
	o := first.Runs[ours]
	o.ProfileTop, o.ProfileShares = "logs/p.txt", map[string]float64{"zstd": 9}
	first.Runs[ours] = o
	r := &results{Rounds: map[string][]round{scGraphSaturation: {first, pairRound(40, 20, 1, 1), pairRound(30, 20, 1, 1)}},
		Runs: map[string]map[string]measurement{}}
	r.settleRuns()
	got, _ := r.get(scGraphSaturation, ours)
	assert.InDelta(t, 40, got.CollectorCPUSeconds, 1e-9, "the median round")
	assert.Equal(t, "logs/p.txt", got.ProfileTop)
	assert.Equal(t, map[string]float64{"zstd": 9}, got.ProfileShares)
}

func TestRenderRounds(t *testing.T) {
	r := fakeResults()
	r.Rounds = map[string][]round{scGraphSaturation: {
		pairRound(45, 30, 300*1024, 600*1024),
		pairRound(40, 20, 320*1024, 640*1024, reference, ours),
		pairRound(48, 20, 330*1024, 600*1024),
	}}
	r.settleRuns()
	s := renderSection(r)
	assert.Contains(t, s, "Paired rounds (3;")
	assert.Contains(t, s, "| 1 (ours → reference) | 1.0 → 3.0 | 45.00 | 30.00 | 1.50× | 1.00× | 0.50× |")
	assert.Contains(t, s, "| 2 (reference → ours) | 2.0 → 2.0 | 40.00 | 20.00 | 2.00× |")
	assert.Contains(t, s, "| median [range] | — | — | — | **2.00×** [1.50×–2.40×] | **1.00×** [1.00×–1.00×] | **0.50×** [0.50×–0.55×] |")
	assert.Contains(t, s, "| collector CPU-seconds per million spans | 40.00 | 20.00 | 2.00× |", "the table is the median round's")
	assert.Contains(t, s, "at saturation, 2.00× (the median of 3 paired rounds, range 1.50×–2.40×")
	assert.Equal(t, 1, strings.Count(s, "Paired rounds ("), "only the scenario measured in rounds")

	var b bytes.Buffer
	r.Rounds = map[string][]round{scGraphSaturation: {pairRound(45, 30, 1, 1)}}
	renderRounds(&b, tableWriter{&b}, r, r.Scenarios[0])
	assert.Empty(t, b.String(), "a single round needs no rounds table")
}

func TestParseFlagsRounds(t *testing.T) {
	o, err := parseFlags(nil, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, 1, o.rounds)
	o, err = parseFlags([]string{"-rounds", "3"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, 3, o.rounds)
	for _, bad := range []string{"0", "21", "-1"} {
		_, err = parseFlags([]string{"-rounds", bad}, io.Discard)
		assert.ErrorContains(t, err, "-rounds must be 1..20", bad)
	}
}
