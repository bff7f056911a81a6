package translate

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/dashstream/dashstreamexporter/dashstream"
	pb "github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
)

// uiGraphSchema is the part of the DashFlow UI's GraphSchema type the graph
// view reads.
type uiGraphSchema struct {
	Name  string `json:"name"`
	Nodes []struct {
		Name     string `json:"name"`
		NodeType string `json:"node_type"`
	} `json:"nodes"`
	Edges []struct {
		From               string   `json:"from"`
		To                 string   `json:"to"`
		EdgeType           string   `json:"edge_type"`
		Label              string   `json:"label"`
		ConditionalTargets []string `json:"conditional_targets"`
	} `json:"edges"`
	EntryPoint string            `json:"entry_point"`
	Metadata   map[string]string `json:"metadata"`
}

// graphStartSchemas returns the graph_schema_json of every GRAPH_START in
// the records, parsed ("" schema → zero value, present false).
func graphStartSchemas(t *testing.T, res *Result) (schemas []uiGraphSchema, present []bool) {
	t.Helper()
	for _, d := range decodeAll(t, res.Records) {
		ev := d.msg.GetEvent()
		if ev.GetEventType() != pb.EventType_EVENT_TYPE_GRAPH_START {
			continue
		}
		text := ev.GetAttributes()["graph_schema_json"].GetStringValue()
		var gs uiGraphSchema
		if text != "" {
			if err := json.Unmarshal([]byte(text), &gs); err != nil {
				t.Fatalf("graph_schema_json is not JSON: %v", err)
			}
			if ev.GetAttributes()["schema_id"].GetStringValue() == "" {
				t.Fatal("graph_schema_json without schema_id")
			}
		}
		schemas = append(schemas, gs)
		present = append(present, text != "")
	}
	return schemas, present
}

func (gs uiGraphSchema) nodeNames() []string {
	var out []string
	for _, n := range gs.Nodes {
		out = append(out, n.Name)
	}
	return out
}

// edgeList renders edges as "from->to" (direct) or "from?a|b" (conditional).
func (gs uiGraphSchema) edgeList() []string {
	var out []string
	for _, e := range gs.Edges {
		if e.EdgeType == "conditional" {
			out = append(out, e.From+"?"+strings.Join(e.ConditionalTargets, "|"))
			continue
		}
		out = append(out, e.From+"->"+e.To)
	}
	return out
}

// oiLoopRun builds one OpenInference-shaped LangGraph run (no schema in the
// convention): plan → review, whose router chooses next (revise or
// publish); revise loops back to review.
func oiLoopRun(trace, thread string, path []string, choices []string) []sp {
	md := func(node string, step int) map[string]any {
		return map[string]any{"openinference.span.kind": "CHAIN", "session.id": thread,
			"metadata": fmt.Sprintf(`{"langgraph_node":%q,"langgraph_step":%d,"thread_id":%q}`, node, step, thread)}
	}
	spans := []sp{{trace: trace, id: "g", name: "review_graph", start: 0, end: 1000,
		attrs: map[string]any{"openinference.span.kind": "CHAIN", "session.id": thread}}}
	c := 0
	for i, node := range path {
		id := fmt.Sprintf("n%d", i)
		start := int64(10 + 100*i)
		spans = append(spans, sp{trace: trace, id: id, parent: "g", name: node, start: start, end: start + 90, attrs: md(node, i+1)})
		if node == "review" && c < len(choices) {
			spans = append(spans, sp{trace: trace, id: id + "r", parent: id, name: "route_review", start: start + 80, end: start + 85,
				attrs: map[string]any{"openinference.span.kind": "CHAIN", "output.value": choices[c],
					"metadata": fmt.Sprintf(`{"langgraph_node":%q,"langgraph_step":%d}`, node, i+1)}})
			c++
		}
	}
	return spans
}

// schemasSpanBySpan translates a run's spans one call each and returns the
// GRAPH_START schemas they gave.
func schemasSpanBySpan(t *testing.T, tr *Translator, spans []sp) []uiGraphSchema {
	t.Helper()
	var schemas []uiGraphSchema
	for _, s := range spans {
		got, _ := graphStartSchemas(t, translateAll(t, tr, buildTraces(s)))
		schemas = append(schemas, got...)
	}
	return schemas
}

