package tracecorpus

import (
	"encoding/json"
	"strings"
)

// Where Langfuse's ingestion (packages/shared/src/server/otel/
// OtelIngestionProcessor.ts, extractInputAndOutput) takes an observation's
// input and output from. When one of these keys is still among the
// exported attributes, the input (or output) was read from it and nothing
// was lifted; otherwise the value was lifted and is restored.
var (
	inputSources = []string{
		"langfuse.observation.input", "input.value", "input", "prompt", "events",
		"ai.prompt.messages", "ai.prompt", "ai.toolCall.args",
		"gcp.vertex.agent.llm_request", "gcp.vertex.agent.tool_call_args",
		"mlflow.spanInputs", "traceloop.entity.input", "pydantic_ai.all_messages",
		"tool_arguments", "gen_ai.input.messages", "gen_ai.tool.call.arguments",
		"genkit:input", "lk.input_text", "lk.user_transcript", "lk.chat_ctx",
	}
	inputPrefixes = []string{"llm.input_messages.", "gen_ai.prompt."}

	outputSources = []string{
		"langfuse.observation.output", "output.value", "output", "events", "all_messages_events",
		"ai.response.text", "ai.response.toolCalls", "ai.response.object", "ai.toolCall.result",
		"ai.result.text", "ai.result.object", "ai.result.toolCalls",
		"gcp.vertex.agent.llm_response", "gcp.vertex.agent.tool_response",
		"mlflow.spanOutputs", "traceloop.entity.output", "final_result", "tool_response",
		"gen_ai.output.messages", "gen_ai.tool.call.result", "genkit:output",
		"lk.function_tool.output", "lk.response.text",
	}
	outputPrefixes = []string{"llm.output_messages.", "gen_ai.completion."}
)

// hasSource reports whether attrs still hold a key the value could have
// been read from.
func hasSource(attrs map[string]bool, keys, prefixes []string) bool {
	for _, k := range keys {
		if attrs[k] {
			return true
		}
	}
	for k := range attrs {
		for _, p := range prefixes {
			if strings.HasPrefix(k, p) || k == strings.TrimSuffix(p, ".") {
				return true
			}
		}
	}
	return false
}

// ioKeys names the keys an instrumentation itself writes a span's input
// and output under, by its scope and what the span is.
func ioKeys(scope string, sdk bool, o *Observation, attrs map[string]string) (in, out string) {
	isTool := o.Type == "TOOL" || attrs["gen_ai.operation.name"] == "execute_tool" ||
		attrs["openinference.span.kind"] == "TOOL"
	switch {
	case sdk:
		return "langfuse.observation.input", "langfuse.observation.output"
	case scope == "ai": // Vercel AI SDK ≤ 6 (experimental_telemetry)
		op := attrs["ai.operationId"]
		switch {
		case isTool || op == "ai.toolCall":
			return "ai.toolCall.args", "ai.toolCall.result"
		case strings.HasSuffix(op, ".doGenerate") || strings.HasSuffix(op, ".doStream"):
			return "ai.prompt.messages", aiOutputKey(o.Output)
		default:
			return "ai.prompt", aiOutputKey(o.Output)
		}
	case scope == "langsmith":
		return "gen_ai.prompt", "gen_ai.completion"
	case scope == "pydantic-ai":
		switch {
		case isTool:
			return "tool_arguments", "tool_response"
		case attrs["gen_ai.operation.name"] != "":
			return "gen_ai.input.messages", "gen_ai.output.messages"
		default:
			return "pydantic_ai.all_messages", "final_result"
		}
	case strings.HasPrefix(scope, "openinference."):
		return "input.value", "output.value"
	case isTool:
		return "gen_ai.tool.call.arguments", "gen_ai.tool.call.result"
	default:
		return "gen_ai.input.messages", "gen_ai.output.messages"
	}
}

// aiOutputKey: the AI SDK writes tool calls under ai.response.toolCalls,
// text under ai.response.text.
func aiOutputKey(raw json.RawMessage) string {
	s, ok := textOf(raw)
	if !ok {
		return "ai.response.text"
	}
	var calls []map[string]json.RawMessage
	if json.Unmarshal([]byte(s), &calls) == nil && len(calls) > 0 && calls[0]["toolCallId"] != nil {
		return "ai.response.toolCalls"
	}
	return "ai.response.text"
}

// undoSystemPrepend removes the {"role":"system","content":…} message
// Langfuse's ingestion puts in front of gen_ai.input.messages when the span
// has gen_ai.system_instructions (prependSystemInstructions); the
// instrumentation's own messages never had it.
func undoSystemPrepend(input string) (string, bool) {
	var msgs []map[string]json.RawMessage
	if json.Unmarshal([]byte(input), &msgs) != nil || len(msgs) == 0 {
		return input, false
	}
	first := msgs[0]
	var role string
	_ = json.Unmarshal(first["role"], &role)
	if len(first) != 2 || role != "system" || first["content"] == nil {
		return input, false
	}
	var rest []json.RawMessage
	_ = json.Unmarshal([]byte(input), &rest)
	b, err := json.Marshal(rest[1:])
	if err != nil {
		return input, false
	}
	return string(b), true
}
