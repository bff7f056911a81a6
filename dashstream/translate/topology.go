package translate

import (
	"encoding/json"
	"strings"
	"unique"

	"github.com/dashstream/dashstreamexporter/dashstream"
)

// Observed topology. When a convention gives no graph schema (OpenInference,
// GenAI, DashFlow), GRAPH_START carries the graph as this thread's runs have
// shown it so far: the nodes that ran, the edges taken, the conditional
// edges from router decisions and the entry point. Without a schema the
// DashFlow UI draws a demo graph of its own instead of ours.

// Bounds of what a session learns: a thread runs a handful of graphs, each
// of a bounded size; beyond these, nothing new is learned (the schema stays
// what it was, the events still carry everything).
const (
	maxObservedGraphs = 4
	maxObservedNodes  = 256
	maxObservedEdges  = 512
	// maxObservedBytes bounds the names one graph keeps.
	maxObservedBytes = 16 << 10
)

// Node kinds shown by the UI (its NodeType), from what a node did.
const (
	kindLLM = 1 << iota
	kindTool
	kindRouter
)

// observedGraph is the topology of one graph on one thread.
type observedGraph struct {
	name  string
	entry string
	nodes []observedNode
	edges []observedEdge
	bytes int
	// incomplete: the bounds kept something that ran out of the graph.
	incomplete bool
	// schema is the rendered GraphSchema JSON, "" when it must be rendered
	// again.
	schema string
	// frozen: nodes and edges rest in rest (topology_rest.go) while the
	// thread has no run using the graph.
	frozen bool
	rest   unique.Handle[string]
}

type observedNode struct {
	name  string
	kinds int
}

// observedEdge is an edge taken at least once, between two of the graph's
// nodes (their places in observedGraph.nodes: 24 bytes an edge, and no
// second copy of the names). label is the condition of the router that
// chose it, when one did.
type observedEdge struct {
	from, to    uint16
	conditional bool
	label       string
}

// observedGraphs is a session's graphs by name, least recently used first.
type observedGraphs struct {
	graphs []*observedGraph
}

// get returns the graph named name, making it (and forgetting the least
// recently used one when full) on first sight.
func (gs *observedGraphs) get(name string) *observedGraph {
	for i, g := range gs.graphs {
		if g.name == name {
			copy(gs.graphs[i:], gs.graphs[i+1:])
			gs.graphs[len(gs.graphs)-1] = g
			g.thaw()
			return g
		}
	}
	if len(gs.graphs) >= maxObservedGraphs {
		copy(gs.graphs, gs.graphs[1:])
		gs.graphs = gs.graphs[:len(gs.graphs)-1]
	}
	g := &observedGraph{name: name}
	gs.graphs = append(gs.graphs, g)
	return g
}

// trim freezes the graphs (topology_rest.go) and drops their rendered
// schemas (rendered again at the next GRAPH_START): a session between
// runs holds only what it learned, shared with every thread that learned
// the same.
func (gs *observedGraphs) trim() {
	for _, g := range gs.graphs {
		g.freeze()
	}
}

// room reports whether n more bytes of names fit, and accounts them.
func (g *observedGraph) room(n int) bool {
	if g.bytes+n > maxObservedBytes {
		return false
	}
	g.bytes += n
	return true
}

// node returns the place in nodes of the node named name, adding it on
// first sight (-1: no room for it). It and the mutators built on it work on
// a thawed graph: get, learn and schemaJSON thaw a frozen one.
func (g *observedGraph) node(name string) int {
	for i := range g.nodes {
		if g.nodes[i].name == name {
			return i
		}
	}
	if len(g.nodes) >= maxObservedNodes || !g.room(len(name)) {
		g.incomplete = true
		return -1
	}
	g.nodes = append(g.nodes, observedNode{name: name})
	g.schema = ""
	return len(g.nodes) - 1
}

func (g *observedGraph) addNode(name string, kinds int) {
	if i := g.node(name); i >= 0 && g.nodes[i].kinds|kinds != g.nodes[i].kinds {
		g.nodes[i].kinds |= kinds
		g.schema = ""
	}
}

// setEntry records the graph's entry point: the first node of its first run,
// unless the convention names one (named wins).
func (g *observedGraph) setEntry(name string, named bool) {
	if g.entry == name || (g.entry != "" && !named) || g.node(name) < 0 {
		return
	}
	g.entry = name
	g.schema = ""
}

func (g *observedGraph) addEdge(from, to string, conditional bool, label string) {
	f, t := g.node(from), g.node(to)
	if f < 0 || t < 0 {
		return
	}
	for i := range g.edges {
		e := &g.edges[i]
		if e.from == uint16(f) && e.to == uint16(t) {
			if conditional && !e.conditional {
				e.conditional, e.label = true, label
				g.schema = ""
			}
			return
		}
	}
	if len(g.edges) >= maxObservedEdges || !g.room(len(label)) {
		g.incomplete = true
		return
	}
	g.edges = append(g.edges, observedEdge{from: uint16(f), to: uint16(t), conditional: conditional, label: label})
	g.schema = ""
}

