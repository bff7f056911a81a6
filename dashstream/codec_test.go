package dashstream

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/protobuf/proto"

	pb "github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
)

// testHeader builds a valid header for the given type.
func testHeader(typ pb.MessageType, thread string, seq uint64) *pb.Header {
	id := make([]byte, 16)
	binary.BigEndian.PutUint64(id[8:], seq)
	id[0] = byte(typ)
	return &pb.Header{
		MessageId:     id,
		TimestampUs:   1_764_000_000_000_000 + int64(seq),
		TenantId:      "tenant-a",
		ThreadId:      thread,
		Sequence:      seq,
		Type:          typ,
		SchemaVersion: 1,
	}
}

// testMessage builds a message of the given type whose payload carries text
// (pad makes it as large as the test needs).
func testMessage(typ pb.MessageType, pad string) *pb.DashStreamMessage {
	h := testHeader(typ, "thread-1", 7)
	switch typ {
	case pb.MessageType_MESSAGE_TYPE_EVENT:
		return &pb.DashStreamMessage{Message: &pb.DashStreamMessage_Event{Event: &pb.Event{
			Header: h, EventType: pb.EventType_EVENT_TYPE_NODE_END, NodeId: "planner", DurationUs: 1234,
			Attributes: map[string]*pb.AttributeValue{
				"duration_us": {Value: &pb.AttributeValue_FloatValue{FloatValue: 1234}},
				"step":        {Value: &pb.AttributeValue_IntValue{IntValue: 3}},
				"node":        {Value: &pb.AttributeValue_StringValue{StringValue: "planner" + pad}},
			},
		}}}
	case pb.MessageType_MESSAGE_TYPE_STATE_DIFF:
		return &pb.DashStreamMessage{Message: &pb.DashStreamMessage_StateDiff{StateDiff: &pb.StateDiff{
			Header: h, BaseCheckpointId: bytes.Repeat([]byte{9}, 16), StateHash: bytes.Repeat([]byte{1}, 32),
			Operations: []*pb.DiffOperation{{Op: pb.DiffOperation_OP_TYPE_ADD.Enum(), Path: proto.String("/messages/-"), Encoding: pb.DiffOperation_VALUE_ENCODING_JSON.Enum(), Value: []byte(`"` + pad + `"`)}},
		}}}
	case pb.MessageType_MESSAGE_TYPE_TOKEN_CHUNK:
		return &pb.DashStreamMessage{Message: &pb.DashStreamMessage_TokenChunk{TokenChunk: &pb.TokenChunk{
			Header: h, RequestId: "req", Text: "hello" + pad, TokenIds: []uint32{1, 2, 3}, Logprobs: []float32{-0.5},
			ChunkIndex: proto.Uint32(0), IsFinal: proto.Bool(true), FinishReason: pb.TokenChunk_FINISH_REASON_STOP.Enum(), Stats: &pb.TokenStats{TotalTokens: 3},
		}}}
	case pb.MessageType_MESSAGE_TYPE_TOOL_EXECUTION:
		return &pb.DashStreamMessage{Message: &pb.DashStreamMessage_ToolExecution{ToolExecution: &pb.ToolExecution{
			Header: h, CallId: "call-1", ToolName: "search", Stage: pb.ToolExecution_EXECUTION_STAGE_COMPLETED.Enum(),
			Arguments: []byte(`{"q":"x"}`), Result: []byte(pad), DurationUs: proto.Int64(99), RetryCount: proto.Uint32(0),
		}}}
	case pb.MessageType_MESSAGE_TYPE_CHECKPOINT:
		state := []byte(`{"note":"` + pad + `"}`)
		return &pb.DashStreamMessage{Message: &pb.DashStreamMessage_Checkpoint{Checkpoint: &pb.Checkpoint{
			Header: h, CheckpointId: bytes.Repeat([]byte{2}, 16), State: state, StateType: "application/json",
			Checksum: bytes.Repeat([]byte{3}, 32), Metadata: map[string]string{"reason": "interval", "step": "4"},
		}}}
	case pb.MessageType_MESSAGE_TYPE_METRICS:
		return &pb.DashStreamMessage{Message: &pb.DashStreamMessage_Metrics{Metrics: &pb.Metrics{
			Header: h, Scope: "node", ScopeId: "planner",
			Metrics: map[string]*pb.MetricValue{"latency": {Value: &pb.MetricValue_FloatValue{FloatValue: 1.5}, Unit: "ms"}},
			Tags:    map[string]string{"pad": pad},
		}}}
	case pb.MessageType_MESSAGE_TYPE_ERROR:
		return &pb.DashStreamMessage{Message: &pb.DashStreamMessage_Error{Error: &pb.Error{
			Header: h, ErrorCode: "E1", Message: "boom", StackTrace: "trace" + pad, Severity: pb.Error_SEVERITY_ERROR.Enum(),
			ExceptionType: "ValueError",
		}}}
	case pb.MessageType_MESSAGE_TYPE_EVENT_BATCH:
		return &pb.DashStreamMessage{Message: &pb.DashStreamMessage_EventBatch{EventBatch: &pb.EventBatch{
			Header: h, Events: []*pb.Event{{EventType: pb.EventType_EVENT_TYPE_NODE_START, NodeId: "a" + pad}},
		}}}
	case pb.MessageType_MESSAGE_TYPE_EXECUTION_TRACE:
		return &pb.DashStreamMessage{Message: &pb.DashStreamMessage_ExecutionTrace{ExecutionTrace: &pb.ExecutionTrace{
			Header: h, ThreadId: "thread-1", ExecutionId: "run-1", Completed: true, TotalDurationMs: proto.Uint64(7), TotalTokens: proto.Uint64(0), FinalState: []byte(`{"x":"` + pad + `"}`),
			NodesExecuted: []*pb.NodeExecutionRecord{{Node: "a", DurationMs: 3, Succeeded: true}},
		}}}
	}
	panic(fmt.Sprintf("testMessage: no builder for %v", typ))
}

