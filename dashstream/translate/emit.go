package translate

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/dashstream/dashstreamexporter/dashstream"
	pb "github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
)

// emitter builds one thread's messages of one call, in order, under the
// thread's session lock, and encodes each into a record exactly once.
type emitter struct {
	t   *Translator
	ctx context.Context
	s   *session
	res *Result
	key []byte
	ar  *callArena
	// found collects the bad input met while emitting; Translate accounts
	// for it.
	found *issues
	// now is the call's time (unix nanos), for the run timeout.
	now int64
	// restDue: a run of the thread ended; the session's state rests once
	// the call is done with the thread (see restDueState).
	restDue bool
}

// callArena lends one Translate call's emitters the protobuf structs of the
// events they build. Those structs only live until the event is encoded
// (the record keeps the bytes), so one attribute map, its values and the
// message structs serve every event in turn, instead of a handful of
// allocations per record. It is used by one goroutine (the call's emitters
// run one after another) and dropped with the call.
type callArena struct {
	// lent: a builder holds the map and values until its event is encoded;
	// a builder started meanwhile allocates its own.
	lent   bool
	m      map[string]*pb.AttributeValue
	strs   valuePool[strAttr]
	ints   valuePool[intAttr]
	floats valuePool[floatAttr]
	bools  valuePool[boolAttr]
	// ev: the Event message structs, refilled by every event.
	ev eventAlloc
	// sd: the StateDiff message structs and hash, refilled by every diff.
	sd stateDiffAlloc
	// cp: the Checkpoint message structs, refilled by every checkpoint.
	cp checkpointAlloc
	// spans: record data (headers, request id) of the most recent source
	// spans, so the several records of a span share it.
	spans    [spanCacheSize]spanCache
	nextSpan int
	// hdrs: block the record headers of each span are carved from; those
	// outlive the call (records keep them).
	hdrs      []spanHeaders
	hdrsBlock int
	// children: the scratch slice of emitter.children.
	children []childEvent
	// text: the compact state text of the StateDiff or Checkpoint being
	// built (encoded before the next one is).
	text []byte
	// learnNodes: scratch of observedGraph.learn.
	learnNodes []string
	// differ and ops: the operations of the StateDiff being built.
	differ dashstream.StateDiffer
	ops    dashstream.ProtoOps
	// restText and restEnc: scratch of restState's compression (the
	// session keeps an exact-size copy).
	restText, restEnc []byte
}

// spanCacheSize covers a node span whose END follows its llm and tool
// children's records.
const spanCacheSize = 4

// spanCache is what the records of one source span share.
type spanCache struct {
	si      *spanInfo
	headers []Header
	reqID   string
}

// spanHeaders holds a span's record headers and traceparent text in one
// allocation (four headers: traceparent, tracestate, two static ones).
type spanHeaders struct {
	hs [4]Header
	tp [55]byte
}

func newCallArena(spans int) *callArena {
	a := &callArena{hdrsBlock: min(max(spans, 4), 64)}
	a.ev.ev.Header = &a.ev.hdr
	a.ev.wrap.Event = &a.ev.ev
	a.ev.msg.Message = &a.ev.wrap
	a.sd.sd.Header = &a.sd.hdr
	a.sd.wrap.StateDiff = &a.sd.sd
	a.sd.msg.Message = &a.sd.wrap
	a.cp.meta = make(map[string]string, 4)
	a.cp.cp.Header, a.cp.cp.Metadata = &a.cp.hdr, a.cp.meta
	a.cp.wrap.Checkpoint = &a.cp.cp
	a.cp.msg.Message = &a.cp.wrap
	return a
}

// maxPooledText bounds the state text buffer a recycled arena keeps.
const maxPooledText = 256 << 10

// takeArena returns a call arena for a call of about spans spans: a
// recycled one when there is one.
func (t *Translator) takeArena(spans int) *callArena {
	a, _ := t.arenas.Get().(*callArena)
	if a == nil {
		return newCallArena(spans)
	}
	a.hdrsBlock = min(max(spans, 4), 64)
	return a
}

// putArena recycles a once its call has emitted everything. Nothing it
// lent is in use then: the builders are released, the message structs
// encoded. The header block's carved entries belong to the records; the
// rest is handed out by later calls.
func (t *Translator) putArena(a *callArena) {
	if a.lent {
		return // a builder still holds the map (a bug, never reuse it)
	}
	a.spans = [spanCacheSize]spanCache{} // spanInfos are recycled too
	a.nextSpan = 0
	clear(a.children[:cap(a.children)])
	a.children = a.children[:0]
	a.ev.ev.Attributes = nil
	a.sd.sd.BaseCheckpointId, a.sd.sd.Operations, a.sd.sd.FullState = nil, nil, nil
	clear(a.cp.meta) // no run or node name stays pinned
	if cap(a.text) > maxPooledText {
		a.text = nil // one huge state does not stay pinned
	}
	if cap(a.restText) > maxPooledText || cap(a.restEnc) > maxPooledText {
		a.restText, a.restEnc = nil, nil
	}
	t.arenas.Put(a)
}

