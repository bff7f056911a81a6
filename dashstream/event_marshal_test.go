package dashstream

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	pb "github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
)

// checkEventFast asserts that marshalEventFast either declines msg or writes
// exactly what proto's deterministic marshaller writes, with and without a
// frame marker before it, and that it declines whatever proto rejects. It
// reports whether the fast path handled msg.
func checkEventFast(t testing.TB, msg *pb.DashStreamMessage) bool {
	t.Helper()
	want, werr := proto.MarshalOptions{Deterministic: true}.Marshal(msg)
	got, ok := marshalEventFast(nil, msg)
	if !ok {
		if got != nil {
			t.Fatalf("declined but returned %d bytes", len(got))
		}
		return false
	}
	if werr != nil {
		t.Fatalf("fast path accepted a message proto rejects (%v)", werr)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("fast path differs from proto\n got %x\nwant %x\nmsg %v", got, want, msg)
	}
	if len(got) != cap(got) {
		t.Fatalf("buffer not sized once: len %d cap %d", len(got), cap(got))
	}
	lead := []byte{FrameZstd}
	framed, ok := marshalEventFast(lead, msg)
	if !ok || len(framed) != cap(framed) || framed[0] != FrameZstd || !bytes.Equal(framed[1:], want) {
		t.Fatalf("after a frame marker: ok %v len %d cap %d got %x want 01%x", ok, len(framed), cap(framed), framed, want)
	}
	if lead[0] != FrameZstd {
		t.Fatal("lead was modified")
	}
	return true
}

func attrS(s string) *pb.AttributeValue {
	return &pb.AttributeValue{Value: &pb.AttributeValue_StringValue{StringValue: s}}
}
func attrI(v int64) *pb.AttributeValue {
	return &pb.AttributeValue{Value: &pb.AttributeValue_IntValue{IntValue: v}}
}
func attrF(v float64) *pb.AttributeValue {
	return &pb.AttributeValue{Value: &pb.AttributeValue_FloatValue{FloatValue: v}}
}
func attrB(v bool) *pb.AttributeValue {
	return &pb.AttributeValue{Value: &pb.AttributeValue_BoolValue{BoolValue: v}}
}
func attrY(v []byte) *pb.AttributeValue {
	return &pb.AttributeValue{Value: &pb.AttributeValue_BytesValue{BytesValue: v}}
}

func eventMsg(ev *pb.Event) *pb.DashStreamMessage {
	return &pb.DashStreamMessage{Message: &pb.DashStreamMessage_Event{Event: ev}}
}