// allMessageTypes lists every type a DashStreamMessage can carry.
var allMessageTypes = []pb.MessageType{
	pb.MessageType_MESSAGE_TYPE_EVENT, pb.MessageType_MESSAGE_TYPE_STATE_DIFF,
	pb.MessageType_MESSAGE_TYPE_TOKEN_CHUNK, pb.MessageType_MESSAGE_TYPE_TOOL_EXECUTION,
	pb.MessageType_MESSAGE_TYPE_CHECKPOINT, pb.MessageType_MESSAGE_TYPE_METRICS,
	pb.MessageType_MESSAGE_TYPE_ERROR, pb.MessageType_MESSAGE_TYPE_EVENT_BATCH,
	pb.MessageType_MESSAGE_TYPE_EXECUTION_TRACE,
}

func mustEncoder(t testing.TB, o EncoderOptions) *Encoder {
	t.Helper()
	e, err := NewEncoder(o)
	if err != nil {
		t.Fatalf("NewEncoder(%+v): %v", o, err)
	}
	return e
}

func mustDecoder(t testing.TB, o DecoderOptions) *Decoder {
	t.Helper()
	d, err := NewDecoder(o)
	if err != nil {
		t.Fatalf("NewDecoder(%+v): %v", o, err)
	}
	return d
}

