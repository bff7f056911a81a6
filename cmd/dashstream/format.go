package main

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dashstream/dashstreamexporter/dashstream"
	"github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
)

// Column widths of a tail line; longer values push the line right.
const (
	threadWidth = 20
	kindWidth   = 18
	nodeWidth   = 10
	maxValueLen = 60
	maxOpsShown = 3
)

// formatLine renders one message as a single readable line:
// time, thread, sequence, kind, node and the key facts of the message.
func formatLine(msg *dashstreampb.DashStreamMessage, s style) string {
	h := dashstream.HeaderOf(msg)
	ts := time.UnixMicro(h.GetTimestampUs()).UTC().Format("15:04:05.000")
	kind, node, detail, code := describe(msg)
	var b strings.Builder
	b.WriteString(s.paint(sgrDim, ts))
	b.WriteString("  ")
	b.WriteString(s.thread(h.GetThreadId()))
	b.WriteString(pad(h.GetThreadId(), threadWidth))
	b.WriteString("  ")
	b.WriteString(s.paint(sgrDim, "seq="+strconv.FormatUint(h.GetSequence(), 10)))
	b.WriteString("  ")
	b.WriteString(s.paint(code, kind))
	b.WriteString(pad(kind, kindWidth))
	b.WriteString("  ")
	b.WriteString(node)
	b.WriteString(pad(node, nodeWidth))
	if detail != "" {
		b.WriteString("  ")
		b.WriteString(detail)
	}
	return strings.TrimRight(b.String(), " ")
}

// pad returns the spaces that widen s to w runes.
func pad(s string, w int) string {
	if n := w - utf8.RuneCountInString(s); n > 0 {
		return strings.Repeat(" ", n)
	}
	return ""
}

// describe returns a message's kind, node, details and colour.
func describe(msg *dashstreampb.DashStreamMessage) (kind, node, detail, code string) {
	switch p := msg.GetMessage().(type) {
	case *dashstreampb.DashStreamMessage_Event:
		kind, detail, code = describeEvent(p.Event)
		return kind, p.Event.GetNodeId(), detail, code
	case *dashstreampb.DashStreamMessage_StateDiff:
		return "state_diff", "", describeDiff(p.StateDiff), sgrGreen
	case *dashstreampb.DashStreamMessage_Checkpoint:
		c := p.Checkpoint
		md := c.GetMetadata()
		parts := []string{"state " + humanBytes(len(c.GetState()))}
		for _, k := range []string{"reason", "step"} {
			if v := md[k]; v != "" {
				parts = append(parts, k+"="+v)
			}
		}
		return "checkpoint", md["node_id"], strings.Join(parts, ", "), sgrBold + sgrMagenta
	case *dashstreampb.DashStreamMessage_Error:
		e := p.Error
		d := clip(e.GetMessage())
		if e.GetErrorCode() != "" {
			d = e.GetErrorCode() + ": " + d
		}
		if e.GetExceptionType() != "" {
			d += " (" + e.GetExceptionType() + ")"
		}
		if e.GetStackTrace() != "" {
			d += ", stack trace " + humanBytes(len(e.GetStackTrace()))
		}
		return "error", e.GetContext()["node_id"], d, sgrRed
	case *dashstreampb.DashStreamMessage_TokenChunk:
		t := p.TokenChunk
		return "token_chunk", "", fmt.Sprintf("request=%s chunk=%d %q", t.GetRequestId(), t.GetChunkIndex(), clip(t.GetText())), sgrYellow
	case *dashstreampb.DashStreamMessage_ToolExecution:
		t := p.ToolExecution
		stage := strings.ToLower(strings.TrimPrefix(t.GetStage().String(), "EXECUTION_STAGE_"))
		return "tool_execution", "", fmt.Sprintf("tool=%s call=%s stage=%s", t.GetToolName(), t.GetCallId(), stage), sgrYellow
	case *dashstreampb.DashStreamMessage_Metrics:
		m := p.Metrics
		return "metrics", "", fmt.Sprintf("scope=%s %d metric(s)", m.GetScope(), len(m.GetMetrics())), sgrDim
	case *dashstreampb.DashStreamMessage_EventBatch:
		return "event_batch", "", fmt.Sprintf("%d event(s)", len(p.EventBatch.GetEvents())), sgrCyan
	case *dashstreampb.DashStreamMessage_ExecutionTrace:
		et := p.ExecutionTrace
		return "execution_trace", "", fmt.Sprintf("%d node(s), completed=%t", len(et.GetNodesExecuted()), et.GetCompleted()), sgrBlue
	}
	return "empty", "", "no message set", sgrRed
}

