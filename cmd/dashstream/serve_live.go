package main

import (
	"encoding/hex"
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dashstream/dashstreamexporter/dashstream"
	pb "github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
)

// The live view's model: every thread of the topic as the page shows it,
// built by replaying the stream with the dashstream package (so hash
// failures, gaps and resyncs show up as `verify` reports them). Memory is
// bounded: at most liveLimits.threads threads (the least recently updated
// forgotten), liveLimits.history messages of history per thread, and
// liveLimits.stateBytes of state snapshots in all (the oldest history of
// the least recently updated threads goes first).

// liveLimits bound the model.
type liveLimits struct {
	threads    int
	history    int
	stateBytes int64
}

func defaultLiveLimits() liveLimits {
	return liveLimits{threads: 2000, history: 2000, stateBytes: 256 << 20}
}

// liveModel is safe for concurrent use: one goroutine applies records, the
// web handlers read.
type liveModel struct {
	mu       sync.Mutex
	limits   liveLimits
	rep      *dashstream.Replayer
	threads  map[string]*liveThread
	version  uint64 // bumped by every change; a thread's own version says when it changed
	snapshot int64  // bytes of state snapshots held
	records  int64
	bad      int64 // undecodable records
	lastAt   time.Time
	changed  chan struct{} // closed and replaced on every change
	now      func() time.Time
	// tenant keeps one tenant's messages (--tenant); others are counted in
	// otherTenant and not shown.
	tenant      tenantFilter
	otherTenant int64
}

// liveThread is one thread of the view.
type liveThread struct {
	ID      string `json:"id"`
	Graph   string `json:"graph"`
	Status  string `json:"status"` // running, open, completed, error
	Running string `json:"running,omitempty"`
	// RunStartUs: when the thread's last run started; OpenForUs: how long
	// ago, when the run is open (started, not ended, quiet).
	RunStartUs int64  `json:"run_start_us,omitempty"`
	OpenForUs  int64  `json:"open_for_us,omitempty"`
	Runs       int    `json:"runs"`
	Messages   int    `json:"messages"`
	Problems   int    `json:"problems"`
	LastSeq    uint64 `json:"last_sequence"`
	UpdatedUs  int64  `json:"updated_us"`
	Version    uint64 `json:"version"`

	schema   *liveSchema
	nodes    map[string]*liveNode
	edges    map[[2]string]*liveEdge
	history  []liveEntry // oldest first; at most limits.history
	dropped  int         // history entries forgotten (the first one's index)
	problems []string
	lastSeen time.Time
	// firstNode is the first node seen to start: the entry point when no
	// schema names one.
	firstNode string
}

type liveSchema struct {
	Name       string `json:"name"`
	EntryPoint string `json:"entry_point"`
	Nodes      []struct {
		Name     string `json:"name"`
		NodeType string `json:"node_type"`
	} `json:"nodes"`
	Edges []struct {
		From               string   `json:"from"`
		To                 string   `json:"to"`
		EdgeType           string   `json:"edge_type"`
		ConditionalTargets []string `json:"conditional_targets"`
	} `json:"edges"`
}

type liveNode struct {
	Name       string  `json:"name"`
	Type       string  `json:"type,omitempty"`
	Status     string  `json:"status,omitempty"` // running, done, error
	Runs       int     `json:"runs"`
	LastMs     float64 `json:"last_ms"`
	TotalMs    float64 `json:"total_ms"`
	InSchema   bool    `json:"in_schema"`
	EntryPoint bool    `json:"entry_point,omitempty"`
}

type liveEdge struct {
	From        string `json:"from"`
	To          string `json:"to"`
	Conditional bool   `json:"conditional"`
	Taken       int    `json:"taken"`
	Last        string `json:"condition,omitempty"`
}

// liveEntry is one message of a thread's history.
type liveEntry struct {
	Index   int               `json:"index"`
	Seq     uint64            `json:"sequence"`
	TimeUs  int64             `json:"time_us"`
	Kind    string            `json:"kind"` // event type, state_diff, checkpoint, error, …
	Node    string            `json:"node,omitempty"`
	Detail  map[string]string `json:"detail,omitempty"`
	Problem string            `json:"problem,omitempty"`

	diff  string // the change, as JSON (patch operations, or a full state)
	state []byte // state after the message, when it changed; else nil
}

func newLiveModel(l liveLimits) *liveModel {
	return &liveModel{limits: l, rep: dashstream.NewReplayer(), threads: map[string]*liveThread{},
		changed: make(chan struct{}), now: time.Now}
}

// liveOpenAfter: a thread whose run started, has not ended and has had no
// message for this long (by the messages' own times) is shown as "open"
// rather than "running": a run whose end never came (its process died, or
// its own span was lost) is not running.
const liveOpenAfter = 5 * time.Minute