// randomBytes is n random bytes, not valid UTF-8: for bytes fields only.
func randomBytes(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func randomText(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/"
	for i := range b {
		b[i] = alphabet[b[i]&63]
	}
	return string(b)
}

func TestHeaderOfAndMessageTypeOf(t *testing.T) {
	for _, typ := range allMessageTypes {
		m := testMessage(typ, "")
		if got := MessageTypeOf(m); got != typ {
			t.Errorf("MessageTypeOf(%v) = %v", typ, got)
		}
		h := HeaderOf(m)
		if h == nil || h.GetType() != typ || h.GetSequence() != 7 {
			t.Errorf("HeaderOf(%v) = %v", typ, h)
		}
	}
	for _, m := range []*pb.DashStreamMessage{nil, {}, {Message: &pb.DashStreamMessage_Event{}}} {
		if h := HeaderOf(m); h != nil {
			t.Errorf("HeaderOf(%v) = %v, want nil", m, h)
		}
	}
	if got := MessageTypeOf(&pb.DashStreamMessage{}); got != pb.MessageType_MESSAGE_TYPE_UNSPECIFIED {
		t.Errorf("MessageTypeOf(empty) = %v", got)
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	dec := mustDecoder(t, DecoderOptions{})
	options := map[string]EncoderOptions{
		"off":           {},
		"default":       DefaultEncoderOptions(),
		"threshold-100": {Compression: true, CompressionThreshold: 100},
	}
	pads := map[string]string{
		"small":        "",
		"compressible": strings.Repeat("the same words again ", 200),
		"random":       randomText(t, 3000),
	}
	for oname, o := range options {
		enc := mustEncoder(t, o)
		for _, typ := range allMessageTypes {
			for pname, pad := range pads {
				t.Run(fmt.Sprintf("%s/%s/%s", oname, typ, pname), func(t *testing.T) {
					msg := testMessage(typ, pad)
					rec, err := enc.Encode(msg)
					if err != nil {
						t.Fatalf("Encode: %v", err)
					}
					got, err := dec.Decode(rec)
					if err != nil {
						t.Fatalf("Decode: %v", err)
					}
					if !proto.Equal(got, msg) {
						t.Fatalf("round trip differs:\n got %v\nwant %v", got, msg)
					}
					assertFrameMatchesHeader(t, rec, msg)
				})
			}
		}
	}
}

// assertFrameMatchesHeader checks the header's compression names the frame.
func assertFrameMatchesHeader(t *testing.T, rec []byte, msg *pb.DashStreamMessage) {
	t.Helper()
	c := HeaderOf(msg).GetCompression()
	switch rec[0] {
	case FrameNone:
		if c != pb.CompressionType_COMPRESSION_NONE {
			t.Errorf("plain frame but header says %v", c)
		}
	case FrameZstd:
		if c != pb.CompressionType_COMPRESSION_ZSTD {
			t.Errorf("zstd frame but header says %v", c)
		}
	default:
		t.Errorf("unknown frame marker 0x%02x", rec[0])
	}
}

func TestEncodeCompressionChoice(t *testing.T) {
	compressible := strings.Repeat("abcabcabc ", 60) // 600 bytes of pad
	tests := []struct {
		name    string
		opts    EncoderOptions
		pad     string
		preset  pb.CompressionType // what the caller left in the header
		want    byte
		wantPad bool // plain frame: record is 0x00 + deterministic protobuf
	}{
		{"off, large compressible", EncoderOptions{}, strings.Repeat("x", 5000), pb.CompressionType_COMPRESSION_NONE, FrameNone, true},
		{"on, small", DefaultEncoderOptions(), "tiny", pb.CompressionType_COMPRESSION_NONE, FrameNone, true},
		{"on, small, caller preset zstd", DefaultEncoderOptions(), "tiny", pb.CompressionType_COMPRESSION_ZSTD, FrameNone, true},
		{"on, large compressible", DefaultEncoderOptions(), compressible, pb.CompressionType_COMPRESSION_NONE, FrameZstd, false},
		// Random base64 text has no matches, but its literals are
		// Huffman-coded (newZstdEncoder): a quarter smaller.
		{"on, large random base64", DefaultEncoderOptions(), randomText(t, 4000), pb.CompressionType_COMPRESSION_NONE, FrameZstd, false},
		// Random bytes (in the bytes fields of states) do not compress.
		{"on, large incompressible", DefaultEncoderOptions(), randomBytes(t, 4000), pb.CompressionType_COMPRESSION_ZSTD, FrameNone, true},
		{"threshold above size", EncoderOptions{Compression: true, CompressionThreshold: 10000}, compressible, pb.CompressionType_COMPRESSION_NONE, FrameNone, true},
		{"threshold below size", EncoderOptions{Compression: true, CompressionThreshold: 50}, strings.Repeat("ab", 60), pb.CompressionType_COMPRESSION_NONE, FrameZstd, false},
	}
	// Events and the messages that carry states take different paths
	// (states are sized first and marshaled once): same choices, same bytes.
	types := []pb.MessageType{pb.MessageType_MESSAGE_TYPE_EVENT, pb.MessageType_MESSAGE_TYPE_STATE_DIFF, pb.MessageType_MESSAGE_TYPE_CHECKPOINT}
	for _, typ := range types {
		for _, tt := range tests {
			if !utf8.ValidString(tt.pad) && typ == pb.MessageType_MESSAGE_TYPE_EVENT {
				continue // the pad goes into a string attribute
			}
			t.Run(typ.String()+"/"+tt.name, func(t *testing.T) {
				testEncodeChoice(t, typ, tt.opts, tt.pad, tt.preset, tt.want, tt.wantPad)
			})
		}
	}
}

// testEncodeChoice encodes a message of type typ padded with pad, its
// header preset to preset, and checks the frame chosen and its content.
func testEncodeChoice(t *testing.T, typ pb.MessageType, opts EncoderOptions, pad string, preset pb.CompressionType, want byte, wantPlain bool) {
	enc := mustEncoder(t, opts)
	msg := testMessage(typ, pad)
	HeaderOf(msg).Compression = preset
	rec, err := enc.Encode(msg)
	if err != nil {
		t.Fatal(err)
	}
	if rec[0] != want {
		t.Fatalf("frame 0x%02x, want 0x%02x (record %d bytes)", rec[0], want, len(rec))
	}
	assertFrameMatchesHeader(t, rec, msg)
	det := proto.MarshalOptions{Deterministic: true}
	if wantPlain {
		plain, err := det.Marshal(msg)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(rec[1:], plain) {
			t.Fatal("plain frame is not the deterministic protobuf")
		}
		return
	}
	// The zstd frame holds the message as it is now (ZSTD header).
	got, err := mustDecoder(t, DecoderOptions{}).Decode(rec)
	if err != nil {
		t.Fatal(err)
	}
	a, errA := det.Marshal(got)
	b, errB := det.Marshal(msg)
	if errA != nil || errB != nil || !bytes.Equal(a, b) {
		t.Fatal("zstd frame does not hold the message")
	}
}

func TestEncodeZstdFrameDeclaresContentSize(t *testing.T) {
	dec := mustDecoder(t, DecoderOptions{})
	// Sizes around the zstd header's FCS field widths and window limits.
	for _, n := range []int{60, 200, 300, 700, 1100, 70_000, 300_000, 900_000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			enc := mustEncoder(t, EncoderOptions{Compression: true, CompressionThreshold: 1})
			msg := testMessage(pb.MessageType_MESSAGE_TYPE_CHECKPOINT, strings.Repeat("z", n))
			rec, err := enc.Encode(msg)
			if err != nil {
				t.Fatal(err)
			}
			if rec[0] != FrameZstd {
				t.Fatalf("expected a zstd frame for %d repeated bytes", n)
			}
			var zh zstd.Header
			if err := zh.Decode(rec[1:]); err != nil {
				t.Fatalf("zstd header: %v", err)
			}
			pbBytes, err := proto.MarshalOptions{Deterministic: true}.Marshal(msg)
			if err != nil {
				t.Fatal(err)
			}
			if !zh.HasFCS || zh.FrameContentSize != uint64(len(pbBytes)) {
				t.Fatalf("frame content size: has=%v size=%d, want %d", zh.HasFCS, zh.FrameContentSize, len(pbBytes))
			}
			if _, err := dec.Decode(rec); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestEncodeDeterministic(t *testing.T) {
	enc := mustEncoder(t, DefaultEncoderOptions())
	build := func() *pb.DashStreamMessage {
		m := testMessage(pb.MessageType_MESSAGE_TYPE_EVENT, strings.Repeat("p", 700))
		ev := m.GetEvent()
		for i := range 50 {
			ev.Attributes[fmt.Sprintf("k%02d", i)] = &pb.AttributeValue{Value: &pb.AttributeValue_IntValue{IntValue: int64(i)}}
		}
		return m
	}
	first, err := enc.Encode(build())
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		again, err := enc.Encode(build())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first, again) {
			t.Fatal("identical messages encoded differently")
		}
	}
}

func TestEncodeRejects(t *testing.T) {
	enc := mustEncoder(t, DefaultEncoderOptions())
	tests := []struct {
		name string
		msg  *pb.DashStreamMessage
		want error
	}{
		{"nil", nil, ErrInvalidMessage},
		{"no oneof", &pb.DashStreamMessage{}, ErrInvalidMessage},
		{"no header", &pb.DashStreamMessage{Message: &pb.DashStreamMessage_Event{Event: &pb.Event{}}}, ErrInvalidMessage},
		// The limit is on the uncompressed protobuf, however well it compresses.
		{"over 1 MiB", testMessage(pb.MessageType_MESSAGE_TYPE_CHECKPOINT, strings.Repeat("a", MaxMessageBytes)), ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := enc.Encode(tt.msg)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Encode error %v, want %v (record %d bytes)", err, tt.want, len(rec))
			}
		})
	}
	if _, err := NewEncoder(EncoderOptions{CompressionThreshold: -1}); err == nil {
		t.Error("negative threshold accepted")
	}
	if _, err := NewDecoder(DecoderOptions{MaxMessageBytes: -1}); err == nil {
		t.Error("negative max message bytes accepted")
	}
}

