package translate

import (
	"encoding/json"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// The Langfuse SDKs (JS @langfuse/tracing ≥ 4, Python langfuse ≥ 3) write
// OpenTelemetry spans with their own keys, and so does every integration
// built on them (the LangChain/LangGraph CallbackHandler of
// @langfuse/langchain and langfuse.langchain):
//
//	langfuse.observation.type          span | generation | tool | agent | chain | event | …
//	langfuse.observation.input/output  JSON text (strings as they are)
//	langfuse.observation.level         DEBUG | DEFAULT | WARNING | ERROR
//	langfuse.observation.status_message
//	langfuse.observation.model.name, .usage_details ({"input","output","total"})
//	langfuse.observation.metadata.<k>  one attribute per metadata key (JSON text unless a string)
//	session.id, user.id                the trace's session and user
//
// Through the CallbackHandler, LangChain puts LangGraph's run metadata on
// every run below a graph (langgraph_node, langgraph_step, thread_id), as
// with OpenInference:
//   - graph: the root chain of a graph — a span/chain/agent observation
//     without langgraph_node whose metadata ls_integration is "langgraph"
//     (LangGraph.js ≥ 1), or named "LangGraph" (the default graph name), or
//     a trace root of type chain/agent;
//   - node: langgraph_node equal to the observation's name (LangGraph's
//     __start__/__end__ are pseudo-nodes), step = langgraph_step;
//   - router: a chain below a node whose output is a branch choice (a node
//     name, an edge label, or LangGraph.js's Send list);
//   - generation = model call, tool (or a chain returning a ToolMessage,
//     older handlers typed tools as spans) = tool call;
//   - an agent observation outside LangGraph = agent (the run at a trace
//     root, else a node);
//   - any other span (@observe-wrapped functions, application spans) is
//     transparent: other, counted as langfuse_span.
//
// State: the handler writes a chain's input as its messages in its own
// chat form ([{role, content, …}]) when the state's `messages` are
// LangChain messages — the other channels of the state are not in the
// spans — and the whole input otherwise. A node's input is the state
// before it ({"messages": […]} for a message list), the graph's output the
// final state. Failures: level ERROR (the handler leaves the span status
// unset), the message from status_message. Thread: metadata thread_id
// (LangGraph's configurable thread, copied into every run's metadata),
// else the session (session.id).
type langfuseClassifier struct{}

// Attribute keys of the Langfuse SDKs.
const (
	lfKeyType          = "langfuse.observation.type"
	lfKeyInput         = "langfuse.observation.input"
	lfKeyOutput        = "langfuse.observation.output"
	lfKeyLevel         = "langfuse.observation.level"
	lfKeyStatusMessage = "langfuse.observation.status_message"
	lfKeyModel         = "langfuse.observation.model.name"
	lfKeyUsage         = "langfuse.observation.usage_details"
	lfKeyMetaPrefix    = "langfuse.observation.metadata."
	lfKeySessionID     = "session.id"
	lfKeySessionIDOld  = "langfuse.session.id"

	lfMetaIntegration  = "ls_integration"
	lfIntegrationGraph = "langgraph"
	lfScopePrefix      = "langfuse-sdk"
)

func newLangfuseClassifier() classifier { return langfuseClassifier{} }

func (langfuseClassifier) name() string { return ConventionLangfuse }

func (langfuseClassifier) classify(res pcommon.Resource, scope pcommon.InstrumentationScope, span ptrace.Span, out *spanInfo) bool {
	attrs := span.Attributes()
	typ, ok := attrs.Get(lfKeyType)
	if !ok {
		return false
	}
	kind := strings.ToLower(strings.TrimSpace(typ.AsString()))
	fillCommon(res, span, ConventionLangfuse, out)
	fillOutcome(span, out)
	if strings.EqualFold(attrStr(attrs, lfKeyLevel), "ERROR") && !out.failed {
		out.failed = true
		out.errorMessage = attrStr(attrs, lfKeyStatusMessage)
		splitErrorName(out)
	}
	node := attrStr(attrs, lfKeyMetaPrefix+lgMetaNode)
	hasNode := node != ""
	if hasNode {
		out.nodeName = node
		out.step, out.hasStep = attrInt(attrs, lfKeyMetaPrefix+lgMetaStep)
	}
	out.threadID = attrStr(attrs, lfKeyMetaPrefix+"thread_id")
	if out.threadID == "" {
		out.threadID = attrStr(attrs, lfKeySessionID)
	}
	if out.threadID == "" {
		out.threadID = attrStr(attrs, lfKeySessionIDOld)
	}
	name := span.Name()
	root := span.ParentSpanID().IsEmpty()
	inGraph := hasNode || attrStr(attrs, lfKeyMetaPrefix+lfMetaIntegration) == lfIntegrationGraph

	switch kind {
	case "generation":
		out.role = roleLLM
		out.model = attrStr(attrs, lfKeyModel)
		lfUsage(attrStr(attrs, lfKeyUsage), out)
		if !inGraph {
			// Outside LangGraph a model call's messages are the agent's
			// conversation; inside, the graph's state is the state.
			lfConversation(attrs, out)
		}
		return true
	case "tool":
		lfToolCall(name, attrs, out)
		return true
	case "span", "chain", "agent", "":
	default:
		out.role = roleOther
		out.ignoreReason = "langfuse_" + sanitizeReason(kind)
		return true
	}

	isGraph := !hasNode && (attrStr(attrs, lfKeyMetaPrefix+lfMetaIntegration) == lfIntegrationGraph ||
		name == "LangGraph" || (root && (kind == "chain" || kind == "agent")))
	if hasNode && node != name && name == "LangGraph" && root {
		isGraph = true // LangGraph.js 0.x: the root carries its first node's metadata
	}
	switch {
	case isGraph:
		out.role = roleGraph
		out.graphName = name
		out.nodeName = ""
		out.hasStep = false
		out.traceWideThread = out.threadID != ""
		if kind == "agent" {
			// An agent: a sub-agent node inside another run (runs.go).
			out.nested, out.weakRun = nestedNode, false
		} else if name != "LangGraph" && attrStr(attrs, lfKeyMetaPrefix+lfMetaIntegration) != lfIntegrationGraph {
			// A root chain that is not a graph: plumbing inside a run.
			out.nested, out.nestedReason = nestedIgnored, "langfuse_span"
		}
		if !out.failed {
			out.finalState = lfState(attrJSONText(attrs, lfKeyOutput), out)
		}
		out.invocationInput = objectOrEmpty(attrJSONText(attrs, lfKeyInput))
	case hasNode && node == name && (name == langGraphStart || name == langGraphEnd):
		out.role = roleOther
		out.ignoreReason = ignorePseudoNode
		out.pseudoNode = name
	case hasNode && node == name:
		out.role = roleNode
		out.stateBefore = lfState(attrJSONText(attrs, lfKeyInput), out)
	case hasNode:
		output := attrJSONText(attrs, lfKeyOutput)
		switch {
		case isLangGraphPlumbing(name) || strings.EqualFold(attrStr(attrs, lfKeyLevel), "DEBUG"):
			out.role = roleOther
			out.ignoreReason = ignoreInternalChain
		case toolMessageCallID(output) != "":
			// Handlers before 4.x typed tool runs as spans.
			lfToolCall(name, attrs, out)
		default:
			if choice, ok := lfRouterChoice(output); ok {
				out.role = roleRouter
				out.routerChoice = choice
				return true
			}
			out.role = roleOther
			out.ignoreReason = ignoreInternalChain
		}
	case kind == "agent":
		agentInvocation(name, out)
	default:
		out.role = roleOther
		out.ignoreReason = "langfuse_span"
	}
	return true
}

// lfToolCall fills a tool call: the tool's name is the observation's.
func lfToolCall(name string, attrs pcommon.Map, out *spanInfo) {
	out.role = roleTool
	out.toolName = name
	out.arguments = attrJSONText(attrs, lfKeyInput)
	out.result = attrJSONText(attrs, lfKeyOutput)
	out.callID = toolMessageCallID(out.result)
}

// lfUsage reads {"input": n, "output": n, "total": n}.
func lfUsage(text string, out *spanInfo) {
	m, _ := decodeObject(text)
	if m == nil {
		return
	}
	var hasIn, hasOut, hasTotal bool
	out.inputTokens, hasIn = jsonInt(m["input"])
	out.outputTokens, hasOut = jsonInt(m["output"])
	out.totalTokens, hasTotal = jsonInt(m["total"])
	if !hasTotal && (hasIn || hasOut) {
		out.totalTokens = out.inputTokens + out.outputTokens
	}
	out.hasTokens = hasIn || hasOut || hasTotal
}

// lfState is the state a chain's input or output stands for: a message
// list as {"messages": […]}, an object as it is.
func lfState(text string, out *spanInfo) string {
	t := strings.TrimSpace(text)
	if strings.HasPrefix(t, "[") {
		if msgs, ok := messageArray(t); ok {
			return messagesState(msgs, nil)
		}
		return ""
	}
	return stateObject(t, out)
}

// lfConversation sets a model call's conversation from its input (a
// message list, or {"messages": […]}) and output (one message or a list).
func lfConversation(attrs pcommon.Map, out *spanInfo) {
	in := messagesFromText(attrJSONText(attrs, lfKeyInput), "messages", false)
	if in == nil {
		return
	}
	out.stateBefore = messagesState(in, nil)
	if o := messagesFromText(attrJSONText(attrs, lfKeyOutput), "", true); o != nil {
		out.stateAfter = messagesState(in, o)
	}
	out.conversation = true
}

// lfRouterChoice reads a conditional edge's choice: what routerChoice
// accepts, or LangGraph.js's {"output": [{"lg_name": "Send", "node": …}]}.
func lfRouterChoice(text string) (string, bool) {
	if choice, ok := routerChoice(text); ok {
		return choice, true
	}
	m, _ := decodeObject(text)
	if m == nil {
		return "", false
	}
	var sends []struct {
		Name string `json:"lg_name"`
		Node string `json:"node"`
	}
	raw, ok := m["output"]
	if !ok || json.Unmarshal(raw, &sends) != nil || len(sends) == 0 {
		return "", false
	}
	nodes := make([]string, 0, len(sends))
	for _, s := range sends {
		if s.Name != "Send" || s.Node == "" {
			return "", false
		}
		nodes = append(nodes, s.Node)
	}
	return strings.Join(nodes, ","), true
}

// splitErrorName splits "TypeError: msg" (how the handlers write a
// JavaScript or Python error into status_message) into type and message.
func splitErrorName(out *spanInfo) {
	splitJSStack(out)
	if out.exceptionType != "" {
		return
	}
	name, msg, ok := strings.Cut(out.errorMessage, ": ")
	if ok && isIdentifier(name) && (strings.HasSuffix(name, "Error") || strings.HasSuffix(name, "Exception")) {
		out.exceptionType = name
		out.errorMessage = msg
	}
}