// present is what the page is told of a thread at now: its fields without
// the model's internals, and its run's status.
func present(th *liveThread, now time.Time) liveThread {
	c := *th
	c.schema, c.nodes, c.edges, c.history, c.problems = nil, nil, nil, nil, nil
	if c.Status == "running" && c.UpdatedUs != 0 && now.Sub(time.UnixMicro(c.UpdatedUs)) > liveOpenAfter {
		c.Status, c.Running = "open", ""
		c.OpenForUs = now.Sub(time.UnixMicro(c.RunStartUs)).Microseconds()
	}
	return c
}

// detailKeys are the event attributes the timeline shows.
var detailKeys = []string{"model", "input_tokens", "output_tokens", "total_tokens", "finish_reason", "tool_name",
	"call_id", "from", "to", "condition", "branch", "error", "exception_type", "duration_us", "step", "graph_name",
	"run_id", "nodes", "reason"}

// add applies one record value.
func (m *liveModel) add(dec *dashstream.Decoder, value []byte) {
	msg, err := dec.Decode(value)
	m.mu.Lock()
	defer m.mu.Unlock()
	if err == nil && !m.tenant.keepHeader(dashstream.HeaderOf(msg)) {
		m.otherTenant++
		return
	}
	m.records++
	m.lastAt = time.Now()
	if err != nil {
		m.bad++
		m.version++
		m.bump()
		return
	}
	h := dashstream.HeaderOf(msg)
	id := h.GetThreadId()
	if id == "" {
		m.bad++
		return
	}
	th := m.threads[id]
	if th == nil {
		m.evictThreads()
		th = &liveThread{ID: id, Status: "running", nodes: map[string]*liveNode{}, edges: map[[2]string]*liveEdge{}}
		m.threads[id] = th
	}
	applyErr := m.rep.Apply(msg)
	th.Messages++
	th.LastSeq = h.GetSequence()
	th.UpdatedUs = h.GetTimestampUs()
	th.lastSeen = m.lastAt
	e := liveEntry{Index: th.dropped + len(th.history), Seq: h.GetSequence(), TimeUs: h.GetTimestampUs()}
	if applyErr != nil {
		e.Problem = applyErr.Error()
		th.Problems++
		if len(th.problems) < 100 {
			th.problems = append(th.problems, applyErr.Error())
		}
	}
	stateChanged := false
	switch v := msg.GetMessage().(type) {
	case *pb.DashStreamMessage_Event:
		stateChanged = m.event(th, v.Event, &e)
	case *pb.DashStreamMessage_StateDiff:
		e.Kind = "state_diff"
		sd := v.StateDiff
		if len(sd.GetFullState()) > 0 {
			e.diff = `{"full_state":` + string(sd.GetFullState()) + `}`
			e.Detail = map[string]string{"full_state": "true"}
		} else if p, err := dashstream.PatchFromProto(sd.GetOperations()); err == nil {
			e.diff = string(p.AppendJSON(nil))
			e.Detail = map[string]string{"operations": strconv.Itoa(len(p))}
		}
		stateChanged = true
	case *pb.DashStreamMessage_Checkpoint:
		e.Kind = "checkpoint"
		e.Detail = map[string]string{"checkpoint_id": hex.EncodeToString(v.Checkpoint.GetCheckpointId()),
			"reason": v.Checkpoint.GetMetadata()["reason"]}
	case *pb.DashStreamMessage_Error:
		e.Kind = "error"
		e.Node = v.Error.GetContext()["node_id"]
		e.Detail = map[string]string{"error": clip(v.Error.GetMessage()), "exception_type": v.Error.GetExceptionType()}
	default:
		e.Kind = strings.ToLower(strings.TrimPrefix(dashstream.MessageTypeOf(msg).String(), "MESSAGE_TYPE_"))
	}
	if stateChanged {
		if ts := m.rep.Thread(id); ts != nil && ts.StateKnown {
			e.state = dashstream.MarshalJSON(ts.State)
			m.snapshot += int64(len(e.state))
		}
	}
	th.history = append(th.history, e)
	if len(th.history) > m.limits.history {
		m.forget(th, len(th.history)-m.limits.history)
	}
	for m.snapshot > m.limits.stateBytes && m.trimOldest() {
	}
	m.version++
	th.Version = m.version
	m.bump()
}

