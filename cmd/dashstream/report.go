package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/dashstream/dashstreamexporter/dashstream"
	"github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
)

// maxListed bounds the problems and notes the report lists one by one.
const maxListed = 20

// threadReport is one line of verify's table.
type threadReport struct {
	ID                             string
	Partition                      int32
	Messages, Events, Runs         int
	Diffs, FullStates, Checkpoints int
	Gaps, Duplicates, Unverified   int
	FirstSeq, LastSeq              uint64
	StateBytes                     int
	StateKnown                     bool
	Problems                       int
	Expect                         string // "", "match" or what differs
	ExpectOK                       bool
}

// report is everything verify says about a topic.
type report struct {
	Topic         string
	Partitions    int
	Records       int64
	Skipped       int64
	Threads       []threadReport
	Problems      []string // listed (at most maxListed)
	ProblemTotal  int
	Notes         []string
	NoteTotal     int
	ExpectFile    string
	ExpectMissing []string
	ExpectFailed  int
	WantThreads   int // --expect-threads; 0 = any
	Strict        bool
	// OpenRuns: runs that started and never ended, oldest first, with
	// their age at Now; with --strict, one older than MaxOpenAge fails.
	OpenRuns    []openRun
	Now         time.Time
	MaxOpenAge  time.Duration
	TimedOut    bool
	Interrupted bool
}

// ok is the verdict: no problems, every expectation met, and (with
// --strict) no notes either.
func (r *report) ok() bool {
	if r.ProblemTotal > 0 || r.ExpectFailed > 0 || r.TimedOut {
		return false
	}
	if r.Strict && (r.NoteTotal > 0 || r.staleOpenRuns() > 0) {
		return false
	}
	return r.WantThreads == 0 || len(r.Threads) == r.WantThreads
}

// age is how long ago an open run started.
func (r *report) age(o openRun) time.Duration {
	return r.Now.Sub(time.UnixMicro(o.StartUs))
}

// staleOpenRuns counts the open runs older than MaxOpenAge.
func (r *report) staleOpenRuns() int {
	n := 0
	for _, o := range r.OpenRuns {
		if r.age(o) > r.MaxOpenAge {
			n++
		}
	}
	return n
}

// buildReport gathers the verifier's and the replayer's findings and the
// comparison with the expected final states.
func buildReport(v *verifier, expect map[string]any) *report {
	r := &report{Records: v.records, Skipped: v.skipped}
	perThread := map[string]int{}
	for _, p := range v.rep.Problems() {
		line := fmt.Sprintf("thread %s seq %d: %s: %s", p.Thread, p.Sequence, p.Kind, p.Detail)
		if p.Kind.IsNote() {
			if len(r.Notes) < maxListed {
				r.Notes = append(r.Notes, line)
			}
			continue
		}
		perThread[p.Thread]++
		if len(r.Problems) < maxListed {
			r.Problems = append(r.Problems, line)
		}
	}
	for kind, n := range v.rep.ProblemCounts() {
		if kind.IsNote() {
			r.NoteTotal += n
		} else {
			r.ProblemTotal += n
		}
	}
	for _, f := range v.findings {
		if f.Thread != "" {
			perThread[f.Thread]++
		}
		if len(r.Problems) < maxListed {
			r.Problems = append(r.Problems, fmt.Sprintf("partition %d offset %d (thread %s seq %d): %s: %s",
				f.Partition, f.Offset, f.Thread, f.Sequence, f.Kind, f.Detail))
		}
	}
	for _, n := range v.counts {
		r.ProblemTotal += n
	}

	for _, id := range v.rep.Threads() {
		ts := v.rep.Thread(id)
		tr := threadReport{
			ID: id, Partition: v.part[id], Messages: ts.Messages, Events: ts.Events, Runs: ts.Runs,
			Diffs: ts.Diffs, FullStates: ts.FullStates, Checkpoints: ts.Checkpoints, Gaps: ts.Gaps,
			Duplicates: ts.Duplicates, Unverified: ts.Unverified, FirstSeq: v.firstSeq[id], LastSeq: ts.Sequence,
			StateKnown: ts.StateKnown, Problems: perThread[id],
		}
		if ts.StateKnown {
			tr.StateBytes = len(dashstream.MarshalJSON(ts.State))
		}
		if want, ok := expect[id]; ok {
			tr.Expect, tr.ExpectOK = compareState(ts, want)
			if !tr.ExpectOK {
				r.ExpectFailed++
			}
		}
		r.Threads = append(r.Threads, tr)
	}
	for id := range expect {
		if v.rep.Thread(id) == nil {
			r.ExpectMissing = append(r.ExpectMissing, id)
			r.ExpectFailed++
		}
	}
	sort.Strings(r.ExpectMissing)
	for _, runs := range v.open {
		r.OpenRuns = append(r.OpenRuns, runs...)
	}
	sort.Slice(r.OpenRuns, func(i, j int) bool {
		a, b := r.OpenRuns[i], r.OpenRuns[j]
		if a.StartUs != b.StartUs {
			return a.StartUs < b.StartUs
		}
		return a.Thread+"\x00"+a.RunID < b.Thread+"\x00"+b.RunID
	})
	r.Now = time.Now()
	r.MaxOpenAge = defaultMaxOpenAge
	return r
}