func TestEncodeLimitIsInclusive(t *testing.T) {
	for _, opts := range []EncoderOptions{{}, DefaultEncoderOptions()} {
		testEncodeLimit(t, opts)
	}
}

func testEncodeLimit(t *testing.T, opts EncoderOptions) {
	enc := mustEncoder(t, opts)
	dec := mustDecoder(t, DecoderOptions{})
	msg := testMessage(pb.MessageType_MESSAGE_TYPE_CHECKPOINT, "")
	cp := msg.GetCheckpoint()
	base := proto.Size(msg)
	// Grow the state until the message is exactly at the limit; the state
	// length prefix widens as it grows, so adjust once more.
	cp.State = bytes.Repeat([]byte("s"), len(cp.State)+MaxMessageBytes-base)
	cp.State = cp.State[:len(cp.State)-(proto.Size(msg)-MaxMessageBytes)]
	if got := proto.Size(msg); got != MaxMessageBytes {
		t.Fatalf("setup: message is %d bytes", got)
	}
	rec, err := enc.Encode(msg)
	if err != nil {
		t.Fatalf("message of exactly %d bytes rejected: %v", MaxMessageBytes, err)
	}
	if _, err := dec.Decode(rec); err != nil {
		t.Fatalf("decoding a message of exactly the limit: %v", err)
	}
	cp.State = append(cp.State, 's')
	if _, err := enc.Encode(msg); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("one byte over the limit: %v", err)
	}
}

