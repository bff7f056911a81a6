package translate

import (
	"cmp"
	"slices"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"
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

	graphName    string
	schemaJSON   string
	entryPoint   string // the convention's, when it names one
	initialState string

	nodes   []*nodeExec  // real node executions, ordered by ordering()
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

// collect classifies every span of td; unrecognised and "other" spans are
// counted and dropped, malformed parts are repaired or counted.
func (t *Translator) collect(td ptrace.Traces, infos []spanInfo, st *Stats) []*spanInfo {
	out := make([]*spanInfo, 0, len(infos))
	k := 0
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		res := rs.Resource()
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			ss := sss.At(j)
			scope := ss.Scope()
			spans := ss.Spans()
			for n := 0; n < spans.Len(); n++ {
				span := spans.At(n)
				st.Spans++
				si := &infos[k]
				k++
				if !t.classify(res, scope, span, si, st) {
					continue
				}
				if t.normalise(si, res, span, st) {
					out = append(out, si)
				}
			}
		}
	}
	return out
}

// classify runs the configured classifiers in order. A classifier that
// panics on some attribute shape costs that span, never the call.
func (t *Translator) classify(res pcommon.Resource, scope pcommon.InstrumentationScope, span ptrace.Span, si *spanInfo, st *Stats) (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			st.BadInput["classifier_panic"]++
			t.log.Warn("span classifier panicked; span skipped",
				zap.String("convention", si.convention), zap.Stringer("span_id", span.SpanID()))
			ok = false
		}
	}()
	for _, c := range t.classifiers {
		*si = spanInfo{}
		si.convention = c.name()
		if c.classify(res, scope, span, si) {
			if si.role == roleOther {
				reason := si.ignoreReason
				if reason == "" {
					reason = "other"
				}
				st.SpansIgnored[reason]++
				return false
			}
			return true
		}
	}
	st.SpansIgnored["unrecognised"]++
	return false
}

// normalise fills the span identity from the span itself and repairs or
// counts malformed parts; false drops the span.
func (t *Translator) normalise(si *spanInfo, res pcommon.Resource, span ptrace.Span, st *Stats) bool {
	si.span = span
	si.resource = res
	si.traceID = span.TraceID()
	si.spanID = span.SpanID()
	si.parentID = span.ParentSpanID()
	si.startNanos = uint64(span.StartTimestamp())
	si.endNanos = uint64(span.EndTimestamp())
	if si.badReason != "" {
		t.bad(st, si.badReason, si)
	}
	if si.traceID.IsEmpty() {
		t.bad(st, "missing_trace_id", si)
		return false
	}
	if si.endNanos < si.startNanos {
		t.bad(st, "end_before_start", si)
		si.endNanos = si.startNanos
	}
	if si.startNanos == 0 {
		t.bad(st, "missing_start_time", si)
	}
	invalid := false
	for _, p := range []*string{
		&si.threadID, &si.runID, &si.graphName, &si.nodeName, &si.model, &si.finishReason,
		&si.toolName, &si.callID, &si.routerChoice, &si.errorMessage, &si.exceptionType,
		&si.stackTrace, &si.graphEntryPoint,
	} {
		if *p != "" && !utf8.ValidString(*p) {
			*p = sanitiseUTF8(*p)
			invalid = true
		}
	}
	if invalid {
		t.bad(st, "invalid_utf8", si)
	}
	if si.role == roleNode && si.nodeName == "" {
		si.nodeName = span.Name()
		if !utf8.ValidString(si.nodeName) {
			si.nodeName = sanitiseUTF8(si.nodeName)
		}
	}
	t.boundNames(si, st)
	return true
}

// bad counts a bad-input reason and logs it without any value.
func (t *Translator) bad(st *Stats, reason string, si *spanInfo) {
	st.BadInput[reason]++
	if ce := t.log.Check(zap.DebugLevel, "bad input skipped"); ce != nil {
		ce.Write(zap.String("reason", reason), zap.String("convention", si.convention),
			zap.Stringer("trace_id", si.traceID), zap.Stringer("span_id", si.spanID))
	}
}

// traceAgg gathers what the spans of one trace in this call say about the
// trace's thread and run.
type traceAgg struct {
	wide, any, run string
	runFromGraph   bool
}

