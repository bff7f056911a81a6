package translate

import (
	"strings"
	"sync"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// Bounds of the span memory: 56 bytes a span (spanTable) and about 250 a
// trace.
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
//
// The spans are among the largest structures a collector keeps (2^18
// spans, 14 MiB, spanTable): they hold no pointers, so the garbage
// collector never scans them; the run names their memos refer to are
// interned in runs.
type spanMemory struct {
	mu    sync.Mutex
	spans spanTable
	runs  runNames
	// maxTraces bounds traces (maxRunTraceMemory; smaller in tests).
	maxTraces int
	traces    map[pcommon.TraceID]*traceRuns
	tring     []pcommon.TraceID
	tnext     int
}

// spanMemo is what is remembered of one span.
type spanMemo struct {
	parent pcommon.SpanID
	// run: the run a recognised span is in, the run an ignored span sits in
	// ("" = none known).
	run string
	// outside: an ignored span whose chain reaches the trace's root with no
	// run above it.
	outside bool
}

// storedMemo is a spanMemo as the span table holds it: its run is a name in
// spanMemory.runs.
type storedMemo struct {
	parent  pcommon.SpanID
	run     runRef
	outside bool
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
	// threads: the thread each run started on (a few runs a trace: a list
	// holds one in 32 bytes, a map in about 300).
	threads []threadOfRun
}

// threadOfRun is the thread a run of a trace started on.
type threadOfRun struct{ run, thread string }

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

func newSpanMemory(maxSpans, maxTraces int) *spanMemory {
	return &spanMemory{
		spans:     newSpanTable(maxSpans),
		maxTraces: maxTraces,
		runs:      runNames{ids: make(map[string]runRef)},
		traces:    make(map[pcommon.TraceID]*traceRuns),
	}
}

// lookup returns the memo of a span (locked by the caller).
func (m *spanMemory) lookup(k spanKey) (spanMemo, bool) {
	v := m.spans.get(k)
	if v == nil {
		return spanMemo{}, false
	}
	return spanMemo{parent: v.parent, run: m.runs.name(v.run), outside: v.outside}, true
}

// remember stores the memo of a span, replacing what was known of it
// (locked by the caller). hint: the run's name in runs, if the caller
// knows one (see runNames.acquire).
func (m *spanMemory) remember(k spanKey, v spanMemo, hint runRef) runRef {
	if old := m.spans.get(k); old != nil {
		ref := m.runs.acquire(v.run, hint)
		m.runs.release(old.run)
		*old = storedMemo{parent: v.parent, run: ref, outside: v.outside}
		return ref
	}
	return m.add(k, v, hint)
}

// add stores the memo of a span the memory holds none of (a span
// dropDuplicates let through: one look-up fewer than remember),
// forgetting the oldest span when the memory is full (locked by the
// caller). It returns the run's name in runs.
func (m *spanMemory) add(k spanKey, v spanMemo, hint runRef) runRef {
	ref := m.runs.acquire(v.run, hint)
	if old, evicted := m.spans.add(k, storedMemo{parent: v.parent, run: ref, outside: v.outside}); evicted {
		m.runs.release(old.run)
	}
	return ref
}

// runRef names a run in runNames (0: none).
type runRef uint32

// runNames interns the run ids the span memos name: one copy of each,
// counted by the memos naming it, and forgotten (its ref reused) when the
// last of them is overwritten or forgotten. A memo keeps its run when the
// trace's traceRuns are forgotten. Locked with the span memory.
type runNames struct {
	ids   map[string]runRef
	names []string // by ref-1 ("" while free)
	refs  []uint32 // memos naming each
	free  []runRef
}

// acquire returns the ref of name ("": 0), counting one more memo naming
// it. hint, when it still names name (a ref the caller got for the same
// run earlier in the call), saves hashing the name.
func (n *runNames) acquire(name string, hint runRef) runRef {
	if name == "" {
		return 0
	}
	if hint != 0 && int(hint) <= len(n.names) && n.names[hint-1] == name {
		n.refs[hint-1]++
		return hint
	}
	if ref, ok := n.ids[name]; ok {
		n.refs[ref-1]++
		return ref
	}
	name = strings.Clone(name) // not the rest of whatever it was cut from
	var ref runRef
	if k := len(n.free); k > 0 {
		ref, n.free = n.free[k-1], n.free[:k-1]
		n.names[ref-1], n.refs[ref-1] = name, 1
	} else {
		n.names, n.refs = append(n.names, name), append(n.refs, 1)
		ref = runRef(len(n.names))
	}
	n.ids[name] = ref
	return ref
}

// release counts one memo fewer naming ref, forgetting the name with the
// last.
func (n *runNames) release(ref runRef) {
	if ref == 0 {
		return
	}
	if n.refs[ref-1]--; n.refs[ref-1] == 0 {
		delete(n.ids, n.names[ref-1])
		n.names[ref-1] = ""
		n.free = append(n.free, ref)
	}
}

// name returns the run ref names.
func (n *runNames) name(ref runRef) string {
	if ref == 0 {
		return ""
	}
	return n.names[ref-1]
}

// trace returns the run bookkeeping of a trace, created when missing
// (locked by the caller).
func (m *spanMemory) trace(id pcommon.TraceID) *traceRuns {
	if tr, ok := m.traces[id]; ok {
		return tr
	}
	tr := &traceRuns{}
	if len(m.tring) < m.maxTraces {
		m.tring = append(m.tring, id)
	} else {
		delete(m.traces, m.tring[m.tnext])
		m.tring[m.tnext] = id
		m.tnext = (m.tnext + 1) % m.maxTraces
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
	for _, rt := range tr.threads {
		if rt.run == k.run {
			return rt.thread
		}
	}
	if len(tr.threads) < maxRootsPerTrace {
		tr.threads = append(tr.threads, threadOfRun{k.run, thread})
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