func TestDecodeLegacyUnframed(t *testing.T) {
	dec := mustDecoder(t, DecoderOptions{})
	for _, typ := range allMessageTypes {
		msg := testMessage(typ, "legacy")
		raw, err := proto.Marshal(msg)
		if err != nil {
			t.Fatal(err)
		}
		if !isLegacyTag(raw[0]) {
			t.Fatalf("%v starts with 0x%02x", typ, raw[0])
		}
		got, err := dec.Decode(raw)
		if err != nil {
			t.Fatalf("%v: %v", typ, err)
		}
		if !proto.Equal(got, msg) {
			t.Fatalf("%v: legacy decode differs", typ)
		}
	}
}

func TestIsLegacyTag(t *testing.T) {
	want := map[byte]bool{0x0A: true, 0x12: true, 0x1A: true, 0x22: true, 0x2A: true, 0x32: true, 0x3A: true, 0x42: true, 0x4A: true}
	for b := range 256 {
		if got := isLegacyTag(byte(b)); got != want[byte(b)] {
			t.Errorf("isLegacyTag(0x%02x) = %v", b, got)
		}
	}
}

// zstdFrame compresses src as one frame with the given encoder options.
func zstdFrame(t *testing.T, src []byte, opts ...zstd.EOption) []byte {
	t.Helper()
	enc, err := zstd.NewWriter(nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return enc.EncodeAll(src, nil)
}

// frameWithoutSize hand-builds a valid zstd frame holding src in one raw
// block, with no content size field (as a streaming compressor writes it).
func frameWithoutSize(t *testing.T, src []byte) []byte {
	t.Helper()
	if len(src) > 1024 {
		t.Fatalf("setup: %d bytes do not fit the 1 KiB window", len(src))
	}
	f := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x00} // magic, FHD: no FCS, window 1 KiB
	bh := uint32(len(src))<<3 | 1                   // raw block, last
	f = append(f, byte(bh), byte(bh>>8), byte(bh>>16))
	f = append(f, src...)
	var zh zstd.Header
	if err := zh.Decode(f); err != nil || zh.HasFCS {
		t.Fatalf("setup: frame header has FCS=%v err=%v", zh.HasFCS, err)
	}
	d, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if out, err := d.DecodeAll(f, nil); err != nil || !bytes.Equal(out, src) {
		t.Fatalf("setup: hand-built frame does not decode: %v", err)
	}
	return f
}

// lyingZstdFrame compresses src in a single-segment frame, then rewrites the
// 2-byte content size field to claim 256 bytes.
func lyingZstdFrame(t *testing.T, src []byte) []byte {
	t.Helper()
	if len(src) < 256 || len(src) >= 65536+256 {
		t.Fatalf("setup: %d bytes does not use a 2-byte FCS field", len(src))
	}
	f := zstdFrame(t, src, zstd.WithSingleSegment(true), zstd.WithEncoderCRC(false))
	if f[4]>>6 != 1 || f[4]&0x20 == 0 {
		t.Fatalf("setup: unexpected frame header descriptor 0x%02x", f[4])
	}
	f[5], f[6] = 0, 0 // FCS = 0 + 256
	var zh zstd.Header
	if err := zh.Decode(f); err != nil || zh.FrameContentSize != 256 {
		t.Fatalf("setup: patched header %+v err=%v", zh, err)
	}
	return f
}

func frame(marker byte, b []byte) []byte { return append([]byte{marker}, b...) }

