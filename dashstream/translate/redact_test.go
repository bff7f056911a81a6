package translate

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/dashstream/dashstreamexporter/dashstream"
	pb "github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
)

func defaultRedactor(t *testing.T) *redactor {
	t.Helper()
	r, err := newRedactor(DefaultConfig().Redaction)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestKeyIsSecret(t *testing.T) {
	r := defaultRedactor(t)
	cases := []struct {
		key  string
		want bool
	}{
		{"api_key", true}, {"API_KEY", true}, {"openai_api_key", true}, {"x-api-key", true}, {"X-Api-Key", true},
		{"apikey", true}, {"access_token", true}, {"token", true}, {"refresh-token", true}, {"token_secret", true},
		{"password", true}, {"db_password", true}, {"Authorization", true}, {"proxy-authorization", true},
		{"client_secret", true}, {"secret", true},
		{"input_tokens", false}, {"max_tokens", false}, {"output_tokens", false}, {"tokens", false},
		{"tokenizer", false}, {"passwords_checked", false}, {"authorized", false}, {"secretary", false},
		{"key", false}, {"", false}, {"monkey", false},
	}
	for _, c := range cases {
		if got := r.keyIsSecret(c.key); got != c.want {
			t.Errorf("keyIsSecret(%q) = %v, want %v", c.key, got, c.want)
		}
	}
	off, _ := newRedactor(RedactionConfig{Enabled: false, Keys: []string{"token"}})
	if off.keyIsSecret("token") {
		t.Error("disabled redactor redacts")
	}
}

func TestRedactString(t *testing.T) {
	r := defaultRedactor(t)
	jwt := "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
	cases := []struct{ in, want string }{
		{"Authorization: Bearer abcdefghijklmnop.qrs", "Authorization: [REDACTED]"},
		{"bearer ABCDEFGHIJKL", "[REDACTED]"},
		{"use key sk-proj-abcdefghijklmnopqrstuvwx now", "use key [REDACTED] now"},
		{"token " + jwt, "token [REDACTED]"},
		{"two: sk-aaaaaaaaaaaaaaaaaaaa and sk-bbbbbbbbbbbbbbbbbbbbbb", "two: [REDACTED] and [REDACTED]"},
		{"risk-free sk-short", "risk-free sk-short"},
		{"the bearer of good news", "the bearer of good news"},
		{"plain text", "plain text"},
	}
	for _, c := range cases {
		if got, _ := r.redactString(c.in); got != c.want {
			t.Errorf("redactString(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestRedactJSON(t *testing.T) {
	r := defaultRedactor(t)
	in := `{"user":{"name":"ann","api_key":"k1","x-api-key":"k2"},"input_tokens":12,"max_tokens":100,` +
		`"headers":[{"Authorization":"Bearer abcdefghijklmnop"}],"note":"key sk-abcdefghijklmnopqrstuv","password":null,"access_token":{"v":1}}`
	want := `{"user":{"name":"ann","api_key":"[REDACTED]","x-api-key":"[REDACTED]"},"input_tokens":12,"max_tokens":100,` +
		`"headers":[{"Authorization":"[REDACTED]"}],"note":"key [REDACTED]","password":null,"access_token":"[REDACTED]"}`
	v, err := dashstream.ParseJSON([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if !r.mayNeedRedaction(in) {
		t.Fatal("pre-check says nothing to redact")
	}
	_, n := r.redactJSON(v)
	if got := string(dashstream.MarshalJSON(v)); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if n != 5 {
		t.Errorf("redactions = %d, want 5", n)
	}
	for _, clean := range []string{`{"a":1,"count":3}`, `{"text":"the weather is fine"}`} {
		if r.mayNeedRedaction(clean) {
			t.Errorf("pre-check flags %s", clean)
		}
	}
	if !r.mayNeedRedaction(`{"\u0074oken":"x"}`) {
		t.Error("pre-check misses an escaped key")
	}
}

func TestTruncateUTF8(t *testing.T) {
	cases := []struct {
		in   string
		n    int
		want string
	}{
		{"hello", 10, "hello"}, {"hello", 3, "hel"}, {"héllo", 2, "h"}, {"héllo", 3, "hé"},
		{"日本語", 4, "日"}, {"日本語", 6, "日本"}, {"😀x", 3, ""}, {"abc", 0, ""},
	}
	for _, c := range cases {
		if got := truncateUTF8(c.in, c.n); got != c.want {
			t.Errorf("truncateUTF8(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
}

func TestAttrBuilder(t *testing.T) {
	r := defaultRedactor(t)
	cases := []struct {
		name, key, val string
		max            int
		want           string
		truncated      bool
	}{
		{"short", "result", "fine", 16, "fine", false},
		{"cut on a rune boundary", "result", "ééééé", 5, "éé", true},
		{"secret key", "api_key", "anything", 64, "[REDACTED]", false},
		{"pattern after cut", "arguments", "sk-abcdefghijklmnopqrstuvwxyz", 24, "[REDACTED]", true},
		{"invalid UTF-8 repaired", "error", "bad\xffbyte", 64, "bad\uFFFDbyte", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var st Stats
			b := newAttrBuilder(c.max, r, &st, 2)
			b.str(c.key, c.val)
			m := b.done()
			if got := m[c.key].GetStringValue(); got != c.want {
				t.Errorf("value %q, want %q", got, c.want)
			}
			if got := m["truncated"].GetBoolValue(); got != c.truncated {
				t.Errorf("truncated = %v, want %v", got, c.truncated)
			}
			if _, ok := m["truncated"]; ok && m["truncated"].GetValue().(*pb.AttributeValue_BoolValue) == nil {
				t.Error("truncated is not a bool")
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	cases := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"unknown convention", func(c *Config) { c.Conventions = []string{"x"} }, `conventions: unknown convention "x"`},
		{"no conventions", func(c *Config) { c.Conventions = nil }, "conventions:"},
		{"duplicate convention", func(c *Config) { c.Conventions = []string{"gen_ai", "gen_ai"} }, "listed twice"},
		{"negative interval", func(c *Config) { c.CheckpointInterval = -1 }, "checkpoint_interval"},
		{"zero state size", func(c *Config) { c.StateMaxBytes = 0 }, "state.max_bytes"},
		{"negative attribute size", func(c *Config) { c.AttributeMaxBytes = -5 }, "attribute_max_bytes"},
		{"no threads", func(c *Config) { c.MaxThreads = 0 }, "session.max_threads"},
		{"negative idle", func(c *Config) { c.IdleTimeout = -1 }, "session.idle_timeout"},
		{"record too small", func(c *Config) { c.MaxRecordBytes = 100 }, "max_record_bytes"},
		{"bad regex", func(c *Config) { c.Redaction.Patterns = []string{"("} }, "redaction.patterns[0]"},
		{"empty topic", func(c *Config) { c.Topic = "" }, "topic"},
		{"unknown zstd level", func(c *Config) { c.CompressionLevel = "ultra" }, `compression_level: unknown zstd level "ultra"`},
		{"zstd window not a power of two", func(c *Config) { c.CompressionWindow = 100_000 }, "compression_window: zstd window 100000 is not a power of two"},
		{"zstd window too large", func(c *Config) { c.CompressionWindow = 8 << 20 }, "compression_window: zstd window 8388608 is outside"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := DefaultConfig()
			c.mutate(&cfg)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Validate() = %v, want it to mention %q", err, c.want)
			}
			if _, err := New(cfg, nil); err == nil {
				t.Fatal("New accepted an invalid config")
			}
		})
	}
	d := DefaultConfig()
	if d.CheckpointInterval != 20 || d.StateMaxBytes != 1<<20 || d.AttributeMaxBytes != 64<<10 || d.MaxThreads != 10000 ||
		d.MaxRecordBytes != 1_000_000 || d.Topic != "dashstream-events" || !d.Compression || d.CompressionThreshold != 512 ||
		d.CompressionLevel != dashstream.ZstdFastest || d.CompressionWindow != 1<<20 ||
		strings.Join(d.Conventions, ",") != "dashstream,openinference,openllmetry,langfuse,gen_ai,dashflow" {
		t.Fatalf("DefaultConfig = %+v", d)
	}
}

func TestIDGen(t *testing.T) {
	g := newIDGen(testEpoch, 2)
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := g.next()
		if len(id) != 16 || id[6]>>4 != 7 || id[8]>>6 != 2 {
			t.Fatalf("id %x is not a UUID v7", id)
		}
		if ms := uint64(id[0])<<40 | uint64(id[1])<<32 | uint64(id[2])<<24 | uint64(id[3])<<16 | uint64(id[4])<<8 | uint64(id[5]); ms != uint64(testEpoch.UnixMilli()) {
			t.Fatalf("timestamp %d", ms)
		}
		if seen[string(id)] {
			t.Fatal("duplicate id")
		}
		seen[string(id)] = true
	}
}

func TestStateJSONLen(t *testing.T) {
	for _, in := range []string{`{}`, `{"a":[1,2,{"b":null}],"s":"é\"\\n\u2028<"}`, `{"n":-0.5e10,"t":true,"f":false}`} {
		v, err := dashstream.ParseJSON([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := stateJSONLen(v), len(dashstream.MarshalJSON(v)); got != want {
			t.Errorf("stateJSONLen(%s) = %d, want %d", in, got, want)
		}
		doc, err := dashstream.BuildStateDoc(in, nil, nil, maxStateDepth)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := doc.JSONLen(), len(dashstream.MarshalJSON(v)); got != want {
			t.Errorf("StateDoc.JSONLen(%s) = %d, want %d", in, got, want)
		}
	}
}

// TestContainsLastRare: the literal pre-checks of the default patterns
// agree with strings.Contains, at the edges and on random text.
func TestContainsLastRare(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	alphabet := "sk-eyJ ab"
	for _, needle := range []string{"sk-", "eyJ"} {
		for _, s := range []string{"", "-", "k-", "sk-", "xsk-", "sk", "s-k-", "ssk-x", "eyJ", "eJyJ", "yJ", "eyeyJ"} {
			if got, want := containsLastRare(s, needle), strings.Contains(s, needle); got != want {
				t.Fatalf("containsLastRare(%q, %q) = %v, want %v", s, needle, got, want)
			}
		}
		for range 20000 {
			b := make([]byte, r.IntN(24))
			for i := range b {
				b[i] = alphabet[r.IntN(len(alphabet))]
			}
			if got, want := containsLastRare(string(b), needle), strings.Contains(string(b), needle); got != want {
				t.Fatalf("containsLastRare(%q, %q) = %v, want %v", b, needle, got, want)
			}
		}
	}
}
