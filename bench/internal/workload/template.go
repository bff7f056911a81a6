package workload

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// The requests are marshaled once with placeholders; sending one only
// copies the bytes and overwrites the placeholders in place, so the load
// generator spends almost nothing per span and can saturate a collector.
const (
	// genPlaceholder sits in every thread and run id and becomes the
	// generation number in hex (uppercase G never occurs in generated text).
	genPlaceholder = "GGGGGGGGGGGGGGGG"
	// timeSentinelBase tags the fixed64 timestamps; the low bits number them.
	timeSentinelBase = uint64(0xA5A5) << 48
)

// traceMarker is the first half of every trace id; it becomes the generation
// number so each generation's runs are new traces.
var traceMarker = [8]byte{0xB7, 0x3C, 0x9D, 0x11, 0xE4, 0x5A, 0x0F, 0x6B}

type timeRole uint8

const (
	roleNodeStart  timeRole = iota // node span start: now - node duration
	roleEnd                        // any span end: now
	roleGraphStart                 // graph span start: generation start - node duration
)

type timePatch struct {
	off  int
	role timeRole
}

// Request is one pre-marshaled ExportTraceServiceRequest with the places to
// patch.
type Request struct {
	body      []byte
	genOffs   []int
	traceOffs []int
	times     []timePatch
	// Spans and NodeSpans count what the request carries.
	Spans, NodeSpans int
}

// Template is one generation: the requests in the order they are sent.
type Template struct {
	Config   Config
	Requests []Request
}

// Build marshals the requests of one generation of c.
func Build(c Config) (*Template, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("workload: %w", err)
	}
	states := make([][][]byte, c.Threads)
	if c.Kind == KindGraph {
		for t := range c.Threads {
			_, after, err := c.States(t)
			if err != nil {
				return nil, fmt.Errorf("workload: thread %d: %w", t, err)
			}
			states[t] = after
		}
	}
	tpl := &Template{Config: c}
	for step := 0; step <= c.Nodes; step++ {
		req, err := buildRequest(c, step, states)
		if err != nil {
			return nil, fmt.Errorf("workload: request %d: %w", step, err)
		}
		tpl.Requests = append(tpl.Requests, req)
	}
	return tpl, nil
}