func TestDecodeRejects(t *testing.T) {
	dec := mustDecoder(t, DecoderOptions{})
	valid, err := proto.Marshal(testMessage(pb.MessageType_MESSAGE_TYPE_EVENT, ""))
	if err != nil {
		t.Fatal(err)
	}
	over := testMessage(pb.MessageType_MESSAGE_TYPE_CHECKPOINT, strings.Repeat("b", MaxMessageBytes))
	overPB, err := proto.Marshal(over)
	if err != nil {
		t.Fatal(err)
	}
	// Content of a 2 MiB zstd bomb: 2 MiB of zeros compresses to a few bytes.
	bomb := zstdFrame(t, make([]byte, 2<<20))
	// A frame that claims 256 bytes but holds a valid 60 KB message.
	big, err := proto.Marshal(testMessage(pb.MessageType_MESSAGE_TYPE_CHECKPOINT, strings.Repeat("c", 60_000)))
	if err != nil {
		t.Fatal(err)
	}
	liar := lyingZstdFrame(t, big)
	// A frame with a valid message but no declared size.
	noFCS := frameWithoutSize(t, valid)

	tests := []struct {
		name  string
		value []byte
		want  error
	}{
		{"empty", nil, ErrCorrupt},
		{"unknown marker 0x02", frame(0x02, valid), ErrCorrupt},
		{"unknown marker 0xff", frame(0xff, valid), ErrCorrupt},
		{"ascii text", []byte(`{"hello":"world"}`), ErrCorrupt},
		{"plain, truncated protobuf", frame(FrameNone, valid[:len(valid)-3]), ErrCorrupt},
		{"plain, bad wire data", frame(FrameNone, []byte{0xff, 0xff, 0xff}), ErrCorrupt},
		{"plain, no oneof", frame(FrameNone, nil), ErrCorrupt},
		{"plain, unknown field only", frame(FrameNone, []byte{0x58, 0x01}), ErrCorrupt},
		{"legacy, truncated", valid[:len(valid)-1], ErrCorrupt},
		{"zstd, not a zstd frame", frame(FrameZstd, []byte("not zstd at all")), ErrCorrupt},
		{"zstd, short header", frame(FrameZstd, []byte{0x28, 0xb5}), ErrCorrupt},
		{"zstd, truncated frame", frame(FrameZstd, zstdFrame(t, bytes.Repeat(valid, 30))[:20]), ErrCorrupt},
		{"zstd, no content size", frame(FrameZstd, noFCS), ErrCorrupt},
		{"zstd, skippable frame", frame(FrameZstd, []byte{0x50, 0x2a, 0x4d, 0x18, 0, 0, 0, 0}), ErrCorrupt},
		{"zstd, content is not protobuf", frame(FrameZstd, zstdFrame(t, bytes.Repeat([]byte{0xff}, 1000))), ErrCorrupt},
		{"zstd, lies about its size", frame(FrameZstd, liar), ErrCorrupt},
		{"zstd, two frames", frame(FrameZstd, append(zstdFrame(t, valid), zstdFrame(t, valid)...)), ErrCorrupt},
		{"zstd, declares 2 MiB", frame(FrameZstd, bomb), ErrTooLarge},
		{"plain, over 1 MiB", frame(FrameNone, overPB), ErrTooLarge},
		{"legacy, over 1 MiB", overPB, ErrTooLarge},
		{"zstd, over 1 MiB", frame(FrameZstd, zstdFrame(t, overPB)), ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, err := dec.Decode(tt.value)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decode = %v, %v; want %v", msg, err, tt.want)
			}
			other := ErrTooLarge
			if tt.want == ErrTooLarge {
				other = ErrCorrupt
			}
			if errors.Is(err, other) {
				t.Fatalf("error %v is both corrupt and too large", err)
			}
		})
	}
}

func TestDecodeCustomLimit(t *testing.T) {
	enc := mustEncoder(t, DefaultEncoderOptions())
	dec := mustDecoder(t, DecoderOptions{MaxMessageBytes: 4096})
	for _, tt := range []struct {
		pad  string
		want error
	}{
		{strings.Repeat("q", 3000), nil},
		{strings.Repeat("q", 5000), ErrTooLarge},               // compressed frame, declared size over 4096
		{randomText(t, 5000), ErrTooLarge},                     // plain frame over 4096
		{strings.Repeat("q", 4096-250), nil},                   // near the limit, compressed
		{strings.Repeat("q", 4096+10), ErrTooLarge},            // just over, compressed
		{randomText(t, 4096-250), nil},                         // near the limit, plain
		{randomText(t, 4096) + randomText(t, 10), ErrTooLarge}, // just over, plain
	} {
		rec, err := enc.Encode(testMessage(pb.MessageType_MESSAGE_TYPE_CHECKPOINT, tt.pad))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := dec.Decode(rec); !errors.Is(err, tt.want) && !(err == nil && tt.want == nil) {
			t.Errorf("pad %d bytes, frame 0x%02x: Decode error %v, want %v", len(tt.pad), rec[0], err, tt.want)
		}
	}
}

