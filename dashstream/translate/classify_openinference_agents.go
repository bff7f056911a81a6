package translate

import (
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// OpenInference instrumentations of agent frameworks (not LangGraph), as
// the corpus' real traces show them:
//
//   - OpenAI Agents (openinference.instrumentation.openai_agents): a root
//     AGENT "Agent workflow" (the run) over one AGENT span per agent turn,
//     named after the agent (graph.node.id) — nodes;
//   - Google ADK Python (openinference.instrumentation.google_adk): the root
//     CHAIN "invocation [<app>]" (the run) over AGENT "agent_run [<agent>]"
//     — nodes named <agent>; its call_llm / execute_tool are LLM / TOOL;
//   - CrewAI (openinference.instrumentation.crewai): CHAIN "Crew.kickoff" is
//     the run wherever it sits (applications wrap it), AGENT
//     "Task._execute_core" one task — a node named after the task, else the
//     agent's role; the model calls come from the LiteLLM instrumentation;
//   - Agno: the root AGENT "<Agent>.run" is the run;
//   - BeeAI (openinference.instrumentation.beeai): see classify_openinference_beeai.go.
//
// Any AGENT span outside LangGraph is an agent invocation: the run when it
// is the outermost recognised span, else a sub-agent node (runs.go). Model calls outside LangGraph carry the agent's
// conversation (llm.input_messages / llm.output_messages).
const (
	oiCrewAIScope   = "openinference.instrumentation.crewai"
	oiCrewKickoff   = "Crew.kickoff"
	oiCrewTask      = "Task._execute_core"
	oiKeyGraphNode  = "graph.node.id"
	oiInputMessages = "llm.input_messages"
	oiOutMessages   = "llm.output_messages"
)

// oiAgentOutsideGraph makes a CHAIN/AGENT graph span without LangGraph
// metadata (oiChain) an agent invocation when it is one — an AGENT span, or
// CrewAI's Crew.kickoff: the run when it is the outermost recognised span,
// wherever it sits, else a sub-agent node (runs.go). Other chains stay
// weak runs, plumbing inside a run.
func oiAgentOutsideGraph(scope pcommon.InstrumentationScope, span ptrace.Span, attrs pcommon.Map, kind string, out *spanInfo) {
	switch {
	case span.Name() == oiCrewKickoff && strings.EqualFold(scope.Name(), oiCrewAIScope):
		out.graphName = "crew"
		out.nodeName = "crew"
	case kind == "AGENT":
		out.nodeName = oiAgentName(span, attrs)
	default:
		return
	}
	out.nested, out.nestedReason, out.weakRun = nestedNode, "", false
}

// oiAgentName names an agent node: graph.node.id, ADK's "agent_run [<name>]",
// a CrewAI task's name or agent role, else the span name.
func oiAgentName(span ptrace.Span, attrs pcommon.Map) string {
	if s := attrStr(attrs, oiKeyGraphNode); s != "" {
		return s
	}
	name := span.Name()
	if rest, ok := strings.CutPrefix(name, "agent_run ["); ok && strings.HasSuffix(rest, "]") {
		return strings.TrimSuffix(rest, "]")
	}
	if name == oiCrewTask {
		if m, _ := decodeObject(attrStr(attrs, oiKeyOutputValue)); m != nil {
			for _, k := range []string{"name", "agent"} {
				if s, ok := jsonString(m[k]); ok && s != "" {
					return s
				}
			}
		}
	}
	return name
}

// oiConversation sets a model call's conversation from OpenInference's
// flattened messages (outside LangGraph only: inside, the graph's state
// is the state; a provider client's call only lends them).
func oiConversation(scope pcommon.InstrumentationScope, attrs pcommon.Map, md oiMetadata, out *spanInfo) {
	if md.hasNode {
		return
	}
	in := flatMessages(attrs, oiInputMessages, "message")
	if len(in) == 0 {
		return
	}
	setConversation(in, flatMessages(attrs, oiOutMessages, "message"), out)
	out.conversation = out.stateBefore != "" && !isClientInstrumentation(scope)
}
