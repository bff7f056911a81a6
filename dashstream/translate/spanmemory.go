package translate

import (
	"sync"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// Bounds of the span memory: about 80 bytes a span and 200 a trace.
const (
	maxSpanMemory      = 1 << 18
	maxRunTraceMemory  = 1 << 15
	maxWaitsPerRun     = 64
	maxRootsPerTrace   = 32
	maxMemoryChainHops = maxParentHops
)

// spanMemory remembers the spans of recent calls (SPEC §4.1 "Runs"): which
// spans were seen (a span seen again produces nothing: duplicate_span),
// where each sat (its run, or the parent it waits for), and per trace the
// runs found so far. A trace's spans usually arrive over several calls,
// children first, so a span's parent, its run's own span or the
// application span above it may have come before or may come later. It is
// shared by every call and bounded: the oldest spans and traces are
// forgotten first (a span older than the memory arriving again is
// translated again).
type spanMemory struct {
	mu     sync.Mutex
	spans  map[spanKey]spanMemo
	ring   []spanKey
	next   int
	traces map[pcommon.TraceID]*traceRuns
	tring  []pcommon.TraceID
	tnext  int
}

// spanMemo is what is remembered of one span.
type spanMemo struct {
	parent pcommon.SpanID
	// run: the run a recognised span is in, the run an ignored span sits in
	// ("" = none known).
	run string
	// recognised: the span is part of a run; seen: the span itself arrived
	// (false: a placeholder, a parent that spans of run are waiting for);
	// outside: an ignored span whose chain reaches the trace's root with no
	// run above it.
	recognised, seen, outside bool
}

// traceRuns is what one trace's runs look like so far.
type traceRuns struct {
	// count numbers the runs found in the trace (their ids, see runID).
	count int
	// open is the trace's provisional run: spans whose parent has not
	// arrived, waiting for their run's own span ("" = none). openStart is
	// the earliest start among them; waits the parents they wait for.
	open      string
	openStart uint64
	waits     []pcommon.SpanID
	// top is the outermost agent among them (its parent is awaited): the
	// run's own span if what arrives above it is an application span.
	top *topMemo
	// roots are the runs whose own span arrived: a span whose parent never
	// arrives joins the one whose time it lies in.
	roots []rootMemo
	// expired: the last provisional run the run timeout ended, and the
	// parents it waited for (their spans are late for it).
	expired      string
	expiredWaits []pcommon.SpanID
	// threads: the thread each run started on (a few runs a trace).
	threads map[string]string
}

// runKey names a run of a trace.
type runKey struct {
	trace pcommon.TraceID
	run   string
}

// topMemo is what the end of a provisional run takes from its top agent.
type topMemo struct {
	end                         uint64
	failed                      bool
	errorMessage, exceptionType string
}

// rootMemo is a run whose own span arrived, with its time.
type rootMemo struct {
	run        string
	start, end uint64
}

func newSpanMemory() *spanMemory {
	return &spanMemory{
		spans:  make(map[spanKey]spanMemo),
		traces: make(map[pcommon.TraceID]*traceRuns),
	}
}

// lookup returns the memo of a span (locked by the caller).
func (m *spanMemory) lookup(k spanKey) (spanMemo, bool) {
	v, ok := m.spans[k]
	return v, ok
}

// remember stores the memo of a span (locked by the caller).
func (m *spanMemory) remember(k spanKey, v spanMemo) {
	if _, ok := m.spans[k]; ok {
		m.spans[k] = v
		return
	}
	if len(m.ring) < maxSpanMemory {
		m.ring = append(m.ring, k)
	} else {
		delete(m.spans, m.ring[m.next])
		m.ring[m.next] = k
		m.next = (m.next + 1) % maxSpanMemory
	}
	m.spans[k] = v
}

// trace returns the run bookkeeping of a trace, created when missing
// (locked by the caller).
func (m *spanMemory) trace(id pcommon.TraceID) *traceRuns {
	if tr, ok := m.traces[id]; ok {
		return tr
	}
	tr := &traceRuns{}
	if len(m.tring) < maxRunTraceMemory {
		m.tring = append(m.tring, id)
	} else {
		delete(m.traces, m.tring[m.tnext])
		m.tring[m.tnext] = id
		m.tnext = (m.tnext + 1) % maxRunTraceMemory
	}
	m.traces[id] = tr
	return tr
}

// addRoot remembers a run whose own span arrived.
func (tr *traceRuns) addRoot(r rootMemo) {
	if len(tr.roots) >= maxRootsPerTrace {
		copy(tr.roots, tr.roots[1:])
		tr.roots = tr.roots[:len(tr.roots)-1]
	}
	tr.roots = append(tr.roots, r)
}

// rootAt returns the remembered run whose own span's time holds ts: the
// one that started last (the innermost of overlapping runs).
func (tr *traceRuns) rootAt(ts uint64) (string, bool) {
	best := -1
	for i, r := range tr.roots {
		if r.start <= ts && ts <= r.end && (best < 0 || r.start >= tr.roots[best].start) {
			best = i
		}
	}
	if best < 0 {
		return "", false
	}
	return tr.roots[best].run, true
}

// wait adds parents the open run waits for.
func (tr *traceRuns) wait(p pcommon.SpanID) {
	for _, w := range tr.waits {
		if w == p {
			return
		}
	}
	if len(tr.waits) < maxWaitsPerRun {
		tr.waits = append(tr.waits, p)
	}
}

// runThread returns the thread run k started on, recording thread as it
// when the run is new.
func (m *spanMemory) runThread(k runKey, thread string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	tr := m.trace(k.trace)
	if th, ok := tr.threads[k.run]; ok {
		return th
	}
	if tr.threads == nil {
		tr.threads = make(map[string]string, 1)
	}
	if len(tr.threads) < maxRootsPerTrace {
		tr.threads[k.run] = thread
	}
	return thread
}

// ended reports whether the own span of run k arrived in an earlier call.
func (m *spanMemory) ended(k runKey) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	tr := m.traces[k.trace]
	if tr == nil {
		return false
	}
	for _, r := range tr.roots {
		if r.run == k.run {
			return true
		}
	}
	return false
}

// expireRun forgets the trace's provisional run when it is run (ended by
// the run timeout) and returns the parents it still waited for: they never
// came.
func (m *spanMemory) expireRun(trace pcommon.TraceID, run string) []pcommon.SpanID {
	m.mu.Lock()
	defer m.mu.Unlock()
	tr := m.traces[trace]
	if tr == nil || tr.open != run {
		return nil
	}
	waits := tr.waits
	// Its awaited spans, should they come, belong to the ended run.
	tr.expired, tr.expiredWaits = run, waits
	tr.open, tr.openStart, tr.waits, tr.top = "", 0, nil, nil
	return waits
}
