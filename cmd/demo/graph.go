package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Span attribute keys of the dashstream convention (SPEC §4.1, first row,
// and the llm/tool/router keys the translation reads under our prefix).
const (
	keySpanKind     = "dashstream.span.kind"
	keyThreadID     = "dashstream.thread_id"
	keyRunID        = "dashstream.run_id"
	keyGraphName    = "dashstream.graph.name"
	keyGraphSchema  = "dashstream.graph.schema"
	keyEntryPoint   = "dashstream.graph.entry_point"
	keyNodeName     = "dashstream.node.name"
	keyStep         = "dashstream.step"
	keyState        = "dashstream.state"
	keyStateInitial = "dashstream.state.initial"
	keyLLMModel     = "dashstream.llm.model"
	keyInputTokens  = "dashstream.llm.input_tokens"
	keyOutputTokens = "dashstream.llm.output_tokens"
	keyFinishReason = "dashstream.llm.finish_reason"
	keyToolName     = "dashstream.tool.name"
	keyToolCallID   = "dashstream.tool.call_id"
	keyToolArgs     = "dashstream.tool.arguments"
	keyToolResult   = "dashstream.tool.result"
	keyRouterChoice = "dashstream.router.choice"
)

// end is the pseudo-target a router returns to finish the run.
const end = "__end__"

// State is a graph's state: a JSON object that nodes update in place.
type State map[string]any

// NodeFunc is the work of one node. It reads and updates the state; nc gives
// it the tools and the model, each traced as a child span of the node.
type NodeFunc func(ctx context.Context, nc *NodeContext, s State) error

// RouterFunc chooses the next node after a node (a conditional edge).
type RouterFunc func(s State) string

// Graph is a small state-graph runtime: nodes, direct edges, conditional
// edges and an entry point, run one node per step like LangGraph's Pregel
// loop with one active node.
type Graph struct {
	Name    string
	Entry   string
	nodes   map[string]NodeFunc
	order   []string
	edges   map[string]string
	routers map[string]conditional
	// MaxSteps stops a run whose routers loop forever.
	MaxSteps int
}

type conditional struct {
	fn      RouterFunc
	targets []string
}

// NewGraph returns an empty graph.
func NewGraph(name string) *Graph {
	return &Graph{Name: name, nodes: map[string]NodeFunc{}, edges: map[string]string{},
		routers: map[string]conditional{}, MaxSteps: 50}
}

// AddNode registers a node; the first one added is the entry point unless
// Entry is set.
func (g *Graph) AddNode(name string, fn NodeFunc) {
	if g.Entry == "" {
		g.Entry = name
	}
	g.nodes[name] = fn
	g.order = append(g.order, name)
}

// AddEdge makes to always follow from.
func (g *Graph) AddEdge(from, to string) { g.edges[from] = to }

// AddConditionalEdge lets fn choose among targets after from.
func (g *Graph) AddConditionalEdge(from string, fn RouterFunc, targets ...string) {
	g.routers[from] = conditional{fn: fn, targets: targets}
}

// Schema is the graph's GraphSchema JSON as the DashFlow UI reads it.
func (g *Graph) Schema() string {
	type node struct {
		Name         string            `json:"name"`
		NodeType     string            `json:"node_type"`
		InputFields  []string          `json:"input_fields"`
		OutputFields []string          `json:"output_fields"`
		Attributes   map[string]string `json:"attributes"`
	}
	type edge struct {
		From     string `json:"from"`
		To       string `json:"to"`
		EdgeType string `json:"edge_type"`
	}
	schema := struct {
		Name       string            `json:"name"`
		Version    string            `json:"version"`
		Nodes      []node            `json:"nodes"`
		Edges      []edge            `json:"edges"`
		EntryPoint string            `json:"entry_point"`
		Metadata   map[string]string `json:"metadata"`
	}{Name: g.Name, Version: "1", EntryPoint: g.Entry, Metadata: map[string]string{"source": "dashstream-demo"}}
	for _, n := range g.order {
		schema.Nodes = append(schema.Nodes, node{Name: n, NodeType: "custom", InputFields: []string{},
			OutputFields: []string{}, Attributes: map[string]string{}})
		if to, ok := g.edges[n]; ok {
			schema.Edges = append(schema.Edges, edge{From: n, To: to, EdgeType: "direct"})
		}
		if c, ok := g.routers[n]; ok {
			for _, to := range c.targets {
				schema.Edges = append(schema.Edges, edge{From: n, To: to, EdgeType: "conditional"})
			}
		}
	}
	b, err := json.Marshal(schema)
	if err != nil {
		return ""
	}
	return string(b)
}

// Run is one invocation of a graph on a thread.
type Run struct {
	Thread string
	RunID  string
	Tracer trace.Tracer
	Model  Model
	Tools  map[string]Tool
}

// Invoke runs the graph from its entry point on state (updated in place)
// and returns the names of the nodes executed, in order. Every node, model
// call, tool call and routing decision becomes a span carrying the
// dashstream.* keys; a node span records the full state after the node.
func (g *Graph) Invoke(ctx context.Context, r Run, state State) (path []string, err error) {
	initial, err := stateJSON(state)
	if err != nil {
		return nil, err
	}
	ctx, span := r.Tracer.Start(ctx, g.Name, trace.WithAttributes(
		attribute.String(keySpanKind, "graph"),
		attribute.String(keyThreadID, r.Thread),
		attribute.String(keyRunID, r.RunID),
		attribute.String(keyGraphName, g.Name),
		attribute.String(keyGraphSchema, g.Schema()),
		attribute.String(keyEntryPoint, g.Entry),
		attribute.String(keyStateInitial, initial),
	))
	defer func() {
		if final, jerr := stateJSON(state); jerr == nil {
			span.SetAttributes(attribute.String(keyState, final))
		}
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}()

	current := g.Entry
	for step := 1; current != end; step++ {
		if step > g.MaxSteps {
			return path, fmt.Errorf("graph %s: more than %d steps", g.Name, g.MaxSteps)
		}
		fn, ok := g.nodes[current]
		if !ok {
			return path, fmt.Errorf("graph %s: unknown node %q", g.Name, current)
		}
		path = append(path, current)
		next, err := g.runNode(ctx, r, current, step, fn, state)
		if err != nil {
			return path, err
		}
		current = next
	}
	return path, nil
}

// runNode executes one node inside its span and returns the next node.
func (g *Graph) runNode(ctx context.Context, r Run, name string, step int, fn NodeFunc, state State) (string, error) {
	ctx, span := r.Tracer.Start(ctx, name, trace.WithAttributes(
		attribute.String(keySpanKind, "node"),
		attribute.String(keyThreadID, r.Thread),
		attribute.String(keyRunID, r.RunID),
		attribute.String(keyNodeName, name),
		attribute.Int(keyStep, step),
	))
	defer span.End()
	nc := &NodeContext{run: r, node: name}
	if err := fn(ctx, nc, state); err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		return "", fmt.Errorf("node %s: %w", name, err)
	}
	after, err := stateJSON(state)
	if err != nil {
		return "", fmt.Errorf("node %s: %w", name, err)
	}
	span.SetAttributes(attribute.String(keyState, after))

	if c, ok := g.routers[name]; ok {
		return route(ctx, r, name, c, state)
	}
	if to, ok := g.edges[name]; ok {
		return to, nil
	}
	return end, nil
}

