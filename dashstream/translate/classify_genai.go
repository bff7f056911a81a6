package translate

import (
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// genAIClassifier recognises spans of the OpenTelemetry GenAI semantic
// conventions by gen_ai.operation.name:
//   - invoke_workflow = graph (gen_ai.workflow.name);
//   - invoke_agent = the run when it is the outermost recognised span of
//     its trace, else a node (sub-agent) named by gen_ai.agent.name (or
//     the span name "invoke_agent <name>");
//   - agent_step (Vercel AI SDK 7: one model call and the tools it asked
//     for) = node "step", its number from the span name "step N";
//   - execute_tool = tool; chat / text_completion / generate_content = llm;
//   - anything else (embeddings, create_agent, retrieval, …) = other.
//
// The state is the conversation (classify_genai_messages.go): model calls
// carry it before and after the call, the engine gives it to the enclosing
// node (the run starts from the first call's input). There is
// no router: conditional edges show up as plain edges. Thread =
// gen_ai.conversation.id.
//
// Runtime layouts come first: Google ADK (classify_genai_adk.go), Strands
// (classify_genai_strands.go), and the agent frameworks whose spans leave
// out or reuse the operation name — Pydantic AI, Strands Python, Koog,
// Microsoft.Extensions.AI, LangSmith (classify_genai_agents.go), the
// Vercel AI SDK ≤ 6 (classify_genai_aisdk.go), Mastra workflows
// (classify_genai_mastra.go).
type genAIClassifier struct{}

// genAIStepNode names the node of an agent_step span.
const genAIStepNode = "step"

// mastraKeyStepIndex numbers Mastra's agent_step spans (from 0).
const mastraKeyStepIndex = "mastra.model_step.step_index"

func newGenAIClassifier() classifier { return genAIClassifier{} }

func (genAIClassifier) name() string { return ConventionGenAI }

func (genAIClassifier) classify(res pcommon.Resource, scope pcommon.InstrumentationScope, span ptrace.Span, out *spanInfo) bool {
	attrs := span.Attributes()
	op := strings.ToLower(strings.TrimSpace(attrStr(attrs, genAIKeyOperation)))
	adk := isADKScope(scope)
	if adk && classifyADK(res, span, op, out) {
		return true
	}
	if op == "" && span.Name() == strandsCycleSpan && isStrandsScope(scope) {
		fillCommon(res, span, ConventionGenAI, out)
		fillOutcome(span, out)
		strandsCycle(attrs, out)
		return true
	}
	if classifyGenAIFrameworks(res, scope, span, op, out) {
		return true
	}
	if op == "" {
		return false
	}
	fillCommon(res, span, ConventionGenAI, out)
	fillOutcome(span, out)
	if out.failed && out.exceptionType == "" {
		// error.type is the GenAI conventions' error class.
		out.exceptionType = attrStr(attrs, genAIKeyErrorType)
		if out.errorMessage == "" {
			out.errorMessage = out.exceptionType
		}
	}
	out.threadID = attrStr(attrs, genAIKeyConversationID)

	switch {
	case op == "invoke_workflow":
		out.role = roleGraph
		out.graphName = attrStr(attrs, genAIKeyWorkflowName)
		if out.graphName == "" {
			out.graphName, _ = stripOperation(span.Name(), "invoke_workflow")
		}
		out.traceWideThread = out.threadID != ""
	case op == "invoke_agent":
		name := attrStr(attrs, genAIKeyAgentName)
		if name == "" {
			name, _ = stripOperation(span.Name(), "invoke_agent")
		}
		// An agent invocation (or OpenLLMetry's, Python ≥ 0.5x, LangGraph
		// invocation span): the run when it is the outermost recognised
		// span of its trace, wherever it sits (under application or
		// tracer SDK spans); a node (a sub-agent) inside another run. The
		// engine decides (runs.go).
		out.role = roleGraph
		out.graphName = name // also its node name when nested
		if name != "" {
			out.graphSchemaJSON = tlWorkflowSchema(attrs, name, out)
		} else {
			out.nested, out.nestedReason = nestedIgnored, "gen_ai_agent_unnamed"
		}
		// Its input messages are not the run's initial state: some
		// runtimes send the whole history (AI SDK), others only the new
		// prompt (Strands); the first model call's input is the state.
		out.traceWideThread = out.threadID != ""
		return true
	case op == "agent_step":
		out.role = roleNode
		out.nodeName = genAIStepNode
		if rest, ok := strings.CutPrefix(span.Name(), "step "); ok {
			out.step, out.hasStep = parseIntText(rest)
		} else if i, ok := attrInt(attrs, mastraKeyStepIndex); ok {
			// Mastra: "agent_step <agent>", steps counted from 0.
			out.step, out.hasStep = i+1, true
		}
	case op == "execute_tool":
		out.role = roleTool
		out.toolName = attrStr(attrs, genAIKeyToolName)
		if out.toolName == "" {
			out.toolName, _ = stripOperation(span.Name(), "execute_tool")
		}
		if out.toolName == "" {
			out.toolName = span.Name()
		}
		out.callID = attrStr(attrs, genAIKeyToolCallID)
		out.arguments = attrStr(attrs, genAIKeyToolArguments)
		out.result = attrStr(attrs, genAIKeyToolResult)
		if adk {
			adkToolPayloads(attrs, out)
		}
	case op == "chat" || op == "text_completion" || op == "generate_content":
		out.role = roleLLM
		genAILLM(attrs, out)
		spanConversationStates(span, out)
		// Every model call carrying messages carries its agent's
		// conversation; inside a LangGraph graph the graph's state is the
		// state, and a provider client's call only lends its messages.
		out.conversation = out.stateBefore != "" && !langGraphTagged(attrs) && !isClientInstrumentation(scope)
	default:
		out.role = roleOther
		out.ignoreReason = "gen_ai_" + sanitizeReason(op)
	}
	return true
}
