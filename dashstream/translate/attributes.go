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
	ar        *callArena // lends the map and values; nil: own allocations
	truncated bool
}

func newAttrBuilder(maxBytes int, red *redactor, stats *Stats, capacity int) attrBuilder {
	return attrBuilder{m: make(map[string]*pb.AttributeValue, capacity), maxBytes: maxBytes, red: red, stats: stats}
}

// Attribute values and their oneof wrappers, allocated together (and in
// blocks, from a callArena): translation is allocation-bound.
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

// valuePool lends the attribute values of one event at a time: reset once
// the event is encoded, it serves the next event from the same memory.
type valuePool[T any] struct {
	vals []T
	n    int
}

// poolSize covers every event the emitter builds (at most eight values of
// one kind); more spill to the heap.
const poolSize = 8

func (p *valuePool[T]) get() *T {
	if p.n == len(p.vals) {
		if p.vals != nil {
			return new(T)
		}
		p.vals = make([]T, poolSize)
	}
	v := &p.vals[p.n]
	p.n++
	return v
}

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
	var a *strAttr
	if b.ar != nil {
		a = b.ar.strs.get()
	} else {
		a = &strAttr{}
	}
	a.w.StringValue = v
	a.v.Value = &a.w
	b.m[key] = &a.v
}

func (b *attrBuilder) int(key string, v int64) {
	var a *intAttr
	if b.ar != nil {
		a = b.ar.ints.get()
	} else {
		a = &intAttr{}
	}
	a.w.IntValue = v
	a.v.Value = &a.w
	b.m[key] = &a.v
}

func (b *attrBuilder) float(key string, v float64) {
	var a *floatAttr
	if b.ar != nil {
		a = b.ar.floats.get()
	} else {
		a = &floatAttr{}
	}
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
		var a *boolAttr
		if b.ar != nil {
			a = b.ar.bools.get()
		} else {
			a = &boolAttr{}
		}
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