func TestObservedGraphSchema(t *testing.T) {
	const thread = "topology-thread"
	first := oiLoopRun("run1", thread, []string{"plan", "review", "revise", "review", "publish"}, []string{"revise", "publish"})
	second := oiLoopRun("run2", thread, []string{"plan", "review", "publish"}, []string{"publish"})

	t.Run("one call brings the whole run", func(t *testing.T) {
		tr := newTestTranslator(t, DefaultConfig())
		schemas, present := graphStartSchemas(t, translateAll(t, tr, buildTraces(first...)))
		if len(schemas) != 1 || !present[0] {
			t.Fatalf("GRAPH_START schemas present = %v, want one", present)
		}
		gs := schemas[0]
		if gs.Name != "review_graph" || gs.EntryPoint != "plan" || gs.Metadata["source"] != "observed" {
			t.Errorf("name %q entry %q metadata %v", gs.Name, gs.EntryPoint, gs.Metadata)
		}
		if want := []string{"plan", "review", "revise", "publish"}; !slices.Equal(gs.nodeNames(), want) {
			t.Errorf("nodes %q, want %q", gs.nodeNames(), want)
		}
		if want := []string{"plan->review", "review?revise|publish", "revise->review"}; !slices.Equal(gs.edgeList(), want) {
			t.Errorf("edges %q, want %q", gs.edgeList(), want)
		}
		for _, n := range gs.Nodes {
			if n.Name == "review" && n.NodeType != "router" {
				t.Errorf("review node_type %q, want router", n.NodeType)
			}
		}
	})

	t.Run("a second run shows what the first taught from its GRAPH_START", func(t *testing.T) {
		tr := newTestTranslator(t, DefaultConfig())
		translateAll(t, tr, buildTraces(first...))
		// The second run's spans arrive one by one: its GRAPH_START (with
		// the first span) already has the whole topology.
		schemas := schemasSpanBySpan(t, tr, second)
		if len(schemas) != 1 {
			t.Fatalf("%d GRAPH_STARTs for the second run, want 1", len(schemas))
		}
		if want := []string{"plan->review", "review?revise|publish", "revise->review"}; !slices.Equal(schemas[0].edgeList(), want) {
			t.Errorf("second run edges %q, want %q", schemas[0].edgeList(), want)
		}
	})

	t.Run("the first run's GRAPH_START has what is known when it is sent", func(t *testing.T) {
		tr := newTestTranslator(t, DefaultConfig())
		// plan and review arrive first: the schema knows them and their edge.
		schemas, _ := graphStartSchemas(t, translateAll(t, tr, buildTraces(first[1], first[2], first[3])))
		if len(schemas) != 1 {
			t.Fatalf("%d GRAPH_STARTs, want 1", len(schemas))
		}
		if want := []string{"plan", "review"}; !slices.Equal(schemas[0].nodeNames(), want) {
			t.Errorf("nodes %q, want %q", schemas[0].nodeNames(), want)
		}
		if want := []string{"plan->review"}; !slices.Equal(schemas[0].edgeList(), want) {
			t.Errorf("edges %q, want %q", schemas[0].edgeList(), want)
		}
	})

	t.Run("another thread learns on its own", func(t *testing.T) {
		tr := newTestTranslator(t, DefaultConfig())
		translateAll(t, tr, buildTraces(first...))
		other := oiLoopRun("run3", "other-thread", []string{"plan"}, nil)
		schemas, _ := graphStartSchemas(t, translateAll(t, tr, buildTraces(other...)))
		if len(schemas) != 1 || !slices.Equal(schemas[0].nodeNames(), []string{"plan"}) || len(schemas[0].Edges) != 0 {
			t.Fatalf("other thread's schema %+v", schemas)
		}
	})
}