func describeEvent(e *dashstreampb.Event) (kind, detail, code string) {
	t := e.GetEventType()
	kind = strings.ToLower(strings.TrimPrefix(t.String(), "EVENT_TYPE_"))
	a := e.GetAttributes()
	var parts []string
	add := func(label, key string) {
		if v, ok := attrText(a[key]); ok && v != "" {
			parts = append(parts, label+"="+v)
		}
	}
	code = sgrCyan
	switch t {
	case dashstreampb.EventType_EVENT_TYPE_GRAPH_START:
		code = sgrBold + sgrBlue
		add("graph", "graph_name")
		add("run", "run_id")
		if v, ok := a["initial_state_json"]; ok {
			parts = append(parts, "initial state "+humanBytes(len(v.GetStringValue())))
		}
		if _, ok := a["graph_schema_json"]; ok {
			parts = append(parts, "schema")
		}
	case dashstreampb.EventType_EVENT_TYPE_GRAPH_END:
		code = sgrBold + sgrBlue
		parts = append(parts, durationText(e))
	case dashstreampb.EventType_EVENT_TYPE_NODE_START:
		add("step", "step")
	case dashstreampb.EventType_EVENT_TYPE_NODE_END:
		parts = append(parts, durationText(e))
	case dashstreampb.EventType_EVENT_TYPE_EDGE_TRAVERSAL, dashstreampb.EventType_EVENT_TYPE_CONDITIONAL_BRANCH:
		code = sgrMagenta
		from, _ := attrText(a["from"])
		to, _ := attrText(a["to"])
		parts = append(parts, from+" → "+to)
		add("condition", "condition")
	case dashstreampb.EventType_EVENT_TYPE_LLM_START, dashstreampb.EventType_EVENT_TYPE_LLM_END:
		code = sgrYellow
		add("model", "model")
		in, okIn := attrText(a["input_tokens"])
		out, okOut := attrText(a["output_tokens"])
		if okIn || okOut {
			parts = append(parts, "tokens="+in+"/"+out)
		}
		add("finish", "finish_reason")
		if t == dashstreampb.EventType_EVENT_TYPE_LLM_END {
			parts = append(parts, durationText(e))
		}
	case dashstreampb.EventType_EVENT_TYPE_TOOL_START, dashstreampb.EventType_EVENT_TYPE_TOOL_END:
		code = sgrYellow
		add("tool", "tool_name")
		add("call", "call_id")
		if t == dashstreampb.EventType_EVENT_TYPE_TOOL_END {
			parts = append(parts, durationText(e))
		}
	case dashstreampb.EventType_EVENT_TYPE_GRAPH_ERROR, dashstreampb.EventType_EVENT_TYPE_NODE_ERROR,
		dashstreampb.EventType_EVENT_TYPE_LLM_ERROR, dashstreampb.EventType_EVENT_TYPE_TOOL_ERROR:
		code = sgrRed
		add("error", "error")
		add("type", "exception_type")
	default:
		parts = append(parts, someAttributes(a, 3)...)
	}
	if v, ok := attrText(a["truncated"]); ok && v != "" && v != "false" {
		parts = append(parts, "(truncated)")
	}
	return kind, strings.Join(nonEmpty(parts), " "), code
}