// learn adds what this call brings of a run to its graph: the entry point
// the convention names, the nodes that ran and the edges between
// consecutive steps, exactly those the emitter draws (same cursor rules,
// from the run's current newest step).
// scratch holds the cursor's copy of the run's newest nodes (kept by
// the caller between calls).
func (g *observedGraph) learn(rw *runWork, rs *runState, scratch *[]string) {
	g.thaw()
	if rw.entryPoint != "" && !isPseudoNode(rw.entryPoint) {
		g.setEntry(rw.entryPoint, true)
	}
	cur := rs.last
	cur.nodes = append((*scratch)[:0], cur.nodes...)
	bySteps := allHaveSteps(rw.nodes)
	for i := 0; i < len(rw.nodes); {
		j := groupEnd(rw.nodes, i, bySteps)
		group := rw.nodes[i:j]
		i = j
		names := distinctNames(group)
		for _, ne := range group {
			g.addNode(ne.si.nodeName, nodeKinds(ne, rs))
		}
		if !cur.follows(group) {
			continue
		}
		if !cur.have {
			g.setEntry(names[0], false)
		}
		if cur.leadsTo(names) {
			for _, from := range cur.nodes {
				m, conditional := rs.router(from, cur.step, cur.hasStep)
				for _, to := range names {
					g.addEdge(from, to, conditional, nonEmpty(m.condition, m.choice))
				}
			}
		}
		cur.moveTo(group, names)
	}
	clear(cur.nodes)
	*scratch = cur.nodes[:0]
}

// nodeKinds tells what a node execution did: called a model, a tool, or
// chose a branch.
func nodeKinds(ne *nodeExec, rs *runState) int {
	k := 0
	for _, c := range ne.children {
		switch c.role {
		case roleLLM:
			k |= kindLLM
		case roleTool:
			k |= kindTool
		}
	}
	if _, ok := rs.router(ne.si.nodeName, ne.si.step, ne.si.hasStep); ok {
		k |= kindRouter
	}
	return k
}

// schemaJSON renders the graph as the UI's GraphSchema in at most budget
// bytes: one node per name, a direct edge per edge taken, and per node whose
// router chose branches one conditional edge listing every target seen.
// Nodes, then edges, are taken in the order first seen while they fit;
// metadata.truncated says when some did not, or when the session's bounds
// kept some out.
func (g *observedGraph) schemaJSON(budget int) string {
	g.thaw()
	if g.schema != "" || len(g.nodes) == 0 {
		return g.schema
	}
	nodes := make([][]byte, 0, len(g.nodes))
	for _, n := range g.nodes {
		nodes = append(nodes, mustMarshal(graphSchemaNode{
			Name: n.name, NodeType: nodeType(n.kinds), InputFields: []string{}, OutputFields: []string{},
			Attributes: map[string]string{},
		}))
	}
	var edges []graphSchemaEdge
	branches := map[string]int{} // from → index of its conditional edge
	for _, e := range g.edges {
		from, to := g.nodes[e.from].name, g.nodes[e.to].name
		if !e.conditional {
			edges = append(edges, graphSchemaEdge{From: from, To: to, EdgeType: "direct"})
			continue
		}
		if i, ok := branches[from]; ok {
			edges[i].ConditionalTargets = append(edges[i].ConditionalTargets, to)
			continue
		}
		branches[from] = len(edges)
		edges = append(edges, graphSchemaEdge{
			From: from, To: to, EdgeType: "conditional", Label: e.label, ConditionalTargets: []string{to},
		})
	}
	head := append([]byte(`{"name":`), mustMarshal(g.name)...)
	head = append(head, `,"version":"observed","nodes":[`...)
	tail := append([]byte(`],"entry_point":`), mustMarshal(g.entry)...)
	full := append(tail, `,"metadata":{"source":"observed"}}`...)
	cut := append(tail[:len(tail):len(tail)], `,"metadata":{"source":"observed","truncated":"true"}}`...)

	out := head
	room := budget - len(head) - len(`],"edges":[`) - len(cut)
	truncated := g.incomplete
	kept := map[string]bool{}
	for i, n := range nodes {
		if len(n)+1 > room {
			truncated = true
			break
		}
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, n...)
		room -= len(n) + 1
		kept[g.nodes[i].name] = true
	}
	out = append(out, `],"edges":[`...)
	first := true
	for _, e := range edges {
		if !kept[e.From] || !kept[e.To] {
			truncated = true
			continue
		}
		b := mustMarshal(e)
		if len(b)+1 > room {
			truncated = true
			break
		}
		if !first {
			out = append(out, ',')
		}
		first = false
		out = append(out, b...)
		room -= len(b) + 1
	}
	if room < 0 {
		return ""
	}
	if truncated {
		out = append(out, cut...)
	} else {
		out = append(out, full...)
	}
	g.schema = string(out)
	return g.schema
}

// mustMarshal is json.Marshal of values it cannot fail on: strings (invalid
// UTF-8 becomes U+FFFD) and the schema structs made of them.
// normalisedSchema returns a graph schema's text as GRAPH_START carries it:
// compact, as dashstream.MarshalJSON writes it. The observed schema
// (schemaJSON: encoding/json's compact output of strings, arrays and
// objects) already is that text unless encoding/json escaped something
// (HTML characters, U+2028, invalid UTF-8), which always leaves a
// backslash; only then, and for schemas from spans, is it parsed and
// written again. ok is false for text that is not JSON.
func normalisedSchema(schema string, observed bool) (string, bool) {
	if observed && !strings.Contains(schema, `\`) {
		return schema, true
	}
	v, err := dashstream.ParseJSONString(schema, dashstream.ParseOptions{MaxDepth: maxStateDepth})
	if err != nil {
		return "", false
	}
	return string(dashstream.MarshalJSON(v)), true
}

func mustMarshal(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// nodeType maps what a node did to the UI's NodeType: a router first (it
// decides the shape of the run), then a model call, then a tool call.
func nodeType(kinds int) string {
	switch {
	case kinds&kindRouter != 0:
		return "router"
	case kinds&kindLLM != 0:
		return "llm"
	case kinds&kindTool != 0:
		return "tool"
	default:
		return "transform"
	}
}