// A schema the convention gives wins over the observed one.
func TestConventionSchemaWins(t *testing.T) {
	const thread, run = "schema-thread", "schema-run"
	given := `{"name":"given","version":"1","nodes":[{"name":"x","node_type":"llm","input_fields":[],"output_fields":[],"attributes":{}}],"edges":[],"entry_point":"x","metadata":{}}`
	td := buildTraces(
		sp{trace: "t", id: "g", name: "g", start: 0, end: 100, attrs: map[string]any{"dashstream.span.kind": "graph",
			"dashstream.thread_id": thread, "dashstream.run_id": run, "dashstream.graph.name": "given", "dashstream.graph.schema": given}},
		sp{trace: "t", id: "a", parent: "g", name: "a", start: 10, end: 20, attrs: map[string]any{"dashstream.span.kind": "node",
			"dashstream.thread_id": thread, "dashstream.run_id": run, "dashstream.node.name": "a"}},
	)
	schemas, _ := graphStartSchemas(t, translateAll(t, newTestTranslator(t, DefaultConfig()), td))
	if len(schemas) != 1 || schemas[0].Name != "given" || !slices.Equal(schemas[0].nodeNames(), []string{"x"}) {
		t.Fatalf("schema %+v, want the convention's", schemas)
	}
}

// Hostile runs (thousands of nodes, huge names) cannot grow a session's
// topology past its bounds, and the GRAPH_START stays well-formed.
func TestObservedGraphBounds(t *testing.T) {
	const thread, run = "bounded-thread", "bounded-run"
	node := func(name string, step int) map[string]any {
		return map[string]any{"dashstream.span.kind": "node", "dashstream.thread_id": thread,
			"dashstream.run_id": run, "dashstream.node.name": name, "dashstream.step": step}
	}
	var spans []sp
	for i := range 2 * maxObservedNodes {
		name := fmt.Sprintf("node-%d", i)
		if i%50 == 0 {
			name += strings.Repeat("x", 4<<10)
		}
		spans = append(spans, sp{trace: "t", id: fmt.Sprint(i), name: name, start: int64(10 + i), end: int64(11 + i), attrs: node(name, i+1)})
	}
	tr := newTestTranslator(t, DefaultConfig())
	res := translateAll(t, tr, buildTraces(spans...))
	schemas, present := graphStartSchemas(t, res)
	if len(schemas) != 1 || !present[0] {
		t.Fatalf("schemas present %v", present)
	}
	if n := len(schemas[0].Nodes); n == 0 || n > maxObservedNodes {
		t.Errorf("%d nodes, want 1..%d", n, maxObservedNodes)
	}
	if n := len(schemas[0].Edges); n > maxObservedEdges {
		t.Errorf("%d edges, want ≤ %d", n, maxObservedEdges)
	}
	if schemas[0].Metadata["truncated"] != "true" {
		t.Errorf("metadata %v: want truncated", schemas[0].Metadata)
	}
	for _, d := range decodeAll(t, res.Records) {
		if ev := d.msg.GetEvent(); ev.GetEventType() == pb.EventType_EVENT_TYPE_GRAPH_START {
			if n := len(ev.GetAttributes()["graph_schema_json"].GetStringValue()); n > DefaultConfig().AttributeMaxBytes {
				t.Errorf("graph_schema_json is %d bytes, limit %d", n, DefaultConfig().AttributeMaxBytes)
			}
		}
	}
	ss := tr.sessions.lookup([]string{thread})
	defer tr.sessions.release(ss)
	if len(ss) != 1 {
		t.Fatal("no session")
	}
	for _, g := range ss[0].graphs.graphs {
		if g.bytes > maxObservedBytes {
			t.Errorf("graph %q keeps %d bytes of names, bound %d", g.name, g.bytes, maxObservedBytes)
		}
	}
}

// The least recently used graph is forgotten past maxObservedGraphs.
func TestObservedGraphsLRU(t *testing.T) {
	var gs observedGraphs
	for i := range maxObservedGraphs + 2 {
		gs.get(fmt.Sprint("g", i)).addNode("n", 0)
	}
	gs.get("g2") // used again: kept
	gs.get("new")
	if len(gs.graphs) != maxObservedGraphs {
		t.Fatalf("%d graphs kept, want %d", len(gs.graphs), maxObservedGraphs)
	}
	var names []string
	for _, g := range gs.graphs {
		names = append(names, g.name)
	}
	if !slices.Contains(names, "g2") || slices.Contains(names, "g0") || slices.Contains(names, "g3") {
		t.Fatalf("kept %q", names)
	}
}

