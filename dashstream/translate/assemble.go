package translate

import (
	"cmp"
	"slices"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// maxParentHops bounds parent-link walks (cycles in malformed input).
const maxParentHops = 64

// spanKey identifies a span within one call.
type spanKey struct {
	trace pcommon.TraceID
	span  pcommon.SpanID
}

// threadWork is everything one call brings for one thread, runs in order.
type threadWork struct {
	id   string
	runs []*runWork
	idx  map[string]*runWork // by run id, once runs is too long to search
	run1 [1]*runWork         // runs while there is one (no allocation)
}

// threadIndexAfter is how many runs a thread's work holds before they are
// found through a map rather than by looking at each: one or two in nearly
// every call.
const threadIndexAfter = 8

// run returns the thread's work for runID, nil when it has none yet.
func (tw *threadWork) run(runID string) *runWork {
	if tw.idx != nil {
		return tw.idx[runID]
	}
	for _, rw := range tw.runs {
		if rw.runID == runID {
			return rw
		}
	}
	return nil
}

// addRun appends rw (a run the thread has no work for yet).
func (tw *threadWork) addRun(rw *runWork) {
	if tw.runs == nil {
		tw.runs = tw.run1[:0]
	}
	tw.runs = append(tw.runs, rw)
	switch {
	case tw.idx != nil:
		tw.idx[rw.runID] = rw
	case len(tw.runs) > threadIndexAfter:
		tw.idx = make(map[string]*runWork, 2*len(tw.runs))
		for _, r := range tw.runs {
			tw.idx[r.runID] = r
		}
	}
}

// runWork is what one call brings for one run.
type runWork struct {
	runID      string
	firstStart uint64
	firstSpan  *spanInfo
	graph      *spanInfo
	// thread is the thread the run's spans of this call are on.
	thread string
	// own is the span the run is the execution of (runs.go): its graph
	// span, or the lone span it wraps; nil when it is not in this call.
	own *spanInfo

	graphName    string
	schemaJSON   string
	entryPoint   string // the convention's, when it names one
	initialState string

	nodes   []*nodeExec  // real node executions, ordered by ordering()
	node1   [1]*nodeExec // nodes while there is one (no allocation)
	pseudo  []*spanInfo  // __start__/__end__ spans: state only
	orphans []*spanInfo  // llm/tool/checkpoint spans without a node here
	routers []routerMemo // router decisions seen in this call
}

// nodeExec is one node execution and the llm/tool spans nested under it.
type nodeExec struct {
	si       *spanInfo
	children []*spanInfo
}

// isPseudoNode: LangGraph's __start__ and __end__ are not nodes (SPEC §4.1).
func isPseudoNode(name string) bool { return name == "__start__" || name == "__end__" }

// traceAgg gathers what the spans of one trace in this call say about the
// trace's thread and run.
type traceAgg struct {
	wide, any, run string
	runFromGraph   bool
}

// assemble is the third stage of a call: it puts the collected spans in
// canonical order (the records of a request do not depend on the order of
// its spans), drops spans seen before (duplicate_span), places each span in
// its run (runs.go) and thread (SPEC §4.2), and builds the per-thread,
// per-run work in order (SPEC §4.4), with its node executions, their
// nested spans and the runs' router decisions.
func (t *Translator) assemble(c collected, st *Stats, found *issues) map[string]*threadWork {
	spans := c.spans
	slices.SortFunc(spans, compareSpans)
	slices.SortFunc(c.ignored, compareSpans)
	block := min(len(spans), 32)
	var (
		aggSlab    = slab[traceAgg]{max: block}
		threadSlab = slab[threadWork]{max: block}
		runSlab    = slab[runWork]{max: block}
		nodeSlab   = slab[nodeExec]{max: block}
	)
	// The convention's run ids of each trace (a graph span's first).
	aggs := make(map[pcommon.TraceID]*traceAgg, 4)
	for _, si := range spans {
		a := aggs[si.traceID]
		if a == nil {
			a = aggSlab.new()
			aggs[si.traceID] = a
		}
		if si.runID != "" && (a.run == "" || (si.role == roleGraph && !a.runFromGraph)) {
			a.run = si.runID
			a.runFromGraph = si.role == roleGraph
		}
	}
	runFacts := make(map[pcommon.TraceID]traceFacts, len(aggs))
	for id, a := range aggs {
		f := traceFacts{run: a.run}
		if f.run == "" {
			if mem, known := t.traces.get(id); known {
				f.run = mem.run
			}
		}
		runFacts[id] = f
	}
	spans, index := t.resolveRuns(spans, c.ignored, runFacts, found, st)
	if len(spans) == 0 {
		return nil
	}

	// A run's own span naming no thread takes the one an application span
	// above it names (a tracer SDK's root span's session.id): the thread
	// of the whole trace.
	for _, si := range spans {
		if si.runOwn && si.role == roleGraph && si.threadID == "" {
			if th := transparentThread(si, index, t.cfg.ThreadAttribute); th != "" {
				si.threadID, si.traceWideThread = th, true
			}
		}
	}

	// Threads: the span's own, else what its trace says (in this call or
	// remembered), else the trace id.
	own := make([]string, len(spans))
	for _, a := range aggs {
		a.wide, a.any = "", ""
	}
	for i, si := range spans {
		cand := si.threadID
		if cand == "" && t.cfg.ThreadAttribute != "" {
			cand = attrString(si.span.Attributes(), t.cfg.ThreadAttribute)
			if cand == "" {
				cand = attrString(si.resource.Attributes(), t.cfg.ThreadAttribute)
			}
			if cand != "" && !utf8.ValidString(cand) {
				cand = sanitiseUTF8(cand)
			}
		}
		own[i] = cand
		a := aggs[si.traceID]
		if a == nil {
			// A span only ending a run (runs.go, closeByIgnored).
			a = aggSlab.new()
			aggs[si.traceID] = a
		}
		if si.traceWideThread && si.threadID != "" && a.wide == "" {
			a.wide = si.threadID
		}
		if cand != "" && a.any == "" {
			a.any = cand
		}
	}
	facts := make(map[pcommon.TraceID]traceFacts, len(aggs))
	for id, a := range aggs {
		f := traceFacts{thread: a.wide, run: a.run}
		if f.thread == "" {
			f.thread = a.any
		}
		mem, known := t.traces.get(id)
		if f.thread != "" || f.run != "" {
			t.traces.learn(id, f)
		}
		if known && f.thread == "" {
			f.thread = mem.thread
		}
		if f.thread == "" {
			f.thread = id.String()
		}
		facts[id] = f
	}

	// A trace is usually one run on one thread: sized for that, the maps
	// are not regrown as they fill.
	threads := make(map[string]*threadWork, len(aggs))
	normalised := make(map[string]string, len(aggs))
	homes := make(map[runKey]runHome, len(aggs))
	var order []*runWork
	for i, si := range spans {
		raw := own[i]
		if raw == "" {
			raw = facts[si.traceID].thread
		}
		tid, ok := normalised[raw]
		if !ok {
			var changed bool
			tid, changed = normaliseThreadID(raw)
			if changed && len(raw) <= maxThreadIDLen {
				found.add("thread_id_invalid_utf8", si)
			}
			normalised[raw] = tid
		}
		rk := runKey{si.traceID, si.run}
		if _, ok := homes[rk]; !ok {
			homes[rk] = runHome{thread: t.spans.runThread(rk, tid), firstHere: tid}
		}
		tw := threads[tid]
		if tw == nil {
			tw = threadSlab.new()
			tw.id = tid
			threads[tid] = tw
		}
		rw := tw.run(si.run)
		if rw == nil {
			rw = runSlab.new()
			rw.runID, rw.firstStart, rw.firstSpan = si.run, si.startNanos, si
			rw.thread = tid
			tw.addRun(rw)
			order = append(order, rw)
		} else if si.startNanos < rw.firstStart {
			rw.firstStart, rw.firstSpan = si.startNanos, si
		}
		rw.add(si, found, &nodeSlab)
	}
	for _, rw := range order {
		if h := homes[runKey{rw.firstSpan.traceID, rw.runID}]; h.thread != "" && h.thread != rw.thread {
			t.endElsewhere(rw, h.thread, threads, &threadSlab, &runSlab, &order)
		}
	}
	for _, rw := range order {
		attach(rw, index, found)
	}
	for _, tw := range threads {
		slices.SortStableFunc(tw.runs, func(a, b *runWork) int { return cmp.Compare(a.firstStart, b.firstStart) })
	}
	return threads
}

// runHome is the thread a run started on.
type runHome struct{ thread, firstHere string }

// endElsewhere ends a run that is on two threads. The spans of a trace go
// to the thread they name, else the one their trace names, else the trace
// id; when the span naming the thread comes after others of the run (in a
// later request), the run's spans are on two threads. Each of them ends:
// the run's own span, here on rw's thread, also ends it on the thread it
// started on (home); when the run's own span came in an earlier request,
// the run's part on this new thread ends with its last span here.
func (t *Translator) endElsewhere(rw *runWork, home string, threads map[string]*threadWork,
	threadSlab *slab[threadWork], runSlab *slab[runWork], order *[]*runWork) {
	if rw.own != nil {
		closer := *rw.own
		closer.role, closer.runOwn, closer.closer = roleOther, true, true
		closer.finalState = ""
		tw := threads[home]
		if tw == nil {
			tw = threadSlab.new()
			tw.id = home
			threads[home] = tw
		}
		hr := tw.run(rw.runID)
		if hr == nil {
			hr = runSlab.new()
			hr.runID, hr.firstStart, hr.firstSpan, hr.thread = rw.runID, closer.startNanos, &closer, home
			tw.addRun(hr)
			*order = append(*order, hr)
		}
		hr.own = &closer
		return
	}
	if !t.spans.ended(runKey{rw.firstSpan.traceID, rw.runID}) {
		return
	}
	last := rw.firstSpan
	for _, ne := range rw.nodes {
		if ne.si.endNanos > last.endNanos {
			last = ne.si
		}
	}
	for _, si := range append(rw.orphans, rw.pseudo...) {
		if si.endNanos > last.endNanos {
			last = si
		}
	}
	closer := *last
	closer.role, closer.runOwn, closer.closer = roleOther, true, true
	closer.finalState, closer.failed = "", false
	rw.own = &closer
}

// dropDuplicates removes the spans seen before, in this call or an earlier
// one still in the span memory (an SDK retrying an export whose answer it
// missed sends the same spans again): they produce nothing new, and are
// counted as ignored, reason duplicate_span. spans are in canonical order;
// index (the call's ignored spans) gets the spans kept, which have no memo in
// the span memory (resolver.remember adds theirs without looking again).
// The span memory is locked by the caller.
func (t *Translator) dropDuplicates(spans []*spanInfo, index map[spanKey]*spanInfo, st *Stats) []*spanInfo {
	out := spans[:0]
	for _, si := range spans {
		k := spanKey{si.traceID, si.spanID}
		_, dup := index[k]
		if !dup {
			_, dup = t.spans.lookup(k)
		}
		if dup {
			st.SpansIgnored[ignoreDuplicateSpan]++
			continue
		}
		index[k] = si
		out = append(out, si)
	}
	return out
}

// ignoreDuplicateSpan counts a span received again.
const ignoreDuplicateSpan = "duplicate_span"

// add files one span under its run.
func (rw *runWork) add(si *spanInfo, found *issues, nodes *slab[nodeExec]) {
	if si.runOwn {
		rw.own = si
	}
	if si.graphName != "" && (rw.graphName == "" || si.role == roleGraph) {
		rw.graphName = si.graphName
	}
	if si.graphSchemaJSON != "" && (rw.schemaJSON == "" || si.role == roleGraph) {
		rw.schemaJSON = si.graphSchemaJSON
	}
	if si.graphEntryPoint != "" && (rw.entryPoint == "" || si.role == roleGraph) {
		rw.entryPoint = si.graphEntryPoint
	}
	if si.initialState != "" && (rw.initialState == "" || si.role == roleGraph) {
		rw.initialState = si.initialState
	}
	switch si.role {
	case roleGraph:
		if rw.graph != nil {
			found.add("duplicate_graph_span", si)
			return
		}
		rw.graph = si
	case roleNode:
		if isPseudoNode(si.nodeName) {
			rw.pseudo = append(rw.pseudo, si)
			return
		}
		n := nodes.new()
		n.si = si
		if rw.nodes == nil {
			rw.nodes = rw.node1[:0]
		}
		rw.nodes = append(rw.nodes, n)
	case roleLLM, roleTool, roleCheckpointSave, roleRouter:
		// attached to nodes by attach once the whole call is indexed
		rw.orphans = append(rw.orphans, si)
	}
}

// attach moves llm/tool/checkpoint spans under their enclosing node
// execution (parent links first, the convention's node hint second),
// records router decisions, and orders the node executions.
func attach(rw *runWork, index map[spanKey]*spanInfo, found *issues) {
	placeFlat(rw, found)
	slices.SortStableFunc(rw.nodes, compareNodes(allHaveSteps(rw.nodes)))
	if rw.graphName == "" && rw.graph != nil {
		// A run span without a name (Google ADK's invocation) is named
		// after its first node directly under it (the root agent).
		for _, ne := range rw.nodes {
			if ne.si.parentID == rw.graph.spanID {
				rw.graphName = ne.si.nodeName
				break
			}
		}
	}
	if rw.graphName == "" && rw.own != nil && rw.own != rw.graph {
		// A run of a lone span (no graph or agent above it) is named
		// after it.
		rw.graphName = nonEmpty(rw.own.nodeName, rw.own.span.Name())
	}
	byInfo := make(map[*spanInfo]*nodeExec, len(rw.nodes))
	for _, ne := range rw.nodes {
		byInfo[ne.si] = ne
	}
	rest := rw.orphans[:0]
	for _, si := range rw.orphans {
		ne := enclosingNode(si, index, byInfo)
		if ne == nil && si.nodeName != "" {
			ne = nodeByHint(rw.nodes, si.nodeName, si.startNanos)
		}
		if si.role == roleRouter {
			m := routerMemo{node: si.nodeName, step: si.step, hasStep: si.hasStep, choice: si.routerChoice, condition: si.span.Name()}
			if ne != nil {
				m.node, m.step, m.hasStep = ne.si.nodeName, ne.si.step, ne.si.hasStep
			}
			if m.node != "" {
				rw.routers = append(rw.routers, m)
			} else {
				found.add("router_without_node", si)
			}
			continue
		}
		if ne != nil {
			ne.children = append(ne.children, si)
			continue
		}
		rest = append(rest, si)
	}
	rw.orphans = rest
	slices.SortStableFunc(rw.orphans, func(a, b *spanInfo) int { return cmp.Compare(a.startNanos, b.startNanos) })
	slices.SortStableFunc(rw.pseudo, func(a, b *spanInfo) int { return cmp.Compare(a.startNanos, b.startNanos) })
	for _, ne := range rw.nodes {
		slices.SortStableFunc(ne.children, func(a, b *spanInfo) int { return cmp.Compare(a.startNanos, b.startNanos) })
		ne.stateFromChildren()
	}
}

// stateFromChildren gives a node that carries no state of its own the
// conversation its model calls carry (GenAI agent runtimes): the first
// call's input before, the last call's input and output after.
func (ne *nodeExec) stateFromChildren() {
	si := ne.si
	if si.stateBefore != "" || si.stateAfter != "" {
		return
	}
	for _, c := range ne.children {
		if c.role == roleLLM && c.stateBefore != "" {
			si.stateBefore = c.stateBefore
			break
		}
	}
	for i := len(ne.children) - 1; i >= 0; i-- {
		if c := ne.children[i]; c.role == roleLLM && c.stateAfter != "" {
			si.stateAfter = c.stateAfter
			break
		}
	}
}

// enclosingNode walks parent links to the nearest node execution in this
// call, through the spans we ignore (index holds them too) and stopping at
// the run's graph span.
func enclosingNode(si *spanInfo, index map[spanKey]*spanInfo, byInfo map[*spanInfo]*nodeExec) *nodeExec {
	p := si
	for hop := 0; hop < maxParentHops; hop++ {
		if p.parentID.IsEmpty() {
			return nil
		}
		p = index[spanKey{si.traceID, p.parentID}]
		if p == nil {
			return nil
		}
		if ne, ok := byInfo[p]; ok {
			return ne
		}
		if p.role == roleGraph {
			return nil
		}
	}
	return nil
}

// nodeByHint finds the execution of node name that was running at ts, else
// the latest one that started before ts.
func nodeByHint(nodes []*nodeExec, name string, ts uint64) *nodeExec {
	var best *nodeExec
	for _, ne := range nodes {
		if ne.si.nodeName != name {
			continue
		}
		if ne.si.startNanos <= ts && ts <= ne.si.endNanos {
			return ne
		}
		if ne.si.startNanos <= ts {
			best = ne
		}
	}
	return best
}

func allHaveSteps(nodes []*nodeExec) bool {
	for _, ne := range nodes {
		if !ne.si.hasStep {
			return false
		}
	}
	return true
}

// compareNodes orders node executions by step then start time (SPEC §4.4),
// or by start time alone when some have no step.
func compareNodes(bySteps bool) func(a, b *nodeExec) int {
	return func(a, b *nodeExec) int {
		if bySteps {
			if c := cmp.Compare(a.si.step, b.si.step); c != 0 {
				return c
			}
		}
		if c := cmp.Compare(a.si.startNanos, b.si.startNanos); c != 0 {
			return c
		}
		return cmp.Compare(a.si.endNanos, b.si.endNanos)
	}
}

// attrString reads an attribute as a string ("" when absent).
func attrString(m pcommon.Map, key string) string {
	v, ok := m.Get(key)
	if !ok {
		return ""
	}
	if v.Type() == pcommon.ValueTypeStr {
		return v.Str()
	}
	return v.AsString()
}

// slab hands out zeroed values from blocks of growing size (1, 2, 4, …
// up to max): grouping makes a few small structs per span, which would
// otherwise each be an allocation, and a call with one thread needs one
// of them. Nothing is ever returned to it.
type slab[T any] struct {
	free      []T
	next, max int
}

func (s *slab[T]) new() *T {
	if len(s.free) == 0 {
		n := min(max(s.next, 1), max(s.max, 1))
		s.free = make([]T, n)
		s.next = 2 * n
	}
	p := &s.free[0]
	s.free = s.free[1:]
	return p
}

// transparentThreadKeys name a thread on a span we do not recognise: the
// session of OpenInference and of the Langfuse SDKs (their root span
// carries the trace's session.id), the GenAI conversation.
var transparentThreadKeys = [...]string{oiKeySessionID, genAIKeyConversationID}

// transparentThread is the thread the nearest ignored ancestor of si
// naming one names (its thread keys, else the configured thread
// attribute), "" when none does. Only spans we ignore count: a recognised
// ancestor's thread is already the run's.
func transparentThread(si *spanInfo, index map[spanKey]*spanInfo, attr string) string {
	k := spanKey{si.traceID, si.parentID}
	for hop := 0; hop < maxParentHops && !k.span.IsEmpty(); hop++ {
		p := index[k]
		if p == nil || p.role != roleOther {
			return ""
		}
		attrs := p.span.Attributes()
		for _, key := range transparentThreadKeys {
			if s := attrString(attrs, key); s != "" {
				return sanitisedThread(s)
			}
		}
		if attr != "" {
			if s := attrString(attrs, attr); s != "" {
				return sanitisedThread(s)
			}
		}
		k.span = p.parentID
	}
	return ""
}

// sanitisedThread keeps a thread id valid UTF-8.
func sanitisedThread(s string) string {
	if !utf8.ValidString(s) {
		return sanitiseUTF8(s)
	}
	return s
}
