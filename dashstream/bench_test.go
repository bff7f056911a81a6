//go:build unix

package dashstream

import (
	"crypto/sha256"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	pb "github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
)

// Wire-core benchmarks (docs/BENCHMARKS.md "Wire core"): what the exporter
// does per message once a span is classified, and what a consumer does per
// record. Besides wall time each reports cpu-ns/op, the process CPU time
// per operation, which stays meaningful when other processes compete for
// the cores (wall time then grows with the load).

// cpuNow returns the CPU time the process has used, in nanoseconds.
func cpuNow(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// benchLoop runs body b.N times and reports allocations and cpu-ns/op.
func benchLoop(b *testing.B, body func()) {
	b.ReportAllocs()
	start := cpuNow(b)
	b.ResetTimer()
	for range b.N {
		body()
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuNow(b)-start)/float64(b.N), "cpu-ns/op")
}

// wireNodeEnd is a typical NODE_END event as the translator emits it.
func wireNodeEnd() *pb.DashStreamMessage {
	h := testHeader(pb.MessageType_MESSAGE_TYPE_EVENT, "5f0c6d0e-3b0a-4d1e-9a57-0e6f3c2b9d11", 1_764_000_000_123_456)
	return &pb.DashStreamMessage{Message: &pb.DashStreamMessage_Event{Event: &pb.Event{
		Header: h, EventType: pb.EventType_EVENT_TYPE_NODE_END, NodeId: "researcher", DurationUs: 1_532_118,
		Attributes: map[string]*pb.AttributeValue{
			"duration_us": {Value: &pb.AttributeValue_FloatValue{FloatValue: 1_532_118}},
			"step":        {Value: &pb.AttributeValue_IntValue{IntValue: 4}},
			"node":        {Value: &pb.AttributeValue_StringValue{StringValue: "researcher"}},
			"run_id":      {Value: &pb.AttributeValue_StringValue{StringValue: "1f0a9c2e-77d4-6b1e-8f3a-2c9d4e5f6a7b"}},
		},
	}}}
}

// wireChatState returns the JSON of an agent state: a 50-message chat plus
// a few scalar fields, about 4 KiB (messages+1 when grown by one).
func wireChatState(messages int, counter int) string {
	var b strings.Builder
	b.WriteString(`{"thread":"5f0c6d0e","counter":`)
	b.WriteString(strconv.Itoa(counter))
	b.WriteString(`,"plan":{"goal":"answer the question","steps":["search","read","write"],"done":false},"messages":[`)
	for i := range messages {
		if i > 0 {
			b.WriteByte(',')
		}
		role := [2]string{"user", "assistant"}[i%2]
		fmt.Fprintf(&b, `{"id":%d,"role":"%s","content":"turn %d: a short line of a long chat."}`, 100000+i, role, i)
	}
	b.WriteString(`]}`)
	return b.String()
}

// wireBigState returns about n bytes of state JSON.
func wireBigState(n int) string {
	var b strings.Builder
	b.WriteString(`{"docs":[`)
	for i := 0; b.Len() < n-120; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":%d,"score":%d.25,"title":"document %d","tags":["a","b"],"ok":true}`, i, i%97, i)
	}
	b.WriteString(`],"summary":"done"}`)
	return b.String()
}

func mustParse(b *testing.B, s string) any {
	b.Helper()
	v, err := ParseJSON([]byte(s))
	if err != nil {
		b.Fatal(err)
	}
	return v
}

// wireStateDiff is the exporter's per-snapshot pipeline after parsing: the
// new state's JSON length, the diff, the full-state decision, wire
// operations, the state hash, the message and its framed encoding.
func wireStateDiff(b *testing.B, enc *Encoder, seq uint64, old, new any) []byte {
	text := MarshalJSON(new)
	p := Diff(old, new)
	sd := &pb.StateDiff{Header: testHeader(pb.MessageType_MESSAGE_TYPE_STATE_DIFF, "5f0c6d0e", seq)}
	if UseFullState(p.JSONLen(), len(text)) {
		sd.FullState = text
	} else {
		sd.Operations = p.ToProto()
	}
	hash := StateHash(new)
	sd.StateHash = hash[:]
	rec, err := enc.Encode(&pb.DashStreamMessage{Message: &pb.DashStreamMessage_StateDiff{StateDiff: sd}})
	if err != nil {
		b.Fatal(err)
	}
	return rec
}