// builder starts an attribute builder on the arena's map and values, or on
// its own when another builder holds them.
func (a *callArena) builder(b attrBuilder, capacity int) attrBuilder {
	if a.lent {
		b.m = make(map[string]*pb.AttributeValue, capacity)
		return b
	}
	a.lent = true
	if a.m == nil {
		a.m = make(map[string]*pb.AttributeValue, 8)
	}
	b.m, b.ar = a.m, a
	return b
}

// release takes back what b was lent, once its event is encoded.
func (a *callArena) release(b *attrBuilder) {
	if b.ar == a {
		clear(a.m)
		a.strs.n, a.ints.n, a.floats.n, a.bools.n = 0, 0, 0, 0
		a.lent = false
	}
	b.m, b.ar = nil, nil
}

// span returns the cache entry of src, taking the oldest slot on a miss.
func (a *callArena) span(src *spanInfo) *spanCache {
	for i := range a.spans {
		if a.spans[i].si == src {
			return &a.spans[i]
		}
	}
	c := &a.spans[a.nextSpan]
	a.nextSpan = (a.nextSpan + 1) % spanCacheSize
	*c = spanCache{si: src}
	return c
}

// thread emits every run of the thread, runs by first start time.
// Runs quiet for longer than the run timeout end first.
func (e *emitter) thread(tw *threadWork) {
	e.key = e.s.recordKey()
	e.expire()
	for _, rw := range tw.runs {
		e.run(rw)
	}
	e.restDueState()
	e.s.noteOpenRuns()
}

// run emits one run's part of this call (SPEC §4.4).
func (e *emitter) run(rw *runWork) {
	rs := e.s.runs.get(rw.runID)
	if rs.timedOut {
		e.dropLate(rw)
		return
	}
	rs.lastSeen = e.now
	for _, m := range rw.routers {
		rs.addRouter(m)
	}
	if rs.graph == nil {
		rs.graph = e.s.graphs.get(rw.graphName)
	}
	if rw.schemaJSON == "" {
		rs.graph.learn(rw, rs, &e.ar.learnNodes)
	}
	if !rs.started {
		e.graphStart(rw, rs)
	}
	// Group node executions sharing a step (parallel), and interleave the
	// spans without a node (orphans, pseudo-nodes) by start time.
	bySteps := allHaveSteps(rw.nodes)
	oi, pi := 0, 0
	for i := 0; i < len(rw.nodes); {
		j := groupEnd(rw.nodes, i, bySteps)
		group := rw.nodes[i:j]
		start := group[0].si.startNanos
		for ; pi < len(rw.pseudo) && rw.pseudo[pi].startNanos <= start; pi++ {
			e.pseudoNode(rw, rs, rw.pseudo[pi])
		}
		for ; oi < len(rw.orphans) && rw.orphans[oi].startNanos < start; oi++ {
			e.children(rw, rs, []*spanInfo{rw.orphans[oi]}, rw.orphans[oi].nodeName)
		}
		e.group(rw, rs, group)
		i = j
	}
	for ; pi < len(rw.pseudo); pi++ {
		e.pseudoNode(rw, rs, rw.pseudo[pi])
	}
	if oi < len(rw.orphans) {
		rest := rw.orphans[oi:]
		for _, o := range rest {
			e.children(rw, rs, []*spanInfo{o}, o.nodeName)
		}
	}
	if rw.own != nil {
		e.graphEnd(rw, rs)
	}
}

