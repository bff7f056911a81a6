package translate

import (
	"container/list"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/dashstream/dashstreamexporter/dashstream"
)

// maxRunsPerSession bounds the runs a session remembers (for "GRAPH_START
// exactly once", edges across calls and the no-backwards-diff rule). A run
// forgotten after this many newer runs on the same thread would get a second
// GRAPH_START if more of its spans arrived; runs that old are long finished.
const maxRunsPerSession = 64

// maxRoutersPerRun bounds the router decisions remembered per run.
const maxRoutersPerRun = 16

// session is the translation state of one thread (SPEC §4.5–§4.7). Fields
// below mu are guarded by it; refs, lastUsed and elem by the session table.
type session struct {
	threadID string
	// key is threadID as the records' Kafka key, made once: every record
	// of the thread shares it (records are read-only).
	key []byte

	// oldestOpen is when the least recently seen open run of the thread
	// last had a span (unix nanos; 0 = no open run): read without the
	// session lock by the run timeout's sweep and by idle eviction.
	oldestOpen atomic.Int64

	// guarded by sessionTable.mu
	refs     int
	lastUsed int64 // unix nanos
	elem     *list.Element

	mu sync.Mutex
	// nextSeq is the sequence the next record gets (never 0).
	nextSeq uint64
	// doc is the last state consumers hold (text and index, redacted);
	// hasBase is false when consumers' state is unknown to us.
	doc     *dashstream.StateDoc
	hasBase bool
	// resting is doc's text, s2-compressed, while the session rests
	// between runs: the index and canonical text are dropped when a run
	// ends and built again at the thread's next snapshot (see restState).
	resting []byte
	// stateBytes is the accounted memory of doc or resting (see setState).
	stateBytes int64
	// resync: the next state message must be a full_state (after a loss).
	resync bool
	// stateSent: this session has sent a StateDiff. Until it has, the next
	// one is a full_state even when a GRAPH_START set the base: a new
	// session (first sight of a thread, or a thread that moved here from
	// another instance, SPEC §8) cannot know which checkpoint consumers hold.
	stateSent bool
	// lastCheckpoint is the id of the thread's newest checkpoint (nil = none
	// or forgotten after a loss).
	lastCheckpoint []byte
	// diffsSinceCheckpoint counts StateDiffs since the last checkpoint slot.
	diffsSinceCheckpoint int
	runs                 runMemory
	// graphs is the topology the thread's runs have shown, per graph name.
	graphs observedGraphs
}

// runState is what a session remembers of one run across calls.
type runState struct {
	started bool
	ended   bool
	// timedOut: ended by the run timeout; its later spans are dropped.
	timedOut bool
	// lastSeen: when a span of the run last arrived (unix nanos).
	lastSeen int64
	// origin: where the run's messages go, for a GRAPH_ERROR sent when no
	// span of it is at hand (the run timeout).
	origin *runOrigin

	// last is the newest step group emitted, for edges across calls.
	last stepCursor
	// graph is the observed topology this run adds to (see topology.go),
	// chosen at the run's first sight.
	graph *observedGraph

	// State positions applied so far: a snapshot older than these is never
	// diffed (no backwards StateDiff). Step domain: before step s = 2s,
	// after = 2s+1. Time domain (runs without steps): span times.
	maxStatePos  int64
	hasStatePos  bool
	maxStateTime uint64

	routers []routerMemo
}

// runOrigin is what a message of a run needs from its spans: its trace
// context (record headers), resource (tenant) and topic.
type runOrigin struct {
	trace      pcommon.TraceID
	span       pcommon.SpanID
	flags      uint32
	traceState string
	resource   pcommon.Resource
	topic      string
}

// stepCursor is the newest step group of a run: the node executions that
// the next step's edges start from.
type stepCursor struct {
	// nodes are the group's distinct node names; step / start order it.
	nodes   []string
	step    int64
	hasStep bool
	start   uint64
	have    bool
	// failed: the group's last execution failed, so the same node next is
	// a retry, not an edge.
	failed bool
}