func BenchmarkWireEncodeNodeEnd(b *testing.B) {
	enc := mustEncoder(b, DefaultEncoderOptions())
	msg := wireNodeEnd()
	var n int
	benchLoop(b, func() {
		rec, err := enc.Encode(msg)
		if err != nil {
			b.Fatal(err)
		}
		n = len(rec)
	})
	b.ReportMetric(float64(n), "record-bytes")
}

func BenchmarkWireStateDiff4KiB(b *testing.B) {
	cases := []struct {
		name     string
		old, new string
	}{
		{"OneField", wireChatState(50, 7), wireChatState(50, 8)},
		{"AppendMessage", wireChatState(50, 7), wireChatState(51, 7)},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			enc := mustEncoder(b, DefaultEncoderOptions())
			old, new := mustParse(b, c.old), mustParse(b, c.new)
			if len(Diff(old, new)) != 1 {
				b.Fatal("setup: expected a one-operation diff")
			}
			b.SetBytes(int64(len(c.new)))
			var n int
			benchLoop(b, func() { n = len(wireStateDiff(b, enc, 42, old, new)) })
			b.ReportMetric(float64(n), "record-bytes")
		})
	}
}

func BenchmarkWireStateHash64KiB(b *testing.B) {
	text := wireBigState(64 << 10)
	v := mustParse(b, text)
	b.SetBytes(int64(len(text)))
	benchLoop(b, func() { _ = StateHash(v) })
}

func BenchmarkWireDecode(b *testing.B) {
	enc := mustEncoder(b, DefaultEncoderOptions())
	oldChat, newChat := wireChatState(50, 7), wireChatState(51, 7)
	checkpointState := []byte(wireChatState(50, 7))
	sum := sha256.Sum256(checkpointState)
	checkpoint := &pb.DashStreamMessage{Message: &pb.DashStreamMessage_Checkpoint{Checkpoint: &pb.Checkpoint{
		Header:       testHeader(pb.MessageType_MESSAGE_TYPE_CHECKPOINT, "5f0c6d0e", 43),
		CheckpointId: make([]byte, 16), State: checkpointState, StateType: "application/json", Checksum: sum[:],
	}}}
	nodeEnd, err := enc.Encode(wireNodeEnd())
	if err != nil {
		b.Fatal(err)
	}
	cp, err := enc.Encode(checkpoint)
	if err != nil {
		b.Fatal(err)
	}
	fullHash := StateHash(mustParse(b, newChat))
	full, err := enc.Encode(&pb.DashStreamMessage{Message: &pb.DashStreamMessage_StateDiff{StateDiff: &pb.StateDiff{
		Header:    testHeader(pb.MessageType_MESSAGE_TYPE_STATE_DIFF, "5f0c6d0e", 44),
		FullState: []byte(newChat), StateHash: fullHash[:],
	}}})
	if err != nil {
		b.Fatal(err)
	}
	records := []struct {
		name string
		rec  []byte
	}{
		{"NodeEnd", nodeEnd},
		{"StateDiffAppendMessage", wireStateDiff(b, enc, 42, mustParse(b, oldChat), mustParse(b, newChat))},
		{"StateDiffFullState4KiB", full},
		{"Checkpoint4KiB", cp},
	}
	for _, r := range records {
		b.Run(r.name, func(b *testing.B) {
			dec := mustDecoder(b, DecoderOptions{})
			b.SetBytes(int64(len(r.rec)))
			benchLoop(b, func() {
				if _, err := dec.Decode(r.rec); err != nil {
					b.Fatal(err)
				}
			})
			b.ReportMetric(float64(r.rec[0]), "frame")
			b.ReportMetric(float64(len(r.rec)), "record-bytes")
		})
	}
}

// docBenchMessages is a JSON array of ~200-byte chat messages of about size
// bytes, and how many it holds.
func docBenchMessages(size int) (string, int) {
	var sb strings.Builder
	sb.WriteByte('[')
	n := 0
	for sb.Len() < size-200 || n == 0 {
		if n > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(docBenchMessage(n))
		n++
	}
	sb.WriteByte(']')
	return sb.String(), n
}

func docBenchMessage(i int) string {
	return fmt.Sprintf(`{"role":"assistant","content":"message %06d: the quick brown fox jumps over the lazy dog while the agent thinks about the next tool call and writes a long answer"}`, i)
}

