package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

func TestParseFlags(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name    string
		args    []string
		wantErr string
		check   func(t *testing.T, o options)
	}{
		{name: "defaults", check: func(t *testing.T, o options) {
			require.Equal(t, "127.0.0.1:4317", o.endpoint)
			require.Equal(t, 2, o.threads)
			require.Equal(t, 2, o.runs)
			require.Equal(t, "demo-20260102-030405-", o.threadPrefix)
			require.True(t, o.insecure)
		}},
		{name: "custom", args: []string{"-endpoint", "otel:4317", "-threads", "5", "-runs", "3", "-thread-prefix", "x-"},
			check: func(t *testing.T, o options) {
				require.Equal(t, "otel:4317", o.endpoint)
				require.Equal(t, 5, o.threads)
				require.Equal(t, 3, o.runs)
				require.Equal(t, "x-", o.threadPrefix)
			}},
		{name: "zero threads", args: []string{"-threads", "0"}, wantErr: "at least 1"},
		{name: "zero runs", args: []string{"-runs", "0"}, wantErr: "at least 1"},
		{name: "empty prefix", args: []string{"-thread-prefix", " "}, wantErr: "prefix"},
		{name: "extra", args: []string{"x"}, wantErr: "unexpected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseFlags(tt.args, io.Discard, now)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			tt.check(t, o)
		})
	}
}

// spanView is what the test reads of an exported span.
type spanView struct {
	name  string
	attrs map[attribute.Key]attribute.Value
	span  tracetest.SpanStub
}

func (s spanView) str(k string) string { return s.attrs[attribute.Key(k)].AsString() }

func TestRunExportsGraphSpans(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	expect := filepath.Join(t.TempDir(), "expect.json")
	var out bytes.Buffer
	o := options{endpoint: "test", threads: 2, runs: 2, threadPrefix: "t-", expectFile: expect, timeout: 10 * time.Second}
	require.NoError(t, run(context.Background(), o, keepingExporter{exp}, &out))

	// Every run takes the conditional branch back to draft once.
	require.Equal(t, 3, strings.Count(out.String(), "plan → research → draft → review → draft → review → publish"), out.String())

	var spans []spanView
	byKind := map[string][]spanView{}
	for _, s := range exp.GetSpans() {
		v := spanView{name: s.Name, attrs: map[attribute.Key]attribute.Value{}, span: s}
		for _, kv := range s.Attributes {
			v.attrs[kv.Key] = kv.Value
		}
		spans = append(spans, v)
		byKind[v.str(keySpanKind)] = append(byKind[v.str(keySpanKind)], v)
	}
	require.Len(t, byKind["graph"], 3)
	require.Len(t, byKind["node"], 3*7)
	require.Len(t, byKind["llm"], 3*2)
	require.Len(t, byKind["tool"], 3*2)
	require.Len(t, byKind["router"], 3*2)
	for _, s := range spans {
		require.Contains(t, []string{"t-1", "t-2"}, s.str(keyThreadID), s.name)
		require.NotEmpty(t, s.str(keyRunID), s.name)
	}

	// Router choices: first review sends back to draft, the second publishes.
	var choices []string
	for _, r := range byKind["router"] {
		if r.str(keyThreadID) == "t-2" {
			choices = append(choices, r.str(keyRouterChoice))
		}
	}
	require.ElementsMatch(t, []string{"draft", "publish"}, choices)

	// Graph spans: schema names the nodes; thread t-1's second run starts
	// from its first run's final state plus the new input.
	var t1 []spanView
	for _, g := range byKind["graph"] {
		require.Equal(t, "research-assistant", g.str(keyGraphName))
		require.Contains(t, g.str(keyGraphSchema), `"edge_type":"conditional"`)
		require.True(t, json.Valid([]byte(g.str(keyStateInitial))))
		if g.str(keyThreadID) == "t-1" {
			t1 = append(t1, g)
		}
	}
	require.Len(t, t1, 2)
	if t1[0].span.StartTime.After(t1[1].span.StartTime) {
		t1[0], t1[1] = t1[1], t1[0]
	}
	require.NotEqual(t, t1[0].str(keyRunID), t1[1].str(keyRunID))
	var first, second map[string]any
	require.NoError(t, json.Unmarshal([]byte(t1[0].str(keyState)), &first))
	require.NoError(t, json.Unmarshal([]byte(t1[1].str(keyStateInitial)), &second))
	require.Len(t, second["messages"], len(first["messages"].([]any))+1, "second run keeps the history and adds the question")
	require.Len(t, second["published"], 1)

	// Node spans carry the full state after the node; steps count from 1.
	for _, n := range byKind["node"] {
		require.Equal(t, n.name, n.str(keyNodeName))
		require.Positive(t, n.attrs[keyStep].AsInt64())
		var st map[string]any
		require.NoError(t, json.Unmarshal([]byte(n.str(keyState)), &st), n.name)
	}

	// LLM spans carry token counts.
	for _, l := range byKind["llm"] {
		require.Equal(t, "fake-llm-1", l.str(keyLLMModel))
		require.Positive(t, l.attrs[keyInputTokens].AsInt64())
		require.Positive(t, l.attrs[keyOutputTokens].AsInt64())
	}

	// The expectation file holds each thread's last graph state.
	raw, err := os.ReadFile(expect)
	require.NoError(t, err)
	var finals map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(raw, &finals))
	require.Len(t, finals, 2)
	require.JSONEq(t, t1[1].str(keyState), string(finals["t-1"]))
	var f1 map[string]any
	require.NoError(t, json.Unmarshal(finals["t-1"], &f1))
	require.Len(t, f1["published"], 2)
	require.EqualValues(t, 2, f1["revision"])
}

func TestInvokeStopsRunawayLoops(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	g := NewGraph("loop")
	g.AddNode("a", func(context.Context, *NodeContext, State) error { return nil })
	g.AddConditionalEdge("a", func(State) string { return "a" }, "a")
	g.MaxSteps = 5
	tp := newTestProvider(exp)
	path, err := g.Invoke(context.Background(), Run{Thread: "x", RunID: "r", Tracer: tp.Tracer("t")}, State{})
	require.ErrorContains(t, err, "more than 5 steps")
	require.Len(t, path, 5)
}

func TestRouterRejectsUndeclaredTarget(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	g := NewGraph("bad")
	g.AddNode("a", func(context.Context, *NodeContext, State) error { return nil })
	g.AddNode("b", func(context.Context, *NodeContext, State) error { return nil })
	g.AddConditionalEdge("a", func(State) string { return "c" }, "b")
	tp := newTestProvider(exp)
	_, err := g.Invoke(context.Background(), Run{Thread: "x", RunID: "r", Tracer: tp.Tracer("t")}, State{})
	require.ErrorContains(t, err, `chose "c"`)
}
