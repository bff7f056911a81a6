package translate

import (
	"encoding/json"
	"sort"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// The other forms model calls carry their messages in, next to the GenAI
// conventions' gen_ai.input.messages / gen_ai.output.messages (see
// classify_genai_messages.go): every form becomes the same state,
// {"messages": [...]}, in the instrumentation's own message shape.
//
//   - flattened attributes: OpenInference's llm.input_messages.<i>.message.*
//     / llm.output_messages.<i>.message.*, and the older GenAI (OpenLLMetry,
//     Koog) gen_ai.prompt.<i>.* / gen_ai.completion.<i>.*: each index is one
//     message, rebuilt as the object its keys describe
//     ("message.tool_calls.0.tool_call.function.name" → nested objects and
//     arrays);
//   - span events of the GenAI conventions before 1.37: gen_ai.system.message,
//     gen_ai.user.message, gen_ai.assistant.message, gen_ai.tool.message
//     (input, the role from the event's name) and gen_ai.choice (output, its
//     message member), as Strands Python and OpenLLMetry emit them;
//   - the same events as one JSON array attribute ("events", Pydantic AI
//     before 1.0 through logfire), each with an "event.name" member;
//   - one JSON message or list as text (LangSmith's gen_ai.prompt /
//     gen_ai.completion).

// maxFlatMessages bounds the message indexes read from flattened keys.
const maxFlatMessages = 4096

// flatMessages rebuilds the message list written under prefix
// ("llm.input_messages") as flattened attributes; member names the
// element's wrapper ("message" for OpenInference, "" for gen_ai.prompt).
func flatMessages(attrs pcommon.Map, prefix, member string) []json.RawMessage {
	byIndex := map[int]map[string]any{}
	attrs.Range(func(k string, v pcommon.Value) bool {
		rest, ok := strings.CutPrefix(k, prefix+".")
		if !ok {
			return true
		}
		idxText, path, ok := strings.Cut(rest, ".")
		if !ok {
			return true
		}
		idx, err := strconv.Atoi(idxText)
		if err != nil || idx < 0 || idx >= maxFlatMessages {
			return true
		}
		if member != "" {
			if path, ok = strings.CutPrefix(path, member+"."); !ok {
				return true
			}
		}
		m := byIndex[idx]
		if m == nil {
			m = map[string]any{}
			byIndex[idx] = m
		}
		setPath(m, strings.Split(path, "."), v.AsRaw())
		return true
	})
	if len(byIndex) == 0 {
		return nil
	}
	idxs := make([]int, 0, len(byIndex))
	for i := range byIndex {
		idxs = append(idxs, i)
	}
	sort.Ints(idxs)
	out := make([]json.RawMessage, 0, len(idxs))
	for _, i := range idxs {
		b, err := json.Marshal(arrayify(byIndex[i]))
		if err != nil {
			continue
		}
		out = append(out, b)
	}
	return out
}

// setPath sets m[path...] = v, creating nested objects; a path that runs
// into a value already set is dropped.
func setPath(m map[string]any, path []string, v any) {
	for i, p := range path {
		if p == "" || i > 16 {
			return
		}
		if i == len(path)-1 {
			if _, taken := m[p]; !taken {
				m[p] = v
			}
			return
		}
		next, ok := m[p].(map[string]any)
		if !ok {
			if _, taken := m[p]; taken {
				return
			}
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
}

// arrayify turns objects whose keys are all indexes into arrays (in index
// order), recursively: "tool_calls.0.…" becomes a list.
func arrayify(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	idxs := make([]int, 0, len(m))
	for k, val := range m {
		m[k] = arrayify(val)
		if i, err := strconv.Atoi(k); err == nil && i >= 0 {
			idxs = append(idxs, i)
		}
	}
	if len(idxs) == 0 || len(idxs) != len(m) {
		return m
	}
	sort.Ints(idxs)
	list := make([]any, 0, len(idxs))
	for _, i := range idxs {
		list = append(list, m[strconv.Itoa(i)])
	}
	return list
}

// GenAI message events (conventions before 1.37).
const (
	genAIEventChoice = "gen_ai.choice"
)

// eventRole is the role an input message event stands for.
func eventRole(name string) (string, bool) {
	switch name {
	case "gen_ai.system.message":
		return "system", true
	case "gen_ai.user.message":
		return "user", true
	case "gen_ai.assistant.message":
		return "assistant", true
	case "gen_ai.tool.message":
		return "tool", true
	}
	return "", false
}

// eventMessages reads input and output messages from GenAI message events
// on the span.
func eventMessages(span ptrace.Span) (in, out []json.RawMessage) {
	events := span.Events()
	for i := 0; i < events.Len() && i < maxFlatMessages; i++ {
		ev := events.At(i)
		raw := ev.Attributes().AsRaw()
		in, out = appendEventMessage(ev.Name(), raw, in, out)
	}
	return in, out
}

// appendEventMessage adds one event (its name and attributes) to the input
// or output messages.
func appendEventMessage(name string, attrs map[string]any, in, out []json.RawMessage) ([]json.RawMessage, []json.RawMessage) {
	if role, ok := eventRole(name); ok {
		msg := map[string]any{"role": role}
		for k, v := range attrs {
			if strings.HasPrefix(k, "gen_ai.") || k == "event.name" {
				continue // gen_ai.system, gen_ai.message.index: about the call
			}
			if k == "role" {
				continue
			}
			msg[k] = decodeIfJSON(v)
		}
		if b, err := json.Marshal(msg); err == nil {
			in = append(in, b)
		}
		return in, out
	}
	if name == genAIEventChoice {
		var msg any = attrs["message"]
		if s, ok := msg.(string); ok {
			msg = decodeIfJSON(s)
		}
		if msg == nil {
			m := map[string]any{"role": "assistant"}
			if c, ok := attrs["content"]; ok {
				m["content"] = c
			}
			msg = m
		}
		if b, err := json.Marshal(msg); err == nil {
			out = append(out, b)
		}
	}
	return in, out
}

// decodeIfJSON decodes a string holding a JSON object or array (event
// attributes are often set as JSON text); anything else is returned as is.
func decodeIfJSON(v any) any {
	s, ok := v.(string)
	if !ok {
		return v
	}
	t := strings.TrimSpace(s)
	if len(t) < 2 || len(t) > maxDecodeBytes || (t[0] != '{' && t[0] != '[') {
		return v
	}
	var d any
	if json.Unmarshal([]byte(t), &d) != nil {
		return v
	}
	return d
}

// eventArrayMessages reads the events-as-one-attribute form: a JSON array
// of {"event.name": …, …}.
func eventArrayMessages(text string) (in, out []json.RawMessage) {
	t := strings.TrimSpace(text)
	if !strings.HasPrefix(t, "[") || len(t) > maxDecodeBytes {
		return nil, nil
	}
	var evs []map[string]any
	if json.Unmarshal([]byte(t), &evs) != nil {
		return nil, nil
	}
	for _, ev := range evs {
		name, _ := ev["event.name"].(string)
		in, out = appendEventMessage(name, ev, in, out)
	}
	return in, out
}

// textMessages reads one message object or a list of them from JSON text;
// an object with a messages member stands for that list.
func textMessages(text string) []json.RawMessage { return messagesFromText(text, "messages", true) }

// messagesFromText reads a message list from JSON text: an array, an object
// holding one under member (when member is not ""), or, when single, one
// message object (an object with a role).
func messagesFromText(text, member string, single bool) []json.RawMessage {
	t := strings.TrimSpace(text)
	switch {
	case strings.HasPrefix(t, "["):
		msgs, _ := messageArray(t)
		return msgs
	case strings.HasPrefix(t, "{"):
		m, _ := decodeObject(t)
		if m == nil {
			return nil
		}
		if member != "" {
			if raw, ok := m[member]; ok {
				msgs, _ := messageArray(string(raw))
				return msgs
			}
		}
		if _, ok := m["role"]; ok && single {
			return []json.RawMessage{json.RawMessage(t)}
		}
	}
	return nil
}

// setConversation sets both states from message lists (no input: none).
func setConversation(in, outMsgs []json.RawMessage, out *spanInfo) {
	if len(in) == 0 {
		return
	}
	out.stateBefore = messagesState(in, nil)
	if len(outMsgs) > 0 {
		for i, m := range outMsgs {
			outMsgs[i] = dropMembers(m, outputMessageDrops[:])
		}
		out.stateAfter = messagesState(in, outMsgs)
	}
}

// clientLibraries are model providers' client libraries: a model call an
// instrumentation of one of them records is a call of whatever framework
// runs it, not an agent of its own.
var clientLibraries = map[string]bool{
	"openai": true, "anthropic": true, "bedrock": true, "vertexai": true, "google_genai": true,
	"google_generativeai": true, "cohere": true, "mistralai": true, "groq": true, "litellm": true,
	"ollama": true, "together": true, "replicate": true, "watsonx": true, "sagemaker": true,
	"aleph_alpha": true, "transformers": true, "azure": true,
}

// isClientInstrumentation reports the instrumentation of a model provider's
// client library (opentelemetry.instrumentation.openai.v1,
// @opentelemetry/instrumentation-openai, openinference.instrumentation.litellm,
// …). Its model calls lend their messages to an enclosing node without a
// state of its own (the engine's stateFromChildren) but are not the run's
// conversation: inside a graph they would replace the graph's state.
func isClientInstrumentation(scope pcommon.InstrumentationScope) bool {
	name := strings.ToLower(scope.Name())
	for _, p := range []string{"opentelemetry.instrumentation.", "@opentelemetry/instrumentation-",
		"@traceloop/instrumentation-", "openinference.instrumentation.", "@arizeai/openinference-instrumentation-"} {
		if rest, ok := strings.CutPrefix(name, p); ok {
			lib, _, _ := strings.Cut(rest, ".")
			return clientLibraries[strings.ReplaceAll(lib, "-", "_")]
		}
	}
	return false
}
