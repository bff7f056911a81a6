package translate

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"sort"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"

	"github.com/dashstream/dashstreamexporter/dashstream"
	pb "github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
)

// testEpoch is the start of every synthetic run (2026-11-27T10:00:00Z).
var testEpoch = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

// sp describes one span for buildTraces. Times are milliseconds after
// testEpoch; ids are derived from names so fixtures are stable.
type sp struct {
	trace, id, parent string
	name              string
	start, end        int64 // ms
	attrs             map[string]any
	errMsg            string
	exception         *exc
	resource          map[string]any
}

type exc struct{ typ, msg, stack string }

func traceID(name string) pcommon.TraceID {
	sum := sha256.Sum256([]byte("trace:" + name))
	var id pcommon.TraceID
	copy(id[:], sum[:16])
	return id
}

func spanID(trace, name string) pcommon.SpanID {
	sum := sha256.Sum256([]byte("span:" + trace + "/" + name))
	var id pcommon.SpanID
	copy(id[:], sum[:8])
	return id
}

// buildTraces builds one ptrace.Traces; spans with the same resource map
// share a ResourceSpans in order of first appearance.
func buildTraces(spans ...sp) ptrace.Traces {
	td := ptrace.NewTraces()
	var cur ptrace.SpanSlice
	var curRes string
	for _, s := range spans {
		rkey, _ := json.Marshal(s.resource)
		if cur == (ptrace.SpanSlice{}) || string(rkey) != curRes {
			rs := td.ResourceSpans().AppendEmpty()
			putAttrs(rs.Resource().Attributes(), s.resource)
			ss := rs.ScopeSpans().AppendEmpty()
			ss.Scope().SetName("dashstream-test")
			cur, curRes = ss.Spans(), string(rkey)
		}
		span := cur.AppendEmpty()
		span.SetTraceID(traceID(s.trace))
		span.SetSpanID(spanID(s.trace, s.id))
		if s.parent != "" {
			span.SetParentSpanID(spanID(s.trace, s.parent))
		}
		span.SetName(s.name)
		span.SetKind(ptrace.SpanKindInternal)
		span.SetFlags(1)
		span.SetStartTimestamp(pcommon.NewTimestampFromTime(testEpoch.Add(time.Duration(s.start) * time.Millisecond)))
		span.SetEndTimestamp(pcommon.NewTimestampFromTime(testEpoch.Add(time.Duration(s.end) * time.Millisecond)))
		putAttrs(span.Attributes(), s.attrs)
		if s.errMsg != "" {
			span.Status().SetCode(ptrace.StatusCodeError)
			span.Status().SetMessage(s.errMsg)
		}
		if s.exception != nil {
			ev := span.Events().AppendEmpty()
			ev.SetName("exception")
			ev.SetTimestamp(span.EndTimestamp())
			ev.Attributes().PutStr("exception.type", s.exception.typ)
			ev.Attributes().PutStr("exception.message", s.exception.msg)
			ev.Attributes().PutStr("exception.stacktrace", s.exception.stack)
		}
	}
	return td
}

// putAttrs sets attributes in sorted key order, so fixtures are stable.
func putAttrs(m pcommon.Map, attrs map[string]any) {
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := attrs[k]
		switch t := v.(type) {
		case string:
			m.PutStr(k, t)
		case int:
			m.PutInt(k, int64(t))
		case int64:
			m.PutInt(k, t)
		case float64:
			m.PutDouble(k, t)
		case bool:
			m.PutBool(k, t)
		case []byte:
			m.PutEmptyBytes(k).FromRaw(t)
		default:
			b, _ := json.Marshal(t)
			m.PutStr(k, string(b))
		}
	}
}

// fixedClock is a manual clock for deterministic sequences and eviction.
type fixedClock struct{ now time.Time }

func (c *fixedClock) Now() time.Time { return c.now }

func newTestTranslator(t testing.TB, cfg Config) *Translator {
	t.Helper()
	clk := &fixedClock{now: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
	tr, err := newTranslator(cfg, zap.NewNop(), clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// translateAll translates td and releases the result.
func translateAll(t testing.TB, tr *Translator, td ptrace.Traces) *Result {
	t.Helper()
	res, err := tr.Translate(context.Background(), td)
	if err != nil {
		t.Fatal(err)
	}
	res.Release()
	return res
}

// decoded is one record decoded back.
type decoded struct {
	rec Record
	msg *pb.DashStreamMessage
}

func decodeAll(t testing.TB, recs []Record) []decoded {
	t.Helper()
	dec, err := dashstream.NewDecoder(dashstream.DecoderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]decoded, 0, len(recs))
	for i, r := range recs {
		m, err := dec.Decode(r.Value)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		out = append(out, decoded{rec: r, msg: m})
	}
	return out
}

// eventTypes lists, per record, the event type name or the message type.
func eventTypes(ds []decoded) []string {
	out := make([]string, 0, len(ds))
	for _, d := range ds {
		out = append(out, kindOf(d.msg))
	}
	return out
}

func kindOf(m *pb.DashStreamMessage) string {
	switch p := m.GetMessage().(type) {
	case *pb.DashStreamMessage_Event:
		s := p.Event.GetEventType().String()[len("EVENT_TYPE_"):]
		if p.Event.GetNodeId() != "" {
			s += ":" + p.Event.GetNodeId()
		}
		return s
	case *pb.DashStreamMessage_StateDiff:
		if len(p.StateDiff.GetFullState()) > 0 {
			return "FULL_STATE"
		}
		return "PATCH"
	case *pb.DashStreamMessage_Checkpoint:
		return "CHECKPOINT"
	case *pb.DashStreamMessage_Error:
		return "ERROR"
	}
	return dashstream.MessageTypeOf(m).String()
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