// graphStart emits the run's only GRAPH_START and resets the diff base to
// exactly what it carries (SPEC §4.5).
func (e *emitter) graphStart(rw *runWork, rs *runState) {
	rs.started = true
	src := rw.firstSpan
	if rw.own != nil {
		src = rw.own
	}
	rs.origin = e.origin(src)
	ab := e.attrs(6)
	ab.str("graph_name", rw.graphName)
	ab.str("run_id", rw.runID)
	schema, observed := rw.schemaJSON, false
	if schema == "" {
		schema, observed = rs.graph.schemaJSON(e.t.cfg.AttributeMaxBytes), true
	}
	if schema != "" {
		if len(schema) > e.t.cfg.AttributeMaxBytes {
			e.found.add("schema_too_large", src)
		} else if text, ok := normalisedSchema(schema, observed); !ok {
			e.found.add("schema_not_json", src)
		} else {
			sum := sha256.Sum256([]byte(text))
			ab.strRaw("graph_schema_json", text)
			ab.strRaw("schema_id", hex.EncodeToString(sum[:]))
		}
	}
	raw := rw.initialState
	if raw == "" && len(rw.nodes) > 0 {
		raw = rw.nodes[0].si.stateBefore
	}
	var base *dashstream.StateDoc
	if raw != "" {
		doc, reason := e.buildState(raw, false)
		if reason != "" {
			e.found.add(reason, src)
		} else {
			e.res.Stats.Redactions += int64(doc.Redactions())
			if doc.JSONLen() > e.t.cfg.AttributeMaxBytes {
				// A JSON document cannot be truncated: leave it out; the
				// base is {} and the next StateDiff carries the state.
				e.found.add("initial_state_too_large", src)
			} else {
				ab.strRaw("initial_state_json", string(doc.CompactJSON()))
				base = doc
			}
		}
	}
	if base == nil {
		base = emptyState()
	}
	// A thread resyncing after a loss stays so: its next StateDiff is full.
	e.event(pb.EventType_EVENT_TYPE_GRAPH_START, "", rw.firstStart, src, &ab, 0, "")
	e.setState(base)
}

// graphEnd emits the final state and GRAPH_END / GRAPH_ERROR once per run,
// when the run's own span (its graph span, or the lone span it is) ends.
func (e *emitter) graphEnd(rw *runWork, rs *runState) {
	g := rw.own
	if rs.ended && g.closer {
		return
	}
	if rs.ended {
		e.found.add("duplicate_graph_span", g)
		return
	}
	rs.ended = true
	if g.finalState != "" {
		rs.hasStatePos, rs.maxStatePos, rs.maxStateTime = true, math.MaxInt64, math.MaxUint64
		e.snapshot(g.finalState, g.endNanos, g, rw.runID, "", "")
	}
	dur := durationMicros(g)
	ab := e.attrs(4)
	// The run it ends: runs of a thread may interleave (one waiting for
	// its own span while the next starts), so consumers match ends by it.
	ab.str("run_id", rw.runID)
	if g.failed {
		ab.str("error", nonEmpty(g.errorMessage, "error"))
		ab.str("exception_type", g.exceptionType)
		e.event(pb.EventType_EVENT_TYPE_GRAPH_ERROR, "", g.endNanos, g, &ab, dur, "")
		e.restDue = true
		rs.origin = nil
		return
	}
	ab.float("duration_us", float64(dur))
	e.event(pb.EventType_EVENT_TYPE_GRAPH_END, "", g.endNanos, g, &ab, dur, "")
	e.restDue = true
	rs.origin = nil // only the run timeout needs it
}

// group emits one step's node executions: edges from the previous step,
// PARALLEL_START/END around several distinct nodes, then each execution
// (the same node twice in a step is a retry, not parallelism).
func (e *emitter) group(rw *runWork, rs *runState, group []*nodeExec) {
	names := distinctNames(group)
	e.edges(rs, group, names)
	parallel := len(names) > 1
	if parallel {
		ab := e.attrs(2)
		ab.str("nodes", strings.Join(names, ","))
		ab.int("step", group[0].si.step)
		e.event(pb.EventType_EVENT_TYPE_PARALLEL_START, "", group[0].si.startNanos, group[0].si, &ab, 0, "")
	}
	var end uint64
	for _, ne := range group {
		e.node(rw, rs, ne)
		end = max(end, ne.si.endNanos)
	}
	if parallel {
		ab := e.attrs(2)
		ab.str("nodes", strings.Join(names, ","))
		ab.int("step", group[0].si.step)
		e.event(pb.EventType_EVENT_TYPE_PARALLEL_END, "", end, group[len(group)-1].si, &ab, 0, "")
	}
}

// groupEnd returns the end of the step group starting at nodes[i]: the
// executions sharing its step when every execution has one, else just it.
func groupEnd(nodes []*nodeExec, i int, bySteps bool) int {
	j := i + 1
	if bySteps {
		for j < len(nodes) && nodes[j].si.step == nodes[i].si.step {
			j++
		}
	}
	return j
}

// distinctNames returns the node names of a group, first occurrence order.
func distinctNames(group []*nodeExec) []string {
	names := make([]string, 0, len(group))
	for _, ne := range group {
		if !slices.Contains(names, ne.si.nodeName) {
			names = append(names, ne.si.nodeName)
		}
	}
	return names
}

