package translate

import (
	"bytes"
	"encoding/json"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Google ADK (Agent Development Kit, JS 2.x and Python) traces with its own
// tracer, scope "gcp.vertex.agent", partly in the GenAI conventions:
//
//	invocation                  root of one runner call: no attributes
//	└── invoke_agent <name>     gen_ai.operation.name=invoke_agent, gen_ai.conversation.id = session
//	    ├── call_llm            no gen_ai.operation.name; gen_ai.system=gcp.vertex.agent, model,
//	    │   │                   tokens, gcp.vertex.agent.llm_request / llm_response (Gemini JSON)
//	    │   ├── execute_tool <tool>       gen_ai.operation.name=execute_tool
//	    │   └── execute_tool (merged)     one more span over parallel calls: a duplicate
//	    └── call_llm
//
// The invocation is the graph run, agents are nodes, call_llm are model
// calls whose request contents and response content are the conversation.

// ADK attribute keys and names.
const (
	adkScope         = "gcp.vertex.agent"
	adkKeyLLMRequest = "gcp.vertex.agent.llm_request"
	adkKeyLLMResp    = "gcp.vertex.agent.llm_response"
	adkKeySessionID  = "gcp.vertex.agent.session_id"
	adkKeyToolArgs   = "gcp.vertex.agent.tool_call_args"
	adkKeyToolResp   = "gcp.vertex.agent.tool_response"
	adkMergedTools   = "(merged tools)"

	ignoreADKMergedTools = "adk_merged_tool_calls"
	ignoreADKUnknown     = "adk_unclassified"
)

// classifyADK handles the ADK spans the GenAI operation name does not
// describe; false leaves the span to the generic GenAI rules.
func classifyADK(res pcommon.Resource, span ptrace.Span, op string, out *spanInfo) bool {
	attrs := span.Attributes()
	switch {
	case op == "" && span.Name() == "invocation":
		fillCommon(res, span, ConventionGenAI, out)
		fillOutcome(span, out)
		out.role = roleGraph
		// The run's name is its root agent's (the engine takes it from the
		// first node under the graph): the span carries none.
		return true
	case op == "" && span.Name() == "call_llm":
		fillCommon(res, span, ConventionGenAI, out)
		fillOutcome(span, out)
		out.role = roleLLM
		out.threadID = attrStr(attrs, adkKeySessionID)
		genAILLM(attrs, out)
		adkConversation(attrs, out)
		out.conversation = out.stateBefore != ""
		return true
	case op == "execute_tool" && attrStr(attrs, genAIKeyToolName) == adkMergedTools:
		fillCommon(res, span, ConventionGenAI, out)
		out.role = roleOther
		out.ignoreReason = ignoreADKMergedTools
		return true
	case op == "":
		fillCommon(res, span, ConventionGenAI, out)
		out.role = roleOther
		out.ignoreReason = ignoreADKUnknown
		return true
	}
	return false
}

// adkToolPayloads fills a tool's arguments and result from ADK's own keys
// when the GenAI ones are absent.
func adkToolPayloads(attrs pcommon.Map, out *spanInfo) {
	if out.arguments == "" {
		out.arguments = attrStr(attrs, adkKeyToolArgs)
	}
	if out.result == "" {
		out.result = attrStr(attrs, adkKeyToolResp)
	}
}

// adkConversation sets the state before and after a call_llm from the
// request's contents and the response's content (Gemini Content objects,
// {role, parts}). ADK writes "{}" when content capture is off.
func adkConversation(attrs pcommon.Map, out *spanInfo) {
	req := attrStr(attrs, adkKeyLLMRequest)
	if req == "" || req == "{}" {
		return
	}
	m, reason := decodeObject(req)
	if reason != "" {
		setBad(out, badMessagesNotJSON)
		return
	}
	raw, ok := m["contents"]
	if !ok {
		return
	}
	contents, ok := messageArray(string(raw))
	if !ok {
		setBad(out, badMessagesNotJSON)
		return
	}
	out.stateBefore = messagesState(contents, nil)
	resp := attrStr(attrs, adkKeyLLMResp)
	if resp == "" || resp == "{}" {
		return
	}
	rm, reason := decodeObject(resp)
	if reason != "" {
		setBad(out, badMessagesNotJSON)
		return
	}
	content, ok := rm["content"]
	if !ok || !bytes.HasPrefix(bytes.TrimSpace(content), []byte("{")) {
		out.stateAfter = out.stateBefore
		return
	}
	out.stateAfter = messagesState(contents, []json.RawMessage{content})
}

// isADKScope reports spans of ADK's tracer.
func isADKScope(scope pcommon.InstrumentationScope) bool {
	return strings.EqualFold(scope.Name(), adkScope)
}
