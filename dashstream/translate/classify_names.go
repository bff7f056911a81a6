package translate

import (
	"crypto/sha256"
	"encoding/hex"
)

// Names and ids the spans give (graph, node, tool, model, run, router
// choice) end up as node ids of several events, attribute values, and nodes
// of the UI's graph. They are bounded to maxNameBytes: a longer one is cut
// on a UTF-8 boundary and marked with "…#" and 8 hex digits of the SHA-256
// of the whole name, so two long names that share a prefix stay distinct
// and a name maps to the same bounded form in every call. Each cut is
// counted (bad input "name_too_long"). Thread ids have their own bound
// (normaliseThreadID: longer ones become "sha256:<hex>"), counted here as
// "thread_id_too_long".
const (
	maxNameBytes = 256
	nameMarker   = "…#"

	badNameTooLong     = "name_too_long"
	badThreadIDTooLong = "thread_id_too_long"
)

// boundName returns s bounded to maxNameBytes and whether it was cut.
func boundName(s string) (string, bool) {
	if len(s) <= maxNameBytes {
		return s, false
	}
	sum := sha256.Sum256([]byte(s))
	suffix := nameMarker + hex.EncodeToString(sum[:4])
	return truncateUTF8(s, maxNameBytes-len(suffix)) + suffix, true
}

// boundNames bounds every name of si, counting each cut.
func boundNames(si *spanInfo, found *issues) {
	for _, p := range []*string{
		&si.graphName, &si.nodeName, &si.toolName, &si.model, &si.runID,
		&si.routerChoice, &si.graphEntryPoint, &si.callID,
	} {
		if b, cut := boundName(*p); cut {
			*p = b
			found.add(badNameTooLong, si)
		}
	}
	if len(si.threadID) > maxThreadIDLen {
		found.add(badThreadIDTooLong, si)
	}
}
