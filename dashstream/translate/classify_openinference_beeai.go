package translate

import (
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// BeeAI's OpenInference instrumentation (openinference.instrumentation.beeai,
// verified against the corpus' 0.1.33 trace) writes one span per emitter
// event rather than per operation:
//
//	beeai-framework-main           AGENT, the run
//	├── iteration-1                CHAIN (target groupId): one ReAct iteration
//	│   ├── agent.react.start-4    AGENT, an event of the agent: not an agent of its own
//	│   │   └── backend.openai.chat.start-14   LLM: the model call starts (messages)
//	│   ├── agent.react.update-13  AGENT event
//	│   │   ├── tool.search.wikipedia.start-12     TOOL: the tool call starts
//	│   │   ├── tool.search.wikipedia.success-12   TOOL event (its result)
//	│   │   └── tool.search.wikipedia.finish-12    TOOL event
//	│   └── …
//	└── iteration-2 …
//
// So: iterations are nodes "iteration" numbered by their name; a model or
// tool call is its ".start" event span (its "target" ends in ".start"),
// placed in the iteration running when it starts;
// every other event span is other (beeai_event).
const (
	beeAIScope           = "openinference.instrumentation.beeai"
	beeAIKeyTarget       = "target"
	beeAIIterationPrefix = "iteration-"
	beeAIIterationNode   = "iteration"
	ignoreBeeAIEvent     = "beeai_event"
)

func isBeeAIScope(scope pcommon.InstrumentationScope) bool {
	return strings.EqualFold(scope.Name(), beeAIScope)
}

func classifyBeeAI(scope pcommon.InstrumentationScope, span ptrace.Span, attrs pcommon.Map, kind string, out *spanInfo) {
	name := span.Name()
	target := attrStr(attrs, beeAIKeyTarget)
	start := strings.HasSuffix(target, ".start")
	switch {
	case kind == "AGENT" && target == "":
		// The agent's run (its events carry a target): the run when
		// outermost, a sub-agent node inside another (runs.go).
		agentInvocation(name, out)
	case strings.HasPrefix(name, beeAIIterationPrefix):
		out.role = roleNode
		out.nodeName = beeAIIterationNode
		out.step, out.hasStep = parseIntText(strings.TrimPrefix(name, beeAIIterationPrefix))
	case kind == "LLM" && start:
		// Its parent is an agent event span, not the iteration: the node
		// hint finds the iteration running when the call starts.
		out.nodeName = beeAIIterationNode
		out.role = roleLLM
		oiLLM(attrs, out)
		oiConversation(scope, attrs, oiMetadata{}, out)
	case kind == "TOOL" && start:
		out.nodeName = beeAIIterationNode
		out.role = roleTool
		out.toolName = strings.TrimSuffix(strings.TrimPrefix(target, "tool."), ".start")
		out.arguments = attrStr(attrs, "tool.parameters")
	default:
		out.role = roleOther
		out.ignoreReason = ignoreBeeAIEvent
	}
}
