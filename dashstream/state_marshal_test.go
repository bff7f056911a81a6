package dashstream

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
)

// checkStateFast asserts that the StateDiff and Checkpoint fast path
// either declines msg or sizes and writes exactly what proto's
// deterministic marshaller writes, and that it declines whatever proto
// rejects. It reports whether the fast path handled msg.
func checkStateFast(t testing.TB, msg *pb.DashStreamMessage) bool {
	t.Helper()
	want, werr := proto.MarshalOptions{Deterministic: true}.Marshal(msg)
	n, ok := sizeStateFast(msg)
	lead := []byte{FrameNone}
	got, aok := appendStateFast(lead, msg)
	if ok != aok {
		t.Fatalf("size says %v, append says %v", ok, aok)
	}
	if !ok {
		if len(got) != 1 {
			t.Fatal("declined but appended")
		}
		return false
	}
	if werr != nil {
		t.Fatalf("fast path accepted a message proto rejects (%v)", werr)
	}
	if got[0] != FrameNone || !bytes.Equal(got[1:], want) {
		t.Fatalf("fast path differs from proto\n got %x\nwant %x\nmsg %v", got[1:], want, msg)
	}
	if n != len(want) {
		t.Fatalf("size %d, encoding %d bytes", n, len(want))
	}
	return true
}

func opType(o pb.DiffOperation_OpType) *pb.DiffOperation_OpType { return &o }

func valueEncoding(e pb.DiffOperation_ValueEncoding) *pb.DiffOperation_ValueEncoding { return &e }

func strPtr(s string) *string { return &s }

func stateDiffMsg(sd *pb.StateDiff) *pb.DashStreamMessage {
	return &pb.DashStreamMessage{Message: &pb.DashStreamMessage_StateDiff{StateDiff: sd}}
}

func checkpointMsg(cp *pb.Checkpoint) *pb.DashStreamMessage {
	return &pb.DashStreamMessage{Message: &pb.DashStreamMessage_Checkpoint{Checkpoint: cp}}
}

// TestStateFastEdgeCases: zero values that must still be written (set
// optional fields, empty map keys and values, an empty header), what must
// be left out, and what the fast path leaves to proto.
func TestStateFastEdgeCases(t *testing.T) {
	add := &pb.DiffOperation{Op: opType(pb.DiffOperation_OP_TYPE_ADD), Path: strPtr(""), Value: []byte("null"), Encoding: valueEncoding(0)}
	tests := []struct {
		name string
		msg  *pb.DashStreamMessage
		fast bool
	}{
		{"diff: ops with zero op and encoding", stateDiffMsg(&pb.StateDiff{Header: &pb.Header{Sequence: 7}, Operations: []*pb.DiffOperation{add, {Op: opType(3), Path: strPtr("/a/0"), From: strPtr("/b")}}, StateHash: make([]byte, 32)}), true},
		{"diff: unset optional fields", stateDiffMsg(&pb.StateDiff{Operations: []*pb.DiffOperation{{}}}), true},
		{"diff: empty header", stateDiffMsg(&pb.StateDiff{Header: &pb.Header{}, FullState: []byte(`{}`), BaseCheckpointId: []byte{1}}), true},
		{"diff: empty", stateDiffMsg(&pb.StateDiff{}), true},
		{"diff: nil operation", stateDiffMsg(&pb.StateDiff{Operations: []*pb.DiffOperation{nil}}), false},
		{"diff: invalid UTF-8 path", stateDiffMsg(&pb.StateDiff{Operations: []*pb.DiffOperation{{Path: strPtr("\xff")}}}), false},
		{"diff: invalid UTF-8 from", stateDiffMsg(&pb.StateDiff{Operations: []*pb.DiffOperation{{From: strPtr("\xff")}}}), false},
		{"diff: invalid UTF-8 thread", stateDiffMsg(&pb.StateDiff{Header: &pb.Header{ThreadId: "\xff"}}), false},
		{"checkpoint: translator's", checkpointMsg(&pb.Checkpoint{Header: &pb.Header{TimestampUs: 5, Sequence: 9, ThreadId: "t"}, CheckpointId: make([]byte, 16),
			State: []byte(`{"a":1}`), StateType: "application/json", Checksum: make([]byte, 32),
			Metadata: map[string]string{"run_id": "r", "reason": "interval", "node_id": "n", "step": "3"}}), true},
		{"checkpoint: empty key and value", checkpointMsg(&pb.Checkpoint{Metadata: map[string]string{"": "", "b": ""}, StorageUri: "s3://x"}), true},
		{"checkpoint: many entries", checkpointMsg(&pb.Checkpoint{Metadata: map[string]string{"a": "1", "b": "2", "c": "3", "d": "4", "e": "5", "f": "6", "g": "7", "h": "8", "i": "9", "j": "10"}}), true},
		{"checkpoint: empty", checkpointMsg(&pb.Checkpoint{}), true},
		{"checkpoint: compression info", checkpointMsg(&pb.Checkpoint{CompressionInfo: &pb.CompressionInfo{}}), false},
		{"checkpoint: invalid UTF-8 value", checkpointMsg(&pb.Checkpoint{Metadata: map[string]string{"a": "\xff"}}), false},
		{"checkpoint: invalid UTF-8 state type", checkpointMsg(&pb.Checkpoint{StateType: "\xff"}), false},
		{"event", eventMsg(&pb.Event{}), false},
		{"nothing set", &pb.DashStreamMessage{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := checkStateFast(t, tc.msg); got != tc.fast {
				t.Fatalf("fast path taken %v, want %v", got, tc.fast)
			}
		})
	}
}

