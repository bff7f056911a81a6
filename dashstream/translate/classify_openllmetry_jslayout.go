package translate

import (
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// OpenLLMetry JS (@traceloop/instrumentation-langchain 0.27) over
// LangGraph.js writes every LangChain run as a span of its own, without the
// LangGraph metadata:
//
//	workflow CompiledStateGraph   the graph: input = invocation input, output = final state
//	workflow RunnableSequence     a node: input = the full state before it; no node name anywhere
//	workflow RunnableLambda       a router: output {"output": "<next node>"}; other lambdas
//	execute_tool <ToolClass>      kind task; the tool's name is in the ToolMessage it returns
//	chat <model>                  model call (gen_ai.*)
//
// The spans have no parents unless the application runs the graph inside a
// span of its own (Traceloop's withWorkflow, or any active span): then they
// are all its direct children, in one trace, and that span carries the
// thread (traceloop.association.properties.thread_id). So the layout is
// flat: nodes, routers, model and tool calls are siblings. The engine puts
// model and tool calls into the node running at their time (spanInfo.flat)
// and names a node after the router choice that led to it; a node no router
// names keeps the name its span gives ("RunnableSequence", counted as
// node_name_unknown). A chain span that is not in any application span
// (its own trace) cannot be placed in a run: it is counted
// (openllmetry_js_span_outside_run) and only the graph span, with its final
// state, makes a run.

// Names of the JS layout.
const (
	tlJSScopePrefix  = "@traceloop/"
	tlJSGraphClass   = "CompiledStateGraph"
	tlJSNodeClass    = "RunnableSequence"
	tlJSLambdaClass  = "RunnableLambda"
	tlJSRouterOutput = "output"

	ignoreTLJSOutsideRun = "openllmetry_js_span_outside_run"
	ignoreTLJSChain      = "openllmetry_js_chain"
)

// isTraceloopJS reports spans of a traceloop JS instrumentation.
func isTraceloopJS(scope pcommon.InstrumentationScope) bool {
	return strings.HasPrefix(scope.Name(), tlJSScopePrefix)
}

// tlJSClassify handles the JS layout's chains (kind workflow, operation
// workflow) and tools; false leaves the span to the generic rules.
func tlJSClassify(span ptrace.Span, attrs pcommon.Map, kind, op string, out *spanInfo) bool {
	root := span.ParentSpanID().IsEmpty()
	switch {
	case kind == "workflow" && op == "workflow":
		class := attrStr(attrs, tlKeyWorkflowName)
		if class == "" {
			class, _ = stripOperation(span.Name(), "workflow")
		}
		switch {
		case class == tlJSGraphClass && root:
			out.role = roleGraph
			out.graphName = class
			out.traceWideThread = out.threadID != ""
			out.invocationInput = objectOrEmpty(attrStr(attrs, tlKeyEntityInput))
			if !out.failed {
				out.finalState = stateObject(attrStr(attrs, tlKeyEntityOutput), out)
			}
		case root:
			out.role = roleOther
			out.ignoreReason = ignoreTLJSOutsideRun
		case class == tlJSGraphClass:
			// Inside the application's span, which is the run: the graph
			// chain only brings the final state, at its end.
			out.role = roleNode
			out.nodeName = langGraphEnd
			out.pseudoNode = langGraphEnd
			out.flat = true
			if !out.failed {
				out.stateAfter = stateObject(attrStr(attrs, tlKeyEntityOutput), out)
			}
		case class == tlJSNodeClass && isStartChain(attrs):
			// LangGraph's __start__ writes the invocation input unchanged.
			out.role = roleOther
			out.ignoreReason = ignorePseudoNode
			out.pseudoNode = langGraphStart
			out.invocationInput = objectOrEmpty(attrStr(attrs, tlKeyEntityInput))
		case class == tlJSNodeClass:
			out.role = roleNode
			out.nodeName = class
			out.nameUnknown = true
			out.flat = true
			out.stateBefore = stateObject(attrStr(attrs, tlKeyEntityInput), out)
		case class == tlJSLambdaClass:
			if choice, ok := tlJSRouterChoice(attrStr(attrs, tlKeyEntityOutput)); ok {
				out.role = roleRouter
				out.routerChoice = choice
				out.flat = true
				return true
			}
			out.role = roleOther
			out.ignoreReason = ignoreTLJSChain
		default:
			out.role = roleOther
			out.ignoreReason = ignoreTLJSChain
		}
		return true
	case kind == "task" && op == "execute_tool":
		if root {
			out.role = roleOther
			out.ignoreReason = ignoreTLJSOutsideRun
			return true
		}
		out.role = roleTool
		out.flat = true
		tlTool(span, attrs, out)
		if name := tlJSToolName(attrStr(attrs, tlKeyEntityOutput)); name != "" {
			out.toolName = name
		}
		return true
	case kind == "" && isLLMOperation(op):
		if root {
			out.role = roleOther
			out.ignoreReason = ignoreTLJSOutsideRun
			return true
		}
		out.role = roleLLM
		out.flat = true
		genAILLM(attrs, out)
		return true
	}
	return false
}

// tlJSRouterChoice reads {"output": "<node>"} (or a list of nodes).
func tlJSRouterChoice(text string) (string, bool) {
	m, _ := decodeObject(text)
	if m == nil || len(m) != 1 {
		return "", false
	}
	return routerChoiceRaw(m[tlJSRouterOutput])
}

// tlJSToolName reads the tool's name from the ToolMessage it returned
// ({"lc":1,…,"kwargs":{"name":…}}).
func tlJSToolName(text string) string {
	m, _ := decodeObject(text)
	if m == nil {
		return ""
	}
	kw, ok := rawObject(m, "kwargs")
	if !ok {
		return ""
	}
	km, _ := decodeObject(kw)
	if km == nil {
		return ""
	}
	s, _ := jsonString(km["name"])
	return s
}

// isStartChain reports a chain whose output is its input, verbatim: the
// JS layout's only sign of LangGraph's __start__.
func isStartChain(attrs pcommon.Map) bool {
	in := attrStr(attrs, tlKeyEntityInput)
	return in != "" && in == attrStr(attrs, tlKeyEntityOutput)
}
