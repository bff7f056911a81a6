package translate

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// role is what a span is in a graph run (SPEC §4.1).
type role uint8

const (
	roleOther          role = iota // not part of a graph run: ignored and counted
	roleGraph                      // one run of a graph
	roleNode                       // one execution of a node
	roleLLM                        // an LLM call inside a node
	roleTool                       // a tool call inside a node
	roleRouter                     // the function choosing a conditional edge
	roleCheckpointSave             // dashflow checkpoint.save
)

// spanInfo is a span normalised by its convention's classifier. It is the
// only thing the translation engine reads about a span: every convention-
// specific attribute key stays inside the classifiers.
type spanInfo struct {
	role         role
	convention   string
	ignoreReason string // set when role == roleOther

	span     ptrace.Span
	resource pcommon.Resource

	traceID          pcommon.TraceID
	spanID, parentID pcommon.SpanID
	startNanos       uint64
	endNanos         uint64

	// threadID as the convention tells it on this span ("" = not told here).
	// traceWideThread: the id applies to every span of the trace (OpenInference
	// root session.id, DashFlow checkpoint.save).
	threadID        string
	traceWideThread bool
	// runID as the convention tells it ("" = the trace id identifies the run).
	runID string

	graphName       string
	graphSchemaJSON string // GraphSchema JSON when known
	graphEntryPoint string

	// nodeName: for node spans the node; for llm/tool/router spans a hint of
	// the enclosing node when the convention says it (parent links win).
	nodeName string
	step     int64
	hasStep  bool

	// State snapshots, raw JSON text ("" = none):
	//   stateBefore  the full state before this node ran (OpenInference input.value)
	//   stateAfter   the full state after this node/graph (dashstream.state)
	//   initialState the run's initial state (dashstream.state.initial)
	//   finalState   the run's final state (graph output)
	stateBefore  string
	stateAfter   string
	initialState string
	finalState   string

	// LLM
	model                                  string
	inputTokens, outputTokens, totalTokens int64
	hasTokens                              bool
	finishReason                           string

	// Tool
	toolName, callID, arguments, result string

	// Router: the branch it chose (a node name or edge label).
	routerChoice string

	// Outcome
	failed        bool
	errorMessage  string
	exceptionType string
	stackTrace    string

	// badReason says why a payload on this span (state, metadata) was
	// unusable and left empty, e.g. "state_not_json_object"; "" = all fine.
	// The span still counts with its role: only the bad part is skipped.
	// Classifiers only check a state's shape (UTF-8, {…}); full JSON
	// validation is parseState's, which the engine runs on every snapshot.
	badReason string

	// pseudoNode is set ("__start__" / "__end__") when the span is one of
	// LangGraph's pseudo-nodes. Such spans have role roleOther (they yield no
	// node events), keep nodeName/step/threadID, and may carry
	// invocationInput.
	pseudoNode string

	// flat: the span's parent is not its node (OpenLLMetry JS: every chain
	// is a sibling); an llm/tool span goes to the node running at its start,
	// a router to the node that ended last before it. nameUnknown: the
	// node's name is the span's, not the node's; a router choice leading to
	// it names it (else it is counted as node_name_unknown).
	flat        bool
	nameUnknown bool

	// conversation: an llm span of an agent runtime whose conversation is
	// the run's state: its stateBefore/stateAfter are applied at the call's
	// start and end, wherever the call lands (also without its node).
	conversation bool

	// nested says what a graph span (a graph or agent invocation) becomes
	// when it sits inside another run: the outermost recognised graph span of
	// a trace is the run, one inside a run is a node (an agent invoked by
	// another: a sub-agent, named nodeName) or ignored (a chain that is the
	// run only when outermost, counted under nestedReason). The engine
	// decides (runs.go); classifiers only say which.
	nested       nestedAs
	nestedReason string
	// weakRun: the span is the run only when its chain of parents is known
	// to reach the trace's root; when it ends at a parent not seen (yet), it
	// counts as nested. Agents are not weak: an agent whose parent is
	// unknown is taken as the outermost.
	weakRun bool
	// runOwn is set by the engine on the span a run is the execution of:
	// its graph span, or the outermost recognised span when there is no
	// graph or agent span above it (a lone model call): its end ends the run.
	runOwn bool
	// closer: a copy of a span that only ends its run on another thread
	// (assemble.go, endElsewhere); nothing when that run has ended.
	closer bool
	// topic: where the span's messages go, when already decided (a
	// message of the run timeout, which has no span).
	topic string
	// res is the engine's working memory while placing the span in a run
	// (runs.go).
	res resolution
	// run is the id of the run the engine placed the span in.
	run string

	// invocationInput is the raw JSON object a graph invocation was called
	// with (OpenInference/OpenLLMetry graph span input, LangGraph __start__
	// input). It is the new input of this invocation only, NOT a state
	// snapshot: on a thread's second invocation the state also holds the
	// earlier history. The engine may use it only as a hint.
	invocationInput string
}

// resolution is where runs.go has placed a span so far.
type resolution struct {
	run      *callRun // its run (recognised spans)
	resolved bool     // run is decided (nil: ignored after all)
	place    place    // where it sits, seen from its parent
	placeSet bool
}

// nestedAs is what a graph span inside another run becomes.
type nestedAs uint8

const (
	nestedNode    nestedAs = iota // a node of the enclosing run (sub-agent, subgraph)
	nestedIgnored                 // ignored, counted under nestedReason
)

// classifier recognises the spans of one convention. classify fills out and
// returns true when the span belongs to its convention (including spans it
// recognises as "other" with an ignoreReason); false lets the next convention
// try. It must not keep references to out after returning, and must never
// panic on any attribute shape or size.
type classifier interface {
	name() string
	classify(res pcommon.Resource, scope pcommon.InstrumentationScope, span ptrace.Span, out *spanInfo) bool
}