// route runs a conditional edge's function in a router span, a child of the
// node it leaves, and checks its choice against the declared targets.
func route(ctx context.Context, r Run, from string, c conditional, state State) (string, error) {
	_, span := r.Tracer.Start(ctx, "route_after_"+from, trace.WithAttributes(
		attribute.String(keySpanKind, "router"),
		attribute.String(keyThreadID, r.Thread),
		attribute.String(keyRunID, r.RunID),
		attribute.String(keyNodeName, from),
	))
	defer span.End()
	choice := c.fn(state)
	span.SetAttributes(attribute.String(keyRouterChoice, choice))
	for _, t := range c.targets {
		if t == choice {
			return choice, nil
		}
	}
	err := fmt.Errorf("router after %s chose %q, not one of %v", from, choice, c.targets)
	span.SetStatus(codes.Error, err.Error())
	return "", err
}

// NodeContext gives a node its traced model and tools.
type NodeContext struct {
	run   Run
	node  string
	calls int
}

// Model is a chat model: prompt in, completion and token counts out.
type Model interface {
	Name() string
	Complete(ctx context.Context, prompt string) (Completion, error)
}

// Completion is a model's answer.
type Completion struct {
	Text                      string
	InputTokens, OutputTokens int
	FinishReason              string
}

// Tool is a callable tool taking and returning JSON objects.
type Tool func(ctx context.Context, args map[string]any) (map[string]any, error)

// Complete calls the run's model inside an llm span.
func (nc *NodeContext) Complete(ctx context.Context, prompt string) (Completion, error) {
	ctx, span := nc.run.Tracer.Start(ctx, "chat "+nc.run.Model.Name(), trace.WithAttributes(
		attribute.String(keySpanKind, "llm"),
		attribute.String(keyThreadID, nc.run.Thread),
		attribute.String(keyRunID, nc.run.RunID),
		attribute.String(keyNodeName, nc.node),
		attribute.String(keyLLMModel, nc.run.Model.Name()),
	))
	defer span.End()
	c, err := nc.run.Model.Complete(ctx, prompt)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		return c, err
	}
	span.SetAttributes(
		attribute.Int(keyInputTokens, c.InputTokens),
		attribute.Int(keyOutputTokens, c.OutputTokens),
		attribute.String(keyFinishReason, c.FinishReason),
	)
	return c, nil
}

// CallTool calls a named tool inside a tool span.
func (nc *NodeContext) CallTool(ctx context.Context, name string, args map[string]any) (map[string]any, error) {
	tool, ok := nc.run.Tools[name]
	if !ok {
		return nil, fmt.Errorf("unknown tool %q", name)
	}
	nc.calls++
	argJSON, err := json.Marshal(args)
	if err != nil {
		return nil, fmt.Errorf("tool %s arguments: %w", name, err)
	}
	ctx, span := nc.run.Tracer.Start(ctx, "execute_tool "+name, trace.WithAttributes(
		attribute.String(keySpanKind, "tool"),
		attribute.String(keyThreadID, nc.run.Thread),
		attribute.String(keyRunID, nc.run.RunID),
		attribute.String(keyNodeName, nc.node),
		attribute.String(keyToolName, name),
		attribute.String(keyToolCallID, nc.node+"-call-"+strconv.Itoa(nc.calls)),
		attribute.String(keyToolArgs, string(argJSON)),
	))
	defer span.End()
	res, err := tool(ctx, args)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		return nil, err
	}
	resJSON, err := json.Marshal(res)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("tool %s result", name), err)
	}
	span.SetAttributes(attribute.String(keyToolResult, string(resJSON)))
	return res, nil
}

// stateJSON renders the state as the JSON the spans carry.
func stateJSON(s State) (string, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return "", fmt.Errorf("encode state: %w", err)
	}
	return string(b), nil
}