func TestEncodeConcurrent(t *testing.T) {
	enc := mustEncoder(t, DefaultEncoderOptions())
	dec := mustDecoder(t, DecoderOptions{})
	const workers, perWorker = 8, 50
	pads := []string{"", strings.Repeat("shared words ", 100), randomText(t, 2000)}
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				typ := allMessageTypes[(w+i)%len(allMessageTypes)]
				msg := testMessage(typ, pads[i%len(pads)])
				HeaderOf(msg).Sequence = uint64(w*perWorker + i + 1)
				rec, err := enc.Encode(msg)
				if err != nil {
					errs <- err
					return
				}
				got, err := dec.Decode(rec)
				if err != nil {
					errs <- err
					return
				}
				if !proto.Equal(got, msg) {
					errs <- fmt.Errorf("worker %d message %d: round trip differs", w, i)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// FuzzDecodeRecord feeds arbitrary record values to the decoder: it must
// never panic, must classify every failure as corrupt or too large, and
// whatever it accepts must survive an encode/decode round trip.
func FuzzDecodeRecord(f *testing.F) {
	enc := mustEncoder(f, DefaultEncoderOptions())
	for _, typ := range allMessageTypes {
		for _, pad := range []string{"", strings.Repeat("fuzz ", 200)} {
			msg := testMessage(typ, pad)
			rec, err := enc.Encode(msg)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(rec)
			raw, err := proto.Marshal(msg)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(raw)
		}
	}
	f.Add([]byte{})
	f.Add([]byte{FrameZstd, 0x28, 0xb5, 0x2f, 0xfd})
	dec := mustDecoder(f, DecoderOptions{MaxMessageBytes: 64 << 10})
	f.Fuzz(func(t *testing.T, value []byte) {
		msg, err := dec.Decode(value)
		if err != nil {
			if msg != nil {
				t.Fatal("message returned with an error")
			}
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		if msg.GetMessage() == nil {
			t.Fatal("accepted a message with no oneof")
		}
		rec, err := enc.Encode(msg)
		if errors.Is(err, ErrInvalidMessage) || errors.Is(err, ErrTooLarge) {
			return // no header to encode into, or deterministic re-encoding grew it
		}
		if err != nil {
			t.Fatalf("re-encoding an accepted message: %v", err)
		}
		again, err := dec.Decode(rec)
		if errors.Is(err, ErrTooLarge) {
			return
		}
		if err != nil {
			t.Fatalf("decoding a re-encoded message: %v", err)
		}
		// Compare bytes, not proto.Equal, which never equates NaN floats.
		want, err := proto.MarshalOptions{Deterministic: true}.Marshal(msg)
		if err != nil {
			t.Fatal(err)
		}
		got, err := proto.MarshalOptions{Deterministic: true}.Marshal(again)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatal("re-encoded message differs")
		}
	})
}

// TestWriteFuzzCorpus regenerates testdata/fuzz/FuzzDecodeRecord when
// DASHSTREAM_WRITE_CORPUS=1: valid frames of every kind plus junk.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("DASHSTREAM_WRITE_CORPUS") != "1" {
		t.Skip("set DASHSTREAM_WRITE_CORPUS=1 to regenerate the seed corpus")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzDecodeRecord")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name string, value []byte) {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", value)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	plainEnc := mustEncoder(t, EncoderOptions{})
	zstdEnc := mustEncoder(t, EncoderOptions{Compression: true, CompressionThreshold: 1})
	for _, typ := range allMessageTypes {
		name := strings.ToLower(strings.TrimPrefix(typ.String(), "MESSAGE_TYPE_"))
		msg := testMessage(typ, strings.Repeat("seed ", 40))
		raw, err := proto.Marshal(msg)
		if err != nil {
			t.Fatal(err)
		}
		write("legacy_"+name, raw)
		rec, err := plainEnc.Encode(msg)
		if err != nil {
			t.Fatal(err)
		}
		write("plain_"+name, rec)
		if rec, err = zstdEnc.Encode(msg); err != nil || rec[0] != FrameZstd {
			t.Fatalf("zstd seed for %v: frame %x, %v", typ, rec[:1], err)
		}
		write("zstd_"+name, rec)
	}
	valid, err := plainEnc.Encode(testMessage(pb.MessageType_MESSAGE_TYPE_EVENT, ""))
	if err != nil {
		t.Fatal(err)
	}
	big, err := proto.Marshal(testMessage(pb.MessageType_MESSAGE_TYPE_CHECKPOINT, strings.Repeat("c", 2000)))
	if err != nil {
		t.Fatal(err)
	}
	write("junk_empty", nil)
	write("junk_marker", frame(0x02, valid[1:]))
	write("junk_text", []byte(`{"not":"a record"}`))
	write("junk_truncated", valid[:len(valid)/2])
	write("junk_zstd_no_size", frame(FrameZstd, frameWithoutSize(t, valid[1:])))
	write("junk_zstd_liar", frame(FrameZstd, lyingZstdFrame(t, big)))
	write("junk_zstd_bomb", frame(FrameZstd, zstdFrame(t, make([]byte, 2<<20))))
	write("junk_zstd_two_frames", frame(FrameZstd, append(zstdFrame(t, valid[1:]), zstdFrame(t, valid[1:])...)))
	write("junk_zstd_skippable", frame(FrameZstd, []byte{0x50, 0x2a, 0x4d, 0x18, 0, 0, 0, 0}))
}

