package translate

import (
	"unicode/utf8"

	pb "github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
)

// attrBuilder builds an event's attribute map, applying redaction (SPEC §4.8)
// and truncation to AttributeMaxBytes on a UTF-8 boundary (SPEC §4.3).
type attrBuilder struct {
	m         map[string]*pb.AttributeValue
	maxBytes  int
	red       *redactor
	stats     *Stats
	truncated bool
}

func newAttrBuilder(maxBytes int, red *redactor, stats *Stats, capacity int) attrBuilder {
	return attrBuilder{m: make(map[string]*pb.AttributeValue, capacity), maxBytes: maxBytes, red: red, stats: stats}
}

// Attribute values and their oneof wrappers allocated together: one
// allocation per attribute instead of two (translation is allocation-bound).
type (
	strAttr struct {
		v pb.AttributeValue
		w pb.AttributeValue_StringValue
	}
	intAttr struct {
		v pb.AttributeValue
		w pb.AttributeValue_IntValue
	}
	floatAttr struct {
		v pb.AttributeValue
		w pb.AttributeValue_FloatValue
	}
	boolAttr struct {
		v pb.AttributeValue
		w pb.AttributeValue_BoolValue
	}
)

// str sets a string attribute (skipped when empty), redacted and truncated.
func (b *attrBuilder) str(key, v string) {
	if v == "" {
		return
	}
	b.strRaw(key, b.clean(key, v))
}

// strRaw sets a string attribute that must stay intact (JSON documents the
// consumer parses); the caller guarantees its size and redaction.
func (b *attrBuilder) strRaw(key, v string) {
	a := &strAttr{}
	a.w.StringValue = v
	a.v.Value = &a.w
	b.m[key] = &a.v
}

func (b *attrBuilder) int(key string, v int64) {
	a := &intAttr{}
	a.w.IntValue = v
	a.v.Value = &a.w
	b.m[key] = &a.v
}

func (b *attrBuilder) float(key string, v float64) {
	a := &floatAttr{}
	a.w.FloatValue = v
	a.v.Value = &a.w
	b.m[key] = &a.v
}

// clean redacts and truncates one string value.
func (b *attrBuilder) clean(key, v string) string {
	if b.red.keyIsSecret(key) {
		b.stats.Redactions++
		return redactedText
	}
	if !utf8.ValidString(v) {
		v = sanitiseUTF8(v)
	}
	if len(v) > b.maxBytes {
		// Truncate before pattern redaction so a huge value costs at most
		// maxBytes of regex work.
		v = truncateUTF8(v, b.maxBytes)
		b.truncated = true
		b.stats.Truncations++
	}
	v, n := b.red.redactString(v)
	b.stats.Redactions += int64(n)
	return v
}

// done returns the map, with `truncated` = true when any value was cut.
func (b *attrBuilder) done() map[string]*pb.AttributeValue {
	if b.truncated {
		a := &boolAttr{}
		a.w.BoolValue = true
		a.v.Value = &a.w
		b.m["truncated"] = &a.v
	}
	return b.m
}

// truncateUTF8 cuts s to at most n bytes without splitting a rune.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if n <= 0 {
		return ""
	}
	cut := n
	for cut > 0 && cut > n-utf8.UTFMax && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// sanitiseUTF8 replaces invalid UTF-8 sequences with U+FFFD (protobuf
// strings must be valid UTF-8).
func sanitiseUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			out = utf8.AppendRune(out, utf8.RuneError)
		} else {
			out = append(out, s[i:i+size]...)
		}
		i += size
	}
	return string(out)
}
