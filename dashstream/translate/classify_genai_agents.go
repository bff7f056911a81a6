package translate

import (
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Agent frameworks whose spans are GenAI-flavoured but leave out
// gen_ai.operation.name where the conventions would have one, or use it
// their own way. Verified against the real traces of the corpus
// (testdata/corpus, Langfuse's published framework traces):
//
//   - Pydantic AI (scope pydantic-ai; 0.2 and 1.x): "<agent> run" spans carry
//     gen_ai.agent.name (1.x) or agent_name (0.2) and no operation: an agent
//     (the run when outermost, else a sub-agent node: runs.go); "running tool: <t>" spans carry
//     gen_ai.tool.name and no operation: a tool call (tool_arguments,
//     tool_response); "running N tools" groups them: other. The agent run's
//     pydantic_ai.all_messages is the conversation at its end.
//   - Strands Agents Python (scope strands.telemetry.tracer):
//     execute_event_loop_cycle spans are the agent loop's cycles: nodes
//     "cycle" (their event_loop.cycle_id is a UUID: no step number).
//   - Koog (scope ai.koog): the agent's run is an invoke_agent span with
//     koog.agent.strategy.name (the strategy graph it runs: the graph, wherever
//     it sits — its create_agent parent is the agent's construction); its
//     strategy nodes are "node.<name>" spans with koog.node.name (the step in
//     the langgraph_step its Langfuse integration adds), __start__ and
//     __finish__ being pseudo-nodes; tools carry gen_ai.tool.name without
//     operation; model calls carry gen_ai.prompt.<i> / gen_ai.completion.<i>.
//   - Microsoft.Extensions.AI (scope Experimental.Microsoft.Extensions.AI):
//     orchestrate_tools spans (no operation) are one function-invocation
//     loop of a chat client: nodes "orchestrate_tools".
//   - LangSmith OTel mode (scope langsmith): gen_ai.operation.name "chain"
//     with langsmith.span.kind chain at a trace root is the run; the thread
//     is the metadata's session_id / thread_id / conversation_id.
const (
	pydanticScope        = "pydantic-ai"
	strandsPyScope       = "strands.telemetry.tracer"
	strandsPyCycleSpan   = "execute_event_loop_cycle"
	koogScope            = "ai.koog"
	koogKeyStrategy      = "koog.agent.strategy.name"
	koogKeyNode          = "koog.node.name"
	koogFinish           = "__finish__"
	meaiScope            = "Experimental.Microsoft.Extensions.AI"
	meaiOrchestrateTools = "orchestrate_tools"
	langsmithScope       = "langsmith"

	pydanticKeyAgentName   = "agent_name"
	pydanticKeyAllMessages = "pydantic_ai.all_messages"
	pydanticKeyToolArgs    = "tool_arguments"
	pydanticKeyToolResp    = "tool_response"
	genAIKeyAgentNameAttr  = "gen_ai.agent.name"
	langsmithKeySpanKind   = "langsmith.span.kind"
	langsmithKeyTraceName  = "langsmith.trace.name"
	langsmithMetaPrefix    = "langsmith.metadata."

	ignorePydanticToolGroup = "pydantic_ai_tool_group"
	ignoreKoogPseudoNode    = "koog_pseudo_node"
	ignoreLangSmithChain    = "langsmith_chain"
)

// langGraphTagged reports a span that LangGraph's run metadata reached
// (through OpenLLMetry's association properties or Langfuse's metadata):
// its model calls belong to a graph whose state is the graph's.
func langGraphTagged(attrs pcommon.Map) bool {
	for _, k := range []string{tlKeyAssocPrefix + lgMetaNode, lfKeyMetaPrefix + lgMetaNode} {
		if attrStr(attrs, k) != "" {
			return true
		}
	}
	return false
}

// classifyGenAIFrameworks handles the framework layouts above; false leaves
// the span to the generic rules (or to no convention).
func classifyGenAIFrameworks(res pcommon.Resource, scope pcommon.InstrumentationScope, span ptrace.Span, op string, out *spanInfo) bool {
	attrs := span.Attributes()
	sc := scope.Name()
	begin := func() {
		fillCommon(res, span, ConventionGenAI, out)
		fillOutcome(span, out)
		out.threadID = attrStr(attrs, genAIKeyConversationID)
	}
	if classifyMastraWorkflow(res, scope, span, op, out) {
		return true
	}
	switch {
	case op == "" && strings.EqualFold(sc, aiSDKScope):
		return classifyAISDK(res, span, out)
	case op == "" && span.Name() == strandsPyCycleSpan && strings.EqualFold(sc, strandsPyScope):
		begin()
		out.role = roleNode
		out.nodeName = strandsCycleNode
		return true
	case op == "" && attrStr(attrs, koogKeyNode) != "":
		begin()
		name := attrStr(attrs, koogKeyNode)
		if name == langGraphStart || name == koogFinish || name == langGraphEnd {
			out.role = roleOther
			out.ignoreReason = ignoreKoogPseudoNode
			return true
		}
		out.role = roleNode
		out.nodeName = name
		out.step, out.hasStep = attrInt(attrs, lfKeyMetaPrefix+lgMetaStep)
		return true
	case op == "" && span.Name() == meaiOrchestrateTools && strings.EqualFold(sc, meaiScope):
		begin()
		out.role = roleNode
		out.nodeName = meaiOrchestrateTools
		return true
	case op == "" && attrStr(attrs, genAIKeyToolName) != "":
		begin()
		out.role = roleTool
		out.toolName = attrStr(attrs, genAIKeyToolName)
		out.callID = attrStr(attrs, genAIKeyToolCallID)
		out.arguments = firstAttrText(attrs, genAIKeyToolArguments, pydanticKeyToolArgs, oiKeyInputValue)
		out.result = firstAttrText(attrs, genAIKeyToolResult, pydanticKeyToolResp, oiKeyOutputValue)
		return true
	case op == "" && (attrStr(attrs, genAIKeyAgentNameAttr) != "" ||
		(strings.EqualFold(sc, pydanticScope) && attrStr(attrs, pydanticKeyAgentName) != "")):
		begin()
		name := attrStr(attrs, genAIKeyAgentNameAttr)
		if name == "" {
			name = attrStr(attrs, pydanticKeyAgentName)
		}
		agentInvocation(name, out)
		// The conversation at the agent run's end: the run's final state,
		// or the sub-agent node's state after it (nested, runs.go).
		if msgs := textMessages(attrJSONText(attrs, pydanticKeyAllMessages)); len(msgs) > 0 {
			st := messagesState(msgs, nil)
			if !out.failed {
				out.finalState = st
			}
			out.stateAfter = st
		}
		return true
	case op == "" && strings.EqualFold(sc, pydanticScope) && strings.HasPrefix(span.Name(), "running ") && strings.HasSuffix(span.Name(), " tools"):
		begin()
		out.role = roleOther
		out.ignoreReason = ignorePydanticToolGroup
		return true
	case op == "invoke_agent" && attrStr(attrs, koogKeyStrategy) != "":
		begin()
		agentInvocation(attrStr(attrs, koogKeyStrategy), out)
		return true
	case op == "chain" && strings.EqualFold(sc, langsmithScope) && attrStr(attrs, langsmithKeySpanKind) == "chain":
		// The run when it is the outermost recognised span (runs.go);
		// inside a run a chain is plumbing, and so is one whose parent
		// is not known.
		begin()
		out.role = roleGraph
		out.nested, out.nestedReason, out.weakRun = nestedIgnored, ignoreLangSmithChain, true
		out.graphName = attrStr(attrs, langsmithKeyTraceName)
		if out.graphName == "" {
			out.graphName = span.Name()
		}
		for _, k := range []string{"thread_id", "session_id", "conversation_id"} {
			if s := attrStr(attrs, langsmithMetaPrefix+k); s != "" {
				out.threadID = s
				break
			}
		}
		out.traceWideThread = out.threadID != ""
		return true
	}
	return false
}

// agentInvocation makes an agent invocation a graph span that is a node (a
// sub-agent named name) inside another run: the engine decides (runs.go).
func agentInvocation(name string, out *spanInfo) {
	out.role = roleGraph
	out.graphName = name
	out.nodeName = ""
	out.nested, out.weakRun = nestedNode, false
	out.traceWideThread = out.threadID != ""
}

// firstAttrText is the first of keys present as text.
func firstAttrText(attrs pcommon.Map, keys ...string) string {
	for _, k := range keys {
		if s := attrJSONText(attrs, k); s != "" {
			return s
		}
		if s := attrStr(attrs, k); s != "" {
			return s
		}
	}
	return ""
}
