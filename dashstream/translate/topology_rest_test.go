package translate

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestTopologyEncodingRoundTrip: what freeze encodes, thaw decodes to the
// same lists, for random graphs (empty and non-ASCII names, labels,
// every kind bit, node places past one varint byte).
func TestTopologyEncodingRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	names := []string{"", "n", "plan", "réviser", "节点", "a\x00b", string(make([]byte, 300))}
	for i := range 300 {
		nodes := make([]observedNode, rng.IntN(maxObservedNodes+1))
		for j := range nodes {
			nodes[j] = observedNode{name: names[rng.IntN(len(names))] + fmt.Sprint(j), kinds: rng.IntN(8)}
		}
		var edges []observedEdge
		if len(nodes) > 0 {
			edges = make([]observedEdge, rng.IntN(maxObservedEdges+1))
		}
		for j := range edges {
			edges[j] = observedEdge{from: uint16(rng.IntN(len(nodes))), to: uint16(rng.IntN(len(nodes))),
				conditional: rng.IntN(2) == 1, label: names[rng.IntN(len(names))]}
		}
		gotNodes, gotEdges := decodeTopology(string(encodeTopology(nodes, edges)))
		if !slices.Equal(gotNodes, nodes) || !slices.Equal(gotEdges, edges) {
			t.Fatalf("graph %d (%d nodes, %d edges) does not decode to itself", i, len(nodes), len(edges))
		}
	}
}

// TestFrozenGraphsShareTopology: graphs learned the same way rest as one
// shared text; thawed, each has lists of its own again, and what one
// learns next changes neither the other nor the shared text.
func TestFrozenGraphsShareTopology(t *testing.T) {
	learn := func(g *observedGraph) {
		g.setEntry("plan", false)
		g.addNode("plan", kindLLM)
		g.addNode("review", kindRouter)
		g.addEdge("plan", "review", false, "")
		g.addEdge("review", "plan", true, "revise")
	}
	a, b, other := &observedGraph{name: "g"}, &observedGraph{name: "g"}, &observedGraph{name: "g"}
	learn(a)
	learn(b)
	learn(other)
	other.addNode("publish", 0)
	wantSchema := a.schemaJSON(1 << 16)
	wantNodes, wantEdges := slices.Clone(a.nodes), slices.Clone(a.edges)

	for _, g := range []*observedGraph{a, b, other} {
		g.freeze()
		if !g.frozen || g.nodes != nil || g.edges != nil || g.schema != "" {
			t.Fatalf("a frozen graph keeps its lists or schema: %+v", g)
		}
	}
	if a.rest != b.rest {
		t.Error("two graphs learned the same way do not share their resting text")
	}
	if a.rest == other.rest {
		t.Error("graphs that differ share a resting text")
	}
	a.freeze() // frozen already: unchanged
	if a.rest != b.rest {
		t.Error("freezing twice changed the resting text")
	}

	if got := a.schemaJSON(1 << 16); got != wantSchema {
		t.Errorf("schema after rest %s, want %s", got, wantSchema)
	}
	if !slices.Equal(a.nodes, wantNodes) || !slices.Equal(a.edges, wantEdges) || a.frozen {
		t.Fatalf("thawed lists %+v %+v, want %+v %+v", a.nodes, a.edges, wantNodes, wantEdges)
	}
	a.addNode("publish", kindTool)
	a.addEdge("review", "publish", true, "publish")
	b.thaw()
	if !slices.Equal(b.nodes, wantNodes) || !slices.Equal(b.edges, wantEdges) {
		t.Errorf("another thread's graph changed with the first: %+v %+v", b.nodes, b.edges)
	}

	var gs observedGraphs
	g := gs.get("g")
	learn(g)
	gs.trim()
	if !g.frozen {
		t.Fatal("trim leaves the graph unfrozen")
	}
	if gs.get("g") != g || g.frozen || len(g.nodes) != 2 {
		t.Errorf("get does not give the frozen graph back thawed: %+v", g)
	}
	empty := &observedGraph{name: "e"}
	empty.freeze()
	if empty.frozen {
		t.Error("a graph without nodes is frozen")
	}
}

// TestRestingThreadsShareTopology: threads that ran the same graph keep one
// copy of it between runs, and a thread's next run still starts with the
// schema its earlier runs taught (TestObservedGraphSchema's second run).
func TestRestingThreadsShareTopology(t *testing.T) {
	tr := newTestTranslator(t, DefaultConfig())
	path, choices := []string{"plan", "review", "revise", "review", "publish"}, []string{"revise", "publish"}
	for i, thread := range []string{"t1", "t2"} {
		translateAll(t, tr, buildTraces(oiLoopRun(fmt.Sprint("run", i), thread, path, choices)...))
	}
	ss := tr.sessions.lookup([]string{"t1", "t2"})
	if len(ss) != 2 || len(ss[0].graphs.graphs) != 1 || len(ss[1].graphs.graphs) != 1 {
		tr.sessions.release(ss)
		t.Fatal("want two sessions with one graph each")
	}
	g1, g2 := ss[0].graphs.graphs[0], ss[1].graphs.graphs[0]
	frozen, shared := g1.frozen && g2.frozen, g1.rest == g2.rest
	tr.sessions.release(ss)
	if !frozen || !shared {
		t.Fatalf("finished threads' graphs: frozen %v, shared %v", frozen, shared)
	}

	schemas := schemasSpanBySpan(t, tr, oiLoopRun("run9", "t1", []string{"plan", "review", "publish"}, []string{"publish"}))
	if len(schemas) != 1 {
		t.Fatalf("%d GRAPH_STARTs, want 1", len(schemas))
	}
	if want := []string{"plan->review", "review?revise|publish", "revise->review"}; !slices.Equal(schemas[0].edgeList(), want) {
		t.Errorf("next run's edges %q, want %q", schemas[0].edgeList(), want)
	}
}
