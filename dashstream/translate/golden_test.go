package translate

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/protobuf/encoding/protojson"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.json")

// goldenConfig is DefaultConfig with a short checkpoint interval so the
// goldens show checkpoints.
func goldenConfig() Config {
	cfg := DefaultConfig()
	cfg.CheckpointInterval = 3
	cfg.TenantID = "acme"
	return cfg
}

// fixtureFiles lists every OTLP JSON fixture (expectation files of the
// classifier tests, *.expected.json, are not span inputs).
func fixtureFiles(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "spans", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	out := files[:0]
	for _, f := range files {
		if !strings.HasSuffix(f, ".expected.json") {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		t.Fatal("no fixtures in testdata/spans")
	}
	return out
}

func loadFixture(t testing.TB, path string) ptrace.Traces {
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

// TestGolden translates every fixture in one call and compares the decoded
// stream with testdata/golden/<name>.json (-update rewrites).
func TestGolden(t *testing.T) {
	for _, path := range fixtureFiles(t) {
		name := strings.TrimSuffix(filepath.Base(path), ".json")
		t.Run(name, func(t *testing.T) {
			tr := newTestTranslator(t, goldenConfig())
			res := translateAll(t, tr, loadFixture(t, path))
			// Whatever the convention, the stream must replay cleanly.
			replayStream(t, decodeAll(t, res.Records), nil)
			got := readableStream(t, res.Records)
			gpath := filepath.Join("testdata", "golden", name+".json")
			if *update {
				if err := os.WriteFile(gpath, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(gpath)
			if err != nil {
				t.Fatalf("%v (run go test -run TestGolden -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the translation of %s (run with -update and review the diff):\n%s",
					gpath, path, firstDiff(string(want), string(got)))
			}
		})
	}
}

// readableStream decodes records into indented JSON with volatile values
// masked: message ids, checkpoint ids (numbered in order of appearance) and
// sequences (offsets from each thread's first record).
func readableStream(t testing.TB, recs []Record) []byte {
	t.Helper()
	ds := decodeAll(t, recs)
	firstSeq := map[string]uint64{}
	cpIDs := map[string]string{}
	out := make([]any, 0, len(ds))
	for _, d := range ds {
		js, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(d.msg)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(js, &m); err != nil {
			t.Fatal(err)
		}
		if _, ok := firstSeq[d.rec.ThreadID]; !ok {
			firstSeq[d.rec.ThreadID] = d.rec.Sequence
		}
		normaliseMessage(t, m, d.rec.Sequence-firstSeq[d.rec.ThreadID], cpIDs)
		hdrs := map[string]string{}
		for _, h := range d.rec.Headers {
			hdrs[h.Key] = string(h.Value)
		}
		frame := "none"
		if len(d.rec.Value) > 0 && d.rec.Value[0] == 1 {
			frame = "zstd"
		}
		out = append(out, map[string]any{
			"topic": d.rec.Topic, "key": string(d.rec.Key), "headers": hdrs, "frame": frame, "message": m,
		})
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

func normaliseMessage(t testing.TB, m map[string]any, seqOffset uint64, cpIDs map[string]string) {
	for _, body := range m {
		b, ok := body.(map[string]any)
		if !ok {
			continue
		}
		if h, ok := b["header"].(map[string]any); ok {
			h["message_id"] = "<uuid>"
			h["sequence"] = fmt.Sprintf("+%d", seqOffset)
		}
		for _, k := range []string{"checkpoint_id", "base_checkpoint_id"} {
			if v, ok := b[k].(string); ok {
				if _, seen := cpIDs[v]; !seen {
					cpIDs[v] = fmt.Sprintf("<checkpoint-%d>", len(cpIDs)+1)
				}
				b[k] = cpIDs[v]
			}
		}
		for _, k := range []string{"state_hash", "checksum"} {
			if v, ok := b[k].(string); ok {
				raw, _ := base64.StdEncoding.DecodeString(v)
				b[k] = hex.EncodeToString(raw)
			}
		}
		for _, k := range []string{"full_state", "state"} {
			if v, ok := b[k].(string); ok {
				b[k] = jsonBytes(t, v)
			}
		}
		if ops, ok := b["operations"].([]any); ok {
			for _, op := range ops {
				if o, ok := op.(map[string]any); ok {
					if v, ok := o["value"].(string); ok {
						o["value"] = jsonBytes(t, v)
					}
				}
			}
		}
	}
}

// jsonBytes shows base64 JSON bytes as the JSON they hold.
func jsonBytes(t testing.TB, b64 string) any {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return "<non-JSON " + string(raw) + ">"
	}
	return v
}

func firstDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return fmt.Sprintf("line %d:\n  want %s\n  got  %s", i+1, w, g)
		}
	}
	return "(no line differs)"
}
