package uiworker

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/dashstream/dashstreamexporter/dashstream"
	pb "github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
)

// longChatState is the JSON of a conversation of n messages (about 700
// bytes each: 200 messages are ~140 KiB, more than one zstd block).
func longChatState(n int) []byte {
	r := rand.New(rand.NewPCG(uint64(n), 7))
	words := strings.Fields(`the agent calls a tool to search the docs and reads the result before it answers
		user asks why the deployment failed after the config change latency retry timeout cluster pod image`)
	var b bytes.Buffer
	b.WriteString(`{"messages":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		role := [...]string{"user", "assistant", "tool"}[i%3]
		fmt.Fprintf(&b, `{"id":"msg_%016x","role":%q,"content":"`, r.Uint64(), role)
		for k := 20 + r.IntN(200); k > 0; k-- {
			b.WriteString(words[r.IntN(len(words))])
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, `","tokens":%d}`, r.IntN(2000))
	}
	fmt.Fprintf(&b, `],"step":%d,"summary":"a long conversation"}`, n)
	return b.Bytes()
}

// TestZstdLevelsReachThePage: full states and checkpoints of long chat
// states compressed at every supported zstd level, at the default window
// and at the smallest and a 32 KiB one, decode with fzstd on the UI's
// browser path (declared content size checked first, as the UI does) and
// their state hashes verify.
func TestZstdLevelsReachThePage(t *testing.T) {
	type variant struct {
		level  dashstream.ZstdLevel
		window int
	}
	var variants []variant
	for _, l := range dashstream.ZstdLevels() {
		for _, w := range []int{0, dashstream.MinZstdWindow, 32 << 10} {
			variants = append(variants, variant{l, w})
		}
	}
	sizes := []int{50, 200}
	states := make([][]byte, len(sizes))
	hashes := make([][32]byte, len(sizes))
	for i, n := range sizes {
		states[i] = longChatState(n)
		v, err := dashstream.ParseJSON(states[i])
		if err != nil {
			t.Fatal(err)
		}
		hashes[i] = dashstream.StateHash(v)
	}
	var values [][]byte
	for vi, v := range variants {
		enc, err := dashstream.NewEncoder(dashstream.EncoderOptions{Compression: true, Level: v.level, Window: v.window})
		if err != nil {
			t.Fatal(err)
		}
		thread := fmt.Sprintf("zstd-%s-%d", v.level, v.window)
		seq := uint64(0)
		hdr := func(typ pb.MessageType) *pb.Header {
			seq++
			return &pb.Header{MessageId: bytes.Repeat([]byte{byte(vi), byte(seq)}, 8), TimestampUs: 1_796_000_000_000_000 + int64(seq),
				ThreadId: thread, Sequence: seq, Type: typ, SchemaVersion: 1}
		}
		for i := range sizes {
			msgs := []*pb.DashStreamMessage{
				{Message: &pb.DashStreamMessage_StateDiff{StateDiff: &pb.StateDiff{Header: hdr(pb.MessageType_MESSAGE_TYPE_STATE_DIFF),
					FullState: states[i], StateHash: hashes[i][:]}}},
				{Message: &pb.DashStreamMessage_Checkpoint{Checkpoint: &pb.Checkpoint{Header: hdr(pb.MessageType_MESSAGE_TYPE_CHECKPOINT),
					CheckpointId: bytes.Repeat([]byte{byte(vi)}, 16), State: states[i], StateType: "application/json",
					Metadata: map[string]string{"run_id": thread, "node_id": "agent", "step": fmt.Sprint(sizes[i]), "reason": "interval"}}}},
			}
			for _, m := range msgs {
				rec, err := enc.Encode(m)
				if err != nil {
					t.Fatal(err)
				}
				if rec[0] != dashstream.FrameZstd {
					t.Fatalf("%s: a %d-byte state was not compressed", thread, len(states[i]))
				}
				values = append(values, rec)
			}
		}
	}
	path := filepath.Join(t.TempDir(), "zstd-levels.jsonl")
	writeLines(t, path, values)
	out := runCheck(t, nil, path)
	want := fmt.Sprintf("%d records (%d zstd frames)", len(values), len(values))
	if !strings.Contains(out, want) {
		t.Fatalf("want %q from the check:\n%s", want, out)
	}
	if want := fmt.Sprintf("(%d hashes verified)", len(variants)*len(sizes)); !strings.Contains(out, want) {
		t.Fatalf("want %q from the check:\n%s", want, out)
	}
	t.Log(out)
}

// TestCheckerRejectsFrameWithoutContentSize proves the check fails where
// the UI would: a streamed zstd frame that does not declare its size.
func TestCheckerRejectsFrameWithoutContentSize(t *testing.T) {
	state := longChatState(20)
	msg := &pb.DashStreamMessage{Message: &pb.DashStreamMessage_Checkpoint{Checkpoint: &pb.Checkpoint{
		Header:       &pb.Header{MessageId: make([]byte, 16), ThreadId: "t", Sequence: 1, Type: pb.MessageType_MESSAGE_TYPE_CHECKPOINT, Compression: pb.CompressionType_COMPRESSION_ZSTD},
		CheckpointId: make([]byte, 16), State: state, StateType: "application/json"}}}
	raw, err := proto.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	var frame bytes.Buffer
	frame.WriteByte(dashstream.FrameZstd)
	zw, err := zstd.NewWriter(&frame) // streaming: no content size in the header
	if err != nil {
		t.Fatal(err)
	}
	// A flush before the end writes the header before the size is known.
	if _, err := zw.Write(raw[:100]); err != nil {
		t.Fatal(err)
	}
	if err := zw.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(raw[100:]); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	js, err := protojson.MarshalOptions{UseEnumNumbers: true}.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	line, err := json.Marshal(recordLine{Key: "t", Value: base64.StdEncoding.EncodeToString(frame.Bytes()), Message: js})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "no-size.jsonl")
	if err := os.WriteFile(path, append(line, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	node, err := exec.LookPath("node")
	if err != nil || !exists("node_modules/fzstd") {
		runCheck(t, nil, path) // skips or fails as runCheck decides
		return
	}
	out, err := exec.Command(node, "check.mjs", "--proto", protoPath, path).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "does not declare its content size") {
		t.Fatalf("check.mjs accepted a zstd frame without its content size (err %v):\n%s", err, out)
	}
}
