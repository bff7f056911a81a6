package translate

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	pb "github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
)

// Spans of the GenAI conventions for the run rules (docs/CONVENTIONS.md,
// "Runs"); an sp without attributes is an application span we ignore.
func agentSpan(trace, id, parent, name string, start, end int64) sp {
	return sp{trace: trace, id: id, parent: parent, name: "invoke_agent " + name, start: start, end: end,
		attrs: map[string]any{"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": name, "gen_ai.conversation.id": "conv-" + trace}}
}

// quietAgent is an agent span that names no conversation (its run's
// thread is the trace id's whichever span comes first).
func quietAgent(trace, id, parent, name string, start, end int64) sp {
	s := agentSpan(trace, id, parent, name, start, end)
	delete(s.attrs, "gen_ai.conversation.id")
	return s
}

func chatSpan(trace, id, parent string, start, end int64) sp {
	return sp{trace: trace, id: id, parent: parent, name: "chat m", start: start, end: end,
		attrs: map[string]any{"gen_ai.operation.name": "chat", "gen_ai.request.model": "m"}}
}

func toolSpan(trace, id, parent, name string, start, end int64) sp {
	return sp{trace: trace, id: id, parent: parent, name: "execute_tool " + name, start: start, end: end,
		attrs: map[string]any{"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name}}
}

func appSpan(trace, id, parent, name string, start, end int64) sp {
	return sp{trace: trace, id: id, parent: parent, name: name, start: start, end: end}
}

// runSummary renders a stream's events with each GRAPH_START's name and
// run id (ids relative to the trace: "T" for the trace id in hex).
func runSummary(ds []decoded, trace string) []string {
	var out []string
	hex := traceID(trace).String()
	for _, d := range ds {
		ev := d.msg.GetEvent()
		if ev == nil {
			continue
		}
		s := kindOf(d.msg)
		switch ev.GetEventType() {
		case pb.EventType_EVENT_TYPE_GRAPH_START:
			s += "(" + ev.GetAttributes()["graph_name"].GetStringValue() + " " +
				strings.Replace(ev.GetAttributes()["run_id"].GetStringValue(), hex, "T", 1) + ")"
		case pb.EventType_EVENT_TYPE_GRAPH_ERROR:
			s += "(" + ev.GetAttributes()["error"].GetStringValue() + ")"
		}
		out = append(out, s)
	}
	return out
}

// TestRunRules holds each rule of docs/CONVENTIONS.md "Runs" on the
// example trace given there, in one request.
func TestRunRules(t *testing.T) {
	cases := []struct {
		name           string
		spans          []sp
		want           []string
		missingParents int64
		ignored        map[string]int64
	}{
		{
			name: "an agent under an application span is a named run that ends with it",
			spans: []sp{
				appSpan("a", "app", "", "POST /chat", 0, 100),
				agentSpan("a", "agent", "app", "planner", 10, 90),
				chatSpan("a", "chat", "agent", 20, 30),
			},
			want:    []string{"GRAPH_START(planner T)", "LLM_START", "LLM_END", "GRAPH_END"},
			ignored: map[string]int64{"unrecognised": 1},
		},
		{
			name: "several top-level agent runs in one trace are several runs, in order",
			spans: []sp{
				appSpan("b", "main", "", "main", 0, 100),
				agentSpan("b", "joke1", "main", "joke_agent", 10, 20),
				chatSpan("b", "c1", "joke1", 11, 19),
				agentSpan("b", "eval", "main", "evaluator_agent", 40, 50),
				chatSpan("b", "c3", "eval", 41, 49),
				agentSpan("b", "joke2", "main", "joke_agent", 25, 35),
				chatSpan("b", "c2", "joke2", 26, 34),
			},
			want: []string{
				"GRAPH_START(joke_agent T)", "LLM_START", "LLM_END", "GRAPH_END",
				"GRAPH_START(joke_agent T-2)", "LLM_START", "LLM_END", "GRAPH_END",
				"GRAPH_START(evaluator_agent T-3)", "LLM_START", "LLM_END", "GRAPH_END",
			},
			ignored: map[string]int64{"unrecognised": 1},
		},
		{
			name: "an agent invoked inside another's run is a node of it (a sub-agent)",
			spans: []sp{
				agentSpan("c", "outer", "", "orchestrator", 0, 100),
				chatSpan("c", "c1", "outer", 5, 10),
				toolSpan("c", "tool", "outer", "ask_researcher", 20, 80),
				agentSpan("c", "inner", "tool", "researcher", 25, 75),
				chatSpan("c", "c2", "inner", 30, 40),
				chatSpan("c", "c3", "outer", 85, 95),
			},
			want: []string{
				// A tool's events are emitted together; the sub-agent's
				// node follows, with its own model call inside it.
				"GRAPH_START(orchestrator T)", "LLM_START", "LLM_END", "TOOL_START", "TOOL_END",
				"NODE_START:researcher", "LLM_START:researcher", "LLM_END:researcher", "NODE_END:researcher",
				"LLM_START", "LLM_END", "GRAPH_END",
			},
		},
		{
			name: "spans we do not recognise between recognised ones are transparent",
			spans: []sp{
				{trace: "d", id: "wf", name: "invoke_workflow support", start: 0, end: 100,
					attrs: map[string]any{"gen_ai.operation.name": "invoke_workflow", "gen_ai.workflow.name": "support"}},
				appSpan("d", "w1", "wf", "tracer wrapper", 5, 95),
				agentSpan("d", "node", "w1", "lookup", 10, 90),
				appSpan("d", "w2", "node", "retry wrapper", 15, 85),
				chatSpan("d", "chat", "w2", 20, 30),
			},
			want:    []string{"GRAPH_START(support T)", "NODE_START:lookup", "LLM_START:lookup", "LLM_END:lookup", "NODE_END:lookup", "GRAPH_END"},
			ignored: map[string]int64{"unrecognised": 2},
		},
		{
			name:    "a lone model call opens no run (no_run), nor do its tool calls",
			spans:   []sp{appSpan("e", "app", "", "handler", 0, 50), chatSpan("e", "chat", "app", 10, 20), toolSpan("e", "tool", "chat", "lookup", 12, 18)},
			want:    nil,
			ignored: map[string]int64{"unrecognised": 1, "no_run": 2},
		},
		{
			name: "a model call inside another model call is the same call traced twice: the outer one is kept",
			spans: []sp{
				agentSpan("h", "agent", "", "planner", 0, 100),
				chatSpan("h", "outer", "agent", 10, 50),
				appSpan("h", "w", "outer", "http POST", 11, 49),
				chatSpan("h", "inner", "w", 12, 48),
			},
			want:    []string{"GRAPH_START(planner T)", "LLM_START", "LLM_END", "GRAPH_END"},
			ignored: map[string]int64{"unrecognised": 1, "nested_model_call": 1},
		},
		{
			name: "missing_parent counts a parent that will not come, not one we ignore",
			spans: []sp{
				appSpan("f", "app", "", "handler", 0, 100),
				agentSpan("f", "agent", "app", "planner", 10, 90),
				chatSpan("f", "c1", "agent", 20, 30),
				chatSpan("f", "c2", "dropped-by-a-sampler", 40, 50),
			},
			want:           []string{"GRAPH_START(planner T)", "LLM_START", "LLM_END", "LLM_START", "LLM_END", "GRAPH_END"},
			missingParents: 1,
			ignored:        map[string]int64{"unrecognised": 1},
		},
		{
			name: "a run span whose caller is in another process is the run",
			spans: func() []sp {
				a := agentSpan("g", "agent", "remote-caller", "planner", 10, 90)
				return []sp{a, chatSpan("g", "chat", "agent", 20, 30)}
			}(),
			// buildTraces marks no span remote: the agent waits for its
			// parent (TestRemoteParent covers the flags).
			want: []string{"GRAPH_START(planner T)", "NODE_START:planner", "LLM_START:planner", "LLM_END:planner", "NODE_END:planner"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr := newTestTranslator(t, goldenConfig())
			res := translateAll(t, tr, buildTraces(c.spans...))
			ds := decodeAll(t, res.Records)
			assert.Equal(t, c.want, runSummary(ds, c.spans[0].trace))
			assert.Equal(t, c.missingParents, res.Stats.BadInput["missing_parent"], "missing_parent: %v", res.Stats.BadInput)
			for reason, n := range c.ignored {
				assert.Equal(t, n, res.Stats.SpansIgnored[reason], "ignored %s", reason)
			}
			replayStream(t, ds, nil)
		})
	}
}

// TestRemoteParent: a span whose parent is remote (OTLP flags) starts the
// local trace: an agent there is the run.
func TestRemoteParent(t *testing.T) {
	td := buildTraces(agentSpan("r", "agent", "caller", "planner", 10, 90), chatSpan("r", "chat", "agent", 20, 30))
	span := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
	span.SetFlags(span.Flags() | 0x100 | 0x200)
	tr := newTestTranslator(t, goldenConfig())
	ds := decodeAll(t, translateAll(t, tr, td).Records)
	assert.Equal(t, []string{"GRAPH_START(planner T)", "LLM_START", "LLM_END", "GRAPH_END"}, runSummary(ds, "r"))
}

// TestRunsOverSeveralRequests: the example traces of "Runs" split over
// requests, one span each, children first (as batch span processors
// export) and parents first: each run ends exactly once. (A run whose
// thread is named by a later span is on two threads, and ends on both:
// TestSplitRequestsEndRuns.)
func TestRunsOverSeveralRequests(t *testing.T) {
	cases := []struct {
		name  string
		calls [][]sp
		want  []string
	}{
		{
			name: "agent under an application span, children first: ends when the application span arrives",
			calls: [][]sp{
				{chatSpan("a", "chat", "agent", 20, 30)},
				{quietAgent("a", "agent", "app", "planner", 10, 90)},
				{appSpan("a", "app", "", "POST /chat", 0, 100)},
			},
			want: []string{"GRAPH_START( T)", "LLM_START", "LLM_END", "NODE_START:planner", "NODE_END:planner", "GRAPH_END"},
		},
		{
			name: "agent under an application span, parents first",
			calls: [][]sp{
				{appSpan("a", "app", "", "POST /chat", 0, 100)},
				{quietAgent("a", "agent", "app", "planner", 10, 90)},
				{chatSpan("a", "chat", "agent", 20, 30)},
			},
			want: []string{"GRAPH_START(planner T)", "GRAPH_END", "LLM_START", "LLM_END"},
		},
		{
			name: "sub-agent, children first: the outer agent takes the run over",
			calls: [][]sp{
				{chatSpan("c", "c2", "inner", 30, 40)},
				{quietAgent("c", "inner", "tool", "researcher", 25, 75)},
				{toolSpan("c", "tool", "outer", "ask_researcher", 20, 80)},
				{quietAgent("c", "outer", "", "orchestrator", 0, 100)},
			},
			want: []string{"GRAPH_START( T)", "LLM_START", "LLM_END", "NODE_START:researcher", "NODE_END:researcher",
				"TOOL_START", "TOOL_END", "GRAPH_END"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr := newTestTranslator(t, goldenConfig())
			var ds []decoded
			var missing int64
			for _, call := range c.calls {
				res := translateAll(t, tr, buildTraces(call...))
				missing += res.Stats.BadInput["missing_parent"]
				ds = append(ds, decodeAll(t, res.Records)...)
			}
			assert.Equal(t, c.want, runSummary(ds, c.calls[0][0].trace))
			assert.Zero(t, missing, "no parent is missing")
			replayStream(t, ds, nil)
		})
	}
}

// TestDuplicateSpans: an SDK retrying an export whose answer it missed
// sends the whole request again: nothing new comes out, and each span is
// counted as duplicate_span. A request mixing old and new spans yields
// only the new spans' messages.
func TestDuplicateSpans(t *testing.T) {
	td := loadFixture(t, "testdata/spans/strands.json")
	tr := newTestTranslator(t, goldenConfig())
	first := translateAll(t, tr, td)
	require.NotEmpty(t, first.Records)
	again := translateAll(t, tr, td)
	assert.Empty(t, again.Records, "a retried request produces nothing")
	recognised := int64(first.Stats.Spans)
	for _, n := range first.Stats.SpansIgnored {
		recognised -= n
	}
	assert.Equal(t, recognised, again.Stats.SpansIgnored[ignoreDuplicateSpan])

	// The same span twice within one request: one of it.
	tr2 := newTestTranslator(t, goldenConfig())
	spans := []sp{quietAgent("d", "agent", "", "planner", 0, 50), chatSpan("d", "chat", "agent", 10, 20)}
	res := translateAll(t, tr2, buildTraces(append(spans, spans[1])...))
	assert.Equal(t, []string{"GRAPH_START(planner T)", "LLM_START", "LLM_END", "GRAPH_END"}, runSummary(decodeAll(t, res.Records), "d"))
	assert.Equal(t, int64(1), res.Stats.SpansIgnored[ignoreDuplicateSpan])

	// Old and new spans: only the new one's messages (a late span of the
	// ended run: no second GRAPH_START).
	tr3 := newTestTranslator(t, goldenConfig())
	translateAll(t, tr3, buildTraces(spans...))
	res = translateAll(t, tr3, buildTraces(spans[0], spans[1], chatSpan("d", "chat2", "agent", 30, 40)))
	assert.Equal(t, []string{"LLM_START", "LLM_END"}, runSummary(decodeAll(t, res.Records), "d"))
	assert.Equal(t, int64(2), res.Stats.SpansIgnored[ignoreDuplicateSpan])
}

// TestRealTraceSeveralAgentRuns: Pydantic AI's published trace (Langfuse's
// framework traces, testdata/corpus) of one program running joke_agent
// twice and evaluator_agent once under its own span gives three runs, in
// order, each named after its agent and ended by it. Its agent spans
// ("joke_agent run") carry gen_ai.agent.name but no operation name in this
// Pydantic AI version; they are marked as agent invocations here, as the
// framework classifiers do (docs/CONVENTIONS.md).
func TestRealTraceSeveralAgentRuns(t *testing.T) {
	td := loadFixture(t, "testdata/corpus/pydantic-ai-tools-2025-12-04.otlp.json")
	agents := 0
	for _, ref := range spanRefs(td) {
		if name, ok := ref.sp.Attributes().Get("gen_ai.agent.name"); ok && strings.HasSuffix(ref.sp.Name(), " run") {
			ref.sp.Attributes().PutStr("gen_ai.operation.name", "invoke_agent")
			require.NotEmpty(t, name.Str())
			agents++
		}
	}
	require.Equal(t, 3, agents)
	tr := newTestTranslator(t, goldenConfig())
	res := translateAll(t, tr, td)
	ds := decodeAll(t, res.Records)
	var runs []string
	ends := 0
	for _, s := range runSummary(ds, "") {
		if strings.HasPrefix(s, "GRAPH_START") {
			runs = append(runs, s)
		}
		if s == "GRAPH_END" {
			ends++
		}
	}
	trace := spanRefs(td)[0].sp.TraceID().String()
	assert.Equal(t, []string{
		"GRAPH_START(joke_agent " + trace + ")",
		"GRAPH_START(joke_agent " + trace + "-2)",
		"GRAPH_START(evaluator_agent " + trace + "-3)",
	}, runs)
	assert.Equal(t, 3, ends)
	assert.Zero(t, res.Stats.BadInput["missing_parent"], "the program's span and the tool wrappers are ignored, not missing")
	replayStream(t, ds, nil)
}

// TestConcurrentRetriesTranslatedOnce: the same requests sent by several
// goroutines at once (SDK retries racing the original), with the run
// timeout sweeping meanwhile: each span is translated exactly once (the
// span memory decides duplicates atomically). Run with -race.
func TestConcurrentRetriesTranslatedOnce(t *testing.T) {
	cfg := goldenConfig()
	cfg.RunTimeout = time.Nanosecond // the sweep ends open runs as it goes
	tr := newTestTranslator(t, cfg)
	const traces, senders = 24, 4
	reqs := make([]ptrace.Traces, traces)
	for i := range reqs {
		id := fmt.Sprintf("c%d", i)
		reqs[i] = buildTraces(appSpan(id, "app", "", "handler", 0, 100), agentSpan(id, "agent", "app", "planner", 10, 90),
			chatSpan(id, "chat", "agent", 20, 30), toolSpan(id, "tool", "agent", "search", 40, 50))
	}
	var (
		mu      sync.Mutex
		recs    []Record
		dups    int64
		wg      sync.WaitGroup
		sweeper = make(chan struct{})
	)
	go func() {
		defer close(sweeper)
		for i := 0; i < 50; i++ {
			if res := tr.ExpireRuns(context.Background()); res != nil {
				mu.Lock()
				recs = append(recs, res.Records...)
				mu.Unlock()
				res.Release()
			}
		}
	}()
	for s := 0; s < senders; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range reqs {
				res, err := tr.Translate(context.Background(), reqs[(i+s*7)%traces])
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				recs = append(recs, res.Records...)
				dups += res.Stats.SpansIgnored[ignoreDuplicateSpan]
				mu.Unlock()
				res.Release()
			}
		}()
	}
	wg.Wait()
	<-sweeper
	assert.Equal(t, int64(traces*3*(senders-1)), dups, "every copy but one is a duplicate")
	starts, llm := 0, 0
	for _, d := range decodeAll(t, recs) {
		switch d.msg.GetEvent().GetEventType() {
		case pb.EventType_EVENT_TYPE_GRAPH_START:
			starts++
		case pb.EventType_EVENT_TYPE_LLM_START:
			llm++
		}
	}
	assert.Equal(t, traces, starts, "one run per trace")
	assert.Equal(t, traces, llm, "each model call once")
}