// buildRequest builds request step: node step of every thread, or the graph
// spans when step == c.Nodes.
func buildRequest(c Config, step int, states [][][]byte) (Request, error) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "bench-agent")
	rs.Resource().Attributes().PutStr("service.version", "1.0.0")
	rs.Resource().Attributes().PutStr("telemetry.sdk.language", "go")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("github.com/dashstream/dashstreamexporter/bench")
	isGraph := step == c.Nodes
	for t := range c.Threads {
		span := ss.Spans().AppendEmpty()
		span.SetTraceID(traceID(t))
		span.SetKind(ptrace.SpanKindInternal)
		span.SetStartTimestamp(pcommon.Timestamp(timeSentinelBase | uint64(2*t)))
		span.SetEndTimestamp(pcommon.Timestamp(timeSentinelBase | uint64(2*t+1)))
		if isGraph {
			span.SetSpanID(spanID(t, 0))
		} else {
			span.SetSpanID(spanID(t, step+1))
			span.SetParentSpanID(spanID(t, 0))
		}
		attrs := span.Attributes()
		switch c.Kind {
		case KindGraph:
			attrs.PutStr("dashstream.thread_id", fmt.Sprintf("bench-%s-%06d", genPlaceholder, t))
			attrs.PutStr("dashstream.run_id", fmt.Sprintf("run-%s-%06d", genPlaceholder, t))
			attrs.PutStr("dashstream.graph.name", "bench_graph")
			if isGraph {
				span.SetName("bench_graph")
				attrs.PutStr("dashstream.span.kind", "graph")
			} else {
				span.SetName(NodeName(step))
				attrs.PutStr("dashstream.span.kind", "node")
				attrs.PutStr("dashstream.node.name", NodeName(step))
				attrs.PutInt("dashstream.step", int64(step+1))
				attrs.PutStr("dashstream.state", string(states[t][step]))
			}
		case KindPlain:
			if isGraph {
				span.SetName("GET /api/items/{id}")
				span.SetKind(ptrace.SpanKindServer)
				attrs.PutStr("http.request.method", "GET")
				attrs.PutStr("url.path", fmt.Sprintf("/api/items/%d", t))
				attrs.PutInt("http.response.status_code", 200)
				attrs.PutStr("server.address", "api.internal")
				attrs.PutStr("user_agent.original", "bench-client/1.0 (linux; amd64)")
			} else {
				span.SetName("SELECT items")
				span.SetKind(ptrace.SpanKindClient)
				attrs.PutStr("db.system.name", "postgresql")
				attrs.PutStr("db.namespace", "shop")
				attrs.PutStr("db.query.text", "SELECT id, name, price FROM items WHERE id = $1")
				attrs.PutStr("server.address", "db.internal")
				attrs.PutInt("server.port", 5432)
			}
		}
	}
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		return Request{}, fmt.Errorf("marshaling: %w", err)
	}
	req := Request{body: body, Spans: c.Threads}
	if !isGraph {
		req.NodeSpans = c.Threads
	}
	req.genOffs = findAll(body, []byte(genPlaceholder))
	if c.Kind == KindGraph && len(req.genOffs) != 2*c.Threads {
		return Request{}, fmt.Errorf("found %d id placeholders, want %d", len(req.genOffs), 2*c.Threads)
	}
	req.traceOffs = findAll(body, traceMarker[:])
	if len(req.traceOffs) != c.Threads {
		return Request{}, fmt.Errorf("found %d trace id markers, want %d", len(req.traceOffs), c.Threads)
	}
	for t := range c.Threads {
		for end := range 2 {
			var le [8]byte
			binary.LittleEndian.PutUint64(le[:], timeSentinelBase|uint64(2*t+end))
			offs := findAll(body, le[:])
			if len(offs) != 1 {
				return Request{}, fmt.Errorf("timestamp sentinel %d/%d found %d times, want 1", t, end, len(offs))
			}
			role := roleEnd
			switch {
			case end == 0 && isGraph:
				role = roleGraphStart
			case end == 0:
				role = roleNodeStart
			}
			req.times = append(req.times, timePatch{off: offs[0], role: role})
		}
	}
	return req, nil
}

// traceID is the template trace id of thread t: marker, then t+1.
func traceID(t int) pcommon.TraceID {
	var id pcommon.TraceID
	copy(id[:8], traceMarker[:])
	binary.BigEndian.PutUint64(id[8:], uint64(t)+1)
	return id
}

// spanID numbers the spans of thread t: 0 is the graph span, k the k-th node.
func spanID(t, k int) pcommon.SpanID {
	var id pcommon.SpanID
	binary.BigEndian.PutUint32(id[:4], uint32(t)+1)
	binary.BigEndian.PutUint32(id[4:], uint32(k)+1)
	return id
}

func findAll(b, sep []byte) []int {
	var offs []int
	for i := 0; ; {
		j := bytes.Index(b[i:], sep)
		if j < 0 {
			return offs
		}
		offs = append(offs, i+j)
		i += j + len(sep)
	}
}

// Render appends the request to dst[:0] with generation gen and the span
// times set: every span ends at nowNs, nodes last nodeDurNs, the graph span
// starts at genStartNs - nodeDurNs. The result is a valid
// ExportTraceServiceRequest.
func (r *Request) Render(dst []byte, gen uint64, nowNs, genStartNs, nodeDurNs uint64) []byte {
	b := append(dst[:0], r.body...)
	var g [8]byte
	binary.BigEndian.PutUint64(g[:], gen)
	var h [16]byte
	hex.Encode(h[:], g[:])
	for _, off := range r.genOffs {
		copy(b[off:off+16], h[:])
	}
	for _, off := range r.traceOffs {
		copy(b[off:off+8], g[:])
	}
	for _, tp := range r.times {
		v := nowNs
		switch tp.role {
		case roleNodeStart:
			v = nowNs - nodeDurNs
		case roleGraphStart:
			v = genStartNs - nodeDurNs
		}
		binary.LittleEndian.PutUint64(b[tp.off:tp.off+8], v)
	}
	return b
}

// Size is the marshaled size of the request in bytes.
func (r *Request) Size() int { return len(r.body) }
