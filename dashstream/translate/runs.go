package translate

import (
	"cmp"
	"slices"
	"strconv"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Runs (SPEC §4.1 "Runs"). A run is one execution of the outermost
// recognised graph or agent span of a trace, wherever it sits: spans we do
// not recognise (application spans, tracer SDK wrappers, web handlers) are
// transparent, so a span belongs under its nearest recognised ancestor.
//
//   - A graph span with no recognised span above it is the run; one inside
//     a run is a node of it (an agent invoked by another: a sub-agent) or
//     plumbing (spanInfo.nested).
//   - A model or tool call with neither a graph span nor a run above it (a
//     lone model call) opens no run: no run is invented for it; it is
//     ignored, counted as no_run. Another recognised span with no run
//     above it (a node, a router) is a run of its own, started and ended
//     by it.
//   - A span whose chain of parents ends at a parent not seen yet (spans
//     arrive children first, over several calls) joins the run whose own
//     span holds its start time (in this call or remembered); else the
//     trace's provisional run, which waits for its own span: the first run
//     span to arrive that one of its spans waits for, or whose time holds
//     its first span, takes it over (same run id) and ends it. A graph span
//     whose parent is not known is taken as the outermost (an agent's
//     parent is an application span far more often than a run not seen
//     yet), except a weak one (spanInfo.weakRun).
//
// Run ids: the convention's, else the trace id in hex for the first run of
// a trace and "<trace id>-<n>" for its n-th.

// placeKind says where a span sits, seen from its parent.
type placeKind uint8

const (
	// placeOutside: its chain reaches the trace's root through spans we
	// ignore: no run above it.
	placeOutside placeKind = iota
	// placeRun: inside a run.
	placeRun
	// placeUnknown: its chain ends at a parent not seen (yet).
	placeUnknown
)

// place is where a span sits.
type place struct {
	kind    placeKind
	run     *callRun
	missing pcommon.SpanID
}

// callRun is a run as one call sees it: new in the call (its own span here,
// or provisional), remembered from an earlier call, or pending (spans whose
// parent is not known, placed once every run of the call is known).
type callRun struct {
	trace pcommon.TraceID
	id    string
	// root: the run's own span, when it is in this call.
	root *spanInfo
	// alias: a pending run's final run.
	alias *callRun
	// pending: anchor is the span whose parent (missing) is not known.
	pending bool
	anchor  *spanInfo
	// provisional: the trace's run that waits for its own span; waits are
	// the parents its spans wait for.
	provisional bool
	waits       []pcommon.SpanID
	// members: the spans placed directly in this run (for take-over),
	// on member while there is one.
	members []*spanInfo
	member  [1]*spanInfo
	// ref: its name in the span memory's run names, once a span of the
	// call is remembered in it (runNames.acquire's hint).
	ref runRef
}

// final follows a pending run to the run its spans are in.
func (r *callRun) final() *callRun {
	for hop := 0; r.alias != nil && hop < maxParentHops; hop++ {
		r = r.alias
	}
	return r
}

// resolver places the spans of one call in runs. It runs with the span
// memory locked, and leaves in it what later calls need.
type resolver struct {
	mem   *spanMemory
	facts map[pcommon.TraceID]traceFacts
	index map[spanKey]*spanInfo
	busy  map[*spanInfo]bool // cycle guard
	// resolved: the recognised spans given a run (in spanInfo.res).
	resolved []*spanInfo
	byID     map[string]*callRun
	runs     []*callRun // roots, remembered and provisional runs, in order made
	pend     []*callRun
	prov     map[pcommon.TraceID]*callRun
	found    *issues
	// tops: agents whose parent is not known, made nodes of their trace's
	// provisional run (the outermost such span may be the run's own).
	tops []*spanInfo
	// unmet: spans of a convention's run whose parent is not known.
	unmet []*spanInfo
	// closers: ignored spans that end their trace's provisional run.
	closers []*spanInfo
	// nestedIgnored counts graph spans found to be plumbing inside a run
	// and lone calls (no_run), by reason.
	nestedIgnored map[string]int64
	// demoted: the recognised spans made ignored (remembered as such).
	demoted []*spanInfo
	// runSlab: the call's runs are carved from it (they die with the call).
	runSlab slab[callRun]
}

// newRun returns a run of the call holding v.
func (r *resolver) newRun(v callRun) *callRun {
	run := r.runSlab.new()
	*run = v
	run.members = run.member[:0]
	return run
}

// ignoreNestedModelCall counts a model call inside another model call of
// this request: the same call, traced by a second instrumentation.
const ignoreNestedModelCall = "nested_model_call"

// underModelCall reports a span whose nearest recognised ancestor in this
// call is a model call.
func (r *resolver) underModelCall(si *spanInfo) bool {
	k := spanKey{si.traceID, si.parentID}
	for hop := 0; hop < maxParentHops && !k.span.IsEmpty(); hop++ {
		p := r.index[k]
		switch {
		case p == nil:
			return false
		case p.role == roleLLM:
			return true
		case p.role != roleOther:
			return false
		}
		k.span = p.parentID
	}
	return false
}

// ignoreNoRun counts a model or tool call with no agent or graph around
// it: no run is invented for it.
const ignoreNoRun = "no_run"

// resolveRuns gives every recognised span of spans (in canonical order) its
// run id in si.run, demoting graph spans nested in a run (to nodes or
// ignored: those are removed from the returned slice), and remembers the
// call's spans. facts: the trace's convention run id, if any. It also
// returns every span of the call by key, ignored ones included.
func (t *Translator) resolveRuns(spans, ignored []*spanInfo, facts map[pcommon.TraceID]traceFacts, found *issues, st *Stats) ([]*spanInfo, map[spanKey]*spanInfo) {
	r := &resolver{
		mem:           t.spans,
		facts:         facts,
		index:         make(map[spanKey]*spanInfo, len(spans)+len(ignored)),
		busy:          make(map[*spanInfo]bool),
		byID:          make(map[string]*callRun),
		prov:          make(map[pcommon.TraceID]*callRun),
		found:         found,
		nestedIgnored: map[string]int64{},
		runSlab:       slab[callRun]{next: 8, max: len(spans)},
	}
	r.mem.mu.Lock()
	defer r.mem.mu.Unlock()
	for _, si := range ignored {
		r.index[spanKey{si.traceID, si.spanID}] = si
	}
	spans = t.dropDuplicates(spans, r.index, st)
	for _, si := range spans {
		r.resolve(si)
	}
	r.settlePending()
	r.name()
	r.closeByIgnored(ignored)
	r.countUnmet()
	out := spans[:0]
	for _, si := range spans {
		run := si.res.run
		if run == nil {
			continue
		}
		si.run = run.final().id
		out = append(out, si)
	}
	r.remember(out, append(r.demoted, ignored...))
	out = append(out, r.closers...)
	for reason, n := range r.nestedIgnored {
		st.SpansIgnored[reason] += n
	}
	return out, r.index
}

// resolve returns the run of recognised span si (nil when si turned out to
// be plumbing inside a run, now ignored).
func (r *resolver) resolve(si *spanInfo) *callRun {
	if si.res.resolved {
		return si.res.run
	}
	if r.busy[si] {
		// A cycle of parent links: treat the span as one whose parent is
		// not known.
		return nil
	}
	r.busy[si] = true
	defer delete(r.busy, si)
	w := r.placeOf(si)
	var run *callRun
	if tr := r.mem.traces[si.traceID]; tr != nil && tr.expired != "" && slices.Contains(tr.expiredWaits, si.spanID) {
		// Awaited by a run the run timeout ended: late for it (its
		// spans are dropped, emit.go), and so are its children.
		if si.role == roleGraph && !r.nest(si) {
			r.setRun(si, nil)
			return nil
		}
		run = r.remembered(si.traceID, tr.expired)
		run.members = append(run.members, si)
		r.setRun(si, run)
		return run
	}
	switch {
	case w.kind == placeRun:
		if si.role == roleGraph && !r.nest(si) {
			r.setRun(si, nil)
			return nil
		}
		if si.role == roleLLM && r.underModelCall(si) {
			// The same call traced twice (a framework's instrumentation
			// and, inside it, the provider client's): the outer one is
			// the call.
			si.nestedReason = ignoreNestedModelCall
			r.ignore(si)
			r.setRun(si, nil)
			return nil
		}
		run = w.run
		if si.runID != "" && si.role != roleGraph {
			run = r.remembered(si.traceID, si.runID)
		}
	case w.kind == placeUnknown && si.role == roleGraph && !si.weakRun:
		// Whether this agent is the run's own span or a node of a run
		// above it (a sub-agent) shows only when its parent arrives. A
		// node of its trace's provisional run for now, which it names;
		// the run ends when a graph or agent span above takes it over,
		// when the application span above it arrives (the agent was the
		// outermost), or by the run timeout.
		name := si.graphName
		if !r.nest(si) {
			r.setRun(si, nil)
			return nil
		}
		si.graphName = name
		r.tops = append(r.tops, si)
		run = r.newRun(callRun{trace: si.traceID, pending: true, anchor: si, waits: []pcommon.SpanID{w.missing}})
		r.pend = append(r.pend, run)
	case w.kind == placeOutside && si.role == roleGraph:
		run = r.newRoot(si)
	case w.kind == placeOutside && si.runID == "" && r.facts[si.traceID].run == "" && (si.role == roleLLM || si.role == roleTool):
		// A lone call: no agent or graph around it, no run invented.
		si.nestedReason = ignoreNoRun
		r.ignore(si)
		r.setRun(si, nil)
		return nil
	case w.kind == placeOutside && si.runID == "" && r.facts[si.traceID].run == "":
		run = r.newRoot(si)
	case w.kind == placeUnknown && si.role == roleGraph:
		// A weak run span whose parent is not known: plumbing, as it
		// would be inside a run.
		r.ignore(si)
		r.setRun(si, nil)
		return nil
	case si.runID != "":
		run = r.remembered(si.traceID, si.runID)
		if w.kind == placeUnknown {
			r.unmet = append(r.unmet, si)
		}
	default:
		// Parent not known (or outside a run but the trace names its run):
		// placed once every run span of the call is known.
		run = r.newRun(callRun{trace: si.traceID, pending: true, anchor: si})
		if w.kind == placeUnknown {
			run.waits = []pcommon.SpanID{w.missing}
		}
		r.pend = append(r.pend, run)
	}
	run.members = append(run.members, si)
	r.setRun(si, run)
	return run
}

// setRun records the run of a recognised span (nil: it turned out to be
// plumbing, now ignored).
func (r *resolver) setRun(si *spanInfo, run *callRun) {
	si.res.run, si.res.resolved = run, true
	if run != nil {
		r.resolved = append(r.resolved, si)
	}
}

// nest turns a graph span inside a run into what it is there: a node, or
// ignored plumbing (false).
func (r *resolver) nest(si *spanInfo) bool {
	if si.nested == nestedIgnored {
		r.ignore(si)
		return false
	}
	si.role = roleNode
	if si.nodeName == "" {
		si.nodeName = nonEmpty(si.graphName, si.span.Name())
	}
	si.graphName, si.graphSchemaJSON, si.graphEntryPoint = "", "", ""
	si.initialState, si.finalState, si.invocationInput = "", "", ""
	si.traceWideThread = false
	return true
}

// ignore makes a graph span found to be plumbing an ignored span.
func (r *resolver) ignore(si *spanInfo) {
	si.role = roleOther
	si.ignoreReason = nonEmpty(si.nestedReason, "other")
	r.nestedIgnored[si.ignoreReason]++
	r.demoted = append(r.demoted, si)
}

// newRoot makes si the own span of a new run.
func (r *resolver) newRoot(si *spanInfo) *callRun {
	si.runOwn = true
	run := r.newRun(callRun{trace: si.traceID, root: si, id: si.runID})
	r.runs = append(r.runs, run)
	return run
}

// remembered returns the call's run of id (a convention's run id, or a
// run of an earlier call).
func (r *resolver) remembered(trace pcommon.TraceID, id string) *callRun {
	if run, ok := r.byID[id]; ok {
		return run
	}
	run := r.newRun(callRun{trace: trace, id: id})
	r.byID[id] = run
	r.runs = append(r.runs, run)
	return run
}

// placeOf returns where si sits: under its nearest recognised ancestor's
// run, outside any run, or below a parent not known.
func (r *resolver) placeOf(si *spanInfo) place {
	if si.res.placeSet {
		return si.res.place
	}
	p := r.parentPlace(si)
	si.res.place, si.res.placeSet = p, true
	return p
}

func (r *resolver) parentPlace(si *spanInfo) place {
	if si.parentID.IsEmpty() || remoteParent(si) {
		return place{kind: placeOutside}
	}
	k := spanKey{si.traceID, si.parentID}
	if p := r.index[k]; p != nil {
		if p.role != roleOther {
			if run := r.resolve(p); run != nil {
				return place{kind: placeRun, run: run}
			}
			if p.role != roleOther {
				// p is in a cycle of parent links.
				return place{kind: placeUnknown, missing: si.parentID}
			}
		}
		if r.busy[p] {
			return place{kind: placeUnknown, missing: si.parentID}
		}
		r.busy[p] = true
		defer delete(r.busy, p)
		return r.placeOf(p)
	}
	// Not in this call: what earlier calls left.
	for hop := 0; hop < maxMemoryChainHops; hop++ {
		m, ok := r.mem.lookup(k)
		if !ok {
			return place{kind: placeUnknown, missing: k.span}
		}
		switch {
		case m.run != "":
			return place{kind: placeRun, run: r.remembered(k.trace, m.run)}
		case m.outside:
			return place{kind: placeOutside}
		case m.parent.IsEmpty():
			return place{kind: placeOutside}
		}
		k.span = m.parent
		if p := r.index[k]; p != nil {
			return r.provides(p)
		}
	}
	return place{kind: placeUnknown, missing: k.span}
}

// remoteParent reports a span whose parent is in another process (the
// caller of a service): it is the local root of the trace, and its parent
// never arrives here. Told by the span's flags (OTLP 1.1: the context has
// is-remote, and it is set), else by its kind (a server or consumer span
// starts the local part of a trace).
func remoteParent(si *spanInfo) bool {
	const hasIsRemote, isRemote = 0x100, 0x200
	if f := si.span.Flags(); f&hasIsRemote != 0 {
		return f&isRemote != 0
	}
	k := si.span.Kind()
	return k == ptrace.SpanKindServer || k == ptrace.SpanKindConsumer
}

// provides is the place a span of this call gives its children.
func (r *resolver) provides(p *spanInfo) place {
	if p.role != roleOther {
		if run := r.resolve(p); run != nil {
			return place{kind: placeRun, run: run}
		}
	}
	if r.busy[p] {
		return place{kind: placeUnknown, missing: p.spanID}
	}
	return r.placeOf(p)
}

// settlePending places the spans whose parent is not known: in the run
// whose own span holds their start (this call's first, then remembered
// ones), else in their trace's provisional run. A parent that will never
// come (its run's own span is already here) counts as missing_parent.
func (r *resolver) settlePending() {
	for _, pr := range r.pend {
		a := pr.anchor
		if root := r.rootAt(a.traceID, a.startNanos); root != nil {
			pr.alias = root
			r.missingParents(pr.waits, a)
			continue
		}
		tr := r.mem.traces[a.traceID]
		if tr != nil {
			if id, ok := tr.rootAt(a.startNanos); ok {
				pr.alias = r.remembered(a.traceID, id)
				r.missingParents(pr.waits, a)
				continue
			}
		}
		prov := r.prov[a.traceID]
		if prov == nil {
			prov = r.newRun(callRun{trace: a.traceID, provisional: true})
			r.prov[a.traceID] = prov
			r.runs = append(r.runs, prov)
		}
		for _, w := range pr.waits {
			if !slices.Contains(prov.waits, w) {
				prov.waits = append(prov.waits, w)
			}
		}
		pr.alias = prov
		prov.members = append(prov.members, pr.members...)
	}
}

// closeByIgnored ends provisional runs whose awaited parent arrived in
// this call as a span we ignore whose chain reaches the trace's root (an
// application span): the outermost recognised span below it was the run's
// own. The ignored span stands in for it at the end (its trace context and
// resource); the run ends when that span ended, with its status.
func (r *resolver) closeByIgnored(ignored []*spanInfo) {
	for _, si := range ignored {
		tr := r.mem.traces[si.traceID]
		if tr == nil || tr.open == "" || !slices.Contains(tr.waits, si.spanID) {
			continue
		}
		switch p := r.placeOf(si); p.kind {
		case placeUnknown:
			tr.wait(p.missing)
			continue
		case placeRun:
			continue
		}
		si.run, si.runOwn = tr.open, true
		if top := tr.top; top != nil {
			si.endNanos = top.end
			si.failed, si.errorMessage, si.exceptionType = top.failed, top.errorMessage, top.exceptionType
		} else {
			si.failed = false
		}
		if si.startNanos > si.endNanos {
			si.startNanos = si.endNanos
		}
		r.closers = append(r.closers, si)
		r.closeProvisional(tr, si)
	}
}

// countUnmet counts missing_parent for the spans of a convention's run
// whose parent is not known once the run's own span is here or remembered:
// it ends last, so the parent will not come.
func (r *resolver) countUnmet() {
	for _, si := range r.unmet {
		run := si.res.run.final()
		ended := run.root != nil
		if !ended {
			if tr := r.mem.traces[si.traceID]; tr != nil {
				for _, root := range tr.roots {
					ended = ended || root.run == run.id
				}
			}
		}
		if !ended {
			for _, other := range r.runs {
				ended = ended || other.root != nil && other.id == run.id
			}
		}
		if ended {
			r.found.add("missing_parent", si)
		}
	}
}

// missingParents counts parents that will not come.
func (r *resolver) missingParents(waits []pcommon.SpanID, si *spanInfo) {
	for range waits {
		r.found.add("missing_parent", si)
	}
}

// rootAt returns the run of this call whose own span (of trace) holds ts:
// the one started last.
func (r *resolver) rootAt(trace pcommon.TraceID, ts uint64) *callRun {
	var best *callRun
	for _, run := range r.runs {
		root := run.root
		if root == nil || run.trace != trace || ts < root.startNanos || ts > root.endNanos {
			continue
		}
		if best == nil || root.startNanos > best.root.startNanos {
			best = run
		}
	}
	return best
}

// name gives the call's new runs their ids. A run span that the trace's
// provisional run waits for (or whose time holds it) takes it over: same
// id, and the provisional run ends with it. Runs are named in order of
// start, so a permutation of the request names them alike.
func (r *resolver) name() {
	order := make([]*callRun, 0, len(r.runs))
	for _, run := range r.runs {
		if run.root != nil || run.provisional {
			order = append(order, run)
		}
	}
	slices.SortStableFunc(order, func(a, b *callRun) int {
		return compareSpans(a.first(), b.first())
	})
	// Take-overs first: a run span takes the remembered provisional run.
	for _, run := range order {
		if run.root == nil {
			continue
		}
		tr := r.mem.traces[run.trace]
		if tr == nil || tr.open == "" || !r.takesOver(run, tr) {
			continue
		}
		run.id = tr.open
		r.closeProvisional(tr, run.root)
	}
	for _, run := range order {
		if run.id != "" {
			continue
		}
		tr := r.mem.trace(run.trace)
		if run.provisional {
			if tr.open != "" {
				run.id = tr.open
			} else if id := r.facts[run.trace].run; id != "" {
				run.id = id
			}
		}
		if run.id == "" {
			run.id = nthRun(run.trace, tr.count)
			tr.count++
		}
		if run.provisional {
			if tr.open == "" {
				tr.open, tr.openStart = run.id, run.first().startNanos
			}
			tr.openStart = min(tr.openStart, run.first().startNanos)
			for _, w := range run.waits {
				tr.wait(w)
			}
		}
	}
	for _, si := range r.tops {
		run := si.res.run.final()
		if !run.provisional {
			continue
		}
		tr := r.mem.trace(run.trace)
		if tr.open == run.id && (tr.top == nil || si.endNanos >= tr.top.end) {
			tr.top = &topMemo{end: si.endNanos, failed: si.failed, errorMessage: si.errorMessage, exceptionType: si.exceptionType}
		}
	}
	for _, run := range order {
		if run.root != nil {
			tr := r.mem.trace(run.trace)
			tr.addRoot(rootMemo{run: run.id, start: run.root.startNanos, end: run.root.endNanos})
		}
	}
}

// first is the earliest span of a run in this call.
func (r *callRun) first() *spanInfo {
	if r.root != nil {
		return r.root
	}
	var f *spanInfo
	for _, si := range r.members {
		if f == nil || compareSpans(si, f) < 0 {
			f = si
		}
	}
	return f
}

// takesOver reports whether run (its own span in this call) is the run
// the trace's provisional run waits for: one of its spans is a parent the
// provisional run waits for, or its time holds the provisional run's start.
func (r *resolver) takesOver(run *callRun, tr *traceRuns) bool {
	root := run.root
	if root.startNanos <= tr.openStart && tr.openStart <= root.endNanos {
		return true
	}
	for _, si := range r.members(run) {
		if slices.Contains(tr.waits, si.spanID) {
			return true
		}
	}
	return false
}

// members returns every span of the call in run.
func (r *resolver) members(run *callRun) []*spanInfo {
	var out []*spanInfo
	for _, si := range r.resolved {
		if of := si.res.run; of != nil && of.final() == run {
			out = append(out, si)
		}
	}
	return out
}

// closeProvisional ends the trace's provisional run (its own span, by,
// arrived): the parents it still waits for never came.
func (r *resolver) closeProvisional(tr *traceRuns, by *spanInfo) {
	for _, w := range tr.waits {
		if r.index[spanKey{by.traceID, w}] != nil {
			continue
		}
		if _, ok := r.mem.lookup(spanKey{by.traceID, w}); ok {
			continue
		}
		if w == by.parentID {
			continue
		}
		r.found.add("missing_parent", by)
	}
	tr.open, tr.openStart, tr.waits, tr.top = "", 0, nil, nil
}

// remember leaves in the span memory where each span of the call sits.
// The recognised spans (spans) passed dropDuplicates: the memory holds
// nothing of them yet.
func (r *resolver) remember(spans, ignored []*spanInfo) {
	for _, si := range spans {
		run := si.res.run.final()
		run.ref = r.mem.add(spanKey{si.traceID, si.spanID}, spanMemo{parent: si.parentID, run: si.run}, run.ref)
	}
	for _, si := range ignored {
		m := spanMemo{parent: si.parentID}
		var run *callRun
		switch p := r.placeOf(si); p.kind {
		case placeRun:
			run = p.run.final()
			m.run = run.id
		case placeOutside:
			m.outside = true
		}
		if run == nil {
			r.mem.remember(spanKey{si.traceID, si.spanID}, m, 0)
			continue
		}
		run.ref = r.mem.remember(spanKey{si.traceID, si.spanID}, m, run.ref)
	}
}

// nthRun is the id of a trace's run number n (from 0) when the convention
// gives none.
func nthRun(trace pcommon.TraceID, n int) string {
	if n == 0 {
		return trace.String()
	}
	return trace.String() + "-" + strconv.Itoa(n+1)
}

// compareSpans is the canonical order of spans: by start, end, trace and
// span id. A request's spans are translated in this order, whatever the
// order they came in (SPEC §4.1: the records of a request do not depend
// on the order of its spans).
func compareSpans(a, b *spanInfo) int {
	if c := cmp.Compare(a.startNanos, b.startNanos); c != 0 {
		return c
	}
	if c := cmp.Compare(a.endNanos, b.endNanos); c != 0 {
		return c
	}
	if c := compareBytes(a.traceID[:], b.traceID[:]); c != 0 {
		return c
	}
	return compareBytes(a.spanID[:], b.spanID[:])
}

func compareBytes(a, b []byte) int {
	for i := range a {
		if c := cmp.Compare(a[i], b[i]); c != 0 {
			return c
		}
	}
	return 0
}
