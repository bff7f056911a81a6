package translate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	pb "github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
	"github.com/stretchr/testify/assert"
)

// The corpus (testdata/corpus, see its README) holds real traces of agent
// frameworks converted from Langfuse's published exports. TestCorpusGolden
// keeps their streams; TestCorpusScore measures them against what each
// trace holds. Regenerate both after a change of the translation:
//
//	go test ./dashstream/translate/ -run 'TestCorpus' -update

// corpusExpect is what a user of the framework expects from its trace,
// read off the trace itself: runs, nodes (agents, steps, cycles, tasks,
// graph nodes), model calls, tool calls, whether a state (graph state or
// conversation) exists, and the thread the trace names ("" = none).
// Controls are traces of a lone model call outside any agent: no run may
// be invented for them (SPEC §4.1 "Runs", runs.go): the call is ignored,
// counted as no_run; llm is how many such calls the trace holds.
type corpusExpect struct {
	framework string
	runs      int
	nodes     int
	llm       int
	tools     int
	state     bool
	thread    string
	control   bool
}

var corpusExpects = map[string]corpusExpect{
	"agno-2025-06-11":                     {framework: "Agno (OpenInference)", runs: 1, llm: 2, tools: 1, state: true, thread: "35cc6c90-b657-4819-b66c-c931c03ad569"},
	"autogen-2025-06-06":                  {framework: "AutoGen (Langfuse SDK)", llm: 1, control: true},
	"beeai-2025-08-01":                    {framework: "BeeAI (OpenInference)", runs: 1, nodes: 3, llm: 3, tools: 1, state: true},
	"claude-agent-2025-12-22":             {framework: "Claude Agent SDK (LangSmith OTel)", runs: 1, llm: 4, tools: 2, state: true, thread: "6fb9b4b8-dd4d-4d41-8d4f-c0c0799a6559"},
	"crewai-2025-07-11":                   {framework: "CrewAI (OpenInference)", runs: 1, nodes: 1, llm: 1, state: true},
	"csharp-agent-with-gemini-2026-03-09": {framework: "C# agent, Microsoft.Extensions.AI", runs: 1, nodes: 2, llm: 3, tools: 2, state: true, thread: "9714061f-20c0-4d98-9220-1dc7df15c3c2"},
	"google-adk-2025-08-28":               {framework: "Google ADK Python (OpenInference)", runs: 1, nodes: 1, llm: 2, tools: 1, state: true, thread: "demo-session"},
	"google-gemini-2025-08-01":            {framework: "Google GenAI (OpenInference)", llm: 1, control: true},
	"koog-2025-08-26":                     {framework: "Koog (Kotlin)", runs: 1, nodes: 3, llm: 2, tools: 2, state: true, thread: "6f8d2449-33ed-4c7c-82e7-5410e34ee4e6"},
	"langgraph-js-2025-10-30":             {framework: "LangGraph.js (Langfuse SDK 4.3)", runs: 1, nodes: 3, llm: 2, tools: 1, state: true},
	"langgraph-python-2025-08-22":         {framework: "LangGraph Python (Langfuse SDK 3.3)", runs: 1, nodes: 3, llm: 2, tools: 1, state: true, thread: "demo-thread-1"},
	"llamaindex-2025-06-05":               {framework: "LlamaIndex (OpenInference)", llm: 1, control: true},
	"microsoft-agent-2025-12-17":          {framework: "Microsoft Agent Framework", runs: 1, llm: 2, tools: 1, state: true, thread: "resp_0e32bda5b6259ecd00694279e271348194a818447145cd1763"},
	"openai-agents-2025-09-30":            {framework: "OpenAI Agents (OpenInference)", runs: 1, nodes: 1, llm: 2, tools: 1, state: true},
	"pydantic-ai-2025-06-06":              {framework: "Pydantic AI 0.2", runs: 1, llm: 1, state: true, thread: "session_abc"},
	"pydantic-ai-tools-2025-06-06":        {framework: "Pydantic AI 0.2 (second export)", runs: 1, llm: 1, state: true, thread: "session_abc"},
	"pydantic-ai-tools-2025-12-04":        {framework: "Pydantic AI 1.26 (three agent runs)", runs: 3, llm: 4, tools: 3, state: true},
	"pydantic-ai-with-gemini-2025-12-24":  {framework: "Pydantic AI 1.11, Gemini", llm: 1, control: true},
	"vercel-aisdk-2025-11-17":             {framework: "Vercel AI SDK 5", runs: 1, llm: 1, tools: 1, state: true},
	"vertex-ai-2025-08-01":                {framework: "Vertex AI (OpenInference)", llm: 1, control: true},
}