func TestEventFastEdgeCases(t *testing.T) {
	withUnknown := func(m proto.Message) proto.Message {
		m.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 7))
		return m
	}
	manyAttrs := map[string]*pb.AttributeValue{}
	for i := range 40 {
		manyAttrs[fmt.Sprintf("k%02d", 39-i)] = attrI(int64(i - 20))
	}
	cases := []struct {
		name string
		msg  *pb.DashStreamMessage
		fast bool // whether the fast path must handle it
	}{
		{"node end", wireNodeEnd(), true},
		{"empty event", eventMsg(&pb.Event{}), true},
		{"empty header", eventMsg(&pb.Event{Header: &pb.Header{}}), true},
		{"nil event", eventMsg(nil), false},
		{"not an event", testMessage(pb.MessageType_MESSAGE_TYPE_STATE_DIFF, "x"), false},
		{"no oneof", &pb.DashStreamMessage{}, false},
		{"full header", eventMsg(&pb.Event{Header: &pb.Header{
			MessageId: bytes.Repeat([]byte{0xab}, 16), TimestampUs: -1, TenantId: "tènant", ThreadId: "日本",
			Sequence: math.MaxUint64, Type: pb.MessageType(-5), ParentId: []byte{0}, Compression: pb.CompressionType_COMPRESSION_ZSTD,
			SchemaVersion: math.MaxUint32,
		}}), true},
		{"negative event type and duration", eventMsg(&pb.Event{EventType: pb.EventType(math.MinInt32), DurationUs: math.MinInt64}), true},
		{"empty map", eventMsg(&pb.Event{Attributes: map[string]*pb.AttributeValue{}}), true},
		{"zero values in oneof", eventMsg(&pb.Event{Attributes: map[string]*pb.AttributeValue{
			"s": attrS(""), "i": attrI(0), "f": attrF(0), "b": attrB(false), "y": attrY(nil), "y2": attrY([]byte{}),
		}}), true},
		{"special floats", eventMsg(&pb.Event{Attributes: map[string]*pb.AttributeValue{
			"nan": attrF(math.NaN()), "negzero": attrF(math.Copysign(0, -1)), "inf": attrF(math.Inf(1)),
			"-inf": attrF(math.Inf(-1)), "payload": attrF(math.Float64frombits(0x7ff8_0000_dead_beef)),
		}}), true},
		{"ints", eventMsg(&pb.Event{Attributes: map[string]*pb.AttributeValue{
			"min": attrI(math.MinInt64), "max": attrI(math.MaxInt64), "-1": attrI(-1), "127": attrI(127), "128": attrI(128),
		}}), true},
		{"unset oneof", eventMsg(&pb.Event{Attributes: map[string]*pb.AttributeValue{"x": {}}}), true},
		{"empty and unicode keys", eventMsg(&pb.Event{Attributes: map[string]*pb.AttributeValue{
			"": attrS("v"), "é": attrB(true), "e": attrB(true), "\x00": attrI(1), "🙂": attrS("🙂"), "Z": attrI(2),
		}}), true},
		{"more attributes than the stack holds", eventMsg(&pb.Event{NodeId: "n", Attributes: manyAttrs}), true},
		{"long values", eventMsg(&pb.Event{NodeId: strings.Repeat("n", 300), LlmRequestId: strings.Repeat("r", 20000),
			Attributes: map[string]*pb.AttributeValue{strings.Repeat("k", 200): attrY(make([]byte, 70000))}}), true},
		{"nil map value", eventMsg(&pb.Event{Attributes: map[string]*pb.AttributeValue{"x": nil}}), false},
		{"array value", eventMsg(&pb.Event{Attributes: map[string]*pb.AttributeValue{"a": {Value: &pb.AttributeValue_ArrayValue{
			ArrayValue: &pb.AttributeArray{Values: []*pb.AttributeValue{attrI(1)}}}}}}), false},
		{"map value", eventMsg(&pb.Event{Attributes: map[string]*pb.AttributeValue{"m": {Value: &pb.AttributeValue_MapValue{
			MapValue: &pb.AttributeMap{Values: map[string]*pb.AttributeValue{"b": attrI(1), "a": attrS("")}}}}}}), false},
		{"unknown field on message", func() *pb.DashStreamMessage {
			m := eventMsg(&pb.Event{})
			withUnknown(m)
			return m
		}(), false},
		{"unknown field on event", eventMsg(withUnknown(&pb.Event{NodeId: "n"}).(*pb.Event)), false},
		{"unknown field on header", eventMsg(&pb.Event{Header: withUnknown(&pb.Header{}).(*pb.Header)}), false},
		{"unknown field on value", eventMsg(&pb.Event{Attributes: map[string]*pb.AttributeValue{"u": withUnknown(attrI(1)).(*pb.AttributeValue)}}), false},
		{"invalid utf8 node", eventMsg(&pb.Event{NodeId: "\xff"}), false},
		{"invalid utf8 request id", eventMsg(&pb.Event{LlmRequestId: "a\xc3"}), false},
		{"invalid utf8 tenant", eventMsg(&pb.Event{Header: &pb.Header{TenantId: "\xff"}}), false},
		{"invalid utf8 thread", eventMsg(&pb.Event{Header: &pb.Header{ThreadId: "\xff"}}), false},
		{"invalid utf8 key", eventMsg(&pb.Event{Attributes: map[string]*pb.AttributeValue{"\xff": attrI(1)}}), false},
		{"invalid utf8 value", eventMsg(&pb.Event{Attributes: map[string]*pb.AttributeValue{"k": attrS("\xff")}}), false},
		{"invalid utf8 bytes are fine", eventMsg(&pb.Event{Attributes: map[string]*pb.AttributeValue{"k": attrY([]byte("\xff"))}}), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := checkEventFast(t, tc.msg); got != tc.fast {
				t.Fatalf("fast path taken = %v, want %v", got, tc.fast)
			}
		})
	}
}

// TestEventFastMatchesProtoRandom: the fast path and proto agree on 20,000
// random Events covering zero values, extremes, NaN and -0, unicode and
// invalid UTF-8, large maps, and shapes only proto handles.
func TestEventFastMatchesProtoRandom(t *testing.T) {
	const n = 20_000
	r := rand.New(rand.NewPCG(0x5eed, 0xda5))
	fast := 0
	for i := range n {
		msg := randomEventMsg(r)
		if checkEventFast(t, msg) {
			fast++
		}
		if t.Failed() {
			t.Fatalf("message %d", i)
		}
	}
	// Both branches must be exercised for the comparison to mean anything.
	if fast < n/2 || fast == n {
		t.Fatalf("fast path took %d of %d messages; the generator must hit both paths", fast, n)
	}
}