// edges emits EDGE_TRAVERSAL / CONDITIONAL_BRANCH from the run's previous
// step (possibly emitted in an earlier call) to this group, when the group
// comes after it; a late group (its successors already emitted) gets none,
// and neither does the retry of a node that just failed. The group becomes
// the run's newest step unless it is late.
func (e *emitter) edges(rs *runState, group []*nodeExec, names []string) {
	if !rs.last.follows(group) {
		return
	}
	if rs.last.leadsTo(names) {
		for _, from := range rs.last.nodes {
			m, conditional := rs.router(from, rs.last.step, rs.last.hasStep)
			for _, to := range names {
				ne := firstNamed(group, to)
				ab := e.attrs(4)
				ab.str("from", from)
				ab.str("to", to)
				typ := pb.EventType_EVENT_TYPE_EDGE_TRAVERSAL
				if conditional {
					typ = pb.EventType_EVENT_TYPE_CONDITIONAL_BRANCH
					ab.str("condition", nonEmpty(m.condition, m.choice))
					ab.str("branch", m.choice)
				}
				e.event(typ, from, ne.si.startNanos, ne.si, &ab, 0, "")
			}
		}
	}
	rs.last.moveTo(group, names)
}

func firstNamed(group []*nodeExec, name string) *nodeExec {
	for _, ne := range group {
		if ne.si.nodeName == name {
			return ne
		}
	}
	return group[0]
}

// node emits one node execution: state before, NODE_START, nested events,
// state after, NODE_END or NODE_ERROR (+ Error).
func (e *emitter) node(rw *runWork, rs *runState, ne *nodeExec) {
	si := ne.si
	step := ""
	if si.hasStep {
		step = strconv.FormatInt(si.step, 10)
	}
	if si.stateBefore != "" && forward(rs, si, false) {
		e.snapshot(si.stateBefore, si.startNanos, si, rw.runID, si.nodeName, step)
	}
	ab := e.attrs(1)
	if si.hasStep {
		ab.int("step", si.step)
	}
	e.event(pb.EventType_EVENT_TYPE_NODE_START, si.nodeName, si.startNanos, si, &ab, 0, "")
	e.children(rw, rs, ne.children, si.nodeName)
	if si.stateAfter != "" && forward(rs, si, true) {
		e.snapshot(si.stateAfter, si.endNanos, si, rw.runID, si.nodeName, step)
	}
	dur := durationMicros(si)
	ab = e.attrs(3)
	if si.failed {
		ab.str("error", nonEmpty(si.errorMessage, "error"))
		ab.str("exception_type", si.exceptionType)
		if si.hasStep {
			ab.int("step", si.step)
		}
		e.event(pb.EventType_EVENT_TYPE_NODE_ERROR, si.nodeName, si.endNanos, si, &ab, dur, "")
		if si.stackTrace != "" || si.exceptionType != "" {
			e.errorMessage(rw, si)
		}
		return
	}
	ab.float("duration_us", float64(dur))
	if si.hasStep {
		ab.int("step", si.step)
	}
	e.event(pb.EventType_EVENT_TYPE_NODE_END, si.nodeName, si.endNanos, si, &ab, dur, "")
}

// pseudoNode applies the state a __start__/__end__ span carries.
func (e *emitter) pseudoNode(rw *runWork, rs *runState, si *spanInfo) {
	if si.stateBefore != "" && forward(rs, si, false) {
		e.snapshot(si.stateBefore, si.startNanos, si, rw.runID, "", "")
	}
	if si.stateAfter != "" && forward(rs, si, true) {
		e.snapshot(si.stateAfter, si.endNanos, si, rw.runID, "", "")
		if si.nodeName == "__end__" {
			// The run's final state: node spans arriving after it (their
			// parents came first) are older.
			rs.hasStatePos, rs.maxStatePos, rs.maxStateTime = true, math.MaxInt64, math.MaxUint64
		}
	}
}

// forward reports whether a snapshot of si (before or after it ran) is newer
// than every state applied in the run, and records it; a late node span
// never produces a backwards StateDiff (SPEC §4.4).
func forward(rs *runState, si *spanInfo, after bool) bool {
	ts := si.startNanos
	if after {
		ts = si.endNanos
	}
	if si.hasStep {
		pos := 2 * si.step
		if after {
			pos++
		}
		if rs.hasStatePos && pos < rs.maxStatePos {
			return false
		}
		rs.hasStatePos, rs.maxStatePos = true, pos
		rs.maxStateTime = max(rs.maxStateTime, ts)
		return true
	}
	if ts < rs.maxStateTime {
		return false
	}
	rs.maxStateTime = ts
	return true
}

// childEvent is one START or END of a nested span, placed at its time.
type childEvent struct {
	ts  uint64
	end bool
	si  *spanInfo
}

