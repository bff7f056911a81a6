package translate

import (
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// Strands Agents (TypeScript 1.x; Python alike) traces with tracer
// "strands-agents" in the GenAI conventions:
//
//	invoke_agent <name>            gen_ai.operation.name=invoke_agent, gen_ai.conversation.id when the
//	│                              application sets it (Agent traceAttributes)
//	├── execute_agent_loop_cycle   one model call and the tools it asked for; no operation name,
//	│   │                          agent_loop.cycle_id "cycle-N"
//	│   ├── chat                   messages as gen_ai.client.inference.operation.details events
//	│   ├── execute_tool <tool>
//	│   └── execute_tool <tool>
//	└── execute_agent_loop_cycle
//
// A cycle is a node "cycle" (like the Vercel AI SDK's steps), its number
// the step; the conversation comes from the chat spans' events.
const (
	strandsScope       = "strands-agents"
	strandsCycleSpan   = "execute_agent_loop_cycle"
	strandsKeyCycleID  = "agent_loop.cycle_id"
	strandsCycleNode   = "cycle"
	strandsCyclePrefix = "cycle-"
)

func isStrandsScope(scope pcommon.InstrumentationScope) bool {
	return strings.EqualFold(scope.Name(), strandsScope)
}

// strandsCycle makes an agent-loop cycle span a node.
func strandsCycle(attrs pcommon.Map, out *spanInfo) {
	out.role = roleNode
	out.nodeName = strandsCycleNode
	if rest, ok := strings.CutPrefix(attrStr(attrs, strandsKeyCycleID), strandsCyclePrefix); ok {
		out.step, out.hasStep = parseIntText(rest)
	}
}