// TestEncoderFastPathFrames: records from Encode (plain and zstd) carry
// exactly the deterministic proto bytes of the message.
func TestEncoderFastPathFrames(t *testing.T) {
	enc := mustEncoder(t, DefaultEncoderOptions())
	dec := mustDecoder(t, DecoderOptions{})
	r := rand.New(rand.NewPCG(7, 11))
	frames := map[byte]int{}
	for range 500 {
		msg := randomEventMsg(r)
		ev := msg.GetEvent()
		if ev == nil || ev.Header == nil {
			continue
		}
		if r.IntN(3) == 0 {
			ev.NodeId = strings.Repeat("padding ", 100) // compressible, above the threshold
		}
		rec, err := enc.Encode(msg)
		if err != nil {
			if _, perr := (proto.MarshalOptions{Deterministic: true}).Marshal(msg); perr == nil {
				t.Fatalf("encode failed where proto succeeds: %v", err)
			}
			continue
		}
		frames[rec[0]]++
		want, err := proto.MarshalOptions{Deterministic: true}.Marshal(msg) // header now says how it was framed
		if err != nil {
			t.Fatal(err)
		}
		var got []byte
		switch rec[0] {
		case FrameNone:
			got = rec[1:]
		case FrameZstd:
			if _, err := dec.Decode(rec); err != nil {
				t.Fatalf("decoding zstd record: %v", err)
			}
			if got, err = dec.decompress(rec[1:]); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("frame 0x%02x payload differs\n got %x\nwant %x", rec[0], got, want)
		}
	}
	if frames[FrameNone] == 0 || frames[FrameZstd] == 0 {
		t.Fatalf("frames seen %v: both kinds must be exercised", frames)
	}
}

// FuzzEventMarshal drives the random Event generator with the fuzzer's
// bytes, and also parses them as a message: either way the fast path must
// match proto byte for byte or decline.
func FuzzEventMarshal(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f"))
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(wireNodeEnd())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkEventFast(t, randomEventMsg(rand.New(&byteSource{data: data})))
		var msg pb.DashStreamMessage
		if proto.Unmarshal(data, &msg) == nil {
			checkEventFast(t, &msg)
		}
	})
}

