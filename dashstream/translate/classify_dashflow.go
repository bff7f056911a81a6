package translate

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// DashFlow's own tracing spans (Rust `tracing` spans exported through
// tracing-opentelemetry): fields become attributes under their dotted names.
const (
	dfSpanGraphInvoke = "graph.invoke"
	dfSpanGraphStream = "graph.stream"
	dfSpanNode        = "node.execute"
	dfSpanLLMGenerate = "llm.generate"
	dfSpanLLMStream   = "llm.stream"
	dfSpanCheckpoint  = "checkpoint.save"

	dfKeyGraphName    = "graph.name"
	dfKeyEntryPoint   = "graph.entry_point"
	dfKeyRequestID    = "request_id"
	dfKeyNodeName     = "node.name"
	dfKeyModel        = "llm.model"
	dfKeyInputTokens  = "llm.input_tokens"
	dfKeyOutputTokens = "llm.output_tokens"
	dfKeyTotalTokens  = "llm.total_tokens"
	dfKeyFinish       = "llm.finish_reason"
	dfKeyThreadID     = "thread_id"
	dfKeyError        = "error"
)

// dashFlowClassifier recognises DashFlow's spans by name: graph.invoke /
// graph.stream (graph; graph.name, graph.entry_point, request_id = run id),
// node.execute (node.name), llm.generate / llm.stream (llm.model,
// llm.input_tokens, llm.output_tokens) and checkpoint.save (thread_id for
// the whole trace). These names are common words, so each also needs its
// identifying attribute; without it the span is left to other conventions.
// DashFlow spans carry no state.
type dashFlowClassifier struct{}

func newDashFlowClassifier() classifier { return dashFlowClassifier{} }

func (dashFlowClassifier) name() string { return ConventionDashFlow }

func (dashFlowClassifier) classify(res pcommon.Resource, _ pcommon.InstrumentationScope, span ptrace.Span, out *spanInfo) bool {
	attrs := span.Attributes()
	has := func(k string) bool { _, ok := attrs.Get(k); return ok }
	var r role
	switch span.Name() {
	case dfSpanGraphInvoke, dfSpanGraphStream:
		if !has(dfKeyGraphName) && !has(dfKeyRequestID) {
			return false
		}
		r = roleGraph
	case dfSpanNode:
		if attrStr(attrs, dfKeyNodeName) == "" {
			return false
		}
		r = roleNode
	case dfSpanLLMGenerate, dfSpanLLMStream:
		if !has(dfKeyModel) && !has(dfKeyInputTokens) && !has(dfKeyOutputTokens) {
			return false
		}
		r = roleLLM
	case dfSpanCheckpoint:
		if attrStr(attrs, dfKeyThreadID) == "" {
			return false
		}
		r = roleCheckpointSave
	default:
		return false
	}
	fillCommon(res, span, ConventionDashFlow, out)
	fillOutcome(span, out)
	if msg := attrStr(attrs, dfKeyError); msg != "" && out.failed && out.errorMessage == "" {
		out.errorMessage = msg
	}
	out.role = r
	out.threadID = attrStr(attrs, dfKeyThreadID)

	switch r {
	case roleGraph:
		out.graphName = attrStr(attrs, dfKeyGraphName)
		out.graphEntryPoint = attrStr(attrs, dfKeyEntryPoint)
		out.runID = attrStr(attrs, dfKeyRequestID)
		out.traceWideThread = out.threadID != ""
	case roleNode:
		out.nodeName = attrStr(attrs, dfKeyNodeName)
	case roleLLM:
		out.model = attrStr(attrs, dfKeyModel)
		var hasIn, hasOut, hasTotal bool
		out.inputTokens, hasIn = attrInt(attrs, dfKeyInputTokens)
		out.outputTokens, hasOut = attrInt(attrs, dfKeyOutputTokens)
		out.totalTokens, hasTotal = attrInt(attrs, dfKeyTotalTokens)
		if !hasTotal && (hasIn || hasOut) {
			out.totalTokens = out.inputTokens + out.outputTokens
		}
		out.hasTokens = hasIn || hasOut || hasTotal
		out.finishReason = attrStr(attrs, dfKeyFinish)
	case roleCheckpointSave:
		// checkpoint.save names the thread of its whole trace (SPEC §4.1).
		// Which node it follows is decided by parent links and time.
		out.traceWideThread = true
	}
	return true
}
