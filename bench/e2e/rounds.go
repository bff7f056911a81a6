package main

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// A round is one measurement of each collector in one scenario, back to
// back. The machine this runs on changes speed by tens of percent within
// minutes, so a single pair says as much about the minute as about the
// collectors; -rounds N measures N pairs, alternating which collector goes
// first (ours, reference; reference, ours; ...), and the ratios that count
// are the medians of the per-round ratios.
type round struct {
	Order []string               `json:"order"` // collectors in the order they ran
	Runs  map[string]measurement `json:"runs"`  // collector → measurement
}

// roundOrder is the order of the collectors in round i (0-based): as given
// in even rounds, reversed in odd ones, so that neither side always runs
// first (on a warming or cooling machine the first of a pair is favoured).
func roundOrder(collectors []collectorSpec, i int) []collectorSpec {
	out := slices.Clone(collectors)
	if i%2 == 1 {
		slices.Reverse(out)
	}
	return out
}

// pairRatio is one figure of ours over the reference's in one round.
type pairRatio func(o, ref measurement) float64

var (
	cpuRatio  pairRatio = func(o, ref measurement) float64 { return o.CPUPerMillionSpans() / ref.CPUPerMillionSpans() }
	rateRatio pairRatio = func(o, ref measurement) float64 { return o.SpansPerSecond() / ref.SpansPerSecond() }
	rssRatio  pairRatio = func(o, ref measurement) float64 { return float64(o.PeakRSSKiB) / float64(ref.PeakRSSKiB) }
)

// pairs returns the rounds of scenario sc in which both collectors were
// measured.
func (r *results) pairs(sc string) []round {
	var out []round
	for _, rd := range r.Rounds[sc] {
		_, okO := rd.Runs[ours]
		_, okR := rd.Runs[reference]
		if okO && okR {
			out = append(out, rd)
		}
	}
	return out
}

// medianRatio returns the median of f over the complete rounds of sc, with
// the smallest and largest; ok is false without a complete round.
func (r *results) medianRatio(sc string, f pairRatio) (med, lo, hi float64, n int, ok bool) {
	var vals []float64
	for _, rd := range r.pairs(sc) {
		vals = append(vals, f(rd.Runs[ours], rd.Runs[reference]))
	}
	if len(vals) == 0 {
		return 0, 0, 0, 0, false
	}
	slices.Sort(vals)
	return median(vals), vals[0], vals[len(vals)-1], len(vals), true
}

// median of sorted values (the mean of the middle two for an even count).
func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// representative returns the complete round of sc whose CPU ratio is the
// median one (the lower middle for an even count): the scenario's table
// shows both collectors from that one round, so its figures stay a pair
// measured minutes apart. ok is false without a complete round.
func (r *results) representative(sc string) (round, bool) {
	ps := r.pairs(sc)
	if len(ps) == 0 {
		return round{}, false
	}
	// pairs returns a fresh slice: sorting it leaves Rounds as measured.
	slices.SortStableFunc(ps, func(a, b round) int {
		return cmp.Compare(cpuRatio(a.Runs[ours], a.Runs[reference]), cpuRatio(b.Runs[ours], b.Runs[reference]))
	})
	return ps[(len(ps)-1)/2], true
}

// settleRuns fills Runs (what the scenario tables and aims read) from the
// rounds: the representative round where both collectors have one, else
// each collector's last measurement.
func (r *results) settleRuns() {
	for sc, rounds := range r.Rounds {
		runs := map[string]measurement{}
		for _, rd := range rounds {
			for col, m := range rd.Runs {
				runs[col] = m
			}
		}
		if rep, ok := r.representative(sc); ok {
			runs[ours], runs[reference] = rep.Runs[ours], rep.Runs[reference]
		}
		// Profiles are taken in the first round only: the table shows them
		// with whichever round it shows.
		for col, m := range runs {
			for _, rd := range rounds {
				if pm, ok := rd.Runs[col]; ok && m.ProfileTop == "" && pm.ProfileTop != "" {
					m.ProfileTop, m.ProfileShares = pm.ProfileTop, pm.ProfileShares
					runs[col] = m
				}
			}
		}
		if len(runs) > 0 {
			r.Runs[sc] = runs
		}
	}
}

// renderRounds writes the per-round pairs of a scenario measured in more
// than one round, and the medians of their ratios.
func renderRounds(b *bytes.Buffer, t tableWriter, r *results, sc scenario) {
	ps := r.pairs(sc.Name)
	if len(r.Rounds[sc.Name]) < 2 || len(ps) == 0 {
		return
	}
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("Paired rounds (%d; the table above is the round with the median CPU ratio, the ratios below are\n", len(ps))
	p("per round, the last row their median and range; profiles, when taken, are of the first round):\n\n")
	t.header("right", "round (order)", "load average", "ours CPU-s/M spans", "reference CPU-s/M spans",
		"CPU ours / ref", "spans/s ours / ref", "peak RSS ours / ref")
	for i, rd := range ps {
		o, ref := rd.Runs[ours], rd.Runs[reference]
		t.row(fmt.Sprintf("%d (%s)", i+1, strings.Join(rd.Order, " → ")),
			roundLoad(rd),
			num(o.CPUPerMillionSpans(), 2), num(ref.CPUPerMillionSpans(), 2),
			ratio(o.CPUPerMillionSpans(), ref.CPUPerMillionSpans()),
			ratio(o.SpansPerSecond(), ref.SpansPerSecond()),
			ratio(float64(o.PeakRSSKiB), float64(ref.PeakRSSKiB)))
	}
	cells := []string{"median [range]", "—", "—", "—"}
	for _, f := range []pairRatio{cpuRatio, rateRatio, rssRatio} {
		med, lo, hi, _, _ := r.medianRatio(sc.Name, f)
		cells = append(cells, fmt.Sprintf("**%s** [%s–%s]", times(med), times(lo), times(hi)))
	}
	t.row(cells...)
	p("\n")
}

// roundLoad is the 1-minute load average before the round's first
// measurement → after its last.
func roundLoad(rd round) string {
	first, last := rd.Runs[rd.Order[0]], rd.Runs[rd.Order[len(rd.Order)-1]]
	return num(first.LoadAvgBefore, 1) + " → " + num(last.LoadAvgAfter, 1)
}

// times formats a ratio like ratio does, for a ratio already divided.
func times(q float64) string { return ratio(q, 1) }
