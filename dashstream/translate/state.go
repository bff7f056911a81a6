package translate

import (
	"errors"
	"slices"

	"github.com/klauspost/compress/s2"

	"github.com/dashstream/dashstreamexporter/dashstream"
	pb "github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
)

// maxStateDepth bounds the nesting of accepted state snapshots; deeper
// documents are bad input (SPEC §4.5, "100,000-deep nesting").
const maxStateDepth = 512

// stateDiff is the outcome of diffing two states: either operations or a
// full state (when no base is known or the patch would be larger).
type stateDiff struct {
	ops  []*pb.DiffOperation
	full bool
}

// buildState indexes and redacts one snapshot against the session's last
// state (reusing what did not change) and returns a bad-input reason when
// it is not usable. Size limits apply to the redacted text by the caller.
// wake: a resting last state is built again to diff against; a GRAPH_START
// replaces the base instead, so it builds its initial state on its own
// (rebuilding the rested state would cost more than it saves).
func (e *emitter) buildState(raw string, wake bool) (*dashstream.StateDoc, string) {
	if len(raw) > e.t.cfg.StateMaxBytes {
		return nil, "state_too_large"
	}
	var red dashstream.StateRedactor
	if e.t.red.enabled {
		red = e.t.red
	}
	prev := e.s.doc
	if wake {
		prev = e.wake(red)
	}
	doc, err := e.t.stateDocs.Build(raw, prev, red, maxStateDepth)
	switch {
	case errors.Is(err, dashstream.ErrStateNotObject):
		return nil, "state_not_object"
	case errors.Is(err, dashstream.ErrJSONTooDeep):
		return nil, "state_too_deep"
	case errors.Is(err, dashstream.ErrJSONTooLarge):
		return nil, "state_too_large"
	case err != nil:
		return nil, "state_not_json"
	}
	return doc, ""
}

// restDueState rests the session's state when a run of the thread ended
// in this call: once the call is done with the thread, so that a run that
// follows in the same call diffs against the state as it is instead of
// waking it.
func (e *emitter) restDueState() {
	if e.restDue {
		e.restDue = false
		e.restState()
	}
}

// restState drops the index and canonical text of the session's state
// once a run has ended and keeps only its text, compressed, and trims the
// observed graphs: a finished thread (most threads, most of the time) then
// holds a fraction of its state's JSON (the saturation workload's final
// 7.5 KB state: 21 KB as a document, 3.8 KB at rest). s2 rather than zstd:
// it costs about a µs per KiB, once per run. The thread's next snapshot
// builds the document again (wake); its next GRAPH_START does not need to.
func (e *emitter) restState() {
	s := e.s
	s.graphs.trim()
	if s.doc == nil {
		return
	}
	// The text and its encoding go through the call's scratch: only the
	// exact-size copy the session keeps is allocated.
	src := append(e.ar.restText[:0], s.doc.Text()...)
	if n := s2.MaxEncodedLen(len(src)); cap(e.ar.restEnc) < n {
		e.ar.restEnc = make([]byte, n)
	}
	s.resting = slices.Clone(s2.Encode(e.ar.restEnc[:cap(e.ar.restEnc)], src))
	e.ar.restText = src[:0]
	e.t.stateDocs.Retire(s.doc, nil)
	s.doc = nil
	e.account(int64(len(s.resting)))
}

// wake returns the session's state document, building it again from its
// text if the session rested. The text built before with the same
// redactor and limits, so it builds again; should it not, the base is
// unknown and the next state goes out in full.
func (e *emitter) wake(red dashstream.StateRedactor) *dashstream.StateDoc {
	s := e.s
	if s.doc != nil || s.resting == nil {
		return s.doc
	}
	text, err := s2.Decode(nil, s.resting)
	s.resting = nil
	var doc *dashstream.StateDoc
	if err == nil {
		doc, err = e.t.stateDocs.Build(string(text), nil, red, maxStateDepth)
	}
	if err != nil {
		e.setState(nil)
		return nil
	}
	s.doc = doc
	e.account(doc.MemSize())
	return doc
}

// emptyState is the diff base of a run without a usable initial state.
func emptyState() *dashstream.StateDoc {
	doc, _ := dashstream.BuildStateDoc("{}", nil, nil, maxStateDepth)
	return doc
}

// diffStates computes the message content turning old into new; equal
// reports that there is nothing to send.
// The operations are built on the call arena: valid until its next use.
func diffStates(old, new *dashstream.StateDoc, ar *callArena) (d stateDiff, equal bool) {
	p := ar.differ.Diff(old, new)
	switch {
	case len(p) == 0:
		equal = true
	case dashstream.UseFullState(p.JSONLen(), new.JSONLen()):
		d.full = true
	default:
		d.ops = ar.ops.Convert(p)
	}
	ar.differ.Reset() // no value of new stays in the arena
	return d, equal
}

// The redactor hides secrets in state documents (dashstream.StateRedactor).

func (r *redactor) SecretKey(key string) bool { return r.keyIsSecret(key) }

func (r *redactor) Replacement() string { return redactedText }

func (r *redactor) RedactString(s string) (string, int) { return r.redactString(s) }

func (r *redactor) RedactValue(v any) (any, int) { return r.redactJSON(v) }
