package tracecorpus

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

var (
	intLiteral   = regexp.MustCompile(`^-?(0|[1-9][0-9]{0,17})$`)
	floatLiteral = regexp.MustCompile(`^-?(0|[1-9][0-9]*)\.[0-9]+([eE][-+]?[0-9]+)?$`)
)

// idLike reports keys whose values are identifiers or versions even when
// they look like numbers; they stay strings.
func idLike(key string) bool {
	k := strings.ToLower(key)
	for _, suf := range []string{"id", ".version", "_version", "date", "pointers"} {
		if strings.HasSuffix(k, suf) {
			return true
		}
	}
	return false
}

// putValue sets key in m from a raw JSON value of the export and returns
// the type it restored when Langfuse had turned the value into a string
// ("" when the value kept its type). Langfuse stores non-string attribute
// values JSON-stringified ("42", "0.7", `["stop"]`) or, in later versions,
// as parsed JSON (lists, objects): numbers come back as int/double,
// arrays of scalars as OTLP arrays, objects and arrays holding objects as
// the JSON text the instrumentation had set. It does nothing for null.
func putValue(m pcommon.Map, key string, raw json.RawMessage) (restored string) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			m.PutStr(key, string(raw))
			return ""
		}
		return putString(m, key, s)
	case '[':
		if putScalarArray(m, key, raw) {
			return "array"
		}
		m.PutStr(key, compact(raw))
		return "json"
	case '{':
		m.PutStr(key, compact(raw))
		return "json"
	case 't', 'f':
		m.PutBool(key, string(raw) == "true")
		return ""
	default:
		putNumber(m, key, string(raw))
		return ""
	}
}

// putString puts a string value, restoring the type of a stringified one.
func putString(m pcommon.Map, key, s string) string {
	if !idLike(key) {
		if intLiteral.MatchString(s) {
			if n, err := strconv.ParseInt(s, 10, 64); err == nil {
				m.PutInt(key, n)
				return "int"
			}
		}
		if floatLiteral.MatchString(s) {
			if f, err := strconv.ParseFloat(s, 64); err == nil {
				m.PutDouble(key, f)
				return "double"
			}
		}
	}
	if strings.HasPrefix(s, "[") && putScalarArray(m, key, json.RawMessage(s)) {
		return "array"
	}
	m.PutStr(key, s)
	return ""
}

func putNumber(m pcommon.Map, key, lit string) {
	if n, err := strconv.ParseInt(lit, 10, 64); err == nil {
		m.PutInt(key, n)
		return
	}
	if f, err := strconv.ParseFloat(lit, 64); err == nil {
		m.PutDouble(key, f)
		return
	}
	m.PutStr(key, lit)
}

// putScalarArray puts a JSON array whose elements are all strings, all
// integers or all numbers as an OTLP array; it returns false (and puts
// nothing) for anything else, including the empty array.
func putScalarArray(m pcommon.Map, key string, raw json.RawMessage) bool {
	var elems []json.RawMessage
	if json.Unmarshal(raw, &elems) != nil || len(elems) == 0 {
		return false
	}
	kind := byte(0)
	for _, e := range elems {
		c := e[0]
		switch {
		case c == '"':
		case c == '-' || (c >= '0' && c <= '9'):
			c = '0'
		default:
			return false
		}
		if kind != 0 && kind != c {
			return false
		}
		kind = c
	}
	s := m.PutEmptySlice(key)
	for _, e := range elems {
		if kind == '"' {
			var v string
			_ = json.Unmarshal(e, &v)
			s.AppendEmpty().SetStr(v)
			continue
		}
		if n, err := strconv.ParseInt(string(e), 10, 64); err == nil {
			s.AppendEmpty().SetInt(n)
		} else {
			f, _ := strconv.ParseFloat(string(e), 64)
			s.AppendEmpty().SetDouble(f)
		}
	}
	return true
}

// textOf is the attribute text of an input or output the export lifted:
// a JSON string as its content, anything else as compact JSON.
func textOf(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", false
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s, true
		}
	}
	return compact(raw), true
}

func compact(raw json.RawMessage) string {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}