// TestWithoutZstdFlag: removing the compression flag from a message
// marshaled with ZSTD gives exactly its deterministic encoding without it,
// for every message type and around the sizes where the header's and the
// message's length prefixes lose a byte.
func TestWithoutZstdFlag(t *testing.T) {
	det := proto.MarshalOptions{Deterministic: true}
	shrunk := 0 // cases where a length prefix lost a byte too
	for _, typ := range allMessageTypes {
		for _, tenant := range []int{1, 60, 78, 79, 80, 81, 82, 83, 84, 200} {
			for _, pad := range []int{0, 40, 60, 70, 16_300, 16_330, 16_350, 16_400, 2_097_000} {
				msg := testMessage(typ, strings.Repeat("p", pad))
				h := HeaderOf(msg)
				h.TenantId = strings.Repeat("t", tenant)
				h.Compression = pb.CompressionType_COMPRESSION_NONE
				want, err := det.Marshal(msg)
				if err != nil {
					t.Fatal(err)
				}
				h.Compression = pb.CompressionType_COMPRESSION_ZSTD
				flagged, err := det.Marshal(msg)
				if err != nil {
					t.Fatal(err)
				}
				got, ok := withoutZstdFlag([]byte{FrameNone}, flagged)
				if !ok {
					t.Fatalf("%v tenant %d pad %d: not recognised", typ, tenant, pad)
				}
				if !bytes.Equal(got[1:], want) || got[0] != FrameNone {
					t.Fatalf("%v tenant %d pad %d: %d bytes, want the %d of the plain encoding", typ, tenant, pad, len(got)-1, len(want))
				}
				if len(flagged)-len(want) > 2 {
					shrunk++
				}
			}
		}
	}
	if shrunk == 0 {
		t.Fatal("no case crossed a length prefix boundary")
	}
	// Anything else is refused rather than mangled.
	plain, err := det.Marshal(testMessage(pb.MessageType_MESSAGE_TYPE_EVENT, ""))
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		"no flag":   plain,
		"empty":     nil,
		"truncated": plain[:len(plain)-3],
		"trailing":  append(append([]byte(nil), plain...), 0),
		"not bytes": {0x08, 0x01},
	} {
		if _, ok := withoutZstdFlag(nil, b); ok {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestEncodeLaterFinish: EncodeLater followed by Finish gives Encode's
// record value for every choice; a pending value's MaxSize bounds it.
func TestEncodeLaterFinish(t *testing.T) {
	enc := mustEncoder(t, DefaultEncoderOptions())
	pads := map[string]string{
		"small":          "tiny",
		"compressible":   strings.Repeat("abcabcabc ", 60),
		"incompressible": randomText(t, 4000),
	}
	for _, typ := range allMessageTypes {
		for name, pad := range pads {
			t.Run(typ.String()+"/"+name, func(t *testing.T) {
				want, err := enc.Encode(testMessage(typ, pad))
				if err != nil {
					t.Fatal(err)
				}
				v, err := enc.EncodeLater(testMessage(typ, pad))
				if err != nil {
					t.Fatal(err)
				}
				if v.Pending() != (name != "small") {
					t.Fatalf("pending %v for a %s message", v.Pending(), name)
				}
				got := enc.Finish(v)
				if !bytes.Equal(got, want) {
					t.Fatalf("Finish gave %d bytes (frame 0x%02x), Encode %d (frame 0x%02x)", len(got), got[0], len(want), want[0])
				}
				if len(got) > v.MaxSize() {
					t.Fatalf("record %d bytes, MaxSize %d", len(got), v.MaxSize())
				}
			})
		}
	}
}
