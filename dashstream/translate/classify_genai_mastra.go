package translate

import (
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Mastra workflows (@mastra/core 1.71 through @mastra/otel-exporter 1.4,
// captured here by examples/mastra/workflow.mjs):
//
//	invoke_workflow <id>            gen_ai.operation.name=invoke_workflow; mastra.workflow_run.input / .output
//	├── workflow_step parse         workflow_step; mastra.workflow_step.step_id, .input, .output, .status
//	├── conditional 2 conditions    workflow_conditional (a .branch()): .input, .output ({<step id>: output}),
//	│   │                           .selected_steps
//	│   ├── condition 0             workflow_conditional_eval: .condition_index, .result True/False
//	│   ├── condition 1
//	│   └── workflow_step weather   the chosen step
//	└── workflow_step answer
//
// Every span carries mastra.metadata.runId, .resourceId and (when the
// application passes it in tracingOptions.metadata) .threadId, the last
// also as gen_ai.conversation.id.
//
// Steps are nodes named by their step id, in the order they ran; a branch
// is a node "branch" whose true condition is its router (CONDITIONAL_BRANCH
// to the chosen step, condition "condition <i>"); false conditions are
// other. State: what a Mastra workflow holds between steps is the value
// passed along — a step's input before it, its output after it (a
// branch's output maps the chosen step's id to its output, as the next
// step receives it); the run starts from the workflow's input and ends
// with its output. Run id = Mastra's runId; thread = the conversation id,
// else the metadata threadId, else the run's resourceId.
const (
	mastraScope            = "@mastra/otel-exporter"
	mastraKeyRunInput      = "mastra.workflow_run.input"
	mastraKeyRunOutput     = "mastra.workflow_run.output"
	mastraKeyStepID        = "mastra.workflow_step.step_id"
	mastraKeyStepInput     = "mastra.workflow_step.input"
	mastraKeyStepOutput    = "mastra.workflow_step.output"
	mastraKeyStepStatus    = "mastra.workflow_step.status"
	mastraKeyCondInput     = "mastra.workflow_conditional.input"
	mastraKeyCondOutput    = "mastra.workflow_conditional.output"
	mastraKeyEvalResult    = "mastra.workflow_conditional_eval.result"
	mastraKeyEvalIndex     = "mastra.workflow_conditional_eval.condition_index"
	mastraKeyMetaRunID     = "mastra.metadata.runId"
	mastraKeyMetaThreadID  = "mastra.metadata.threadId"
	mastraKeyMetaResource  = "mastra.metadata.resourceId"
	mastraBranchNode       = "branch"
	ignoreMastraFalseCond  = "mastra_condition_false"
	ignoreMastraWorkflowOp = "mastra_"
)

func isMastraScope(scope pcommon.InstrumentationScope) bool {
	return strings.EqualFold(scope.Name(), mastraScope)
}

// classifyMastraWorkflow handles Mastra's workflow spans; false for any
// other span.
func classifyMastraWorkflow(res pcommon.Resource, scope pcommon.InstrumentationScope, span ptrace.Span, op string, out *spanInfo) bool {
	if !isMastraScope(scope) || (op != "invoke_workflow" && !strings.HasPrefix(op, "workflow_")) {
		return false
	}
	attrs := span.Attributes()
	fillCommon(res, span, ConventionGenAI, out)
	fillOutcome(span, out)
	out.runID = attrStr(attrs, mastraKeyMetaRunID)
	out.threadID = attrStr(attrs, genAIKeyConversationID)
	for _, k := range []string{mastraKeyMetaThreadID, mastraKeyMetaResource} {
		if out.threadID == "" {
			out.threadID = attrStr(attrs, k)
		}
	}
	switch op {
	case "invoke_workflow":
		out.role = roleGraph
		out.graphName = attrStr(attrs, genAIKeyWorkflowName)
		if out.graphName == "" {
			out.graphName, _ = stripOperation(span.Name(), "invoke_workflow")
		}
		out.traceWideThread = out.threadID != ""
		out.initialState = objectOrEmpty(attrStr(attrs, mastraKeyRunInput))
		if !out.failed {
			out.finalState = objectOrEmpty(attrStr(attrs, mastraKeyRunOutput))
		}
	case "workflow_step":
		out.role = roleNode
		out.nodeName = attrStr(attrs, mastraKeyStepID)
		if out.nodeName == "" {
			out.nodeName, _ = stripOperation(span.Name(), "workflow_step")
		}
		mastraFailed(attrStr(attrs, mastraKeyStepStatus), out)
		out.stateBefore = objectOrEmpty(attrStr(attrs, mastraKeyStepInput))
		if !out.failed {
			out.stateAfter = objectOrEmpty(attrStr(attrs, mastraKeyStepOutput))
		}
	case "workflow_conditional":
		out.role = roleNode
		out.nodeName = mastraBranchNode
		out.stateBefore = objectOrEmpty(attrStr(attrs, mastraKeyCondInput))
		if !out.failed {
			out.stateAfter = objectOrEmpty(attrStr(attrs, mastraKeyCondOutput))
		}
	case "workflow_conditional_eval":
		if !strings.EqualFold(attrStr(attrs, mastraKeyEvalResult), "true") {
			out.role = roleOther
			out.ignoreReason = ignoreMastraFalseCond
			return true
		}
		out.role = roleRouter
		out.routerChoice = span.Name()
		if i, ok := attrInt(attrs, mastraKeyEvalIndex); ok {
			out.routerChoice = "condition " + strconv.FormatInt(i, 10)
		}
	default:
		// parallel, loops, sleeps, waits: their steps are nodes of their own.
		out.role = roleOther
		out.ignoreReason = ignoreMastraWorkflowOp + sanitizeReason(op)
	}
	return true
}

// mastraFailed fails a step whose status says so, also without an ERROR
// span status.
func mastraFailed(status string, out *spanInfo) {
	if out.failed || !strings.EqualFold(status, "failed") {
		return
	}
	out.failed = true
	if out.errorMessage == "" {
		out.errorMessage = "step failed"
	}
}