// TestWriteEventMarshalCorpus regenerates testdata/fuzz/FuzzEventMarshal when
// DASHSTREAM_WRITE_CORPUS=1: encoded Events, including fallback shapes.
func TestWriteEventMarshalCorpus(t *testing.T) {
	if os.Getenv("DASHSTREAM_WRITE_CORPUS") != "1" {
		t.Skip("set DASHSTREAM_WRITE_CORPUS=1 to regenerate the seed corpus")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzEventMarshal")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 12 {
		msg := randomEventMsg(r)
		if i == 0 {
			msg = wireNodeEnd()
		}
		raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(msg)
		if err != nil {
			continue // invalid UTF-8: proto refuses it
		}
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", raw)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("event_%02d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", bytes.Repeat([]byte{0x9e, 0x37, 0x79, 0xb9}, 64))
	if err := os.WriteFile(filepath.Join(dir, "generator_bytes"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// byteSource is a rand.Source reading the fuzzer's bytes, then a fixed
// PCG stream (a constant stream would make rand's rejection sampling loop).
type byteSource struct {
	data []byte
	rest *rand.PCG
}

func (s *byteSource) Uint64() uint64 {
	if len(s.data) == 0 {
		if s.rest == nil {
			s.rest = rand.NewPCG(1, 2)
		}
		return s.rest.Uint64()
	}
	var buf [8]byte
	n := copy(buf[:], s.data)
	s.data = s.data[n:]
	return binary.LittleEndian.Uint64(buf[:])
}

// randomEventMsg builds a random Event message; about one in five needs
// the proto fallback (array/map values, nil values, unknown fields,
// invalid UTF-8).
func randomEventMsg(r *rand.Rand) *pb.DashStreamMessage {
	ev := &pb.Event{}
	if r.IntN(10) != 0 {
		ev.Header = randomHeader(r)
	}
	if r.IntN(3) != 0 {
		ev.EventType = pb.EventType(evInt32(r))
	}
	ev.NodeId = evString(r)
	ev.LlmRequestId = evString(r)
	if r.IntN(3) != 0 {
		ev.DurationUs = evInt64(r)
	}
	switch r.IntN(6) {
	case 0: // nil map
	case 1:
		ev.Attributes = map[string]*pb.AttributeValue{}
	default:
		n := r.IntN(8)
		if r.IntN(8) == 0 {
			n = 10 + r.IntN(30)
		}
		ev.Attributes = make(map[string]*pb.AttributeValue, n)
		for range n {
			ev.Attributes[evString(r)] = evAttr(r, 0)
		}
	}
	msg := eventMsg(ev)
	if r.IntN(150) == 0 {
		var target proto.Message = msg
		switch r.IntN(3) {
		case 0:
			target = ev
		case 1:
			if ev.Header != nil {
				target = ev.Header
			}
		}
		target.ProtoReflect().SetUnknown(protowire.AppendBytes(protowire.AppendTag(nil, 100+protowire.Number(r.IntN(50)), protowire.BytesType), []byte("u")))
	}
	return msg
}

func randomHeader(r *rand.Rand) *pb.Header {
	h := &pb.Header{}
	if r.IntN(3) != 0 {
		h.MessageId = evBytes(r)
	}
	if r.IntN(3) != 0 {
		h.TimestampUs = evInt64(r)
	}
	h.TenantId = evString(r)
	h.ThreadId = evString(r)
	if r.IntN(3) != 0 {
		h.Sequence = evInt64Bits(r)
	}
	if r.IntN(3) != 0 {
		h.Type = pb.MessageType(evInt32(r))
	}
	if r.IntN(3) == 0 {
		h.ParentId = evBytes(r)
	}
	if r.IntN(3) == 0 {
		h.Compression = pb.CompressionType(evInt32(r))
	}
	if r.IntN(3) != 0 {
		h.SchemaVersion = uint32(evInt64Bits(r))
	}
	return h
}

// evAttr: scalars mostly, sometimes arrays and maps (proto fallback).
func evAttr(r *rand.Rand, depth int) *pb.AttributeValue {
	switch k := r.IntN(40); {
	case k < 8:
		return attrS(evString(r))
	case k < 16:
		return attrI(evInt64(r))
	case k < 24:
		return attrF(evFloat(r))
	case k < 29:
		return attrB(r.IntN(2) == 0)
	case k < 34:
		return attrY(evBytes(r))
	case k < 36:
		return &pb.AttributeValue{}
	case k < 37 && depth == 0:
		return nil
	case k < 38 && depth < 2:
		arr := &pb.AttributeArray{}
		for range r.IntN(4) {
			arr.Values = append(arr.Values, evAttr(r, depth+1))
		}
		return &pb.AttributeValue{Value: &pb.AttributeValue_ArrayValue{ArrayValue: arr}}
	case k < 39 && depth < 2:
		m := &pb.AttributeMap{Values: map[string]*pb.AttributeValue{}}
		for range r.IntN(4) {
			if v := evAttr(r, depth+1); v != nil {
				m.Values[evString(r)] = v
			}
		}
		return &pb.AttributeValue{Value: &pb.AttributeValue_MapValue{MapValue: m}}
	default:
		return attrI(0)
	}
}

var evStringParts = []string{"", "a", "node", "run_id", "é", "日本", "🙂", "\x00", " ", "duration_us", "Z", "z", "\u2028"}

// evString: often empty; sometimes long (multi-byte length varints);
// rarely invalid UTF-8.
func evString(r *rand.Rand) string {
	switch r.IntN(12) {
	case 0, 1, 2:
		return ""
	case 3:
		return strings.Repeat("x", 100+r.IntN(300))
	}
	var b strings.Builder
	for range 1 + r.IntN(4) {
		b.WriteString(evStringParts[r.IntN(len(evStringParts))])
	}
	if r.IntN(80) == 0 {
		b.WriteString("\xff")
	}
	return b.String()
}

func evBytes(r *rand.Rand) []byte {
	switch r.IntN(6) {
	case 0:
		return nil
	case 1:
		return []byte{}
	}
	b := make([]byte, r.IntN(40))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// evInt64: zero, small of either sign, extremes, or any 64 bits.
func evInt64(r *rand.Rand) int64 {
	switch r.IntN(6) {
	case 0:
		return 0
	case 1:
		return int64(r.IntN(256)) - 128
	case 2:
		return []int64{math.MinInt64, math.MaxInt64, -1, 1 << 35}[r.IntN(4)]
	default:
		return int64(r.Uint64())
	}
}

func evInt64Bits(r *rand.Rand) uint64 { return uint64(evInt64(r)) }

func evInt32(r *rand.Rand) int32 {
	if r.IntN(2) == 0 {
		return int32(r.IntN(100))
	}
	return int32(r.Uint32())
}

func evFloat(r *rand.Rand) float64 {
	switch r.IntN(8) {
	case 0:
		return 0
	case 1:
		return math.Copysign(0, -1)
	case 2:
		return math.NaN()
	case 3:
		return math.Float64frombits(0x7ff0_0000_0000_0001 | r.Uint64()&0x000f_ffff_ffff_ffff) // NaN payloads
	case 4:
		return math.Inf(1 - 2*r.IntN(2))
	default:
		return math.Float64frombits(r.Uint64())
	}
}