// describeDiff summarises a StateDiff: the full state's size, or the
// operations ("+2 ops: add /messages/-, replace /counter").
func describeDiff(d *dashstreampb.StateDiff) string {
	if fs := d.GetFullState(); len(fs) > 0 {
		return "full state " + humanBytes(len(fs))
	}
	ops := d.GetOperations()
	if len(ops) == 0 {
		return "no change"
	}
	shown := make([]string, 0, maxOpsShown+1)
	for i, op := range ops {
		if i == maxOpsShown {
			shown = append(shown, "…")
			break
		}
		name := strings.ToLower(strings.TrimPrefix(op.GetOp().String(), "OP_TYPE_"))
		path := op.GetPath()
		if path == "" {
			path = "(root)"
		}
		if op.GetFrom() != "" {
			shown = append(shown, name+" "+op.GetFrom()+" → "+path)
		} else {
			shown = append(shown, name+" "+path)
		}
	}
	noun := "ops"
	if len(ops) == 1 {
		noun = "op"
	}
	return fmt.Sprintf("+%d %s: %s", len(ops), noun, strings.Join(shown, ", "))
}

// durationText reads the event's duration: the duration_us field, else the
// duration_us attribute (the UI reads it as a float).
func durationText(e *dashstreampb.Event) string {
	us := float64(e.GetDurationUs())
	if us == 0 {
		if v, ok := e.GetAttributes()["duration_us"]; ok {
			switch x := v.GetValue().(type) {
			case *dashstreampb.AttributeValue_FloatValue:
				us = x.FloatValue
			case *dashstreampb.AttributeValue_IntValue:
				us = float64(x.IntValue)
			}
		}
	}
	if us == 0 {
		return ""
	}
	return "duration=" + (time.Duration(us * float64(time.Microsecond))).Round(10*time.Microsecond).String()
}

// attrText renders a scalar attribute; composite values are summarised.
func attrText(v *dashstreampb.AttributeValue) (string, bool) {
	if v == nil {
		return "", false
	}
	switch x := v.GetValue().(type) {
	case *dashstreampb.AttributeValue_StringValue:
		return clip(x.StringValue), true
	case *dashstreampb.AttributeValue_IntValue:
		return strconv.FormatInt(x.IntValue, 10), true
	case *dashstreampb.AttributeValue_FloatValue:
		return strconv.FormatFloat(x.FloatValue, 'g', -1, 64), true
	case *dashstreampb.AttributeValue_BoolValue:
		return strconv.FormatBool(x.BoolValue), true
	case *dashstreampb.AttributeValue_BytesValue:
		return humanBytes(len(x.BytesValue)), true
	case *dashstreampb.AttributeValue_ArrayValue:
		return fmt.Sprintf("[%d items]", len(x.ArrayValue.GetValues())), true
	case *dashstreampb.AttributeValue_MapValue:
		return fmt.Sprintf("{%d keys}", len(x.MapValue.GetValues())), true
	}
	return "", false
}

// someAttributes returns up to n attributes as key=value, by key.
func someAttributes(a map[string]*dashstreampb.AttributeValue, n int) []string {
	keys := make([]string, 0, len(a))
	for k := range a {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []string
	for _, k := range keys {
		if len(out) == n {
			out = append(out, "…")
			break
		}
		if v, ok := attrText(a[k]); ok {
			out = append(out, k+"="+v)
		}
	}
	return out
}

// clip shortens s to maxValueLen runes on one line.
func clip(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= maxValueLen {
		return s
	}
	r := []rune(s)
	return string(r[:maxValueLen-1]) + "…"
}

func nonEmpty(in []string) []string {
	out := in[:0]
	for _, s := range in {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// humanBytes prints a size in B, KiB or MiB.
func humanBytes(n int) string {
	switch {
	case n < 1024:
		return strconv.Itoa(n) + " B"
	case n < 1024*1024:
		return strconv.FormatFloat(float64(n)/1024, 'f', 1, 64) + " KiB"
	default:
		return strconv.FormatFloat(float64(n)/(1024*1024), 'f', 1, 64) + " MiB"
	}
}