// children emits llm/tool/checkpoint events, each START at its start time
// and END/ERROR at its end time, merged in time order.
func (e *emitter) children(rw *runWork, rs *runState, spans []*spanInfo, nodeID string) {
	if len(spans) == 0 {
		return
	}
	// children never nests, so one slice serves every call of the arena.
	evs := e.ar.children[:0]
	for _, si := range spans {
		if si.role == roleCheckpointSave {
			evs = append(evs, childEvent{ts: si.endNanos, end: true, si: si})
			continue
		}
		evs = append(evs, childEvent{ts: si.startNanos, si: si}, childEvent{ts: si.endNanos, end: true, si: si})
	}
	slices.SortStableFunc(evs, func(a, b childEvent) int { return cmp.Compare(a.ts, b.ts) })
	for _, ce := range evs {
		switch ce.si.role {
		case roleLLM:
			// An agent runtime's conversation is its state: applied at the
			// model call's start and end (classify_genai_messages.go).
			if ce.si.conversation && !ce.end && ce.si.stateBefore != "" && forward(rs, ce.si, false) {
				e.snapshot(ce.si.stateBefore, ce.ts, ce.si, rw.runID, nodeID, "")
			}
			e.llm(ce, nodeID)
			if ce.si.conversation && ce.end && ce.si.stateAfter != "" && forward(rs, ce.si, true) {
				e.snapshot(ce.si.stateAfter, ce.ts, ce.si, rw.runID, nodeID, "")
			}
		case roleTool:
			e.tool(ce, nodeID)
		case roleCheckpointSave:
			e.event(pb.EventType_EVENT_TYPE_CHECKPOINT_SAVE, nodeID, ce.ts, ce.si, nil, 0, "")
		}
	}
	clear(evs)
	e.ar.children = evs[:0]
}

func (e *emitter) llm(ce childEvent, nodeID string) {
	si := ce.si
	c := e.ar.span(si)
	if c.reqID == "" {
		c.reqID = si.spanID.String()
	}
	reqID := c.reqID
	ab := e.attrs(6)
	ab.str("model", si.model)
	if !ce.end {
		e.event(pb.EventType_EVENT_TYPE_LLM_START, nodeID, ce.ts, si, &ab, 0, reqID)
		return
	}
	dur := durationMicros(si)
	if si.hasTokens {
		ab.int("input_tokens", si.inputTokens)
		ab.int("output_tokens", si.outputTokens)
		ab.int("total_tokens", si.totalTokens)
	}
	ab.str("finish_reason", si.finishReason)
	if si.failed {
		ab.str("error", nonEmpty(si.errorMessage, "error"))
		ab.str("exception_type", si.exceptionType)
		e.event(pb.EventType_EVENT_TYPE_LLM_ERROR, nodeID, ce.ts, si, &ab, dur, reqID)
		return
	}
	ab.float("duration_us", float64(dur))
	e.event(pb.EventType_EVENT_TYPE_LLM_END, nodeID, ce.ts, si, &ab, dur, reqID)
}

func (e *emitter) tool(ce childEvent, nodeID string) {
	si := ce.si
	ab := e.attrs(5)
	ab.str("tool_name", si.toolName)
	ab.str("call_id", si.callID)
	if !ce.end {
		ab.str("arguments", e.redactJSONText(si.arguments))
		e.event(pb.EventType_EVENT_TYPE_TOOL_START, nodeID, ce.ts, si, &ab, 0, "")
		return
	}
	dur := durationMicros(si)
	if si.failed {
		ab.str("error", nonEmpty(si.errorMessage, "error"))
		ab.str("exception_type", si.exceptionType)
		e.event(pb.EventType_EVENT_TYPE_TOOL_ERROR, nodeID, ce.ts, si, &ab, dur, "")
		return
	}
	ab.str("result", e.redactJSONText(si.result))
	ab.float("duration_us", float64(dur))
	e.event(pb.EventType_EVENT_TYPE_TOOL_END, nodeID, ce.ts, si, &ab, dur, "")
}

// redactJSONText redacts secret keys inside a JSON object or array given as
// text (tool arguments and results); other text is left to pattern
// redaction in the attribute builder.
func (e *emitter) redactJSONText(s string) string {
	if len(s) < 2 || len(s) > e.t.cfg.StateMaxBytes || !e.t.red.mayNeedRedaction(s) {
		return s
	}
	trimmed := strings.TrimLeft(s, " \t\r\n")
	if trimmed == "" || (trimmed[0] != '{' && trimmed[0] != '[') {
		return s
	}
	v, err := dashstream.ParseJSONString(s, dashstream.ParseOptions{MaxDepth: maxStateDepth})
	if err != nil {
		return s
	}
	if _, n := e.t.red.redactJSON(v); n > 0 {
		e.res.Stats.Redactions += int64(n)
		return string(dashstream.MarshalJSON(v))
	}
	return s
}

