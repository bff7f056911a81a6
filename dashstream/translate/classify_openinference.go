package translate

import (
	"encoding/json"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// OpenInference attribute keys (Arize openinference-semantic-conventions) and
// the LangGraph metadata keys LangChain copies into every run's metadata.
const (
	oiKeySpanKind        = "openinference.span.kind"
	oiKeyInputValue      = "input.value"
	oiKeyOutputValue     = "output.value"
	oiKeyMetadata        = "metadata"
	oiKeySessionID       = "session.id"
	oiKeyModelName       = "llm.model_name"
	oiKeyTokensPrompt    = "llm.token_count.prompt"
	oiKeyTokensComplete  = "llm.token_count.completion"
	oiKeyTokensTotal     = "llm.token_count.total"
	oiKeyToolName        = "tool.name"
	oiKeyInvocationParam = "llm.invocation_parameters"

	lgMetaNode = "langgraph_node"
	lgMetaStep = "langgraph_step"
)

// openInferenceClassifier recognises spans of the OpenInference LangChain
// instrumentations (Python openinference-instrumentation-langchain and
// JS @arizeai/openinference-instrumentation-langchain) over LangGraph.
//
// Everything is decided from the span itself: LangChain puts the LangGraph
// run metadata (langgraph_node, langgraph_step, thread_id, ...) on every run
// below a graph, and both instrumentations serialise it into `metadata`.
//   - graph:  CHAIN/AGENT span without langgraph_node that is a trace root or
//     is named "LangGraph" (the default name of a compiled graph);
//   - node:   CHAIN/AGENT span whose metadata langgraph_node equals its name
//     (Python marks any run whose name contains "agent" as AGENT);
//   - router: CHAIN span below a node (langgraph_node set, different from its
//     name, not LangGraph plumbing) whose output is a branch choice: a node
//     name, a JSON string or a list of names — what a conditional-edge
//     function returns. Chains inside a node that return objects or
//     messages (prompts, parsers, sub-chains) are not routers;
//   - llm / tool: openinference.span.kind LLM / TOOL.
type openInferenceClassifier struct{}

func newOpenInferenceClassifier() classifier { return openInferenceClassifier{} }

func (openInferenceClassifier) name() string { return ConventionOpenInference }

// oiMetadata is what the classifier reads from the `metadata` attribute.
type oiMetadata struct {
	node    string
	hasNode bool
	step    int64
	hasStep bool
	thread  string
}

func (openInferenceClassifier) classify(res pcommon.Resource, scope pcommon.InstrumentationScope, span ptrace.Span, out *spanInfo) bool {
	attrs := span.Attributes()
	kind := strings.ToUpper(strings.TrimSpace(attrStr(attrs, oiKeySpanKind)))
	if kind == "" {
		return false
	}
	fillCommon(res, span, ConventionOpenInference, out)
	fillOutcome(span, out)

	md := parseOIMetadata(attrs, out)
	out.threadID = attrStr(attrs, oiKeySessionID)
	if out.threadID == "" {
		out.threadID = md.thread
	}
	out.nodeName = md.node
	out.step, out.hasStep = md.step, md.hasStep

	if isBeeAIScope(scope) {
		classifyBeeAI(scope, span, attrs, kind, out)
		return true
	}
	switch kind {
	case "LLM":
		out.role = roleLLM
		oiLLM(attrs, out)
		oiConversation(scope, attrs, md, out)
	case "TOOL":
		out.role = roleTool
		oiTool(span, attrs, out)
	case "CHAIN", "AGENT":
		oiChain(span, attrs, md, out)
		if out.role == roleGraph && span.Name() != "LangGraph" {
			oiAgentOutsideGraph(scope, span, attrs, kind, out)
		}
	default:
		out.role = roleOther
		out.ignoreReason = "openinference_kind_" + sanitizeReason(strings.ToLower(kind))
	}
	return true
}

// oiChain sorts a CHAIN/AGENT span into graph, node, router, pseudo-node or
// other.
func oiChain(span ptrace.Span, attrs pcommon.Map, md oiMetadata, out *spanInfo) {
	name := span.Name()
	switch {
	case !md.hasNode:
		// The run when it is the outermost recognised span of its trace
		// (the engine decides, runs.go): a root chain, LangGraph's own, or
		// one under application spans. Inside a run it is plumbing
		// (ignored); when its parent is not known, only LangGraph's counts
		// as the run.
		out.role = roleGraph
		out.graphName = name
		out.traceWideThread = out.threadID != ""
		out.nodeName = ""
		out.nested, out.nestedReason = nestedIgnored, ignoreNotInGraph
		out.weakRun = name != "LangGraph"
		out.invocationInput = objectOrEmpty(attrStr(attrs, oiKeyInputValue))
		if !out.failed {
			out.finalState = stateObject(attrStr(attrs, oiKeyOutputValue), out)
		}
	case md.node == name && (name == langGraphStart || name == langGraphEnd):
		out.role = roleOther
		out.ignoreReason = ignorePseudoNode
		out.pseudoNode = name
		if name == langGraphStart {
			out.invocationInput = objectOrEmpty(attrStr(attrs, oiKeyInputValue))
		}
	case md.node == name:
		out.role = roleNode
		// A node's input.value is the full state before the node; its
		// output.value is only its update (SPEC §4.1), never a snapshot.
		out.stateBefore = stateObject(attrStr(attrs, oiKeyInputValue), out)
	case !isLangGraphPlumbing(name):
		if choice, ok := routerChoice(attrStr(attrs, oiKeyOutputValue)); ok {
			out.role = roleRouter
			out.routerChoice = choice
			return
		}
		out.role = roleOther
		out.ignoreReason = ignoreInternalChain
	default:
		out.role = roleOther
		out.ignoreReason = ignoreInternalChain
	}
}

// objectOrEmpty returns text when it has the shape of a JSON object, else
// "" without recording a reason (used for payloads that are not states).
func objectOrEmpty(text string) string {
	var scratch spanInfo
	return stateObject(text, &scratch)
}

// parseOIMetadata reads langgraph_node, langgraph_step and the thread keys
// OpenInference itself maps to session.id (session_id, thread_id,
// conversation_id) from the `metadata` JSON.
func parseOIMetadata(attrs pcommon.Map, out *spanInfo) oiMetadata {
	var md oiMetadata
	text := attrJSONText(attrs, oiKeyMetadata)
	if strings.TrimSpace(text) == "" {
		return md
	}
	m, bad := decodeObject(text)
	if m == nil {
		if bad == badPayloadTooLarge {
			setBad(out, badPayloadTooLarge)
		} else {
			setBad(out, badMetadataNotJSON)
		}
		return md
	}
	if s, ok := jsonString(m[lgMetaNode]); ok && s != "" {
		md.node, md.hasNode = s, true
	}
	md.step, md.hasStep = jsonInt(m[lgMetaStep])
	for _, k := range []string{"session_id", "thread_id", "conversation_id"} {
		if s, ok := jsonString(m[k]); ok && s != "" {
			md.thread = s
			break
		}
	}
	return md
}

// oiLLM fills model, token counts and finish reason of an LLM span.
func oiLLM(attrs pcommon.Map, out *spanInfo) {
	out.model = attrStr(attrs, oiKeyModelName)
	if out.model == "" {
		// JS sets the model only inside invocation parameters on some paths.
		if m, _ := decodeObject(attrStr(attrs, oiKeyInvocationParam)); m != nil {
			for _, k := range []string{"model_name", "model"} {
				if s, ok := jsonString(m[k]); ok && s != "" {
					out.model = s
					break
				}
			}
		}
	}
	var hasIn, hasOut, hasTotal bool
	out.inputTokens, hasIn = attrInt(attrs, oiKeyTokensPrompt)
	out.outputTokens, hasOut = attrInt(attrs, oiKeyTokensComplete)
	out.totalTokens, hasTotal = attrInt(attrs, oiKeyTokensTotal)
	if !hasTotal && (hasIn || hasOut) {
		out.totalTokens = out.inputTokens + out.outputTokens
	}
	out.hasTokens = hasIn || hasOut || hasTotal
	out.finishReason = llmResultFinishReason(attrStr(attrs, oiKeyOutputValue))
}

// llmResultFinishReason reads the first generation's finish reason from a
// serialised LangChain LLMResult (Python generation_info, JS generationInfo).
func llmResultFinishReason(text string) string {
	t := strings.TrimSpace(text)
	if t == "" || len(t) > maxDecodeBytes || t[0] != '{' {
		return ""
	}
	var r struct {
		Generations [][]struct {
			GenerationInfo   map[string]json.RawMessage `json:"generation_info"`
			GenerationInfoJS map[string]json.RawMessage `json:"generationInfo"`
		} `json:"generations"`
	}
	if err := json.Unmarshal([]byte(t), &r); err != nil {
		return ""
	}
	if len(r.Generations) == 0 || len(r.Generations[0]) == 0 {
		return ""
	}
	g := r.Generations[0][0]
	for _, info := range []map[string]json.RawMessage{g.GenerationInfo, g.GenerationInfoJS} {
		for _, k := range []string{"finish_reason", "stop_reason"} {
			if s, ok := jsonString(info[k]); ok && s != "" {
				return s
			}
		}
	}
	return ""
}

// oiTool fills name, call id, arguments and result of a TOOL span.
func oiTool(span ptrace.Span, attrs pcommon.Map, out *spanInfo) {
	out.toolName = attrStr(attrs, oiKeyToolName)
	if out.toolName == "" {
		out.toolName = span.Name()
	}
	out.arguments = attrStr(attrs, oiKeyInputValue)
	out.result = attrStr(attrs, oiKeyOutputValue)
	// LangGraph's ToolNode invokes tools with the ToolCall itself
	// ({"name","args","id","type":"tool_call"}); the ToolMessage output
	// carries tool_call_id.
	if m, _ := decodeObject(out.arguments); m != nil {
		if typ, _ := jsonString(m["type"]); typ == "tool_call" {
			out.callID, _ = jsonString(m["id"])
		}
	}
	if out.callID == "" {
		out.callID = toolMessageCallID(out.result)
	}
}

// toolMessageCallID reads tool_call_id from a serialised ToolMessage
// (LangChain's {"lc":1,"type":"constructor",...,"kwargs":{...}} form, or a
// plain object).
func toolMessageCallID(text string) string {
	return toolMessageCallIDDepth(text, 0)
}

// toolMessageCallIDDepth unwraps at most one {"output": …} level, so hostile
// nesting costs at most two decodes.
func toolMessageCallIDDepth(text string, depth int) string {
	m, _ := decodeObject(text)
	if m == nil {
		return ""
	}
	if s, ok := jsonString(m["tool_call_id"]); ok {
		return s
	}
	if kw, ok := rawObject(m, "kwargs"); ok {
		if km, _ := decodeObject(kw); km != nil {
			s, _ := jsonString(km["tool_call_id"])
			return s
		}
	}
	// JS wraps the tool's return value: {"output": <ToolMessage>}.
	if inner, ok := rawObject(m, "output"); ok && depth == 0 {
		return toolMessageCallIDDepth(inner, 1)
	}
	return ""
}