func corpusFiles(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "corpus", "*.otlp.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus fixtures (%v)", err)
	}
	return files
}

func corpusName(path string) string {
	return strings.TrimSuffix(filepath.Base(path), ".otlp.json")
}

// TestCorpusGolden translates every corpus trace in one call; the stream
// must replay cleanly and equal testdata/corpus/golden/<name>.json.
func TestCorpusGolden(t *testing.T) {
	for _, path := range corpusFiles(t) {
		name := corpusName(path)
		t.Run(name, func(t *testing.T) {
			tr := newTestTranslator(t, goldenConfig())
			res := translateAll(t, tr, loadFixture(t, path))
			replayStream(t, decodeAll(t, res.Records), nil)
			got := readableStream(t, res.Records)
			gpath := filepath.Join("testdata", "corpus", "golden", name+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(gpath), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(gpath, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(gpath)
			if err != nil {
				t.Fatalf("%v (run go test -run TestCorpus -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the translation of %s (run with -update and review the diff):\n%s",
					gpath, path, firstDiff(string(want), string(got)))
			}
		})
	}
}

// corpusScore is what came out of one trace.
type corpusScore struct {
	name              string
	exp               corpusExpect
	started, ended    int
	nodes             int
	llm, llmInNode    int
	tools, toolInNode int
	states            int
	threads           []string
	// noRun: calls ignored as no_run (no agent or graph around them).
	noRun int64
}

func scoreCorpusFile(t testing.TB, path string) corpusScore {
	t.Helper()
	name := corpusName(path)
	exp, ok := corpusExpects[name]
	if !ok {
		t.Fatalf("%s: no expectation in corpusExpects", name)
	}
	tr := newTestTranslator(t, goldenConfig())
	res := translateAll(t, tr, loadFixture(t, path))
	return countStream(t, res.Records, corpusScore{name: name, exp: exp, noRun: res.Stats.SpansIgnored[ignoreNoRun]})
}

// countStream counts runs, nodes, calls, states and threads of a stream.
func countStream(t testing.TB, recs []Record, s corpusScore) corpusScore {
	t.Helper()
	threads := map[string]bool{}
	for _, d := range decodeAll(t, recs) {
		threads[d.rec.ThreadID] = true
		switch m := d.msg.GetMessage().(type) {
		case *pb.DashStreamMessage_StateDiff:
			s.states++
		case *pb.DashStreamMessage_Event:
			ev := m.Event
			inNode := ev.GetNodeId() != ""
			switch ev.GetEventType() {
			case pb.EventType_EVENT_TYPE_GRAPH_START:
				s.started++
				if _, ok := ev.GetAttributes()["initial_state_json"]; ok {
					s.states++
				}
			case pb.EventType_EVENT_TYPE_GRAPH_END, pb.EventType_EVENT_TYPE_GRAPH_ERROR:
				s.ended++
			case pb.EventType_EVENT_TYPE_NODE_START:
				s.nodes++
			case pb.EventType_EVENT_TYPE_LLM_START:
				s.llm++
				if inNode {
					s.llmInNode++
				}
			case pb.EventType_EVENT_TYPE_TOOL_START:
				s.tools++
				if inNode {
					s.toolInNode++
				}
			}
		}
	}
	for th := range threads {
		s.threads = append(s.threads, th)
	}
	sort.Strings(s.threads)
	return s
}

// cells renders one row: what came out / what the trace holds.
func (s corpusScore) cells() []string {
	e := s.exp
	frac := func(got, want int) string {
		if want == 0 {
			if got == 0 {
				return "—"
			}
			return fmt.Sprintf("%d (none expected)", got)
		}
		mark := ""
		if got == want {
			mark = " ✓"
		}
		return fmt.Sprintf("%d/%d%s", got, want, mark)
	}
	runs := frac(min(s.started, s.ended), e.runs)
	if open := s.started - s.ended; open > 0 {
		runs += fmt.Sprintf(", %d open", open)
	}
	if e.control {
		runs = "control: no run ✓"
		if s.started > 0 {
			runs = fmt.Sprintf("control: %d run(s) invented", s.started)
		}
	}
	calls := frac(s.llm, e.llm)
	tools := frac(s.tools, e.tools)
	if e.control {
		calls = fmt.Sprintf("%d (none expected)", s.llm)
		if s.llm == 0 {
			calls = fmt.Sprintf("%d/%d ✓ no_run", s.noRun, e.llm)
			if s.noRun != int64(e.llm) {
				calls = fmt.Sprintf("%d/%d no_run", s.noRun, e.llm)
			}
		}
	}
	if e.nodes > 0 {
		calls = frac(s.llmInNode, e.llm) + " in nodes"
		tools = frac(s.toolInNode, e.tools) + " in nodes"
		if e.tools == 0 {
			tools = frac(s.tools, 0)
		}
	}
	state := "—"
	switch {
	case e.state && s.states > 0:
		state = fmt.Sprintf("yes (%d) ✓", s.states)
	case e.state:
		state = "no"
	case s.states > 0:
		state = fmt.Sprintf("%d (none expected)", s.states)
	}
	thread := "—"
	if e.thread != "" {
		thread = "trace id"
		for _, th := range s.threads {
			if th == e.thread {
				thread = "named ✓"
			}
		}
	}
	return []string{"`" + s.name + "`: " + e.framework, runs, frac(s.nodes, e.nodes), calls, tools, state, thread}
}

// corpusSource is what a corpus fixture's sidecar cites.
type corpusSource struct {
	Source struct {
		Repository  string `json:"repository"`
		Path        string `json:"path"`
		Commit      string `json:"commit"`
		LastChanged string `json:"last_changed"`
	} `json:"source"`
	Scopes []string `json:"scopes"`
}

func readCorpusSource(t testing.TB, otlpPath string) corpusSource {
	t.Helper()
	var src corpusSource
	b, err := os.ReadFile(strings.TrimSuffix(otlpPath, ".otlp.json") + ".source.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &src); err != nil {
		t.Fatal(err)
	}
	return src
}

// capturedFixtures are the real captures of the runtimes run here
// (examples/), measured like the corpus; their programs' own accounts
// (*.expected.json) are checked by the classifier and e2e tests.
var capturedFixtures = []struct{ file, framework, source string }{
	{"openinference.json", "LangGraph.js + OpenInference 4.1.1", "examples/langgraphjs `graph.mjs`"},
	{"openllmetry_js.json", "LangGraph.js + OpenLLMetry JS 0.27.0", "examples/langgraphjs `graph.mjs --instrumentation openllmetry`"},
	{"langfuse_js.json", "LangGraph.js + Langfuse SDK 5.11.1 (CallbackHandler)", "examples/langgraphjs `graph.mjs --instrumentation langfuse`"},
	{"vercel_ai.json", "Vercel AI SDK 7 + @ai-sdk/otel", "examples/vercel-ai"},
	{"google_adk.json", "Google ADK JS 2.0", "examples/google-adk"},
	{"strands.json", "Strands Agents TS 1.19", "examples/strands"},
	{"mastra.json", "Mastra 1.71 agent", "examples/mastra `agent.mjs`"},
	{"mastra_workflow.json", "Mastra 1.71 workflow", "examples/mastra `workflow.mjs`"},
}

// measured renders what came out without expectations.
func (s corpusScore) measured() []string {
	runs := fmt.Sprintf("%d", min(s.started, s.ended))
	if open := s.started - s.ended; open > 0 {
		runs += fmt.Sprintf(", %d open", open)
	}
	in := func(n, inNode int) string {
		if n == 0 {
			return "—"
		}
		if s.nodes == 0 {
			return fmt.Sprint(n)
		}
		return fmt.Sprintf("%d (%d in nodes)", n, inNode)
	}
	state := "—"
	if s.states > 0 {
		state = fmt.Sprintf("yes (%d)", s.states)
	}
	return []string{runs, fmt.Sprint(s.nodes), in(s.llm, s.llmInNode), in(s.tools, s.toolInNode), state,
		fmt.Sprintf("%d thread(s)", len(s.threads))}
}

// corpusTable is the markdown table of the whole corpus and the captures:
// per trace what came out, against what the trace holds where that was
// read off by hand (corpusExpects), and what it was verified against.
func corpusTable(t testing.TB) string {
	var b strings.Builder
	b.WriteString("| framework (tracer) | runs that start and end | nodes | model calls | tool calls | state | thread | verified against |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	for _, path := range corpusFiles(t) {
		s := scoreCorpusFile(t, path)
		src := readCorpusSource(t, path)
		cite := fmt.Sprintf("published trace: `%s` `%s` @ `%.10s`", src.Source.Repository,
			strings.TrimPrefix(src.Source.Path, "worker/src/__tests__/chatml/"), src.Source.LastChanged)
		fmt.Fprintf(&b, "| %s | %s | %s |\n", s.cells()[0], strings.Join(s.cells()[1:], " | "), cite)
	}
	for _, c := range capturedFixtures {
		s := measureFile(t, filepath.Join("testdata", "spans", c.file))
		fmt.Fprintf(&b, "| %s | %s | real output here: %s (`%s`) |\n", c.framework, strings.Join(s.measured(), " | "), c.source, c.file)
	}
	return b.String()
}

// measureFile translates one fixture and counts what came out.
func measureFile(t testing.TB, path string) corpusScore {
	t.Helper()
	tr := newTestTranslator(t, goldenConfig())
	res := translateAll(t, tr, loadFixture(t, path))
	return countStream(t, res.Records, corpusScore{name: path})
}

// TestCorpusControls: a trace of lone model calls invents no run — nothing
// comes out, and each call is counted as no_run.
func TestCorpusControls(t *testing.T) {
	for _, path := range corpusFiles(t) {
		name := corpusName(path)
		if !corpusExpects[name].control {
			continue
		}
		t.Run(name, func(t *testing.T) {
			tr := newTestTranslator(t, goldenConfig())
			res := translateAll(t, tr, loadFixture(t, path))
			assert.Empty(t, res.Records)
			assert.Equal(t, int64(corpusExpects[name].llm), res.Stats.SpansIgnored[ignoreNoRun])
		})
	}
}

// TestCorpusScore prints the per-framework table (go test -run
// TestCorpusScore -v).
func TestCorpusScore(t *testing.T) {
	t.Log("\n" + corpusTable(t))
}

// Markers of the generated table in docs/CONVENTIONS.md.
const (
	conventionsDoc        = "../../docs/CONVENTIONS.md"
	conventionsTableBegin = "<!-- BEGIN GENERATED corpus table: go test ./dashstream/translate/ -run TestConventionsTable -update -->\n"
	conventionsTableEnd   = "<!-- END GENERATED corpus table -->\n"
)

// TestConventionsTableUpToDate fails when the table in docs/CONVENTIONS.md
// is not what the fixtures produce now (-update rewrites it).
func TestConventionsTableUpToDate(t *testing.T) {
	doc, err := os.ReadFile(conventionsDoc)
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	i := strings.Index(text, conventionsTableBegin)
	j := strings.Index(text, conventionsTableEnd)
	if i < 0 || j < i {
		t.Fatalf("%s has no generated table between %q and %q", conventionsDoc, conventionsTableBegin, conventionsTableEnd)
	}
	want := corpusTable(t)
	got := text[i+len(conventionsTableBegin) : j]
	if *update {
		text = text[:i+len(conventionsTableBegin)] + want + text[j:]
		if err := os.WriteFile(conventionsDoc, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if got != want {
		t.Errorf("the runtime table of %s is stale (go test ./dashstream/translate/ -run TestConventionsTable -update):\n%s",
			conventionsDoc, firstDiff(got, want))
	}
}