// event updates the thread's graph and status from one event; it reports
// whether the event sets the state (GRAPH_START).
func (m *liveModel) event(th *liveThread, ev *pb.Event, e *liveEntry) bool {
	typ := ev.GetEventType()
	e.Kind = strings.ToLower(strings.TrimPrefix(typ.String(), "EVENT_TYPE_"))
	e.Node = ev.GetNodeId()
	attrs := ev.GetAttributes()
	for _, k := range detailKeys {
		if text, ok := attrText(attrs[k]); ok {
			if e.Detail == nil {
				e.Detail = map[string]string{}
			}
			e.Detail[k] = text
		}
	}
	node := func(name string) *liveNode {
		n := th.nodes[name]
		if n == nil && len(th.nodes) < 512 {
			n = &liveNode{Name: name}
			th.nodes[name] = n
		}
		return n
	}
	switch typ {
	case pb.EventType_EVENT_TYPE_GRAPH_START:
		th.Runs++
		th.Status, th.Running = "running", ""
		th.RunStartUs = e.TimeUs
		th.Graph = attrs["graph_name"].GetStringValue()
		for _, n := range th.nodes {
			n.Status = ""
		}
		if s := attrs["graph_schema_json"].GetStringValue(); s != "" {
			var gs liveSchema
			if json.Unmarshal([]byte(s), &gs) == nil {
				th.schema = &gs
				if gs.Name != "" {
					th.Graph = gs.Name
				}
				for _, sn := range gs.Nodes {
					if n := node(sn.Name); n != nil {
						n.InSchema, n.Type = true, sn.NodeType
						n.EntryPoint = sn.Name == gs.EntryPoint
					}
				}
			}
		}
		return true
	case pb.EventType_EVENT_TYPE_GRAPH_END:
		th.Status, th.Running = "completed", ""
	case pb.EventType_EVENT_TYPE_GRAPH_ERROR:
		th.Status, th.Running = "error", ""
	case pb.EventType_EVENT_TYPE_NODE_START:
		if n := node(ev.GetNodeId()); n != nil {
			n.Status = "running"
			n.Runs++
		}
		th.Running = ev.GetNodeId()
		if th.firstNode == "" {
			th.firstNode = ev.GetNodeId()
		}
	case pb.EventType_EVENT_TYPE_NODE_END, pb.EventType_EVENT_TYPE_NODE_ERROR:
		if n := node(ev.GetNodeId()); n != nil {
			n.Status = "done"
			if typ == pb.EventType_EVENT_TYPE_NODE_ERROR {
				n.Status = "error"
			}
			ms := float64(ev.GetDurationUs()) / 1000
			n.LastMs, n.TotalMs = ms, n.TotalMs+ms
		}
		if th.Running == ev.GetNodeId() {
			th.Running = ""
		}
	case pb.EventType_EVENT_TYPE_EDGE_TRAVERSAL, pb.EventType_EVENT_TYPE_CONDITIONAL_BRANCH:
		from, to := attrs["from"].GetStringValue(), attrs["to"].GetStringValue()
		if from == "" || to == "" {
			break
		}
		node(from)
		node(to)
		k := [2]string{from, to}
		ed := th.edges[k]
		if ed == nil && len(th.edges) < 1024 {
			ed = &liveEdge{From: from, To: to}
			th.edges[k] = ed
		}
		if ed != nil {
			ed.Taken++
			if typ == pb.EventType_EVENT_TYPE_CONDITIONAL_BRANCH {
				ed.Conditional = true
				ed.Last = attrs["condition"].GetStringValue()
			}
		}
	}
	return false
}

// forget drops the n oldest history entries of th.
func (m *liveModel) forget(th *liveThread, n int) {
	for _, e := range th.history[:n] {
		m.snapshot -= int64(len(e.state))
	}
	th.history = append(th.history[:0:0], th.history[n:]...)
	th.dropped += n
}

// trimOldest halves the history of the least recently updated thread that
// has any; false when nothing is left to trim.
func (m *liveModel) trimOldest() bool {
	var oldest *liveThread
	for _, th := range m.threads {
		if len(th.history) > 1 && (oldest == nil || th.lastSeen.Before(oldest.lastSeen)) {
			oldest = th
		}
	}
	if oldest == nil {
		return false
	}
	m.forget(oldest, (len(oldest.history)+1)/2)
	return true
}

// evictThreads makes room for one more thread.
func (m *liveModel) evictThreads() {
	for len(m.threads) >= m.limits.threads {
		var oldest *liveThread
		for _, th := range m.threads {
			if oldest == nil || th.lastSeen.Before(oldest.lastSeen) {
				oldest = th
			}
		}
		for _, e := range oldest.history {
			m.snapshot -= int64(len(e.state))
		}
		delete(m.threads, oldest.ID)
		m.rep.Forget(oldest.ID)
	}
}

