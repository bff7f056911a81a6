package translate

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Agent runtimes keep their state in the conversation: the messages a model
// call is given and the ones it answers with. The GenAI conventions carry
// both on model-call spans (gen_ai.input.messages, gen_ai.output.messages:
// JSON arrays of {role, parts, …}); the classifiers turn them into the
// agent's state {"messages": [...]}: before the call the input, after it
// the input followed by the output. A second turn of a conversation sends
// the whole history again, so its state continues the thread's.

// Attribute keys of the GenAI conversation.
const (
	genAIKeyInputMessages  = "gen_ai.input.messages"
	genAIKeyOutputMessages = "gen_ai.output.messages"
	genAIEventDetails      = "gen_ai.client.inference.operation.details"
)

// Bad-input reasons of conversation payloads.
const (
	badMessagesNotJSON = "gen_ai_messages_not_json_array"
)

// outputMessageDrops are members of output messages that describe the call,
// not the conversation: the next call's input repeats the message without
// them, so keeping them would make every turn rewrite the previous answer.
var outputMessageDrops = [...]string{"finish_reason"}

// spanConversationStates sets out.stateBefore / out.stateAfter from a model
// call's input and output messages: span attributes, or (the conventions'
// event form, Strands Agents) attributes of
// gen_ai.client.inference.operation.details events. Nothing is set without
// input messages; malformed payloads are counted in out.badReason and leave
// both empty.
func spanConversationStates(span ptrace.Span, out *spanInfo) {
	attrs := span.Attributes()
	in := attrJSONText(attrs, genAIKeyInputMessages)
	outText := attrJSONText(attrs, genAIKeyOutputMessages)
	if in == "" {
		events := span.Events()
		for i := 0; i < events.Len(); i++ {
			ev := events.At(i)
			if ev.Name() != genAIEventDetails {
				continue
			}
			if s := attrJSONText(ev.Attributes(), genAIKeyInputMessages); s != "" && in == "" {
				in = s
			}
			if s := attrJSONText(ev.Attributes(), genAIKeyOutputMessages); s != "" && outText == "" {
				outText = s
			}
		}
	}
	if in != "" {
		conversationStatesFrom(in, outText, out)
		return
	}
	otherConversationForms(span, out)
}

// otherConversationForms reads the message forms of classify_messages.go,
// in this order: message events, flattened gen_ai.prompt.<i> keys, the
// events attribute, gen_ai.prompt as JSON text.
func otherConversationForms(span ptrace.Span, out *spanInfo) {
	attrs := span.Attributes()
	if in, o := eventMessages(span); len(in) > 0 {
		setConversation(in, o, out)
		return
	}
	if in := flatMessages(attrs, "gen_ai.prompt", ""); len(in) > 0 {
		setConversation(in, flatMessages(attrs, "gen_ai.completion", ""), out)
		return
	}
	if in, o := eventArrayMessages(attrJSONText(attrs, "events")); len(in) > 0 {
		setConversation(in, o, out)
		return
	}
	if in := textMessages(attrJSONText(attrs, "gen_ai.prompt")); len(in) > 0 {
		setConversation(in, textMessages(attrJSONText(attrs, "gen_ai.completion")), out)
	}
}

// conversationStatesFrom builds both states from the two JSON arrays.
func conversationStatesFrom(in, outText string, out *spanInfo) {
	if in == "" {
		return
	}
	inMsgs, ok := messageArray(in)
	if !ok {
		setBad(out, badMessagesNotJSON)
		return
	}
	out.stateBefore = messagesState(inMsgs, nil)
	if outText == "" {
		return
	}
	outMsgs, ok := messageArray(outText)
	if !ok {
		setBad(out, badMessagesNotJSON)
		return
	}
	for i, m := range outMsgs {
		outMsgs[i] = dropMembers(m, outputMessageDrops[:])
	}
	out.stateAfter = messagesState(inMsgs, outMsgs)
}

// messageArray splits a JSON array into its raw elements (bounded by
// maxDecodeBytes, valid UTF-8 only).
func messageArray(text string) ([]json.RawMessage, bool) {
	t := strings.TrimSpace(text)
	if len(t) > maxDecodeBytes || !strings.HasPrefix(t, "[") || !utf8.ValidString(t) {
		return nil, false
	}
	var msgs []json.RawMessage
	if err := json.Unmarshal([]byte(t), &msgs); err != nil {
		return nil, false
	}
	return msgs, true
}

// dropMembers removes members from a raw JSON object (anything else is
// returned as is). Member order of the rest is kept.
func dropMembers(raw json.RawMessage, drop []string) json.RawMessage {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || t[0] != '{' {
		return raw
	}
	found := false
	for _, k := range drop {
		if bytes.Contains(t, []byte(`"`+k+`"`)) {
			found = true
			break
		}
	}
	if !found {
		return raw
	}
	dec := json.NewDecoder(bytes.NewReader(t))
	if _, err := dec.Token(); err != nil {
		return raw
	}
	var b bytes.Buffer
	b.WriteByte('{')
	n := 0
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return raw
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return raw
		}
		skip := false
		for _, k := range drop {
			if key == k {
				skip = true
				break
			}
		}
		if skip {
			continue
		}
		if n > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(key)
		b.Write(kb)
		b.WriteByte(':')
		b.Write(v)
		n++
	}
	b.WriteByte('}')
	return b.Bytes()
}

// messagesState renders {"messages":[a..., b...]}.
func messagesState(a, b []json.RawMessage) string {
	n := len(`{"messages":[]}`)
	for _, m := range a {
		n += len(m) + 1
	}
	for _, m := range b {
		n += len(m) + 1
	}
	var sb strings.Builder
	sb.Grow(n)
	sb.WriteString(`{"messages":[`)
	i := 0
	for _, list := range [2][]json.RawMessage{a, b} {
		for _, m := range list {
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.Write(bytes.TrimSpace(m))
			i++
		}
	}
	sb.WriteString(`]}`)
	return sb.String()
}
