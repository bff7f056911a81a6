package uiworker

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/dashstream/dashstreamexporter/dashstream"
	pb "github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
	"github.com/dashstream/dashstreamexporter/dashstream/translate"
)

const (
	protoPath   = "../../dashstream/proto/dashstream.proto"
	fixturesDir = "../../dashstream/translate/testdata/spans"
)

// recordLine is one line of check.mjs's input (the format of `dashstream
// tail --records`).
type recordLine struct {
	Partition int32           `json:"partition"`
	Offset    int64           `json:"offset"`
	Key       string          `json:"key"`
	Value     string          `json:"value"`
	Message   json.RawMessage `json:"message"`
}

// writeLines writes framed record values with the Go decoder's view of each.
func writeLines(t *testing.T, path string, values [][]byte) {
	t.Helper()
	dec, err := dashstream.NewDecoder(dashstream.DecoderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for i, v := range values {
		msg, err := dec.Decode(v)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		js, err := protojson.MarshalOptions{UseEnumNumbers: true}.Marshal(msg)
		if err != nil {
			t.Fatal(err)
		}
		if err := enc.Encode(recordLine{Offset: int64(i), Key: dashstream.HeaderOf(msg).GetThreadId(),
			Value: base64.StdEncoding.EncodeToString(v), Message: js}); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// runCheck runs check.mjs on files; it skips when Node.js or the npm
// packages are missing, unless UIWORKER_REQUIRED=1.
func runCheck(t *testing.T, extra []string, files ...string) string {
	t.Helper()
	node, err := exec.LookPath("node")
	missing := ""
	switch {
	case err != nil:
		missing = "node is not installed"
	case !exists("node_modules/protobufjs") || !exists("node_modules/fzstd") || !exists("node_modules/long"):
		missing = "run `npm ci` in internal/uiworker"
	}
	if missing != "" {
		if os.Getenv("UIWORKER_REQUIRED") == "1" {
			t.Fatalf("UIWORKER_REQUIRED=1 but %s", missing)
		}
		t.Skip(missing)
	}
	args := append([]string{"check.mjs", "--proto", protoPath}, extra...)
	cmd := exec.Command(node, append(args, files...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("check.mjs: %v\n%s", err, out)
	}
	return string(out)
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func loadFixture(t *testing.T, path string) ptrace.Traces {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	td, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return td
}

// translateValues translates each batch in its own call on one translator
// and returns the record values in order.
func translateValues(t *testing.T, batches ...ptrace.Traces) [][]byte {
	t.Helper()
	tr, err := translate.New(translate.DefaultConfig(), zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, td := range batches {
		res, err := tr.Translate(context.Background(), td)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res.Records {
			out = append(out, r.Value)
		}
		res.Release()
	}
	return out
}

// oneSpanPerCall splits td into one Traces per span, children usually
// arriving before their parents the way exporters batch them.
func oneSpanPerCall(td ptrace.Traces) []ptrace.Traces {
	var out []ptrace.Traces
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				one := ptrace.NewTraces()
				rs := one.ResourceSpans().AppendEmpty()
				rss.At(i).Resource().CopyTo(rs.Resource())
				ss := rs.ScopeSpans().AppendEmpty()
				sss.At(j).Scope().CopyTo(ss.Scope())
				spans.At(k).CopyTo(ss.Spans().AppendEmpty())
				out = append(out, one)
			}
		}
	}
	return out
}

// TestFixtureStreamsReachThePage runs every convention's captured spans
// through the translator, in one call and one span per call, and checks
// the records on the UI's browser path. The LangGraph.js capture
// (openinference) and the dashstream-convention demo stream must also give
// the UI a graph schema at every GRAPH_START.
func TestFixtureStreamsReachThePage(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(fixturesDir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures in %s: %v", fixturesDir, err)
	}
	// UIWORKER_KEEP=DIR keeps the streams, e.g. to feed them to the real UI.
	dir := os.Getenv("UIWORKER_KEEP")
	if dir == "" {
		dir = t.TempDir()
	}
	for _, f := range files {
		if strings.HasSuffix(f, ".expected.json") {
			continue
		}
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		t.Run(name, func(t *testing.T) {
			td := loadFixture(t, f)
			whole := filepath.Join(dir, name+".jsonl")
			writeLines(t, whole, translateValues(t, td))
			pieces := filepath.Join(dir, name+"-pieces.jsonl")
			writeLines(t, pieces, translateValues(t, oneSpanPerCall(td)...))
			var extra []string
			if name == "openinference" || name == "dashstream" {
				extra = []string{"--require-schema"}
			}
			t.Log(runCheck(t, extra, whole))
			t.Log(runCheck(t, nil, pieces))
		})
	}
}

// TestEveryMessageAndOperationType checks a generated stream with every
// message type, every JSON Patch operation (at their default values: ADD,
// the root path, chunk 0, false, 0) and both frames.
func TestEveryMessageAndOperationType(t *testing.T) {
	enc, err := dashstream.NewEncoder(dashstream.DefaultEncoderOptions())
	if err != nil {
		t.Fatal(err)
	}
	seq := uint64(1_000_000)
	hdr := func(typ pb.MessageType) *pb.Header {
		seq++
		return &pb.Header{MessageId: bytes.Repeat([]byte{byte(seq)}, 16), TimestampUs: 1_795_773_600_000_000 + int64(seq),
			ThreadId: "every-type", Sequence: seq, Type: typ, SchemaVersion: 1}
	}
	big := strings.Repeat("a long value that makes the record worth compressing ", 40)
	state0 := `{"a":1,"list":[1,2],"obj":{"k":"v"},"n":null}`
	patch := dashstream.Patch{
		{Op: dashstream.OpAdd, Path: "/b", Value: dashstream.Number("0")},
		{Op: dashstream.OpAdd, Path: "/list/-", Value: big},
		{Op: dashstream.OpReplace, Path: "/a", Value: false},
		{Op: dashstream.OpRemove, Path: "/n"},
		{Op: dashstream.OpMove, From: "/obj", Path: "/moved"},
		{Op: dashstream.OpCopy, From: "/moved", Path: "/copied"},
		{Op: dashstream.OpTest, Path: "/b", Value: dashstream.Number("0")},
	}
	initial, err := dashstream.ParseJSONString(state0, dashstream.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	after, err := dashstream.ParseJSONString(state0, dashstream.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if after, err = dashstream.Apply(after, patch); err != nil {
		t.Fatal(err)
	}
	hashAfter := dashstream.StateHash(after)
	root := dashstream.Patch{{Op: dashstream.OpReplace, Path: "", Value: dashstream.NewObject(0)}}
	hashEmpty := dashstream.StateHash(dashstream.NewObject(0))
	attrs := map[string]*pb.AttributeValue{
		"graph_name":         {Value: &pb.AttributeValue_StringValue{StringValue: "every"}},
		"initial_state_json": {Value: &pb.AttributeValue_StringValue{StringValue: string(dashstream.MarshalJSON(initial))}},
		"zero_int":           {Value: &pb.AttributeValue_IntValue{IntValue: 0}},
		"zero_float":         {Value: &pb.AttributeValue_FloatValue{FloatValue: 0}},
		"false":              {Value: &pb.AttributeValue_BoolValue{BoolValue: false}},
		"empty":              {Value: &pb.AttributeValue_StringValue{StringValue: ""}},
	}
	msgs := []*pb.DashStreamMessage{
		{Message: &pb.DashStreamMessage_Event{Event: &pb.Event{Header: hdr(pb.MessageType_MESSAGE_TYPE_EVENT),
			EventType: pb.EventType_EVENT_TYPE_GRAPH_START, Attributes: attrs}}},
		{Message: &pb.DashStreamMessage_StateDiff{StateDiff: &pb.StateDiff{Header: hdr(pb.MessageType_MESSAGE_TYPE_STATE_DIFF),
			Operations: patch.ToProto(), StateHash: hashAfter[:]}}},
		{Message: &pb.DashStreamMessage_StateDiff{StateDiff: &pb.StateDiff{Header: hdr(pb.MessageType_MESSAGE_TYPE_STATE_DIFF),
			Operations: root.ToProto(), StateHash: hashEmpty[:]}}},
		{Message: &pb.DashStreamMessage_StateDiff{StateDiff: &pb.StateDiff{Header: hdr(pb.MessageType_MESSAGE_TYPE_STATE_DIFF),
			FullState: dashstream.MarshalJSON(after), StateHash: hashAfter[:]}}},
		{Message: &pb.DashStreamMessage_TokenChunk{TokenChunk: &pb.TokenChunk{Header: hdr(pb.MessageType_MESSAGE_TYPE_TOKEN_CHUNK),
			RequestId: "req", Text: "Hel", ChunkIndex: proto.Uint32(0), IsFinal: proto.Bool(false),
			FinishReason: pb.TokenChunk_FINISH_REASON_NONE.Enum(), Model: "m", Logprobs: []float32{-0.25}}}},
		{Message: &pb.DashStreamMessage_ToolExecution{ToolExecution: &pb.ToolExecution{Header: hdr(pb.MessageType_MESSAGE_TYPE_TOOL_EXECUTION),
			CallId: "c1", ToolName: "search", Stage: pb.ToolExecution_EXECUTION_STAGE_UNSPECIFIED.Enum(),
			DurationUs: proto.Int64(0), RetryCount: proto.Uint32(0), Arguments: []byte(`{}`)}}},
		{Message: &pb.DashStreamMessage_Checkpoint{Checkpoint: &pb.Checkpoint{Header: hdr(pb.MessageType_MESSAGE_TYPE_CHECKPOINT),
			CheckpointId: bytes.Repeat([]byte{7}, 16), State: dashstream.MarshalJSON(after), StateType: "application/json",
			Metadata: map[string]string{"run_id": "r", "node_id": "", "step": "0", "reason": "interval"}}}},
		{Message: &pb.DashStreamMessage_Metrics{Metrics: &pb.Metrics{Header: hdr(pb.MessageType_MESSAGE_TYPE_METRICS),
			Scope: "node", Metrics: map[string]*pb.MetricValue{"zero": {Value: &pb.MetricValue_IntValue{IntValue: 0}}}}}},
		{Message: &pb.DashStreamMessage_Error{Error: &pb.Error{Header: hdr(pb.MessageType_MESSAGE_TYPE_ERROR),
			ErrorCode: "E", Message: "boom", Severity: pb.Error_SEVERITY_UNSPECIFIED.Enum()}}},
		{Message: &pb.DashStreamMessage_EventBatch{EventBatch: &pb.EventBatch{Header: hdr(pb.MessageType_MESSAGE_TYPE_EVENT_BATCH),
			Events: []*pb.Event{{Header: hdr(pb.MessageType_MESSAGE_TYPE_EVENT), EventType: pb.EventType_EVENT_TYPE_NODE_START, NodeId: "n"}}}}},
		{Message: &pb.DashStreamMessage_ExecutionTrace{ExecutionTrace: &pb.ExecutionTrace{Header: hdr(pb.MessageType_MESSAGE_TYPE_EXECUTION_TRACE),
			ExecutionId: "x", TotalDurationMs: proto.Uint64(0), TotalTokens: proto.Uint64(0), Completed: false}}},
	}
	var values [][]byte
	for _, m := range msgs {
		v, err := enc.Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		values = append(values, v)
	}
	if values[1][0] != 1 {
		t.Fatal("the large StateDiff was not zstd-framed: the stream must cover both frames")
	}
	path := filepath.Join(t.TempDir(), "every.jsonl")
	writeLines(t, path, values)
	out := runCheck(t, nil, path)
	if !strings.Contains(out, "3 hashes verified") {
		t.Fatalf("want 3 state hashes verified by the UI's replay:\n%s", out)
	}
	t.Log(out)
}

// TestCheckerCatchesMissingDefaults proves the check fails on the bug it
// guards against: the same patch with op and encoding left at their
// defaults and off the wire.
func TestCheckerCatchesMissingDefaults(t *testing.T) {
	enc, err := dashstream.NewEncoder(dashstream.DefaultEncoderOptions())
	if err != nil {
		t.Fatal(err)
	}
	ops := dashstream.Patch{{Op: dashstream.OpAdd, Path: "/a", Value: dashstream.Number("1")}}.ToProto()
	ops[0].Op, ops[0].Encoding = nil, nil // what a plain proto3 producer writes
	msg := &pb.DashStreamMessage{Message: &pb.DashStreamMessage_StateDiff{StateDiff: &pb.StateDiff{
		Header:     &pb.Header{MessageId: make([]byte, 16), ThreadId: "t", Sequence: 1, Type: pb.MessageType_MESSAGE_TYPE_STATE_DIFF},
		Operations: ops}}}
	v, err := enc.Encode(msg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "bad.jsonl")
	writeLines(t, path, [][]byte{v})
	node, err := exec.LookPath("node")
	if err != nil || !exists("node_modules/protobufjs") {
		runCheck(t, nil, path) // skips or fails as runCheck decides
		return
	}
	out, err := exec.Command(node, "check.mjs", "--proto", protoPath, path).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "operations[0].op is not on the wire") ||
		!strings.Contains(string(out), "operations[0].encoding is not on the wire") {
		t.Fatalf("check.mjs accepted a patch without op and encoding (err %v):\n%s", err, out)
	}
}