// bump wakes everyone waiting for a change.
func (m *liveModel) bump() {
	close(m.changed)
	m.changed = make(chan struct{})
}

// currentVersion is the model's version (bumped by every change).
func (m *liveModel) currentVersion() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.version
}

// wait returns a channel closed at the next change.
func (m *liveModel) wait() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.changed
}

// threadList is the thread list the page shows, newest first, with the
// model's version.
func (m *liveModel) threadList() (list []liveThread, version uint64, records, bad int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	list = make([]liveThread, 0, len(m.threads))
	now := m.now()
	for _, th := range m.threads {
		list = append(list, present(th, now))
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].UpdatedUs != list[j].UpdatedUs {
			return list[i].UpdatedUs > list[j].UpdatedUs
		}
		return list[i].ID < list[j].ID
	})
	return list, m.version, m.records, m.bad
}

// threadView is what the page shows of one thread.
type threadView struct {
	Thread   liveThread  `json:"thread"`
	Nodes    []liveNode  `json:"nodes"`
	Edges    []liveEdge  `json:"edges"`
	Entry    string      `json:"entry_point"`
	History  []liveEntry `json:"history"`
	First    int         `json:"first_index"`
	Problems []string    `json:"problems"`
}

// thread returns one thread's view, or false when it is not known.
func (m *liveModel) thread(id string) (threadView, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	th := m.threads[id]
	if th == nil {
		return threadView{}, false
	}
	v := threadView{Thread: present(th, m.now()), History: append([]liveEntry(nil), th.history...), First: th.dropped,
		Problems: append([]string{}, th.problems...)}
	names := make([]string, 0, len(th.nodes))
	for name := range th.nodes {
		names = append(names, name)
	}
	// Schema order first (the graph's own order), then the rest by name.
	order := map[string]int{}
	v.Entry = th.firstNode
	if th.schema != nil && th.schema.EntryPoint != "" {
		v.Entry = th.schema.EntryPoint
	}
	if th.schema != nil {
		for i, n := range th.schema.Nodes {
			order[n.Name] = i + 1
		}
	}
	sort.Slice(names, func(i, j int) bool {
		oi, oj := order[names[i]], order[names[j]]
		if (oi == 0) != (oj == 0) {
			return oi != 0
		}
		if oi != oj {
			return oi < oj
		}
		return names[i] < names[j]
	})
	for _, name := range names {
		v.Nodes = append(v.Nodes, *th.nodes[name])
	}
	// Edges: the schema's (conditional targets expanded), merged with the
	// edges taken.
	seen := map[[2]string]bool{}
	if th.schema != nil {
		for _, se := range th.schema.Edges {
			targets := se.ConditionalTargets
			if len(targets) == 0 {
				targets = []string{se.To}
			}
			for _, to := range targets {
				k := [2]string{se.From, to}
				if seen[k] || to == "" || to == "__end__" {
					continue
				}
				seen[k] = true
				ed := liveEdge{From: se.From, To: to, Conditional: se.EdgeType == "conditional"}
				if t := th.edges[k]; t != nil {
					ed.Taken, ed.Last = t.Taken, t.Last
					ed.Conditional = ed.Conditional || t.Conditional
				}
				v.Edges = append(v.Edges, ed)
			}
		}
	}
	keys := make([][2]string, 0, len(th.edges))
	for k := range th.edges {
		if !seen[k] {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i][0] < keys[j][0] || (keys[i][0] == keys[j][0] && keys[i][1] < keys[j][1])
	})
	for _, k := range keys {
		v.Edges = append(v.Edges, *th.edges[k])
	}
	return v, true
}

// stateAt is the state after history entry index and the change that
// message made.
type stateAt struct {
	Index int             `json:"index"`
	Entry liveEntry       `json:"entry"`
	State json.RawMessage `json:"state"`
	Diff  json.RawMessage `json:"diff,omitempty"`
}

// stateAt returns the state after message index of a thread (the newest
// state change at or before it), or false when that part of the history is
// no longer kept.
func (m *liveModel) stateAt(id string, index int) (stateAt, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	th := m.threads[id]
	if th == nil || len(th.history) == 0 {
		return stateAt{}, false
	}
	i := index - th.dropped
	if index < 0 || i >= len(th.history) {
		i = len(th.history) - 1
	}
	if i < 0 {
		return stateAt{}, false
	}
	out := stateAt{Index: th.history[i].Index, Entry: th.history[i], State: json.RawMessage("null")}
	if d := th.history[i].diff; d != "" {
		out.Diff = json.RawMessage(d)
	}
	for j := i; j >= 0; j-- {
		if st := th.history[j].state; st != nil {
			out.State = json.RawMessage(st)
			break
		}
	}
	return out, true
}