// group resolves each span's thread (SPEC §4.2) and run, and builds the
// per-thread, per-run work in order (SPEC §4.4).
func (t *Translator) group(spans []*spanInfo, st *Stats) map[string]*threadWork {
	block := min(len(spans), 32)
	var (
		aggSlab    = slab[traceAgg]{max: block}
		threadSlab = slab[threadWork]{max: block}
		runSlab    = slab[runWork]{max: block}
		nodeSlab   = slab[nodeExec]{max: block}
	)
	own := make([]string, len(spans))
	aggs := make(map[pcommon.TraceID]*traceAgg, 4)
	index := make(map[spanKey]*spanInfo, len(spans))
	for i, si := range spans {
		index[spanKey{si.traceID, si.spanID}] = si
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
			a = aggSlab.new()
			aggs[si.traceID] = a
		}
		if si.traceWideThread && si.threadID != "" && a.wide == "" {
			a.wide = si.threadID
		}
		if cand != "" && a.any == "" {
			a.any = cand
		}
		if si.runID != "" && (a.run == "" || (si.role == roleGraph && !a.runFromGraph)) {
			a.run = si.runID
			a.runFromGraph = si.role == roleGraph
		}
	}
	// Resolve per trace what is not told per span, and remember it.
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
		if known {
			if f.thread == "" {
				f.thread = mem.thread
			}
			if f.run == "" {
				f.run = mem.run
			}
		}
		// The last fallback of both, a trace id in hex, made once per trace
		// rather than per span (same result: resolveRun and the thread
		// choice below try it last).
		if f.thread == "" || f.run == "" {
			h := id.String()
			if f.thread == "" {
				f.thread = h
			}
			if f.run == "" {
				f.run = h
			}
		}
		facts[id] = f
	}

	threads := make(map[string]*threadWork, 2)
	normalised := make(map[string]string, 2)
	var order []*runWork
	for i, si := range spans {
		f := facts[si.traceID]
		raw := own[i]
		if raw == "" {
			raw = f.thread
		}
		if raw == "" {
			raw = si.traceID.String()
		}
		tid, ok := normalised[raw]
		if !ok {
			var changed bool
			tid, changed = normaliseThreadID(raw)
			if changed && len(raw) <= maxThreadIDLen {
				t.bad(st, "thread_id_invalid_utf8", si)
			}
			normalised[raw] = tid
		}
		runID := t.resolveRun(si, index, f)

		tw := threads[tid]
		if tw == nil {
			tw = threadSlab.new()
			tw.id = tid
			threads[tid] = tw
		}
		rw := tw.run(runID)
		if rw == nil {
			rw = runSlab.new()
			rw.runID, rw.firstStart, rw.firstSpan = runID, si.startNanos, si
			tw.addRun(rw)
			order = append(order, rw)
		} else if si.startNanos < rw.firstStart {
			rw.firstStart, rw.firstSpan = si.startNanos, si
		}
		rw.add(si, st, t, &nodeSlab)
	}
	for _, rw := range order {
		t.attach(rw, index, st)
	}
	for _, tw := range threads {
		slices.SortStableFunc(tw.runs, func(a, b *runWork) int { return cmp.Compare(a.firstStart, b.firstStart) })
	}
	return threads
}

// resolveRun: the convention's run id, else that of an ancestor in this
// call, else what the trace says (in this call or remembered), else the
// trace id.
func (t *Translator) resolveRun(si *spanInfo, index map[spanKey]*spanInfo, f traceFacts) string {
	if si.runID != "" {
		return si.runID
	}
	p := si
	for hop := 0; hop < maxParentHops && !p.parentID.IsEmpty(); hop++ {
		p = index[spanKey{si.traceID, p.parentID}]
		if p == nil {
			break
		}
		if p.runID != "" {
			return p.runID
		}
	}
	if f.run != "" {
		return f.run
	}
	return si.traceID.String()
}

// add files one span under its run.
func (rw *runWork) add(si *spanInfo, st *Stats, t *Translator, nodes *slab[nodeExec]) {
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
			t.bad(st, "duplicate_graph_span", si)
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
		rw.nodes = append(rw.nodes, n)
	case roleLLM, roleTool, roleCheckpointSave, roleRouter:
		// attached to nodes by attach once the whole call is indexed
		rw.orphans = append(rw.orphans, si)
	}
}

// attach moves llm/tool/checkpoint spans under their enclosing node
// execution (parent links first, the convention's node hint second),
// records router decisions, and orders the node executions.
func (t *Translator) attach(rw *runWork, index map[spanKey]*spanInfo, st *Stats) {
	t.placeFlat(rw, st)
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
	byInfo := make(map[*spanInfo]*nodeExec, len(rw.nodes))
	for _, ne := range rw.nodes {
		byInfo[ne.si] = ne
	}
	rest := rw.orphans[:0]
	for _, si := range rw.orphans {
		ne, parentMissing := enclosingNode(si, index, byInfo)
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
				t.bad(st, "router_without_node", si)
			}
			continue
		}
		if ne != nil {
			ne.children = append(ne.children, si)
			continue
		}
		if parentMissing && si.nodeName == "" {
			t.bad(st, "missing_parent", si)
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
// call; parentMissing reports a parent link that leads outside the call.
func enclosingNode(si *spanInfo, index map[spanKey]*spanInfo, byInfo map[*spanInfo]*nodeExec) (ne *nodeExec, parentMissing bool) {
	p := si
	for hop := 0; hop < maxParentHops; hop++ {
		if p.parentID.IsEmpty() {
			return nil, false
		}
		p = index[spanKey{si.traceID, p.parentID}]
		if p == nil {
			return nil, true
		}
		if ne, ok := byInfo[p]; ok {
			return ne, false
		}
		if p.role == roleGraph {
			return nil, false
		}
	}
	return nil, false
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