// defaultMaxOpenAge is --max-open-age's default: the exporter's default
// session.run_timeout (1h) ends a run quiet for that long, so a run open
// for twice that is a run no timeout ended.
const defaultMaxOpenAge = 2 * time.Hour

// compareState says whether the replayed state is the expected one and,
// when not, how it differs (as the patch from expected to replayed).
func compareState(ts *dashstream.ThreadState, want any) (string, bool) {
	if !ts.StateKnown {
		return "state unknown (no GRAPH_START, full state or checkpoint replayed)", false
	}
	if dashstream.Equal(ts.State, want) {
		return "match", true
	}
	p := dashstream.Diff(want, ts.State)
	return "differs from expected: " + describeDiff(&dashstreampb.StateDiff{Operations: p.ToProto()}), false
}

// write prints the report.
func (r *report) write(w io.Writer, s style) {
	fmt.Fprintf(w, "topic %s: %d partition(s), %d record(s) read", r.Topic, r.Partitions, r.Records)
	if r.Skipped > 0 {
		fmt.Fprintf(w, ", %d of other threads skipped", r.Skipped)
	}
	fmt.Fprintln(w)
	if r.Interrupted {
		fmt.Fprintln(w, s.paint(sgrYellow, "interrupted: the report covers what was read so far"))
	}
	if len(r.Threads) > 0 {
		fmt.Fprintf(w, "%-28s %4s %6s %6s %4s %6s %4s %5s %4s %9s  %s\n",
			"THREAD", "PART", "MSGS", "EVENTS", "RUNS", "DIFFS", "FULL", "CKPTS", "GAPS", "STATE", "RESULT")
		for _, t := range r.Threads {
			state := "unknown"
			if t.StateKnown {
				state = humanBytes(t.StateBytes)
			}
			result := s.paint(sgrGreen, "ok")
			if t.Problems > 0 {
				result = s.paint(sgrRed, fmt.Sprintf("%d problem(s)", t.Problems))
			}
			if t.Expect != "" && !t.ExpectOK {
				result += s.paint(sgrRed, "; expected state not reached")
			} else if t.Expect != "" {
				result += ", expected state"
			}
			id := t.ID
			padding := pad(id, 28)
			fmt.Fprintf(w, "%s%s %4d %6d %6d %4d %6d %4d %5d %4d %9s  %s\n",
				s.thread(id), padding, t.Partition, t.Messages, t.Events, t.Runs, t.Diffs, t.FullStates,
				t.Checkpoints, t.Gaps, state, result)
		}
	} else {
		fmt.Fprintln(w, "no messages of any selected thread")
	}
	if r.ProblemTotal > 0 {
		fmt.Fprintln(w, s.paint(sgrRed, fmt.Sprintf("%d problem(s):", r.ProblemTotal)))
		writeList(w, r.Problems, r.ProblemTotal)
	}
	if r.NoteTotal > 0 {
		fmt.Fprintf(w, "%d note(s) (gaps and duplicates are allowed after a loss or a redelivery):\n", r.NoteTotal)
		writeList(w, r.Notes, r.NoteTotal)
	}
	if len(r.OpenRuns) > 0 {
		fmt.Fprintf(w, "%d run(s) started and never ended (open):\n", len(r.OpenRuns))
		lines := make([]string, 0, min(len(r.OpenRuns), maxListed))
		for _, o := range r.OpenRuns[:min(len(r.OpenRuns), maxListed)] {
			line := fmt.Sprintf("thread %s run %s", o.Thread, nonEmptyOr(o.RunID, "(no run_id)"))
			if o.Graph != "" {
				line += " (" + o.Graph + ")"
			}
			age := r.age(o)
			line += fmt.Sprintf(": started %s, %s ago", time.UnixMicro(o.StartUs).UTC().Format(time.RFC3339), age.Round(time.Second))
			if r.Strict && age > r.MaxOpenAge {
				line = s.paint(sgrRed, line+fmt.Sprintf(", older than --max-open-age %s", r.MaxOpenAge))
			}
			lines = append(lines, line)
		}
		writeList(w, lines, len(r.OpenRuns))
	}
	if r.ExpectFile != "" {
		fmt.Fprintf(w, "expected final states from %s:\n", r.ExpectFile)
		for _, t := range r.Threads {
			if t.Expect == "" {
				continue
			}
			line := "  " + t.ID + ": " + t.Expect
			if !t.ExpectOK {
				line = s.paint(sgrRed, line)
			}
			fmt.Fprintln(w, line)
		}
		for _, id := range r.ExpectMissing {
			fmt.Fprintln(w, s.paint(sgrRed, "  "+id+": no messages of this thread"))
		}
	}
	if r.TimedOut {
		fmt.Fprintln(w, s.paint(sgrRed, "gave up waiting for the expected final states (--wait)"))
	}
	if r.WantThreads > 0 && len(r.Threads) != r.WantThreads {
		fmt.Fprintln(w, s.paint(sgrRed, fmt.Sprintf("expected %d thread(s), found %d", r.WantThreads, len(r.Threads))))
	}
	msgs := 0
	for _, t := range r.Threads {
		msgs += t.Messages
	}
	if r.ok() {
		fmt.Fprintln(w, s.paint(sgrBold+sgrGreen, fmt.Sprintf("OK: %d thread(s), %d message(s), no inconsistencies", len(r.Threads), msgs)))
		return
	}
	var why []string
	if r.ProblemTotal > 0 {
		why = append(why, fmt.Sprintf("%d problem(s)", r.ProblemTotal))
	}
	if r.ExpectFailed > 0 {
		why = append(why, fmt.Sprintf("%d expected state(s) not reached", r.ExpectFailed))
	}
	if r.Strict && r.NoteTotal > 0 {
		why = append(why, fmt.Sprintf("%d note(s) with --strict", r.NoteTotal))
	}
	if n := r.staleOpenRuns(); r.Strict && n > 0 {
		why = append(why, fmt.Sprintf("%d run(s) open longer than %s with --strict", n, r.MaxOpenAge))
	}
	if r.WantThreads > 0 && len(r.Threads) != r.WantThreads {
		why = append(why, "wrong thread count")
	}
	if r.TimedOut && len(why) == 0 {
		why = append(why, "timed out")
	}
	fmt.Fprintln(w, s.paint(sgrBold+sgrRed, "INCONSISTENT: "+strings.Join(why, ", ")))
}

func writeList(w io.Writer, lines []string, total int) {
	for _, l := range lines {
		fmt.Fprintln(w, "  "+l)
	}
	if total > len(lines) {
		fmt.Fprintf(w, "  … and %d more\n", total-len(lines))
	}
}

func nonEmptyOr(s, fallback string) string {
	if s != "" {
		return s
	}
	return fallback
}