// BenchmarkStateDoc: the state work of one snapshot on the indexed path, as
// the translator does it — StateDocPool.Build against the previous document
// (scan, redaction of what is new, canonical text, SHA-256), DiffStateDocs
// and Patch.ToProto, then Retire of the previous document — without the
// translator around it.
func BenchmarkStateDoc(b *testing.B) {
	field4k := func() func(i int) string {
		var fields []string
		for i := 0; len(strings.Join(fields, ",")) < 4000; i++ {
			fields = append(fields, fmt.Sprintf(`"field_%03d":"value number %03d of the benchmark state"`, i, i))
		}
		base := strings.Join(fields, ",")
		return func(i int) string { return `{"counter":` + strconv.Itoa(i) + `,` + base + `}` }
	}
	msgs64, n64 := docBenchMessages(64 << 10)
	msgs1m, _ := docBenchMessages(1<<20 - 1024)
	cases := []struct {
		name string
		next func(i int) string
	}{
		{"4KiB/one-field", field4k()},
		{"64KiB/append", func(i int) string {
			k := i % 32
			if k == 0 {
				return `{"messages":` + msgs64 + `}`
			}
			var sb strings.Builder
			sb.WriteString(`{"messages":`)
			sb.WriteString(msgs64[:len(msgs64)-1])
			for j := 0; j < k; j++ {
				sb.WriteByte(',')
				sb.WriteString(docBenchMessage(n64 + j))
			}
			sb.WriteString(`]}`)
			return sb.String()
		}},
		{"1MiB/one-field-sorted-first", func(i int) string { return `{"counter":` + strconv.Itoa(i) + `,"messages":` + msgs1m + `}` }},
		{"1MiB/one-field-sorted-last", func(i int) string { return `{"step":` + strconv.Itoa(i) + `,"messages":` + msgs1m + `}` }},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			const batch = 16
			texts := make([]string, batch)
			var pool StateDocPool
			prev, err := pool.Build(c.next(0), nil, nil, 512)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			var cpu int64
			i := 0
			b.ResetTimer()
			for i < b.N {
				b.StopTimer()
				for j := range texts {
					texts[j] = c.next(i + j + 1)
				}
				b.StartTimer()
				c0 := cpuNow(b)
				for j := 0; j < batch && i < b.N; j++ {
					doc, err := pool.Build(texts[j], prev, nil, 512)
					if err != nil {
						b.Fatal(err)
					}
					_ = DiffStateDocs(prev, doc).ToProto()
					pool.Retire(prev, doc)
					prev = doc
					i++
				}
				cpu += cpuNow(b) - c0
			}
			b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

// BenchmarkStateSessionMemory: the memory a session holds for its last
// state, per byte of the state's JSON, on the indexed path (StateDoc: the
// text, the canonical text, the index) and on the tree path (the parsed
// tree). Chat states of ~200-byte messages; "bytes/JSON-byte" is the live
// heap after GC divided by the JSON size.
func BenchmarkStateSessionMemory(b *testing.B) {
	for _, kib := range []int{64, 1024} {
		msgs, _ := docBenchMessages(kib<<10 - 1024)
		template := `{"step":1,"messages":` + msgs + `}`
		for _, path := range []string{"doc", "tree"} {
			b.Run(fmt.Sprintf("%s/size=%dKiB", path, kib), func(b *testing.B) {
				const keep = 8
				var held [keep]any
				var perByte float64
				for i := 0; i < b.N; i++ {
					clear(held[:])
					runtime.GC()
					var before, after runtime.MemStats
					runtime.ReadMemStats(&before)
					for j := range held {
						raw := strings.Clone(template) // as a span attribute arrives
						if path == "doc" {
							d, err := BuildStateDoc(raw, nil, nil, 512)
							if err != nil {
								b.Fatal(err)
							}
							held[j] = d
						} else {
							v, err := ParseJSONString(raw, ParseOptions{MaxDepth: 512})
							if err != nil {
								b.Fatal(err)
							}
							held[j] = v
						}
					}
					runtime.GC()
					runtime.ReadMemStats(&after)
					perByte = float64(after.HeapAlloc-before.HeapAlloc) / float64(keep*len(template))
				}
				runtime.KeepAlive(held)
				b.ReportMetric(perByte, "bytes/JSON-byte")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}
