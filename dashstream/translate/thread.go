package translate

import (
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// maxTraceMemory bounds the trace → thread/run memory (about 100 bytes per
// entry).
const maxTraceMemory = 1 << 16

// traceMemory remembers, for recent traces, the thread and run their spans
// belonged to, so spans of a trace arriving in a later call (children often
// arrive before the span that names the thread) land on the same thread
// (SPEC §4.2). Bounded: oldest entries are forgotten first.
type traceMemory struct {
	mu    sync.Mutex
	m     map[pcommon.TraceID]traceFacts
	order []pcommon.TraceID // ring of insertion order
	next  int
	max   int
}

type traceFacts struct {
	thread string
	run    string
}

func newTraceMemory(max int) *traceMemory {
	return &traceMemory{m: make(map[pcommon.TraceID]traceFacts), max: max}
}

func (t *traceMemory) get(id pcommon.TraceID) (traceFacts, bool) {
	t.mu.Lock()
	f, ok := t.m[id]
	t.mu.Unlock()
	return f, ok
}

// learn records facts for id; empty fields keep what was known.
func (t *traceMemory) learn(id pcommon.TraceID, f traceFacts) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old, ok := t.m[id]
	if ok {
		if f.thread == "" {
			f.thread = old.thread
		}
		if f.run == "" {
			f.run = old.run
		}
		t.m[id] = f
		return
	}
	if len(t.order) < t.max {
		t.order = append(t.order, id)
	} else {
		delete(t.m, t.order[t.next])
		t.order[t.next] = id
		t.next = (t.next + 1) % t.max
	}
	t.m[id] = f
}

// normaliseThreadID makes a thread id valid on the wire: valid UTF-8 and at
// most 256 bytes; longer ids become "sha256:" + hex of the original, stable
// across calls and restarts. changed reports whether id was rewritten.
func normaliseThreadID(id string) (out string, changed bool) {
	if !utf8.ValidString(id) {
		id = sanitiseUTF8(id)
		changed = true
	}
	if len(id) > maxThreadIDLen {
		sum := sha256.Sum256([]byte(id))
		return "sha256:" + hex.EncodeToString(sum[:]), true
	}
	return id, changed
}