// errorMessage emits the Error message that carries a node's exception.
func (e *emitter) errorMessage(rw *runWork, si *spanInfo) {
	ab := attrBuilder{maxBytes: e.t.cfg.AttributeMaxBytes, red: e.t.red, stats: &e.res.Stats}
	msg := &pb.Error{
		Header:        &pb.Header{TimestampUs: micros(si.endNanos)},
		ErrorCode:     "NODE_ERROR",
		Message:       ab.clean("message", nonEmpty(si.errorMessage, "error")),
		StackTrace:    ab.clean("stack_trace", si.stackTrace),
		ExceptionType: si.exceptionType,
		Severity:      pb.Error_SEVERITY_ERROR.Enum(),
		Context:       map[string]string{"node_id": si.nodeName, "run_id": rw.runID},
	}
	e.send(&pb.DashStreamMessage{Message: &pb.DashStreamMessage_Error{Error: msg}}, msg.Header, pb.MessageType_MESSAGE_TYPE_ERROR, si)
}

// snapshot turns one state snapshot into a StateDiff against the session's
// last state (none when equal), and a Checkpoint when the interval is due.
func (e *emitter) snapshot(raw string, tsNanos uint64, src *spanInfo, runID, nodeID, step string) {
	st := &e.res.Stats
	cfg := &e.t.cfg
	// Only what changed since the session's last state is parsed,
	// redacted and canonicalised; the rest is reused from it.
	doc, reason := e.buildState(raw, true)
	if reason == "" {
		st.Redactions += int64(doc.Redactions())
		if doc.JSONLen() > cfg.StateMaxBytes {
			reason = "state_too_large"
		}
	}
	if reason != "" {
		e.found.add(reason, src)
		if reason == "state_too_large" {
			// Not diffed; consumers keep the older state and the next state
			// that fits goes out in full.
			e.setState(nil)
			e.s.resync = true
		}
		return
	}
	s := e.s
	full := !s.hasBase || s.resync
	var ops []*pb.DiffOperation
	switch {
	case full:
	case !s.stateSent:
		// The base came from this session's GRAPH_START: nothing to send
		// while the state equals it, a full state at the first change.
		// Equal states have equal canonical texts, so a different state
		// hash settles it without a diff.
		if doc.Hash() == s.doc.Hash() && len(dashstream.DiffStateDocs(s.doc, doc)) == 0 {
			return
		}
		full = true
	default:
		d, equal := diffStates(s.doc, doc, e.ar)
		if equal {
			return
		}
		full, ops = d.full, d.ops
	}
	// The structs are wired together once (newCallArena); every field is
	// assigned here or by send and Encode (see event).
	a := &e.ar.sd
	a.hash = doc.Hash()
	a.hdr.TimestampUs = micros(tsNanos)
	a.hdr.ParentId = nil
	msg := &a.sd
	msg.BaseCheckpointId = s.lastCheckpoint
	msg.Operations = ops
	msg.StateHash = a.hash[:]
	msg.FullState = nil
	var text []byte
	if full {
		text = doc.AppendCompactJSON(e.ar.text[:0])
		e.ar.text = text[:0]
		msg.Operations = nil
		msg.FullState = text
	}
	ok := e.send(&a.msg, &a.hdr, pb.MessageType_MESSAGE_TYPE_STATE_DIFF, src)
	msg.Operations, msg.FullState = nil, nil // the next diff owns its own
	e.setState(doc)
	if !ok {
		return
	}
	s.resync, s.stateSent = false, true
	if full {
		st.StateDiffsFull++
	} else {
		st.StateDiffsPatch++
	}
	if cfg.CheckpointInterval <= 0 {
		return
	}
	s.diffsSinceCheckpoint++
	if s.diffsSinceCheckpoint < cfg.CheckpointInterval {
		return
	}
	// The session lock is held for the whole call, so this slot is claimed
	// exactly once (the race of AUDIT M-811 cannot happen here).
	s.diffsSinceCheckpoint = 0
	if text == nil {
		text = doc.AppendCompactJSON(e.ar.text[:0])
		e.ar.text = text[:0]
	}
	e.checkpoint(doc, text, tsNanos, src, runID, nodeID, step)
}

// setState replaces the session's state (nil = unknown) and accounts the
// memory its text and index hold in the translator-wide state budget.
func (e *emitter) setState(doc *dashstream.StateDoc) {
	s := e.s
	// Nothing else holds a session's documents, and doc (when not nil)
	// was built on the one it replaces: what only that one held serves
	// later states.
	e.t.stateDocs.Retire(s.doc, doc)
	s.doc, s.hasBase, s.resting = doc, doc != nil, nil
	size := int64(0)
	if doc != nil {
		size = doc.MemSize()
	}
	e.account(size)
}