// TestAgentUnderApplicationSpanFixture: the Strands capture
// (testdata/spans/strands.json, two turns of one conversation), each
// turn's agent span put under an application span as Strands Python
// programs run it (an HTTP handler or a tracer SDK's root span around the
// agent call): every turn is a run named after the agent that ends, with
// the same records as with the agent at the root, and no missing parent.
func TestAgentUnderApplicationSpanFixture(t *testing.T) {
	plain := loadFixture(t, "testdata/spans/strands.json")
	wrapped := loadFixture(t, "testdata/spans/strands.json")
	agents := 0
	for _, ref := range spanRefs(wrapped) {
		if ref.sp.ParentSpanID().IsEmpty() && strings.HasPrefix(ref.sp.Name(), "invoke_agent") {
			app := ref.ss.Spans().AppendEmpty()
			app.SetTraceID(ref.sp.TraceID())
			app.SetSpanID(pcommon.SpanID{0xa9, 0x9, byte(agents)})
			app.SetName("POST /chat")
			app.SetStartTimestamp(ref.sp.StartTimestamp() - 1000)
			app.SetEndTimestamp(ref.sp.EndTimestamp() + 1000)
			ref.sp.SetParentSpanID(app.SpanID())
			agents++
		}
	}
	require.Equal(t, 2, agents)
	want := translateAll(t, newSeededTranslator(t, goldenConfig()), plain)
	got := translateAll(t, newSeededTranslator(t, goldenConfig()), wrapped)
	assert.Equal(t, recordsDump(want.Records), recordsDump(got.Records), "the application span changes nothing")
	assert.Zero(t, got.Stats.BadInput["missing_parent"])
	assert.Equal(t, int64(agents), got.Stats.SpansIgnored["unrecognised"])
	var runs []string
	for _, s := range runSummary(decodeAll(t, got.Records), "") {
		if strings.HasPrefix(s, "GRAPH_") {
			runs = append(runs, strings.SplitN(s, " ", 2)[0])
		}
	}
	assert.Equal(t, []string{"GRAPH_START(trip_planner", "GRAPH_END", "GRAPH_START(trip_planner", "GRAPH_END"}, runs)
}

