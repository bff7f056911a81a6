package translate

import (
	"errors"

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

// parseState parses one snapshot with the JSON model's limits and returns
// a bad-input reason when it is not usable.
func parseState(raw string, maxBytes int) (any, string) {
	if len(raw) > maxBytes {
		return nil, "state_too_large"
	}
	v, err := dashstream.ParseJSONString(raw, dashstream.ParseOptions{MaxDepth: maxStateDepth, MaxBytes: maxBytes})
	switch {
	case errors.Is(err, dashstream.ErrJSONTooDeep):
		return nil, "state_too_deep"
	case errors.Is(err, dashstream.ErrJSONTooLarge):
		return nil, "state_too_large"
	case err != nil:
		return nil, "state_not_json"
	}
	if _, ok := v.(*dashstream.Object); !ok {
		return nil, "state_not_object"
	}
	return v, ""
}

// diffStates computes the message content turning old into new; equal
// reports that there is nothing to send.
func diffStates(old, new any, newJSONLen int) (d stateDiff, equal bool) {
	p := dashstream.Diff(old, new)
	if len(p) == 0 {
		return stateDiff{}, true
	}
	if dashstream.UseFullState(p.JSONLen(), newJSONLen) {
		return stateDiff{full: true}, false
	}
	return stateDiff{ops: p.ToProto()}, false
}

// stateJSONLen is the length of v's compact JSON text without building it:
// the length of a root-replace patch minus its fixed part.
func stateJSONLen(v any) int {
	return dashstream.Patch{{Op: dashstream.OpReplace, Value: v}}.JSONLen() -
		(dashstream.Patch{{Op: dashstream.OpReplace}}.JSONLen() - len("null"))
}