// follows reports whether group comes after the cursor's step; a late group
// (its successors already seen) does not.
func (c *stepCursor) follows(group []*nodeExec) bool {
	first := group[0].si
	switch {
	case !c.have:
		return true
	case first.hasStep && c.hasStep:
		return first.step > c.step
	default:
		return first.startNanos > c.start
	}
}

// leadsTo reports whether the cursor's nodes have edges to a following group
// named names: not at a run's first step, nor to the retry of a node that
// just failed.
func (c *stepCursor) leadsTo(names []string) bool {
	retry := c.failed && len(c.nodes) == 1 && len(names) == 1 && names[0] == c.nodes[0]
	return c.have && !retry
}

// moveTo makes group, with distinct node names, the newest step.
func (c *stepCursor) moveTo(group []*nodeExec, names []string) {
	var last uint64
	for _, ne := range group {
		last = max(last, ne.si.startNanos)
	}
	first := group[0].si
	c.nodes = append(c.nodes[:0], names...)
	c.step, c.hasStep, c.start, c.have = first.step, first.hasStep, last, true
	c.failed = group[len(group)-1].si.failed
}

// routerMemo is a router decision under a node execution.
type routerMemo struct {
	node      string
	step      int64
	hasStep   bool
	choice    string
	condition string
}

// addRouter remembers a router decision. Decisions are keyed by node and
// step: a router that runs again later in the run (a loop back through the
// same node) is a new decision, not a replacement of the earlier one.
func (r *runState) addRouter(m routerMemo) {
	for i := range r.routers {
		o := r.routers[i]
		if o.node == m.node && o.hasStep == m.hasStep && o.step == m.step {
			r.routers[i] = m
			return
		}
	}
	if len(r.routers) >= maxRoutersPerRun {
		copy(r.routers, r.routers[1:])
		r.routers = r.routers[:len(r.routers)-1]
	}
	r.routers = append(r.routers, m)
}

func (r *runState) router(node string, step int64, hasStep bool) (routerMemo, bool) {
	for i := len(r.routers) - 1; i >= 0; i-- {
		m := r.routers[i]
		if m.node == node && (!hasStep || !m.hasStep || m.step == step) {
			return m, true
		}
	}
	return routerMemo{}, false
}

// runMemory is a session's runs in the order first seen, oldest forgotten
// first. A list: a thread has a run or a few at a time, which a map held
// in about 300 bytes more a session.
type runMemory struct {
	list []sessionRun
}

// sessionRun is one run of runMemory.
type sessionRun struct {
	id    string
	state *runState
}

// get returns the run id, remembering it on first sight.
func (m *runMemory) get(id string) *runState {
	for i := len(m.list) - 1; i >= 0; i-- { // the newest runs are asked for most
		if m.list[i].id == id {
			return m.list[i].state
		}
	}
	if len(m.list) >= maxRunsPerSession {
		copy(m.list, m.list[1:])
		m.list[len(m.list)-1] = sessionRun{}
		m.list = m.list[:len(m.list)-1]
	}
	r := &runState{}
	m.list = append(m.list, sessionRun{id: id, state: r})
	return r
}

// noteOpenRuns refreshes oldestOpen from the session's runs.
func (s *session) noteOpenRuns() {
	var oldest int64
	for _, run := range s.runs.list {
		rs := run.state
		if rs.started && !rs.ended && (oldest == 0 || rs.lastSeen < oldest) {
			oldest = max(rs.lastSeen, 1)
		}
	}
	s.oldestOpen.Store(oldest)
}

// markLost makes the next state message a full_state without a base
// checkpoint (SPEC §5.6): consumers may have missed anything before it.
func (s *session) markLost() {
	s.resync = true
	s.lastCheckpoint = nil
}

// commitSequence consumes the sequence a record was encoded with (s.nextSeq):
// a record that is dropped before it is handed out does not consume one, so
// the stream has no gap for it.
func (s *session) commitSequence(clock *sequenceClock) {
	clock.issued(s.nextSeq)
	s.nextSeq++
}

// recordKey returns the thread's record key (caller holds the session).
func (s *session) recordKey() []byte {
	if s.key == nil {
		s.key = []byte(s.threadID)
	}
	return s.key
}
