package dashstream

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unicode/utf16"
)

type stateHashVector struct {
	Name                string `json:"name"`
	StateJSON           string `json:"state_json"`
	Canonical           string `json:"canonical"`
	SHA256Hex           string `json:"sha256_hex"`
	UISkipsVerification bool   `json:"ui_skips_verification"`
}

const vectorFile = "statehash_vectors.json"

// sharedVectorPath is <repo>/../shared/testdata/statehash_vectors.json, the
// authoritative copy kept beside the clone.
func sharedVectorPath(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("repository root (go.mod) not found")
		}
		dir = parent
	}
	return filepath.Join(dir, "..", "shared", "testdata", vectorFile)
}

func loadVectors(t *testing.T, path string) []stateHashVector {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read vectors: %v", err)
	}
	var file struct {
		Count   int               `json:"count"`
		Vectors []stateHashVector `json:"vectors"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	if len(file.Vectors) == 0 || len(file.Vectors) != file.Count {
		t.Fatalf("%s: %d vectors, count field %d", path, len(file.Vectors), file.Count)
	}
	return file.Vectors
}

func TestStateHashVectors(t *testing.T) {
	paths := []string{filepath.Join("testdata", vectorFile)}
	if shared := sharedVectorPath(t); fileExists(shared) {
		paths = append(paths, shared)
	}
	for _, path := range paths {
		vectors := loadVectors(t, path)
		if len(vectors) < 37 {
			t.Errorf("%s: only %d vectors", path, len(vectors))
		}
		for _, vec := range vectors {
			t.Run(vec.Name, func(t *testing.T) {
				v, err := ParseJSON([]byte(vec.StateJSON))
				if err != nil {
					t.Fatalf("ParseJSON: %v", err)
				}
				got := CanonicalJSON(v)
				if string(got) != vec.Canonical {
					t.Fatalf("canonical mismatch\n got %s\nwant %s", got, vec.Canonical)
				}
				sum := StateHash(v)
				if h := hex.EncodeToString(sum[:]); h != vec.SHA256Hex {
					t.Errorf("StateHash = %s, want %s", h, vec.SHA256Hex)
				}
				if want := sha256.Sum256([]byte(vec.Canonical)); sum != want {
					t.Errorf("StateHash differs from sha256(canonical)")
				}
				if got := UISkipsVerification(v); got != vec.UISkipsVerification {
					t.Errorf("UISkipsVerification = %v, want %v", got, vec.UISkipsVerification)
				}
				// Canonical output is itself JSON and a fixed point.
				again, err := ParseJSON(got)
				if err != nil {
					t.Fatalf("reparse canonical: %v", err)
				}
				if c2 := CanonicalJSON(again); !bytes.Equal(c2, got) {
					t.Errorf("canonical not idempotent: %s", c2)
				}
			})
		}
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return !errors.Is(err, fs.ErrNotExist)
}

// TestVectorCopyMatchesShared fails when the package's copy of the vectors
// drifts from the shared, authoritative file.
func TestVectorCopyMatchesShared(t *testing.T) {
	shared := sharedVectorPath(t)
	if !fileExists(shared) {
		t.Skipf("shared vectors not present at %s", shared)
	}
	a, err := os.ReadFile(shared)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join("testdata", vectorFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatalf("dashstream/testdata/%s differs from %s: copy the shared file", vectorFile, shared)
	}
}

func TestCanonicalNumbers(t *testing.T) {
	tests := []struct{ in, want string }{
		{"0", "0"}, {"-0", "0"}, {"-0.0", "0"}, {"0e5", "0"}, {"1E2", "100"}, {"1.0", "1"},
		{"123456789012345", "123456789012345"}, {"1234567890123456", "1234567890123456"},
		{"9007199254740993", "9007199254740992"}, {"18446744073709551615", "18446744073709552000"},
		{"1e21", "1e+21"}, {"1e+21", "1e+21"}, {"999999999999999999999", "1e+21"},
		{"1e20", "100000000000000000000"}, {"1e-7", "1e-7"}, {"1e-6", "0.000001"},
		{"0.000001", "0.000001"}, {"1.5e-7", "1.5e-7"}, {"1e400", "null"}, {"-1e400", "null"},
		{"1e-400", "0"}, {"5e-324", "5e-324"}, {"1.7976931348623157e308", "1.7976931348623157e+308"},
		{"0.1", "0.1"}, {"-123.456e2", "-12345.6"}, {"1.5e300", "1.5e+300"}, {"1e-100", "1e-100"},
		{"00", "null"}, {"abc", "null"}, {"0x10", "null"}, {"Infinity", "null"}, {"", "null"},
	}
	for _, tt := range tests {
		if got := string(appendJSNumber(nil, Number(tt.in))); got != tt.want {
			t.Errorf("appendJSNumber(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestCanonicalFloatMatchesEncodingJSON checks appendJSFloat against
// encoding/json's float64 formatting, which matches JavaScript except -0.
func TestCanonicalFloatMatchesEncodingJSON(t *testing.T) {
	vals := []float64{1, -1, 0.5, 1e21, 1e-7, 1e-6, 123e-20, 1.23456789e25, 2.5e-8, math.MaxFloat64,
		math.SmallestNonzeroFloat64, 1 << 53, 1<<53 + 2, 0.1 + 0.2, 1e100, -4.5e-300}
	for _, f := range vals {
		want, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendJSFloat(nil, f); string(got) != string(want) {
			t.Errorf("appendJSFloat(%v) = %s, want %s", f, got, want)
		}
	}
}

func TestCompareUTF16(t *testing.T) {
	hi := string(appendSurrogate(nil, 0xD83D)) // lone high surrogate
	lo := string(appendSurrogate(nil, 0xDC00)) // lone low surrogate
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"a", "b", -1}, {"b", "a", 1}, {"a", "ab", -1}, {"B", "a", -1},
		{"😀", "\uE000", -1}, {"\uE000", "😀", 1}, {"😀", "\uFFFF", -1}, {"😀", "\uD7FF", 1},
		{"x😀", "x\uE000", -1}, {"é", "z", 1}, {"😀", "😁", -1},
		{hi, "😀", -1}, // D83D < D83D DE00 (prefix)
		{hi + "\uFFFF", "😀", 1}, {hi + "a", "😀", -1},
		{lo, "😀", 1}, // DC00 > D83D
		{lo, "\uE000", -1}, {lo, "\uD7FF", 1},
		// Invalid UTF-8 sorts as the U+FFFD it is written as.
		{"\x80", "é", 1}, {"\xc3A", "\xc3\xa9", 1}, {"\xff", "\uFFFE", -1}, {"\xff", "😀", 1},
		{"\xe4\xb8A", "\xe4\xb8B", -1},
	}
	for _, tt := range tests {
		if got := compareUTF16(tt.a, tt.b); got != tt.want {
			t.Errorf("compareUTF16(%+q, %+q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := compareUTF16(tt.b, tt.a); got != -tt.want {
			t.Errorf("compareUTF16(%+q, %+q) = %d, want %d", tt.b, tt.a, got, -tt.want)
		}
	}
}

func TestCanonicalKeyOrderLarge(t *testing.T) {
	// More than the insertion-sort threshold, mixing the UTF-16 edge cases.
	o := NewObject(0)
	keys := []string{"z", "😀", "\uE000", "a", "é", "\uFFFF", "10", "9", "", "~", "A", "ä", "中", "🇫🇷", "b"}
	for i, k := range keys {
		o.Set(k, Number(strconv.Itoa(i)))
	}
	got := string(CanonicalJSON(o))
	want := `{"":8,"10":6,"9":7,"A":10,"a":3,"b":14,"z":0,"~":9,"ä":11,"é":4,"中":12,"🇫🇷":13,"😀":1,"` + "\uE000" + `":2,"` + "\uFFFF" + `":5}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestUISkipsVerification(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{`{"a":9007199254740991}`, false}, {`{"a":-9007199254740991}`, false},
		{`{"a":9007199254740992}`, true}, {`[1,[2,{"x":-1e16}]]`, true}, {`{"a":1e400}`, false},
		{`{"a":"9007199254740993"}`, false}, {`1.5`, false}, {`9007199254740991.5`, true},
	}
	for _, tt := range tests {
		v, err := ParseJSON([]byte(tt.in))
		if err != nil {
			t.Fatal(err)
		}
		if got := UISkipsVerification(v); got != tt.want {
			t.Errorf("UISkipsVerification(%s) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestStateHashLargeStreams(t *testing.T) {
	// StateHash streams in chunks; it must equal hashing the whole text.
	v := benchState(64 << 10)
	want := sha256.Sum256(CanonicalJSON(v))
	if got := StateHash(v); got != want {
		t.Fatal("StateHash differs from sha256(CanonicalJSON)")
	}
}

// benchState builds a LangGraph-like state of roughly size bytes of JSON.
func benchState(size int) *Object {
	st := NewObject(4)
	msgs := []any{}
	st.Set("thread", "t-42")
	st.Set("counter", Number("7"))
	st.Set("messages", msgs)
	meta := NewObject(3)
	meta.Set("model", "gpt-x")
	meta.Set("temperature", Number("0.7"))
	meta.Set("tags", []any{"a", "b", true, nil})
	st.Set("meta", meta)
	for i := 0; len(MarshalJSON(st)) < size; i++ {
		m := NewObject(4)
		m.Set("role", []string{"user", "assistant"}[i%2])
		m.Set("content", "message number "+strconv.Itoa(i)+": "+strings.Repeat("lorem ipsum ", 3))
		m.Set("id", Number(strconv.Itoa(1000+i)))
		m.Set("score", Number("0."+strconv.Itoa(i+1)))
		msgs = append(msgs, m)
		st.Set("messages", msgs)
	}
	return st
}

// runJSONBench runs body b.N times and reports allocations plus cpu-ns/op
// (process CPU time per op, which unlike wall time stays meaningful when
// other processes load the machine).
func runJSONBench(b *testing.B, body func()) {
	b.ReportAllocs()
	cpu := func() int64 {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			b.Fatal(err)
		}
		return ru.Utime.Nano() + ru.Stime.Nano()
	}
	start := cpu()
	b.ResetTimer()
	for range b.N {
		body()
	}
	b.StopTimer()
	b.ReportMetric(float64(cpu()-start)/float64(b.N), "cpu-ns/op")
}

func BenchmarkStateHash64KiB(b *testing.B) {
	v := benchState(64 << 10)
	b.SetBytes(int64(len(MarshalJSON(v))))
	runJSONBench(b, func() { _ = StateHash(v) })
}

func BenchmarkStateHash4KiB(b *testing.B) {
	v := benchState(4 << 10)
	b.SetBytes(int64(len(MarshalJSON(v))))
	runJSONBench(b, func() { _ = StateHash(v) })
}

func TestJSVerbatimAgreesWithFloatPath(t *testing.T) {
	ins := []string{"0", "-0", "5", "-5", "0.5", "-0.5", "0.50", "0.000001", "0.0000001", "0.0000015", "1.0",
		"123456789012345", "1234567890123456", "12345678.1234567", "12345678.123456", "0.123456789012345",
		"0.1234567890123456", "100", "1e2", "01", "0.", ".5", "-", "", "1.5e3", "999999999999999.9",
		"0.000009999", "0.0000099999999999999", "3.14159", "-0.0"}
	for _, in := range ins {
		n := Number(in)
		if !jsVerbatim(n) {
			continue
		}
		f, ok := numberFloat(n)
		if !ok || string(appendJSFloat(nil, f)) != in {
			t.Errorf("jsVerbatim(%q) but JavaScript prints %s", in, appendJSFloat(nil, f))
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 200000; i++ {
		f := r.Float64() * math.Pow(10, float64(r.IntN(30)-12))
		in := strconv.FormatFloat(f, 'f', r.IntN(20), 64)
		if n := Number(in); jsVerbatim(n) {
			g, _ := numberFloat(n)
			if string(appendJSFloat(nil, g)) != in {
				t.Fatalf("jsVerbatim(%q) but JavaScript prints %s", in, appendJSFloat(nil, g))
			}
		}
	}
	for _, in := range []string{"0.5", "123456789012345", "-0.000001", "7"} {
		if !jsVerbatim(Number(in)) {
			t.Errorf("jsVerbatim(%q) = false", in)
		}
	}
	for _, in := range []string{"-0", "1.0", "0.0000001", "1234567890123456", "1e2", "01", "0.50"} {
		if jsVerbatim(Number(in)) {
			t.Errorf("jsVerbatim(%q) = true", in)
		}
	}
}

// TestCompareUTF16Random checks compareUTF16 against an independent
// reference (Go's rune decoding plus unicode/utf16) on random strings.
func TestCompareUTF16Random(t *testing.T) {
	pieces := []string{"a", "B", "~", "\x00", "é", "中", "\uE000", "\uFFFF", "\uFFFD", "😀", "🇫", "\U0010FFFF", "\x80", "\xff", "\xc3"}
	r := rand.New(rand.NewPCG(5, 6))
	gen := func() string {
		var sb strings.Builder
		for n := r.IntN(5); n > 0; n-- {
			sb.WriteString(pieces[r.IntN(len(pieces))])
		}
		return sb.String()
	}
	for i := 0; i < 50000; i++ {
		a, b := gen(), gen()
		want := slices.Compare(utf16.Encode([]rune(a)), utf16.Encode([]rune(b)))
		if got := compareUTF16(a, b); got != want {
			t.Fatalf("compareUTF16(%+q, %+q) = %d, want %d", a, b, got, want)
		}
	}
}