// TestStateFastMatchesProtoRandom: random StateDiffs and Checkpoints
// (random headers, operations and metadata, now and then invalid UTF-8)
// are written as proto writes them, or declined.
func TestStateFastMatchesProtoRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	taken := 0
	for range 3000 {
		if checkStateFast(t, randomStateMsg(r)) {
			taken++
		}
	}
	if taken < 2000 {
		t.Fatalf("fast path taken for %d of 3000 messages", taken)
	}
}

// TestEncoderStateFastPathFrames: StateDiffs and Checkpoints through the
// Encoder (compressed or not, sized or not) decode to what proto writes
// for the message as framed.
func TestEncoderStateFastPathFrames(t *testing.T) {
	dec := mustDecoder(t, DecoderOptions{})
	r := rand.New(rand.NewPCG(8, 9))
	for _, compress := range []bool{true, false} {
		o := DefaultEncoderOptions()
		o.Compression = compress
		enc := mustEncoder(t, o)
		frames := map[byte]int{}
		for range 500 {
			msg := randomStateMsg(r)
			if HeaderOf(msg) == nil {
				continue
			}
			v, err := enc.EncodeLater(msg)
			if err != nil {
				if _, perr := (proto.MarshalOptions{Deterministic: true}).Marshal(msg); perr == nil {
					t.Fatalf("encode failed where proto succeeds: %v", err)
				}
				continue
			}
			rec := enc.Finish(v)
			frames[rec[0]]++
			got, err := dec.Decode(rec)
			if err != nil {
				t.Fatalf("decoding: %v", err)
			}
			// The decoded message keeps the header as it went out.
			h := HeaderOf(msg)
			h.Compression = HeaderOf(got).Compression
			if !proto.Equal(got, msg) {
				t.Fatalf("decoded %v\nwant %v", got, msg)
			}
		}
		if frames[FrameNone] == 0 || (compress && frames[FrameZstd] == 0) {
			t.Fatalf("compression %v: frames seen %v", compress, frames)
		}
	}
}

func randomStateMsg(r *rand.Rand) *pb.DashStreamMessage {
	var h *pb.Header
	if r.IntN(8) != 0 {
		h = randomHeader(r)
	}
	if r.IntN(2) == 0 {
		sd := &pb.StateDiff{Header: h, BaseCheckpointId: evBytes(r), StateHash: evBytes(r)}
		if r.IntN(4) == 0 {
			sd.FullState = evBytes(r)
		}
		for range r.IntN(5) {
			op := &pb.DiffOperation{Value: evBytes(r)}
			if r.IntN(4) != 0 {
				op.Op = opType(pb.DiffOperation_OpType(r.IntN(7)))
			}
			if r.IntN(4) != 0 {
				op.Path = strPtr(evString(r))
			}
			if r.IntN(4) == 0 {
				op.From = strPtr(evString(r))
			}
			if r.IntN(4) != 0 {
				op.Encoding = valueEncoding(pb.DiffOperation_ValueEncoding(r.IntN(3)))
			}
			sd.Operations = append(sd.Operations, op)
		}
		return stateDiffMsg(sd)
	}
	cp := &pb.Checkpoint{Header: h, CheckpointId: evBytes(r), State: evBytes(r), StateType: evString(r), Checksum: evBytes(r), StorageUri: evString(r)}
	if r.IntN(3) != 0 {
		cp.Metadata = map[string]string{}
		for range r.IntN(10) {
			cp.Metadata[evString(r)] = evString(r)
		}
	}
	return checkpointMsg(cp)
}