// The observed schema is cut to the attribute limit rather than dropped.
func TestObservedSchemaFitsAttributeLimit(t *testing.T) {
	cfg := DefaultConfig()
	cfg.AttributeMaxBytes = 400
	spans := oiLoopRun("run1", "small-limit", []string{"plan", "review", "revise", "review", "publish"}, []string{"revise", "publish"})
	res := translateAll(t, newTestTranslator(t, cfg), buildTraces(spans...))
	for _, d := range decodeAll(t, res.Records) {
		ev := d.msg.GetEvent()
		if ev.GetEventType() != pb.EventType_EVENT_TYPE_GRAPH_START {
			continue
		}
		text := ev.GetAttributes()["graph_schema_json"].GetStringValue()
		var gs uiGraphSchema
		if err := json.Unmarshal([]byte(text), &gs); err != nil || len(text) > cfg.AttributeMaxBytes {
			t.Fatalf("schema of %d bytes (limit %d): %v", len(text), cfg.AttributeMaxBytes, err)
		}
		if len(gs.Nodes) == 0 || gs.Metadata["truncated"] != "true" {
			t.Fatalf("schema %s: want some nodes and truncated", text)
		}
		return
	}
	t.Fatal("no GRAPH_START")
}

// A convention that names the entry point (DashFlow's graph.entry_point)
// wins over the first node observed.
func TestObservedSchemaNamedEntryPoint(t *testing.T) {
	const thread, run = "entry-thread", "entry-run"
	node := func(name string, step int) map[string]any {
		return map[string]any{"dashstream.span.kind": "node", "dashstream.thread_id": thread,
			"dashstream.run_id": run, "dashstream.node.name": name, "dashstream.step": step}
	}
	td := buildTraces(
		sp{trace: "t", id: "g", name: "g", start: 0, end: 100, attrs: map[string]any{"dashstream.span.kind": "graph",
			"dashstream.thread_id": thread, "dashstream.run_id": run, "dashstream.graph.name": "resumed",
			"dashstream.graph.entry_point": "start_here"}},
		sp{trace: "t", id: "b", parent: "g", name: "b", start: 10, end: 20, attrs: node("later", 2)},
	)
	tr := newTestTranslator(t, DefaultConfig())
	first, _ := graphStartSchemas(t, translateAll(t, tr, td))
	if len(first) != 1 || first[0].EntryPoint != "start_here" {
		t.Fatalf("first run schemas %+v, want entry_point start_here (named), not the first node seen", first)
	}
	// A later run keeps it.
	td2 := buildTraces(sp{trace: "t2", id: "a", name: "a", start: 200, end: 210, attrs: map[string]any{"dashstream.span.kind": "node",
		"dashstream.thread_id": thread, "dashstream.run_id": "entry-run-2", "dashstream.node.name": "start_here", "dashstream.step": 1,
		"dashstream.graph.name": "resumed"}})
	schemas, _ := graphStartSchemas(t, translateAll(t, tr, td2))
	if len(schemas) != 1 || schemas[0].EntryPoint != "start_here" {
		t.Fatalf("schemas %+v, want entry_point start_here", schemas)
	}
}

// TestNormalisedObservedSchema: the observed schema's text goes out as it
// is only when writing its parse again gives the same text: names that
// encoding/json escapes (HTML characters, U+2028, invalid UTF-8, control
// characters, quotes) or leaves alone (other Unicode) all end up as
// dashstream.MarshalJSON writes them.
func TestNormalisedObservedSchema(t *testing.T) {
	for _, name := range []string{"plain", "ñandú 日本 🙂", "<a&b>", "say \"hi\"", "line\u2028sep", "bad\xffutf8", "tab\tnew\nline", `back\slash`} {
		g := &observedGraph{name: "g-" + name}
		g.addNode(name, 0)
		g.addNode("next", 0)
		g.setEntry(name, false)
		g.addEdge(name, "next", false, "")
		g.addEdge("next", name, true, "back-"+name)
		schema := g.schemaJSON(1 << 20)
		v, err := dashstream.ParseJSONString(schema, dashstream.ParseOptions{})
		if err != nil {
			t.Fatalf("%q: observed schema is not JSON: %v", name, err)
		}
		want := string(dashstream.MarshalJSON(v))
		got, ok := normalisedSchema(schema, true)
		if !ok || got != want {
			t.Fatalf("%q: normalised\n %s\nwant\n %s", name, got, want)
		}
		if !strings.Contains(schema, `\`) && got != schema {
			t.Fatalf("%q: text without escapes changed", name)
		}
	}
	if _, ok := normalisedSchema(`{"nodes":`, false); ok {
		t.Fatal("broken schema from a span accepted")
	}
}
