package dashstream

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/protobuf/proto"

	pb "github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
)

// chatJSON is a chat state of about size bytes: messages of varied length
// from a small vocabulary with random ids, compressible about as much as
// real conversations (2.5–3.5×).
func chatJSON(seed uint64, size int) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	words := strings.Fields(`the agent tool call result search query user assistant plan step node graph state
		memory latency retry error timeout deploy cluster service config value answer question document summary`)
	var b bytes.Buffer
	b.WriteString(`{"messages":[`)
	for i := 0; b.Len() < size; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		role := [...]string{"user", "assistant", "tool"}[r.IntN(3)]
		fmt.Fprintf(&b, `{"id":"msg_%016x","role":%q,"content":"`, r.Uint64(), role)
		for n := 20 + r.IntN(300); n > 0; n-- {
			b.WriteString(words[r.IntN(len(words))])
			b.WriteByte(' ')
		}
		b.WriteString(`"}`)
	}
	b.WriteString(`],"step":1}`)
	return b.Bytes()
}

func fullStateMessage(state []byte) *pb.DashStreamMessage {
	return &pb.DashStreamMessage{Message: &pb.DashStreamMessage_StateDiff{StateDiff: &pb.StateDiff{
		Header: &pb.Header{MessageId: bytes.Repeat([]byte{9}, 16), TimestampUs: 1_796_000_000_000_000,
			ThreadId: "zstd-levels", Sequence: 7, Type: pb.MessageType_MESSAGE_TYPE_STATE_DIFF, SchemaVersion: 1},
		FullState: state, StateHash: bytes.Repeat([]byte{1}, 32)}}}
}

// TestZstdEveryLevelAndWindowDecodes encodes states below one block, above
// one block and above the smallest windows at every supported level and
// window, and decodes every frame with our decoder and with a decoder
// limited to a 1 MiB window: each frame declares its content size, is a
// single segment (a decoder's window is the content size, never the
// encoder's window) and decodes to the message encoded.
func TestZstdEveryLevelAndWindowDecodes(t *testing.T) {
	dec := mustDecoder(t, DecoderOptions{})
	strict, err := zstd.NewReader(nil, zstd.WithDecoderMaxWindow(MaxMessageBytes), zstd.WithDecoderMaxMemory(MaxMessageBytes))
	if err != nil {
		t.Fatal(err)
	}
	defer strict.Close()
	// 100 KiB is more than one block at the fastest level (64 KiB) and
	// more than the smaller windows; 300 KiB more than one at every level.
	sizes := []int{4 << 10, 100 << 10, 300 << 10}
	if testing.Short() || raceEnabled {
		sizes = sizes[:2] // the best level is slow under the race detector
	}
	windows := []int{0, MinZstdWindow, 32 << 10, 256 << 10, MaxZstdWindow}
	for _, level := range append(ZstdLevels(), "") {
		for _, window := range windows {
			for _, size := range sizes {
				name := fmt.Sprintf("level=%q/window=%d/size=%d", level, window, size)
				t.Run(name, func(t *testing.T) {
					enc := mustEncoder(t, EncoderOptions{Compression: true, Level: level, Window: window})
					msg := fullStateMessage(chatJSON(uint64(size), size))
					rec, err := enc.Encode(msg)
					if err != nil {
						t.Fatal(err)
					}
					if rec[0] != FrameZstd {
						t.Fatalf("frame marker 0x%02x, want zstd", rec[0])
					}
					var h zstd.Header
					if err := h.Decode(rec[1:]); err != nil {
						t.Fatal(err)
					}
					if !h.HasFCS || !h.SingleSegment {
						t.Fatalf("frame header %+v: want a single segment declaring its content size", h)
					}
					got, err := dec.Decode(rec)
					if err != nil {
						t.Fatal(err)
					}
					if !proto.Equal(got, msg) {
						t.Fatal("decoded message differs")
					}
					plain, err := strict.DecodeAll(rec[1:], nil)
					if err != nil {
						t.Fatalf("decoder limited to a 1 MiB window: %v", err)
					}
					if len(plain) != int(h.FrameContentSize) {
						t.Fatalf("decoded %d bytes, frame declares %d", len(plain), h.FrameContentSize)
					}
					if len(rec)*2 > len(plain) {
						t.Errorf("frame of %d bytes for %d: compression below 2×", len(rec), len(plain))
					}
				})
			}
		}
	}
}

