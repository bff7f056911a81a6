package translate

import (
	"encoding/json"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// OpenLLMetry (traceloop) attribute keys as its LangChain instrumentations set
// them, plus the gen_ai.* keys it adds.
const (
	tlKeySpanKind     = "traceloop.span.kind"
	tlKeyEntityName   = "traceloop.entity.name"
	tlKeyEntityInput  = "traceloop.entity.input"
	tlKeyEntityOutput = "traceloop.entity.output"
	tlKeyWorkflowName = "traceloop.workflow.name"
	tlKeyAssocPrefix  = "traceloop.association.properties."
	tlKeyRequestType  = "llm.request.type"

	tlAssocNode   = tlKeyAssocPrefix + "langgraph_node"
	tlAssocStep   = tlKeyAssocPrefix + "langgraph_step"
	tlAssocThread = tlKeyAssocPrefix + "thread_id"

	genAIKeyOperation      = "gen_ai.operation.name"
	genAIKeyConversationID = "gen_ai.conversation.id"
	genAIKeyAgentName      = "gen_ai.agent.name"
	genAIKeyWorkflowName   = "gen_ai.workflow.name"
	genAIKeyTaskName       = "gen_ai.task.name"
	genAIKeyWorkflowNodes  = "gen_ai.workflow.nodes"
	genAIKeyWorkflowEdges  = "gen_ai.workflow.edges"
	genAIKeyRequestModel   = "gen_ai.request.model"
	genAIKeyResponseModel  = "gen_ai.response.model"
	genAIKeyInputTokens    = "gen_ai.usage.input_tokens"
	genAIKeyOutputTokens   = "gen_ai.usage.output_tokens"
	genAIKeyPromptTokens   = "gen_ai.usage.prompt_tokens"     // older OpenLLMetry
	genAIKeyComplTokens    = "gen_ai.usage.completion_tokens" // older OpenLLMetry
	genAIKeyTotalTokens    = "gen_ai.usage.total_tokens"
	genAIKeyFinishReasons  = "gen_ai.response.finish_reasons"
	genAIKeyToolName       = "gen_ai.tool.name"
	genAIKeyToolCallID     = "gen_ai.tool.call.id"
	genAIKeyToolArguments  = "gen_ai.tool.call.arguments"
	genAIKeyToolResult     = "gen_ai.tool.call.result"
	genAIKeyErrorType      = "error.type"
	genAIKeyProviderName   = "gen_ai.provider.name"
	tlProviderLangGraph    = "langgraph"

	lgKeyCommandSource = "langgraph.command.source_node"
	lgKeyCommandGoto   = "langgraph.command.goto_node"

	tlKeyTotalTokens  = "llm.usage.total_tokens"
	tlKeyCompletion0R = "gen_ai.completion.0.finish_reason"
)

// openLLMetryClassifier recognises spans of traceloop's LangChain
// instrumentation over LangGraph.
//
// Python layout: the outermost chain is traceloop.span.kind=workflow (span
// "invoke_agent LangGraph", older "LangGraph.workflow") carrying
// gen_ai.workflow.nodes/edges; every inner chain is a task ("execute_task
// <name>", older "<name>.task") with the run metadata as
// traceloop.association.properties.* (langgraph_node, langgraph_step,
// thread_id); tools are kind tool ("execute_tool <name>"); LLM calls carry
// llm.request.type / gen_ai.* and no span kind. Node = task whose entity name
// equals langgraph_node; router = task below a node whose output is a branch
// choice (see openInferenceClassifier for the same rule), or a "goto <target>"
// span carrying langgraph.command.goto_node (routing by Command).
//
// JS layout (@traceloop/instrumentation-langchain 0.27): every chain is
// "workflow <class>" with traceloop.span.kind=workflow and
// gen_ai.operation.name=workflow, no LangGraph keys, and the node spans are
// all named after their class (RunnableSequence): see
// classify_openllmetry_jslayout.go for the best effort made of them.
type openLLMetryClassifier struct{}

func newOpenLLMetryClassifier() classifier { return openLLMetryClassifier{} }

func (openLLMetryClassifier) name() string { return ConventionOpenLLMetry }

func (openLLMetryClassifier) classify(res pcommon.Resource, scope pcommon.InstrumentationScope, span ptrace.Span, out *spanInfo) bool {
	attrs := span.Attributes()
	kind := strings.ToLower(strings.TrimSpace(attrStr(attrs, tlKeySpanKind)))
	if kind == "" && !hasTraceloopKeys(attrs) && !isTraceloopJS(scope) {
		return false
	}
	fillCommon(res, span, ConventionOpenLLMetry, out)
	fillOutcome(span, out)
	if out.failed && out.exceptionType == "" {
		out.exceptionType = attrStr(attrs, genAIKeyErrorType)
	}

	out.threadID = attrStr(attrs, genAIKeyConversationID)
	if out.threadID == "" {
		out.threadID = attrStr(attrs, tlAssocThread)
	}
	lgNode := attrStr(attrs, tlAssocNode)
	out.nodeName = lgNode
	out.step, out.hasStep = attrInt(attrs, tlAssocStep)
	op := strings.ToLower(attrStr(attrs, genAIKeyOperation))

	if gotoNode := attrStr(attrs, lgKeyCommandGoto); gotoNode != "" {
		// "goto <target>" span: a node routed with Command(goto=…).
		out.role = roleRouter
		out.routerChoice = gotoNode
		if src := attrStr(attrs, lgKeyCommandSource); src != "" {
			out.nodeName = src
		}
		return true
	}
	if lgNode == "" && isTraceloopJS(scope) && tlJSClassify(span, attrs, kind, op, out) {
		return true
	}
	switch kind {
	case "workflow", "agent":
		tlWorkflow(span, attrs, op, lgNode, out)
	case "task":
		tlTask(span, attrs, lgNode, out)
	case "tool":
		out.role = roleTool
		tlTool(span, attrs, out)
	case "":
		switch {
		case isLLMOperation(op) || attrStr(attrs, tlKeyRequestType) != "":
			out.role = roleLLM
			genAILLM(attrs, out)
		case op == "execute_tool":
			out.role = roleTool
			tlTool(span, attrs, out)
		default:
			out.role = roleOther
			out.ignoreReason = "openllmetry_unclassified"
		}
	default:
		out.role = roleOther
		out.ignoreReason = "openllmetry_kind_" + sanitizeReason(kind)
	}
	return true
}

// hasTraceloopKeys reports whether any attribute is traceloop's own (so a
// span without traceloop.span.kind — an LLM call — is still OpenLLMetry's,
// while plain OTel GenAI spans are left to the gen_ai convention).
func hasTraceloopKeys(attrs pcommon.Map) bool {
	found := false
	attrs.Range(func(k string, _ pcommon.Value) bool {
		if strings.HasPrefix(k, "traceloop.") || k == tlKeyRequestType {
			found = true
			return false
		}
		return true
	})
	return found
}

// isLLMOperation reports the gen_ai.operation.name values of model calls.
func isLLMOperation(op string) bool {
	switch op {
	case "chat", "text_completion", "generate_content", "completion":
		return true
	}
	return false
}

// tlEntityName is the name of the chain a span ran: traceloop.entity.name,
// gen_ai.task.name, else from the span name's operation prefix or kind suffix.
func tlEntityName(span ptrace.Span, attrs pcommon.Map) string {
	if s := attrStr(attrs, tlKeyEntityName); s != "" {
		return s
	}
	if s := attrStr(attrs, genAIKeyTaskName); s != "" {
		return s
	}
	name := span.Name()
	if s, ok := stripOperation(name, "execute_task", "invoke_agent", "workflow", "execute_tool", "invoke_workflow"); ok {
		return s
	}
	for _, suf := range []string{".task", ".workflow", ".tool", ".agent"} {
		if s, ok := strings.CutSuffix(name, suf); ok && s != "" {
			return s
		}
	}
	return ""
}

// tlWorkflow handles kind=workflow spans: the graph, or (JS layout) chains
// that cannot be told apart.
func tlWorkflow(span ptrace.Span, attrs pcommon.Map, op, lgNode string, out *spanInfo) {
	if lgNode != "" {
		// A workflow-kind span inside a graph: sort it like a task.
		tlTask(span, attrs, lgNode, out)
		return
	}
	entity := tlEntityName(span, attrs)
	_, hasNodes := attrs.Get(genAIKeyWorkflowNodes)
	// The JS layout sets traceloop.workflow.name on every chain, so only the
	// span's own name counts there.
	isGraph := entity == "LangGraph" || hasNodes ||
		attrStr(attrs, genAIKeyAgentName) == "LangGraph" ||
		(attrStr(attrs, tlKeyWorkflowName) == "LangGraph" && op != "workflow")
	if !isGraph && op == "" && entity != "" && span.ParentSpanID().IsEmpty() &&
		!strings.HasPrefix(entity, "Runnable") && entity != tlJSGraphClass {
		// The application's own workflow span (Traceloop's withWorkflow)
		// around a JS graph invocation: the run.
		isGraph = true
	}
	if isGraph && !span.ParentSpanID().IsEmpty() && !hasNodes && op == "invoke_agent" &&
		attrStr(attrs, genAIKeyProviderName) == tlProviderLangGraph {
		// Python ≥ 0.5x: the run is the instrumentation's own
		// "invoke_agent LangGraph" span (gen_ai classifier) around this
		// callback span, which brings the invocation input and, at its end,
		// the final state.
		out.role = roleNode
		out.nodeName = langGraphEnd
		out.pseudoNode = langGraphEnd
		out.flat = true
		out.invocationInput = tlEntityPayload(attrStr(attrs, tlKeyEntityInput), "inputs", false, out)
		if !out.failed {
			out.stateAfter = stateObject(tlEntityPayload(attrStr(attrs, tlKeyEntityOutput), "outputs", false, out), out)
		}
		return
	}
	if !isGraph {
		out.role = roleOther
		if op == "workflow" {
			out.ignoreReason = "openllmetry_js_chain_unnamed"
		} else {
			out.ignoreReason = ignoreNotInGraph
		}
		return
	}
	out.role = roleGraph
	out.graphName = attrStr(attrs, genAIKeyAgentName)
	if out.graphName == "" {
		out.graphName = entity
	}
	if out.graphName == "" {
		out.graphName = attrStr(attrs, tlKeyWorkflowName)
	}
	out.traceWideThread = out.threadID != ""
	out.graphSchemaJSON = tlWorkflowSchema(attrs, out.graphName, out)
	jsRaw := op == "workflow"
	out.invocationInput = tlEntityPayload(attrStr(attrs, tlKeyEntityInput), "inputs", jsRaw, out)
	if !out.failed {
		out.finalState = stateObject(tlEntityPayload(attrStr(attrs, tlKeyEntityOutput), "outputs", jsRaw, out), out)
	}
}

// tlTask handles kind=task spans: node, router, pseudo-node or plumbing.
func tlTask(span ptrace.Span, attrs pcommon.Map, lgNode string, out *spanInfo) {
	entity := tlEntityName(span, attrs)
	switch {
	case lgNode == "":
		out.role = roleOther
		out.ignoreReason = ignoreNotInGraph
	case entity == lgNode && (entity == langGraphStart || entity == langGraphEnd):
		out.role = roleOther
		out.ignoreReason = ignorePseudoNode
		out.pseudoNode = entity
		if entity == langGraphStart {
			out.invocationInput = tlEntityPayload(attrStr(attrs, tlKeyEntityInput), "inputs", false, out)
		}
	case entity == lgNode:
		out.role = roleNode
		out.stateBefore = stateObject(tlEntityPayload(attrStr(attrs, tlKeyEntityInput), "inputs", false, out), out)
	case entity != "" && !isLangGraphPlumbing(entity):
		if choice, ok := tlRouterChoice(attrStr(attrs, tlKeyEntityOutput)); ok {
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

// tlEntityPayload returns the member (inputs/outputs) of traceloop's
// entity wrapper {"inputs":…,"tags":…,"metadata":…,"kwargs":…} when it is a
// JSON object. With jsRaw, the payload is the chain values themselves (JS
// instrumentation) and is returned whole when it is an object.
func tlEntityPayload(text, member string, jsRaw bool, out *spanInfo) string {
	if strings.TrimSpace(text) == "" {
		return ""
	}
	if jsRaw {
		return objectOrEmpty(text)
	}
	m, bad := decodeObject(text)
	if m == nil {
		if bad == badPayloadTooLarge {
			setBad(out, badPayloadTooLarge)
		} else {
			setBad(out, badEntityNotJSON)
		}
		return ""
	}
	raw, ok := m[member]
	if !ok {
		return ""
	}
	if obj, ok := rawObject(m, member); ok {
		return obj
	}
	// Present but not an object (a string input, a list): not a state.
	if len(strings.TrimSpace(string(raw))) > 0 && string(raw) != "null" {
		setBad(out, badStateNotObject)
	}
	return ""
}

// tlRouterChoice reads a branch choice from the entity output wrapper.
func tlRouterChoice(text string) (string, bool) {
	m, _ := decodeObject(text)
	if m == nil {
		return "", false
	}
	return routerChoiceRaw(m["outputs"])
}

// tlTool fills a tool span from gen_ai.tool.* keys, else from the entity
// wrapper (inputs.input_str / outputs.output) the Python handler writes.
func tlTool(span ptrace.Span, attrs pcommon.Map, out *spanInfo) {
	out.toolName = attrStr(attrs, genAIKeyToolName)
	if out.toolName == "" {
		out.toolName = tlEntityName(span, attrs)
	}
	if out.toolName == "" {
		out.toolName = span.Name()
	}
	out.callID = attrStr(attrs, genAIKeyToolCallID)
	out.arguments = attrStr(attrs, genAIKeyToolArguments)
	out.result = attrStr(attrs, genAIKeyToolResult)
	if out.arguments == "" {
		if m, _ := decodeObject(attrStr(attrs, tlKeyEntityInput)); m != nil {
			if s, ok := jsonString(m["input_str"]); ok {
				out.arguments = s
			} else if raw, ok := m["inputs"]; ok {
				out.arguments = string(raw)
			}
			if out.callID == "" {
				if in, ok := rawObject(m, "inputs"); ok {
					if im, _ := decodeObject(in); im != nil {
						out.callID, _ = jsonString(im["tool_call_id"])
					}
				}
			}
		}
	}
	if out.result == "" {
		if m, _ := decodeObject(attrStr(attrs, tlKeyEntityOutput)); m != nil {
			if raw, ok := m["output"]; ok {
				if s, ok := jsonString(raw); ok {
					out.result = s
				} else {
					out.result = string(raw)
				}
			}
		}
	}
	if out.callID == "" {
		out.callID = toolMessageCallID(out.result)
	}
}

// genAILLM fills model, tokens and finish reason from gen_ai.* keys (with
// the older OpenLLMetry names as fallbacks).
func genAILLM(attrs pcommon.Map, out *spanInfo) {
	out.model = attrStr(attrs, genAIKeyResponseModel)
	if out.model == "" {
		out.model = attrStr(attrs, genAIKeyRequestModel)
	}
	var hasIn, hasOut, hasTotal bool
	out.inputTokens, hasIn = attrInt(attrs, genAIKeyInputTokens)
	if !hasIn {
		out.inputTokens, hasIn = attrInt(attrs, genAIKeyPromptTokens)
	}
	out.outputTokens, hasOut = attrInt(attrs, genAIKeyOutputTokens)
	if !hasOut {
		out.outputTokens, hasOut = attrInt(attrs, genAIKeyComplTokens)
	}
	out.totalTokens, hasTotal = attrInt(attrs, genAIKeyTotalTokens)
	if !hasTotal {
		out.totalTokens, hasTotal = attrInt(attrs, tlKeyTotalTokens)
	}
	if !hasTotal && (hasIn || hasOut) {
		out.totalTokens = out.inputTokens + out.outputTokens
	}
	out.hasTokens = hasIn || hasOut || hasTotal
	if reasons, ok := attrStrings(attrs, genAIKeyFinishReasons); ok && len(reasons) > 0 {
		out.finishReason = reasons[0]
	} else {
		out.finishReason = attrStr(attrs, tlKeyCompletion0R)
	}
	if out.failed && out.exceptionType == "" {
		out.exceptionType = attrStr(attrs, genAIKeyErrorType)
	}
}

// tlWorkflowSchema builds a GraphSchema from gen_ai.workflow.nodes (node
// names) and gen_ai.workflow.edges ("a -> b" strings, or the older
// [[sources],[targets]] pairs).
func tlWorkflowSchema(attrs pcommon.Map, graphName string, out *spanInfo) string {
	nodes, hasNodes := attrStrings(attrs, genAIKeyWorkflowNodes)
	var edges [][2]string
	if v, ok := attrs.Get(genAIKeyWorkflowEdges); ok {
		var ok2 bool
		edges, ok2 = parseWorkflowEdges(v)
		if !ok2 {
			setBad(out, badWorkflowSchemaJSON)
		}
	}
	if !hasNodes && len(edges) == 0 {
		return ""
	}
	return buildGraphSchema(graphName, ConventionOpenLLMetry, nodes, edges)
}

// parseWorkflowEdges reads edges as a string slice of "a -> b", or JSON text
// of such a list or of [[[sources],[targets]], …].
func parseWorkflowEdges(v pcommon.Value) ([][2]string, bool) {
	var items []string
	switch v.Type() {
	case pcommon.ValueTypeSlice:
		sl := v.Slice()
		for i := 0; i < sl.Len(); i++ {
			if e := sl.At(i); e.Type() == pcommon.ValueTypeStr {
				items = append(items, e.Str())
			}
		}
	case pcommon.ValueTypeStr:
		t := strings.TrimSpace(v.Str())
		if len(t) > maxDecodeBytes {
			return nil, false
		}
		if err := json.Unmarshal([]byte(t), &items); err != nil {
			var pairs [][2][]string
			if err2 := json.Unmarshal([]byte(t), &pairs); err2 != nil {
				return nil, false
			}
			var out [][2]string
			for _, p := range pairs {
				for _, s := range p[0] {
					for _, d := range p[1] {
						out = append(out, [2]string{s, d})
					}
				}
				if len(out) > maxSchemaItems {
					break
				}
			}
			return out, true
		}
	default:
		return nil, false
	}
	out := make([][2]string, 0, len(items))
	for _, it := range items {
		from, to, ok := strings.Cut(it, "->")
		from, to = strings.TrimSpace(from), strings.TrimSpace(to)
		if !ok || from == "" || to == "" {
			return out, false
		}
		out = append(out, [2]string{from, to})
	}
	return out, true
}