// TestRunThreadFromApplicationSpan: a run whose own span names no thread
// is on the thread the nearest ignored span above it names (a tracer SDK's
// root span's session.id); a recognised span in between stops the search,
// and a thread the run's span names itself wins.
func TestRunThreadFromApplicationSpan(t *testing.T) {
	withSession := func(s sp, id string) sp {
		s.attrs = map[string]any{"session.id": id}
		return s
	}
	cases := []struct {
		name  string
		spans []sp
		want  []string
	}{
		{
			name: "the application span's session",
			spans: []sp{
				withSession(appSpan("t1", "app", "", "@observe main", 0, 100), "session-1"),
				appSpan("t1", "wrap", "app", "wrapper", 5, 95),
				quietAgent("t1", "agent", "wrap", "planner", 10, 90),
				chatSpan("t1", "chat", "agent", 20, 30),
			},
			want: []string{"session-1"},
		},
		{
			name: "the run's own thread wins",
			spans: func() []sp {
				a := agentSpan("t2", "agent", "app", "planner", 10, 90)
				a.attrs["gen_ai.conversation.id"] = "own"
				return []sp{withSession(appSpan("t2", "app", "", "main", 0, 100), "session-2"), a, chatSpan("t2", "chat", "agent", 20, 30)}
			}(),
			want: []string{"own"},
		},
		{
			name:  "no session above: the trace id",
			spans: []sp{appSpan("t3", "app", "", "main", 0, 100), quietAgent("t3", "agent", "app", "planner", 10, 90)},
			want:  []string{traceID("t3").String()},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr := newTestTranslator(t, goldenConfig())
			res := translateAll(t, tr, buildTraces(c.spans...))
			assert.Equal(t, c.want, res.Threads())
		})
	}
}