// TestZstdWindowOfMessageSizeChangesNoFrame: the default window (the
// largest message) writes the same frames as the library's own window for
// the level (4–8 MiB, with 16 MiB of history buffer), so choosing it
// changed no record; and a window below the message size does cut
// matches (it is not ignored).
func TestZstdWindowOfMessageSizeChangesNoFrame(t *testing.T) {
	state := chatJSON(3, 400<<10)
	pbytes, err := proto.MarshalOptions{Deterministic: true}.Marshal(fullStateMessage(state))
	if err != nil {
		t.Fatal(err)
	}
	for _, level := range ZstdLevels() {
		lvl, _ := level.encoderLevel()
		lib, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(lvl), zstd.WithZeroFrames(true),
			zstd.WithSingleSegment(true), zstd.WithEncoderCRC(true), zstd.WithEncoderConcurrency(1))
		if err != nil {
			t.Fatal(err)
		}
		ours, err := newZstdEncoder(level, 0)
		if err != nil {
			t.Fatal(err)
		}
		small, err := newZstdEncoder(level, MinZstdWindow)
		if err != nil {
			t.Fatal(err)
		}
		a, b, c := lib.EncodeAll(pbytes, nil), ours.EncodeAll(pbytes, nil), small.EncodeAll(pbytes, nil)
		if !bytes.Equal(a, b) {
			t.Errorf("level %s: the 1 MiB window wrote %d bytes, the library's window %d", level, len(b), len(a))
		}
		if len(c) <= len(b) {
			t.Errorf("level %s: a 1 KiB window wrote %d bytes, not more than the 1 MiB window's %d", level, len(c), len(b))
		}
	}
}

// TestZstdLevelsDiffer guards against a level setting being dropped on
// the way to the encoder: the levels write different frames for the same
// message, and the default options use DefaultZstdLevel.
func TestZstdLevelsDiffer(t *testing.T) {
	msg := fullStateMessage(chatJSON(5, 64<<10))
	frames := map[string]ZstdLevel{}
	for _, level := range ZstdLevels() {
		rec, err := mustEncoder(t, EncoderOptions{Compression: true, Level: level}).Encode(msg)
		if err != nil {
			t.Fatal(err)
		}
		if other, dup := frames[string(rec)]; dup {
			t.Errorf("levels %s and %s wrote the same frame", other, level)
		}
		frames[string(rec)] = level
	}
	rec, err := mustEncoder(t, DefaultEncoderOptions()).Encode(msg)
	if err != nil {
		t.Fatal(err)
	}
	if frames[string(rec)] != DefaultZstdLevel {
		t.Errorf("the default options wrote the frame of level %q, want %q", frames[string(rec)], DefaultZstdLevel)
	}
}

func TestEncoderOptionsValidate(t *testing.T) {
	tests := []struct {
		o    EncoderOptions
		want string // "" = valid
	}{
		{DefaultEncoderOptions(), ""},
		{EncoderOptions{}, ""},
		{EncoderOptions{Compression: true, Level: ZstdBest, Window: MinZstdWindow}, ""},
		{EncoderOptions{Compression: true, Level: "Fastest"}, `unknown zstd level "Fastest"`},
		{EncoderOptions{Compression: true, Level: "9"}, "supported: fastest, default, better, best"},
		{EncoderOptions{Compression: true, Window: 3000}, "not a power of two"},
		{EncoderOptions{Compression: true, Window: 512}, "outside 1024..1048576"},
		{EncoderOptions{Compression: true, Window: 2 << 20}, "outside 1024..1048576"},
		{EncoderOptions{Compression: true, Window: -1}, "outside"},
		{EncoderOptions{CompressionThreshold: -1}, "negative"},
	}
	for _, tt := range tests {
		_, err := NewEncoder(tt.o)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%+v: %v", tt.o, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%+v: error %v, want one containing %q", tt.o, err, tt.want)
		}
	}
	for in, want := range map[string]ZstdLevel{"": DefaultZstdLevel, "FASTEST": ZstdFastest, " better ": ZstdBetter, "best": ZstdBest} {
		if got, err := ParseZstdLevel(in); err != nil || got != want {
			t.Errorf("ParseZstdLevel(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseZstdLevel("fast"); err == nil {
		t.Error(`ParseZstdLevel("fast") accepted`)
	}
}