// account sets the session's share of the translator-wide state budget.
func (e *emitter) account(size int64) {
	e.t.sessions.stateBytes.Add(size - e.s.stateBytes)
	e.s.stateBytes = size
}

// checkpoint emits a Checkpoint of the state just diffed (doc, whose
// compact text is state).
func (e *emitter) checkpoint(doc *dashstream.StateDoc, state []byte, tsNanos uint64, src *spanInfo, runID, nodeID, step string) {
	id := e.res.ids.next()
	var sum [32]byte
	if bytes.Equal(state, doc.CanonicalJSON()) {
		// The state's text is its canonical text (members in canonical
		// order, numbers as canonical): the state hash is its SHA-256.
		sum = doc.Hash()
	} else {
		sum = sha256.Sum256(state)
	}
	// The structs and the metadata map are the arena's, wired once
	// (newCallArena) and refilled here; send encodes them before the next
	// checkpoint does.
	a := &e.ar.cp
	a.sum = sum
	clear(a.meta)
	a.meta["run_id"], a.meta["reason"] = runID, "interval"
	if nodeID != "" {
		a.meta["node_id"] = nodeID
	}
	if step != "" {
		a.meta["step"] = step
	}
	a.hdr.TimestampUs = micros(tsNanos)
	a.hdr.ParentId = nil
	cp := &a.cp
	cp.CheckpointId, cp.State, cp.StateType, cp.Checksum = id, state, "application/json", a.sum[:]
	ok := e.send(&a.msg, &a.hdr, pb.MessageType_MESSAGE_TYPE_CHECKPOINT, src)
	cp.CheckpointId, cp.State = nil, nil
	if ok {
		e.s.lastCheckpoint = id
		e.res.Stats.Checkpoints++
	}
}

// checkpointAlloc is eventAlloc for Checkpoints; sum holds the checksum
// and meta the metadata the message points at while it is encoded.
type checkpointAlloc struct {
	msg  pb.DashStreamMessage
	wrap pb.DashStreamMessage_Checkpoint
	cp   pb.Checkpoint
	hdr  pb.Header
	sum  [32]byte
	meta map[string]string
}

// eventAlloc holds every part of an Event message in one struct.
// stateDiffAlloc is eventAlloc for StateDiffs; hash holds the state hash
// the message points at while it is encoded.
type stateDiffAlloc struct {
	msg  pb.DashStreamMessage
	wrap pb.DashStreamMessage_StateDiff
	sd   pb.StateDiff
	hdr  pb.Header
	hash [32]byte
}

type eventAlloc struct {
	msg  pb.DashStreamMessage
	wrap pb.DashStreamMessage_Event
	ev   pb.Event
	hdr  pb.Header
}

// event emits one Event with the attributes of ab (nil: none); false when
// it was dropped. Once it is encoded, the message structs and what ab holds
// serve the next event: ab is finished.
func (e *emitter) event(typ pb.EventType, nodeID string, tsNanos uint64, src *spanInfo, ab *attrBuilder, durUs int64, reqID string) bool {
	var attrs map[string]*pb.AttributeValue
	if ab != nil {
		attrs = ab.done()
	}
	// The structs are wired together once (newCallArena); every field is
	// assigned here or by send and Encode, so nothing of the previous event
	// carries over, and nothing is zeroed twice.
	a := &e.ar.ev
	a.hdr.TimestampUs = micros(tsNanos)
	a.hdr.ParentId = nil
	a.ev.EventType = typ
	a.ev.NodeId = nodeID
	a.ev.Attributes = attrs
	a.ev.DurationUs = durUs
	a.ev.LlmRequestId = reqID
	ok := e.send(&a.msg, &a.hdr, pb.MessageType_MESSAGE_TYPE_EVENT, src)
	if ab != nil {
		e.ar.release(ab)
	}
	return ok
}

