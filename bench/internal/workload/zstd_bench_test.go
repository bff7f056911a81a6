package workload_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/protobuf/proto"

	"github.com/dashstream/dashstreamexporter/bench/internal/workload"
	"github.com/dashstream/dashstreamexporter/dashstream"
	pb "github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
	"github.com/dashstream/dashstreamexporter/dashstream/translate"
)

// zstdCorpus is the protobuf of messages the exporter compresses, with the
// thread each belongs to.
type zstdCorpus struct {
	name    string
	frames  [][]byte
	threads []string
}

// saturationCorpus translates one generation of the saturation scenario's
// requests at the defaults and keeps the protobuf inside every zstd frame:
// each thread's first full state (~1.6 KiB) and its checkpoint (~7 KiB).
func saturationCorpus(tb testing.TB) zstdCorpus {
	tb.Helper()
	tpl, tr := newTranslation(tb, workload.DefaultConfig(), translate.DefaultConfig())
	dec, err := zstd.NewReader(nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer dec.Close()
	c := zstdCorpus{name: "saturation"}
	now := uint64(time.Now().UnixNano())
	var buf []byte
	for i := range tpl.Requests {
		buf = tpl.Requests[i].Render(buf, 1, now, now, uint64(time.Millisecond))
		req := ptraceotlp.NewExportRequest()
		if err := req.UnmarshalProto(buf); err != nil {
			tb.Fatal(err)
		}
		res, err := tr.Translate(context.Background(), req.Traces())
		if err != nil {
			tb.Fatal(err)
		}
		for _, r := range res.Records {
			if r.Value[0] != dashstream.FrameZstd {
				continue
			}
			pbytes, err := dec.DecodeAll(r.Value[1:], nil)
			if err != nil {
				tb.Fatal(err)
			}
			c.frames = append(c.frames, pbytes)
			c.threads = append(c.threads, r.ThreadID)
		}
		res.Release()
	}
	if len(c.frames) == 0 {
		tb.Fatal("the saturation workload produced no zstd frames")
	}
	return c
}

// fixtureCorpus is the protobuf of every message above the compression
// threshold that the translation of the captured and hand-written span
// fixtures (dashstream/translate/testdata/spans) gives: small states,
// GRAPH_START events with their schema, errors with stack traces.
func fixtureCorpus(tb testing.TB) zstdCorpus {
	tb.Helper()
	files, err := filepath.Glob("../../../dashstream/translate/testdata/spans/*.json")
	if err != nil || len(files) == 0 {
		tb.Fatalf("no span fixtures: %v", err)
	}
	cfg := translate.DefaultConfig()
	cfg.Compression = false
	cfg.TenantID = "acme" // as the goldens have it
	dec, err := dashstream.NewDecoder(dashstream.DecoderOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	c := zstdCorpus{name: "fixtures"}
	for _, f := range files {
		if strings.HasSuffix(f, ".expected.json") {
			continue
		}
		raw, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		td, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(raw)
		if err != nil {
			tb.Fatalf("%s: %v", f, err)
		}
		tr, err := translate.New(cfg, nil)
		if err != nil {
			tb.Fatal(err)
		}
		res, err := tr.Translate(context.Background(), td)
		if err != nil {
			tb.Fatal(err)
		}
		for _, r := range res.Records {
			if len(r.Value)-1 <= dashstream.DefaultCompressionThreshold {
				continue
			}
			// What the encoder compresses: the message marshaled with
			// Header.compression = ZSTD.
			msg, err := dec.Decode(r.Value)
			if err != nil {
				tb.Fatal(err)
			}
			dashstream.HeaderOf(msg).Compression = pb.CompressionType_COMPRESSION_ZSTD
			pbytes, err := proto.MarshalOptions{Deterministic: true}.Marshal(msg)
			if err != nil {
				tb.Fatal(err)
			}
			c.frames = append(c.frames, pbytes)
			c.threads = append(c.threads, r.ThreadID)
		}
		res.Release()
	}
	return c
}

// chatCorpus is the protobuf of a Checkpoint and of a full-state StateDiff
// of a chat state of the given length, for several conversations.
func chatCorpus(tb testing.TB, messages, conversations int) zstdCorpus {
	tb.Helper()
	c := zstdCorpus{name: fmt.Sprintf("chat%d", messages)}
	enc, err := dashstream.NewEncoder(dashstream.EncoderOptions{}) // plain frames: the protobuf after one byte
	if err != nil {
		tb.Fatal(err)
	}
	for i := range conversations {
		state := chatState(uint64(i+1), messages)
		thread := fmt.Sprintf("chat-%d", i)
		hdr := func(seq uint64, typ pb.MessageType) *pb.Header {
			return &pb.Header{MessageId: []byte("0123456789abcdef"), TimestampUs: 1_796_000_000_000_000 + int64(seq),
				TenantId: "acme", ThreadId: thread, Sequence: seq, Type: typ, SchemaVersion: 1,
				Compression: pb.CompressionType_COMPRESSION_ZSTD}
		}
		parsed, err := dashstream.ParseJSON(state)
		if err != nil {
			tb.Fatal(err)
		}
		sum := dashstream.StateHash(parsed)
		msgs := []*pb.DashStreamMessage{
			{Message: &pb.DashStreamMessage_Checkpoint{Checkpoint: &pb.Checkpoint{Header: hdr(uint64(messages), pb.MessageType_MESSAGE_TYPE_CHECKPOINT),
				CheckpointId: []byte("fedcba9876543210"), State: state, StateType: "application/json", Checksum: sum[:],
				Metadata: map[string]string{"run_id": thread + "-run", "node_id": "agent", "step": fmt.Sprint(messages), "reason": "interval"}}}},
			{Message: &pb.DashStreamMessage_StateDiff{StateDiff: &pb.StateDiff{Header: hdr(uint64(messages+1), pb.MessageType_MESSAGE_TYPE_STATE_DIFF),
				FullState: state, StateHash: sum[:]}}},
		}
		for _, m := range msgs {
			v, err := enc.Encode(m)
			if err != nil {
				tb.Fatal(err)
			}
			c.frames = append(c.frames, v[1:])
			c.threads = append(c.threads, thread)
		}
	}
	return c
}

func corpusBytes(c zstdCorpus) int {
	n := 0
	for _, f := range c.frames {
		n += len(f)
	}
	return n
}

// zstdVariant is one encoder configuration under test.
type zstdVariant struct {
	level  zstd.EncoderLevel
	window int // 0: the library's default for the level (8 MiB, 4 MiB for fastest)
	// lits: Huffman-code the literals of blocks without matches
	// (WithAllLitEntropyCompression), which the library does from the
	// better level up only.
	lits bool
}

func (v zstdVariant) String() string {
	w := "lib"
	if v.window > 0 {
		w = fmt.Sprintf("%dKiB", v.window>>10)
	}
	l := v.level.String()
	if v.lits && v.level <= zstd.SpeedDefault {
		l += "+lits"
	}
	return fmt.Sprintf("level=%s/window=%s", l, w)
}

// encoder builds v the way dashstream.NewEncoder builds its encoder.
func (v zstdVariant) encoder(tb testing.TB) *zstd.Encoder {
	opts := []zstd.EOption{zstd.WithEncoderLevel(v.level), zstd.WithZeroFrames(true),
		zstd.WithSingleSegment(true), zstd.WithEncoderCRC(true), zstd.WithEncoderConcurrency(1)}
	if v.window > 0 {
		opts = append(opts, zstd.WithWindowSize(v.window))
	}
	if v.lits {
		opts = append(opts, zstd.WithAllLitEntropyCompression(true))
	}
	e, err := zstd.NewWriter(nil, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

// BenchmarkZstdFrames compares zstd levels and windows on the messages the
// exporter compresses: the saturation scenario's (full states and
// checkpoints of the e2e workload) and long chat states (checkpoint and
// full state of 50, 100 and 200-message conversations). One operation
// compresses every frame of the corpus once, back to back, as
// Encoder.Finish does at the end of a Translate call; cpu-ns/frame is the
// process's CPU time per frame, B/frame the average frame (what Kafka
// stores), ratio the protobuf bytes over the frame bytes. Sub-benchmarks
// "shared" and "per-thread" compress the saturation frames with one
// encoder, or with one encoder per thread (50 encoder states in turn).
//
// Compare variants measured in one run of the binary; run it several times
// to alternate them (docs/BENCHMARKS.md, "Frame compression").
func BenchmarkZstdFrames(b *testing.B) {
	corpora := []zstdCorpus{saturationCorpus(b), fixtureCorpus(b), chatCorpus(b, 50, 4), chatCorpus(b, 100, 2), chatCorpus(b, 200, 2)}
	var variants []zstdVariant
	for _, l := range []zstd.EncoderLevel{zstd.SpeedFastest, zstd.SpeedDefault, zstd.SpeedBetterCompression, zstd.SpeedBestCompression} {
		for _, w := range []int{32 << 10, 256 << 10, 1 << 20, 0} {
			variants = append(variants, zstdVariant{level: l, window: w})
		}
		if l <= zstd.SpeedDefault {
			variants = append(variants, zstdVariant{level: l, window: 1 << 20, lits: true})
		}
	}
	dec, err := dashstream.NewDecoder(dashstream.DecoderOptions{})
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range corpora {
		in := corpusBytes(c)
		for _, v := range variants {
			b.Run(fmt.Sprintf("corpus=%s/%s", c.name, v), func(b *testing.B) {
				enc := v.encoder(b)
				defer enc.Close()
				out := make([]byte, 0, 1<<21)
				// Every frame must decode with our decoder to what went in.
				for _, f := range c.frames {
					rec := enc.EncodeAll(f, append(out[:0], dashstream.FrameZstd))
					if _, err := dec.Decode(rec); err != nil {
						b.Fatalf("frame does not decode: %v", err)
					}
				}
				benchFrames(b, c, in, false, func(int) *zstd.Encoder { return enc })
			})
		}
	}
	// Caches cold at every frame, on the saturation frames (windows do
	// not matter below 32 KiB).
	for _, v := range []zstdVariant{{level: zstd.SpeedFastest, window: 1 << 20}, {level: zstd.SpeedFastest, window: 1 << 20, lits: true},
		{level: zstd.SpeedDefault, window: 1 << 20}, {level: zstd.SpeedBetterCompression, window: 1 << 20}} {
		b.Run(fmt.Sprintf("cold/corpus=%s/%s", corpora[0].name, v), func(b *testing.B) {
			enc := v.encoder(b)
			defer enc.Close()
			benchFrames(b, corpora[0], corpusBytes(corpora[0]), true, func(int) *zstd.Encoder { return enc })
		})
	}
	// One encoder per thread against one shared, on the saturation frames.
	sat := corpora[0]
	in := corpusBytes(sat)
	for _, l := range []zstd.EncoderLevel{zstd.SpeedFastest, zstd.SpeedDefault} {
		v := zstdVariant{level: l, window: 1 << 20}
		b.Run(fmt.Sprintf("encoders=shared/%s", v), func(b *testing.B) {
			enc := v.encoder(b)
			defer enc.Close()
			benchFrames(b, sat, in, false, func(int) *zstd.Encoder { return enc })
		})
		b.Run(fmt.Sprintf("encoders=per-thread/%s", v), func(b *testing.B) {
			byThread := map[string]*zstd.Encoder{}
			encs := make([]*zstd.Encoder, len(sat.frames))
			for i, th := range sat.threads {
				if byThread[th] == nil {
					byThread[th] = v.encoder(b)
				}
				encs[i] = byThread[th]
			}
			defer func() {
				for _, e := range byThread {
					e.Close()
				}
			}()
			benchFrames(b, sat, in, false, func(i int) *zstd.Encoder { return encs[i] })
		})
	}
}

// benchFrames compresses c's frames b.N times with the encoder encFor
// gives for each, and reports CPU and bytes per frame. With evict, a
// 4 MiB buffer is written between frames (outside the timings), as the
// translation work between two Translate calls' frames does to the
// caches.
//
// p50-ns/frame is the robust figure on a busy machine: every frame's
// compression is timed on its own, the median over the iterations taken
// per frame (a frame takes microseconds, a preemption milliseconds, so
// the median drops the preempted samples), and those medians averaged
// over the corpus. cpu-ns/frame (process CPU time, hot mode only) counts
// everything, GC included.
func benchFrames(b *testing.B, c zstdCorpus, in int, evict bool, encFor func(i int) *zstd.Encoder) {
	out := make([]byte, 0, 1<<21)
	// Warm every encoder state first (tables allocated, history buffers).
	for i, f := range c.frames {
		out = encFor(i).EncodeAll(f, out[:0])
	}
	var junk []byte
	if evict {
		junk = make([]byte, 4<<20)
	}
	samples := make([][]time.Duration, len(c.frames))
	for i := range samples {
		samples[i] = make([]time.Duration, 0, b.N)
	}
	b.ReportAllocs()
	b.ResetTimer()
	c0 := cpuTime()
	total := 0
	for n := range b.N {
		total = 0
		for i, f := range c.frames {
			if evict {
				for j := 0; j < len(junk); j += 64 {
					junk[j] += byte(n)
				}
			}
			t0 := time.Now()
			out = encFor(i).EncodeAll(f, append(out[:0], dashstream.FrameZstd))
			samples[i] = append(samples[i], time.Since(t0))
			total += len(out)
		}
	}
	cpu := cpuTime() - c0
	b.StopTimer()
	var p50 time.Duration
	for _, s := range samples {
		slices.Sort(s)
		p50 += s[len(s)/2]
	}
	frames := float64(b.N * len(c.frames))
	if !evict {
		b.ReportMetric(float64(cpu.Nanoseconds())/frames, "cpu-ns/frame")
	}
	b.ReportMetric(float64(p50.Nanoseconds())/float64(len(c.frames)), "p50-ns/frame")
	b.ReportMetric(float64(total)/float64(len(c.frames)), "B/frame")
	b.ReportMetric(float64(in)/float64(len(c.frames)), "in-B/frame")
	b.ReportMetric(float64(in)/float64(total), "ratio")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkTranslateSaturationZstd is BenchmarkTranslateSaturation at each
// frame compression level (window: the default) and with compression off:
// the level's effect on the collector's translation and encoding CPU per
// span, in the cache conditions of the real work between frames, and on
// the bytes it hands Kafka (value-B/span: record values only).
func BenchmarkTranslateSaturationZstd(b *testing.B) {
	levels := []string{"off"}
	for _, l := range dashstream.ZstdLevels() {
		if l != dashstream.ZstdBest {
			levels = append(levels, string(l))
		}
	}
	for _, name := range levels {
		b.Run("level="+name, func(b *testing.B) {
			cfg := translate.DefaultConfig()
			if name == "off" {
				cfg.Compression = false
			} else {
				cfg.CompressionLevel = dashstream.ZstdLevel(name)
			}
			translateSaturation(b, cfg)
		})
	}
}

// translateSaturation is BenchmarkTranslateSaturation's loop with cfg.
func translateSaturation(b *testing.B, cfg translate.Config) {
	tpl, tr := newTranslation(b, workload.DefaultConfig(), cfg)
	ctx := context.Background()
	var buf []byte
	var cpu time.Duration
	records, spans, bytes := 0, 0, 0
	b.ReportAllocs()
	b.ResetTimer()
	for gen := uint64(1); spans < b.N; gen++ {
		now := uint64(time.Now().UnixNano())
		for i := range tpl.Requests {
			b.StopTimer()
			buf = tpl.Requests[i].Render(buf, gen, now, now, uint64(time.Millisecond))
			req := ptraceotlp.NewExportRequest()
			if err := req.UnmarshalProto(buf); err != nil {
				b.Fatal(err)
			}
			td := req.Traces()
			c0 := cpuTime()
			b.StartTimer()
			res, err := tr.Translate(ctx, td)
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			cpu += cpuTime() - c0
			records += len(res.Records)
			for _, r := range res.Records {
				bytes += len(r.Value)
			}
			res.Release()
			b.StartTimer()
			spans += tpl.Requests[i].Spans
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(spans), "ns/span")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(spans), "cpu-ns/span")
	b.ReportMetric(float64(records)/float64(spans), "records/span")
	b.ReportMetric(float64(bytes)/float64(spans), "value-B/span")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkZstdDecode is what a consumer pays per frame of each level:
// klauspost's decoder (ours, `dashstream tail`) on the frames
// BenchmarkZstdFrames writes with the window of 1 MiB.
func BenchmarkZstdDecode(b *testing.B) {
	corpora := []zstdCorpus{saturationCorpus(b), fixtureCorpus(b), chatCorpus(b, 50, 4), chatCorpus(b, 200, 2)}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
	if err != nil {
		b.Fatal(err)
	}
	defer dec.Close()
	for _, c := range corpora {
		for _, v := range []zstdVariant{{level: zstd.SpeedFastest, window: 1 << 20, lits: true}, {level: zstd.SpeedDefault, window: 1 << 20, lits: true}} {
			enc := v.encoder(b)
			frames := make([][]byte, len(c.frames))
			for i, f := range c.frames {
				frames[i] = enc.EncodeAll(f, nil)
			}
			enc.Close()
			b.Run(fmt.Sprintf("corpus=%s/%s", c.name, v), func(b *testing.B) {
				out := make([]byte, 0, 1<<21)
				b.ReportAllocs()
				b.ResetTimer()
				c0 := cpuTime()
				for range b.N {
					for _, f := range frames {
						if out, err = dec.DecodeAll(f, out[:0]); err != nil {
							b.Fatal(err)
						}
					}
				}
				cpu := cpuTime() - c0
				b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*len(frames)), "cpu-ns/frame")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}
