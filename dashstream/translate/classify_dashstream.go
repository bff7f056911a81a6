package translate

import (
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Attribute keys of our own convention (SPEC §4.1, first row). Any runtime
// can emit them; the llm/tool/router keys mirror what the other conventions
// tell, under our prefix.
const (
	dsKeySpanKind      = "dashstream.span.kind"
	dsKeyThreadID      = "dashstream.thread_id"
	dsKeyRunID         = "dashstream.run_id"
	dsKeyGraphName     = "dashstream.graph.name"
	dsKeyGraphSchema   = "dashstream.graph.schema"
	dsKeyEntryPoint    = "dashstream.graph.entry_point"
	dsKeyNodeName      = "dashstream.node.name"
	dsKeyStep          = "dashstream.step"
	dsKeyState         = "dashstream.state"
	dsKeyStateInitial  = "dashstream.state.initial"
	dsKeyLLMModel      = "dashstream.llm.model"
	dsKeyInputTokens   = "dashstream.llm.input_tokens"
	dsKeyOutputTokens  = "dashstream.llm.output_tokens"
	dsKeyTotalTokens   = "dashstream.llm.total_tokens"
	dsKeyFinishReason  = "dashstream.llm.finish_reason"
	dsKeyToolName      = "dashstream.tool.name"
	dsKeyToolCallID    = "dashstream.tool.call_id"
	dsKeyToolArguments = "dashstream.tool.arguments"
	dsKeyToolResult    = "dashstream.tool.result"
	dsKeyRouterChoice  = "dashstream.router.choice"
	dsKeyError         = "dashstream.error"
)

// dashStreamClassifier recognises spans carrying dashstream.span.kind.
type dashStreamClassifier struct{}

func newDashStreamClassifier() classifier { return dashStreamClassifier{} }

func (dashStreamClassifier) name() string { return ConventionDashStream }

func (dashStreamClassifier) classify(_ pcommon.Resource, _ pcommon.InstrumentationScope, span ptrace.Span, out *spanInfo) bool {
	attrs := span.Attributes()
	kindVal, ok := attrs.Get(dsKeySpanKind)
	if !ok {
		return false
	}
	switch strings.ToLower(kindVal.AsString()) {
	case "graph":
		out.role = roleGraph
	case "node":
		out.role = roleNode
	case "llm":
		out.role = roleLLM
	case "tool":
		out.role = roleTool
	case "router":
		out.role = roleRouter
	case "checkpoint", "checkpoint.save":
		out.role = roleCheckpointSave
	default:
		out.role = roleOther
		out.ignoreReason = "dashstream_unknown_kind"
		return true
	}
	out.threadID = dsString(attrs, dsKeyThreadID)
	out.traceWideThread = out.role == roleGraph && out.threadID != ""
	out.runID = dsString(attrs, dsKeyRunID)
	out.graphName = dsString(attrs, dsKeyGraphName)
	out.graphSchemaJSON = dsString(attrs, dsKeyGraphSchema)
	out.graphEntryPoint = dsString(attrs, dsKeyEntryPoint)
	out.nodeName = dsString(attrs, dsKeyNodeName)
	if out.role == roleNode && out.nodeName == "" {
		out.nodeName = span.Name()
	}
	out.step, out.hasStep = attrInt(attrs, dsKeyStep)

	state := dsString(attrs, dsKeyState)
	switch out.role {
	case roleGraph:
		out.finalState = state
		out.initialState = dsString(attrs, dsKeyStateInitial)
	case roleNode:
		out.stateAfter = state
		out.initialState = dsString(attrs, dsKeyStateInitial)
	}

	out.model = dsString(attrs, dsKeyLLMModel)
	var hasIn, hasOut, hasTotal bool
	out.inputTokens, hasIn = attrInt(attrs, dsKeyInputTokens)
	out.outputTokens, hasOut = attrInt(attrs, dsKeyOutputTokens)
	out.totalTokens, hasTotal = attrInt(attrs, dsKeyTotalTokens)
	if !hasTotal && (hasIn || hasOut) {
		out.totalTokens = out.inputTokens + out.outputTokens
	}
	out.hasTokens = hasIn || hasOut || hasTotal
	out.finishReason = dsString(attrs, dsKeyFinishReason)

	out.toolName = dsString(attrs, dsKeyToolName)
	if out.role == roleTool && out.toolName == "" {
		out.toolName = span.Name()
	}
	out.callID = dsString(attrs, dsKeyToolCallID)
	out.arguments = dsString(attrs, dsKeyToolArguments)
	out.result = dsString(attrs, dsKeyToolResult)
	out.routerChoice = dsString(attrs, dsKeyRouterChoice)

	dsOutcome(span, dsString(attrs, dsKeyError), out)
	return true
}

// dsOutcome fills the failure fields from the span status and its first
// exception event (OTel semantic conventions for exceptions).
func dsOutcome(span ptrace.Span, explicitError string, out *spanInfo) {
	if span.Status().Code() == ptrace.StatusCodeError {
		out.failed = true
		out.errorMessage = span.Status().Message()
	}
	if explicitError != "" {
		out.failed = true
		out.errorMessage = explicitError
	}
	events := span.Events()
	for i := 0; i < events.Len(); i++ {
		ev := events.At(i)
		if ev.Name() != "exception" {
			continue
		}
		ea := ev.Attributes()
		out.failed = true
		out.exceptionType = dsString(ea, "exception.type")
		out.stackTrace = dsString(ea, "exception.stacktrace")
		if msg := dsString(ea, "exception.message"); msg != "" && out.errorMessage == "" {
			out.errorMessage = msg
		}
		break
	}
	if out.failed && out.errorMessage == "" {
		out.errorMessage = out.exceptionType
	}
}

// dsString returns a string attribute, or the text form of a non-string one.
func dsString(attrs pcommon.Map, key string) string {
	v, ok := attrs.Get(key)
	if !ok {
		return ""
	}
	if v.Type() == pcommon.ValueTypeStr {
		return v.Str()
	}
	return v.AsString()
}
