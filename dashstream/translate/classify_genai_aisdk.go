package translate

import (
	"encoding/json"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// The Vercel AI SDK up to 6 (experimental_telemetry, without @ai-sdk/otel)
// traces with tracer "ai" and its own keys, no gen_ai.operation.name
// (verified against the corpus' AI SDK 5.0.76 trace):
//
//	ai.generateText              ai.operationId=ai.generateText: one call of the application = the run
//	├── ai.generateText.doGenerate   one model call: ai.model.id, ai.usage.*, ai.response.finishReason,
//	│                                ai.prompt.messages (the conversation so far), ai.response.text /
//	│                                ai.response.toolCalls (its answer)
//	├── ai.toolCall              ai.toolCall.name / .id / .args / .result
//	└── ai.generateText.doGenerate
//
// (streamText / doStream, generateObject, streamObject alike). There are no
// step spans: model and tool calls sit directly in the run. The
// conversation is the state: the model call's prompt messages, then its
// answer as one assistant message ({"role":"assistant","content":…,
// "toolCalls":[…]}).
const (
	aiSDKScope          = "ai"
	aiKeyOperationID    = "ai.operationId"
	aiKeyFunctionID     = "ai.telemetry.functionId"
	aiKeyModelID        = "ai.model.id"
	aiKeyResponseModel  = "ai.response.model"
	aiKeyPromptTokens   = "ai.usage.promptTokens"
	aiKeyComplTokens    = "ai.usage.completionTokens"
	aiKeyInputTokens    = "ai.usage.inputTokens"
	aiKeyOutputTokens   = "ai.usage.outputTokens"
	aiKeyFinishReason   = "ai.response.finishReason"
	aiKeyPromptMessages = "ai.prompt.messages"
	aiKeyResponseText   = "ai.response.text"
	aiKeyResponseCalls  = "ai.response.toolCalls"
	aiKeyToolName       = "ai.toolCall.name"
	aiKeyToolID         = "ai.toolCall.id"
	aiKeyToolArgs       = "ai.toolCall.args"
	aiKeyToolInput      = "ai.toolCall.input"
	aiKeyToolResult     = "ai.toolCall.result"
	aiKeyToolOutput     = "ai.toolCall.output"
)

// classifyAISDK classifies a span of tracer "ai"; false when it has no
// ai.operationId (not the AI SDK's).
func classifyAISDK(res pcommon.Resource, span ptrace.Span, out *spanInfo) bool {
	attrs := span.Attributes()
	op := attrStr(attrs, aiKeyOperationID)
	if op == "" {
		return false
	}
	fillCommon(res, span, ConventionGenAI, out)
	fillOutcome(span, out)
	out.threadID = attrStr(attrs, genAIKeyConversationID)
	switch {
	case op == "ai.toolCall":
		out.role = roleTool
		out.toolName = attrStr(attrs, aiKeyToolName)
		if out.toolName == "" {
			out.toolName = span.Name()
		}
		out.callID = attrStr(attrs, aiKeyToolID)
		out.arguments = firstAttrText(attrs, aiKeyToolArgs, aiKeyToolInput)
		out.result = firstAttrText(attrs, aiKeyToolResult, aiKeyToolOutput)
	case strings.HasSuffix(op, ".doGenerate") || strings.HasSuffix(op, ".doStream"):
		out.role = roleLLM
		aiSDKModelCall(attrs, out)
	case op == "ai.generateText" || op == "ai.streamText" || op == "ai.generateObject" || op == "ai.streamObject":
		name := attrStr(attrs, aiKeyFunctionID)
		if name == "" {
			name = strings.TrimPrefix(op, "ai.")
		}
		agentInvocation(name, out)
	default:
		out.role = roleOther
		out.ignoreReason = "ai_sdk_" + sanitizeReason(strings.TrimPrefix(op, "ai."))
	}
	return true
}

// aiSDKModelCall fills a doGenerate/doStream model call.
func aiSDKModelCall(attrs pcommon.Map, out *spanInfo) {
	genAILLM(attrs, out)
	if m := attrStr(attrs, aiKeyResponseModel); m != "" && out.model == "" {
		out.model = m
	}
	if out.model == "" {
		out.model = attrStr(attrs, aiKeyModelID)
	}
	if !out.hasTokens {
		var hasIn, hasOut bool
		if out.inputTokens, hasIn = attrInt(attrs, aiKeyInputTokens); !hasIn {
			out.inputTokens, hasIn = attrInt(attrs, aiKeyPromptTokens)
		}
		if out.outputTokens, hasOut = attrInt(attrs, aiKeyOutputTokens); !hasOut {
			out.outputTokens, hasOut = attrInt(attrs, aiKeyComplTokens)
		}
		out.totalTokens = out.inputTokens + out.outputTokens
		out.hasTokens = hasIn || hasOut
	}
	if out.finishReason == "" {
		out.finishReason = attrStr(attrs, aiKeyFinishReason)
	}
	in, _ := messageArray(attrJSONText(attrs, aiKeyPromptMessages))
	if len(in) == 0 {
		return
	}
	answer := map[string]any{"role": "assistant", "content": attrStr(attrs, aiKeyResponseText)}
	if calls := decodeIfJSON(attrJSONText(attrs, aiKeyResponseCalls)); calls != nil && calls != "" {
		answer["toolCalls"] = calls
	}
	b, err := json.Marshal(answer)
	if err != nil {
		return
	}
	setConversation(in, []json.RawMessage{b}, out)
	out.conversation = true
}