// send fills the header, encodes the message once and appends the record.
// A message that does not fit (1 MiB protobuf limit or MaxRecordBytes) is
// dropped, counted and logged without values, and the thread resyncs.
func (e *emitter) send(msg *pb.DashStreamMessage, h *pb.Header, typ pb.MessageType, src *spanInfo) bool {
	h.MessageId = e.res.ids.next()
	h.TenantId = e.tenant(src)
	h.ThreadId = e.s.threadID
	h.Sequence = e.s.nextSeq
	h.Type = typ
	h.SchemaVersion = 1
	st := &e.res.Stats
	// A compressible message is compressed with the call's others at its
	// end (Result.finish) unless only its compressed frame might fit.
	v, err := e.t.enc.EncodeLater(msg)
	var value []byte
	if err == nil && (!v.Pending() || v.MaxSize() > e.t.cfg.MaxRecordBytes) {
		value = e.t.enc.Finish(v)
		if len(value) > e.t.cfg.MaxRecordBytes {
			err = dashstream.ErrTooLarge
		}
	}
	if err != nil {
		reason := "encode_error"
		if errors.Is(err, dashstream.ErrTooLarge) {
			reason = "oversize"
			st.OversizeDrops++
		} else {
			e.found.add(reason, src)
		}
		e.t.log.Warn("dashstream record dropped; thread resyncs",
			zap.String("reason", reason), zap.String("thread_id", e.s.threadID),
			zap.Stringer("type", typ), zap.Int("bytes", len(value)), zap.Int("limit", e.t.cfg.MaxRecordBytes))
		e.s.markLost()
		return false
	}
	e.s.commitSequence(e.t.clock)
	topic := e.topic(src)
	if value == nil {
		e.res.pending = append(e.res.pending, pendingValue{record: len(e.res.Records), v: v})
	}
	e.res.Records = append(e.res.Records, Record{
		Topic:    topic,
		Key:      e.key,
		Value:    value,
		Headers:  e.headers(src),
		ThreadID: e.s.threadID,
		Sequence: h.Sequence,
		Type:     typ,
	})
	st.RecordsByType[typ]++
	st.BytesByType[typ] += int64(len(value))
	return true
}

// pendingValue is a record whose value is still to be compressed.
type pendingValue struct {
	record int
	v      dashstream.Value
}

// finish compresses the call's pending record values one after another
// (see dashstream.Encoder.EncodeLater): the last step of emitting.
func (r *Result) finish(enc *dashstream.Encoder) {
	for _, p := range r.pending {
		rec := &r.Records[p.record]
		rec.Value = enc.Finish(p.v)
		r.Stats.BytesByType[rec.Type] += int64(len(rec.Value))
	}
	r.pending = nil
}

// headers returns the record headers for a source span: W3C traceparent,
// tracestate when set, then the static headers. Records of the same span
// share one slice, capped so that a caller appending to one record's
// headers cannot write into another's.
func (e *emitter) headers(src *spanInfo) []Header {
	c := e.ar.span(src)
	if c.headers != nil {
		return c.headers
	}
	if len(e.ar.hdrs) == 0 {
		e.ar.hdrs = make([]spanHeaders, e.ar.hdrsBlock)
	}
	sh := &e.ar.hdrs[0]
	e.ar.hdrs = e.ar.hdrs[1:]
	flags := byte(src.span.Flags() & 0xff)
	tp := sh.tp[:0:len(sh.tp)]
	tp = append(tp, "00-"...)
	tp = hex.AppendEncode(tp, src.traceID[:])
	tp = append(tp, '-')
	tp = hex.AppendEncode(tp, src.spanID[:])
	tp = append(tp, '-')
	tp = hex.AppendEncode(tp, []byte{flags})
	hs := sh.hs[:0]
	if n := 2 + len(e.t.staticHeaders); n > len(sh.hs) {
		hs = make([]Header, 0, n)
	}
	hs = append(hs, Header{Key: "traceparent", Value: tp})
	if ts := src.span.TraceState().AsRaw(); ts != "" {
		hs = append(hs, Header{Key: "tracestate", Value: []byte(ts)})
	}
	hs = append(hs, e.t.staticHeaders...)
	hs = hs[:len(hs):len(hs)] // shared by records: an append must copy
	c.headers = hs
	return hs
}

// topic: ResolveTopic's choice for the span (its resource, the request's
// client metadata) else the configured topic; a message sent without a
// span (run timeout) goes where its run went.
func (e *emitter) topic(src *spanInfo) string {
	if src.topic != "" {
		return src.topic
	}
	if e.t.cfg.ResolveTopic != nil {
		if tp := e.t.cfg.ResolveTopic(e.ctx, src.resource); tp != "" {
			return tp
		}
	}
	return e.t.cfg.Topic
}

// tenant: the TenantAttribute resource attribute overrides TenantID.
func (e *emitter) tenant(src *spanInfo) string {
	if a := e.t.cfg.TenantAttribute; a != "" {
		if v := attrString(src.resource.Attributes(), a); v != "" {
			return sanitiseUTF8(v)
		}
	}
	return e.t.cfg.TenantID
}

// attrs starts the attribute builder of one event, which the caller passes
// to event.
func (e *emitter) attrs(n int) attrBuilder {
	return e.ar.builder(attrBuilder{maxBytes: e.t.cfg.AttributeMaxBytes, red: e.t.red, stats: &e.res.Stats}, n)
}

func micros(nanos uint64) int64 { return int64(nanos / 1000) }

func durationMicros(si *spanInfo) int64 { return int64((si.endNanos - si.startNanos) / 1000) }

func nonEmpty(s, fallback string) string {
	if s != "" {
		return s
	}
	return fallback
}
