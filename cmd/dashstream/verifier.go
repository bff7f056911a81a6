package main

import (
	"fmt"

	"github.com/dashstream/dashstreamexporter/dashstream"
	"github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
)

// maxFindings bounds the record-level findings kept for the report; the
// counts stay exact.
const maxFindings = 1000

// finding is a record-level problem the Replayer cannot see: a record that
// does not decode, a key that is not the thread id, a thread split over
// partitions.
type finding struct {
	Partition int32
	Offset    int64
	Thread    string
	Sequence  uint64
	Kind      string
	Detail    string
}

// verifier checks records the way a DashStream consumer reads them: decode,
// check the Kafka key and partition, and replay with dashstream.Replayer.
type verifier struct {
	dec    *dashstream.Decoder
	rep    *dashstream.Replayer
	filter threadFilter

	records  int64 // all records read
	skipped  int64 // records of threads the filter leaves out
	findings []finding
	counts   map[string]int // findings by kind
	part     map[string]int32
	firstSeq map[string]uint64
	// open: per thread, the runs started (GRAPH_START) and not ended yet,
	// in order of start.
	open map[string][]openRun
}

// openRun is a run that started and has not ended (yet).
type openRun struct {
	Thread, RunID, Graph string
	StartUs              int64
}

func newVerifier(filter threadFilter) (*verifier, error) {
	dec, err := dashstream.NewDecoder(dashstream.DecoderOptions{})
	if err != nil {
		return nil, fmt.Errorf("decoder: %w", err)
	}
	return &verifier{dec: dec, rep: dashstream.NewReplayer(), filter: filter,
		counts: map[string]int{}, part: map[string]int32{}, firstSeq: map[string]uint64{},
		open: map[string][]openRun{}}, nil
}

func (v *verifier) find(f finding) {
	v.counts[f.Kind]++
	if len(v.findings) < maxFindings {
		v.findings = append(v.findings, f)
	}
}

// add checks and replays one record.
func (v *verifier) add(r record) {
	v.records++
	msg, err := v.dec.Decode(r.Value)
	if err != nil {
		if !v.filter.match(string(r.Key)) {
			v.skipped++
			return
		}
		v.find(finding{Partition: r.Partition, Offset: r.Offset, Thread: string(r.Key), Kind: "decode",
			Detail: fmt.Sprintf("%d-byte record: %v", len(r.Value), err)})
		return
	}
	v.addMessage(r, msg)
}

func (v *verifier) addMessage(r record, msg *dashstreampb.DashStreamMessage) {
	h := dashstream.HeaderOf(msg)
	id := h.GetThreadId()
	if !v.filter.match(id) {
		v.skipped++
		return
	}
	if string(r.Key) != id {
		v.find(finding{Partition: r.Partition, Offset: r.Offset, Thread: id, Sequence: h.GetSequence(), Kind: "key",
			Detail: fmt.Sprintf("record key %q is not the thread id", r.Key)})
	}
	if p, ok := v.part[id]; !ok {
		v.part[id] = r.Partition
		v.firstSeq[id] = h.GetSequence()
	} else if p != r.Partition {
		v.find(finding{Partition: r.Partition, Offset: r.Offset, Thread: id, Sequence: h.GetSequence(), Kind: "partition",
			Detail: fmt.Sprintf("thread also in partition %d: its order is not guaranteed", p)})
	}
	// Problems are collected by the replayer and read back for the report.
	_ = v.rep.Apply(msg)
	if ev := msg.GetEvent(); ev != nil {
		v.runEvent(id, h.GetTimestampUs(), ev)
	}
}

// runEvent follows the runs of a thread: GRAPH_START opens one, GRAPH_END
// or GRAPH_ERROR ends the run its run_id names (the exporter's name it),
// else the last one opened.
func (v *verifier) runEvent(thread string, tsUs int64, ev *dashstreampb.Event) {
	runID := ev.GetAttributes()["run_id"].GetStringValue()
	runs := v.open[thread]
	switch ev.GetEventType() {
	case dashstreampb.EventType_EVENT_TYPE_GRAPH_START:
		for i, r := range runs {
			if runID != "" && r.RunID == runID {
				runs = append(runs[:i:i], runs[i+1:]...)
				break
			}
		}
		v.open[thread] = append(runs, openRun{Thread: thread, RunID: runID, StartUs: tsUs,
			Graph: ev.GetAttributes()["graph_name"].GetStringValue()})
	case dashstreampb.EventType_EVENT_TYPE_GRAPH_END, dashstreampb.EventType_EVENT_TYPE_GRAPH_ERROR:
		if len(runs) == 0 {
			return
		}
		at := len(runs) - 1
		for i, r := range runs {
			if runID != "" && r.RunID == runID {
				at = i
			}
		}
		runs = append(runs[:at:at], runs[at+1:]...)
		if len(runs) == 0 {
			delete(v.open, thread)
		} else {
			v.open[thread] = runs
		}
	}
}

// expectationsMet reports whether every expected thread has been replayed
// to its expected state.
func (v *verifier) expectationsMet(expect map[string]any) bool {
	for id, want := range expect {
		ts := v.rep.Thread(id)
		if ts == nil || !ts.StateKnown || !dashstream.Equal(ts.State, want) {
			return false
		}
	}
	return true
}
