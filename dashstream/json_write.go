package dashstream

import (
	"unicode/utf8"
)

// MarshalJSON returns the compact JSON text of v (see AppendJSON).
func MarshalJSON(v any) []byte {
	return AppendJSON(make([]byte, 0, 256), v)
}

// AppendJSON appends the compact JSON text of v to dst: member order kept,
// numbers verbatim, strings escaped the way JSON.stringify escapes them.
// Values outside the model (and invalid Number text) are written as null so
// the output is always valid JSON.
func AppendJSON(dst []byte, v any) []byte {
	switch t := v.(type) {
	case nil:
		return append(dst, "null"...)
	case bool:
		if t {
			return append(dst, "true"...)
		}
		return append(dst, "false"...)
	case Number:
		if !validNumber(string(t)) {
			return append(dst, "null"...)
		}
		return append(dst, t...)
	case string:
		return appendQuoted(dst, t)
	case []any:
		dst = append(dst, '[')
		for i, e := range t {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = AppendJSON(dst, e)
		}
		return append(dst, ']')
	case *Object:
		if t == nil {
			return append(dst, "null"...)
		}
		dst = append(dst, '{')
		for i, k := range t.keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendQuoted(dst, k)
			dst = append(dst, ':')
			dst = AppendJSON(dst, t.vals[i])
		}
		return append(dst, '}')
	default:
		return append(dst, "null"...)
	}
}

const lowerHex = "0123456789abcdef"

// appendQuoted writes s as a JSON string exactly as JSON.stringify would for
// the UTF-16 string s denotes: only '"', '\\' and controls are escaped; WTF-8
// lone surrogates become \udxxx; bytes that are not UTF-8 become U+FFFD.
func appendQuoted(dst []byte, s string) []byte {
	dst = append(dst, '"')
	i := plainLen(s)
	if i == len(s) {
		dst = append(dst, s...)
		return append(dst, '"')
	}
	start := 0
	for i < len(s) {
		c := s[i]
		if plainASCII[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', lowerHex[c>>4], lowerHex[c&15])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r != utf8.RuneError || size != 1 {
			i += size
			continue
		}
		dst = append(dst, s[start:i]...)
		if hi, ok := surrogateAt(s, i); ok {
			if lo, ok := surrogateAt(s, i+3); ok && hi < 0xDC00 && lo >= 0xDC00 {
				// A pair stored as two WTF-8 halves is one character to JS.
				dst = utf8.AppendRune(dst, rune(0x10000+((hi-0xD800)<<10)+(lo-0xDC00)))
				i += 6
			} else {
				dst = append(dst, '\\', 'u', 'd', lowerHex[hi>>8&15], lowerHex[hi>>4&15], lowerHex[hi&15])
				i += 3
			}
		} else {
			dst = append(dst, "\uFFFD"...)
			i++
		}
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// quotedLen is len(appendQuoted(nil, s)) without writing anything.
func quotedLen[T string | []byte](s T) int {
	i := plainLen(string(s[:min(len(s), 32)])) // short prefix: no allocation for []byte
	n := 2 + i
	for i < len(s) {
		c := s[i]
		if plainASCII[c] {
			n++
			i++
			continue
		}
		if c < utf8.RuneSelf {
			switch c {
			case '"', '\\', '\b', '\f', '\n', '\r', '\t':
				n += 2
			default:
				n += 6
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(string(s[i:min(i+utf8.UTFMax, len(s))]))
		if r != utf8.RuneError || size != 1 {
			n += size
			i += size
			continue
		}
		if hi, ok := surrogateAt(s, i); ok {
			if lo, ok := surrogateAt(s, i+3); ok && hi < 0xDC00 && lo >= 0xDC00 {
				n += 4
				i += 6
			} else {
				n += 6
				i += 3
			}
		} else {
			n += 3
			i++
		}
	}
	return n
}

// jsonLen returns len(AppendJSON(nil, v)), or some value > limit as soon as
// the length is known to exceed limit (limit < 0 means no limit). The bound
// keeps Diff's "is a replace shorter?" checks proportional to the patch.
func jsonLen(v any, limit int) int {
	if limit < 0 {
		limit = int(^uint(0) >> 1)
	}
	return jsonLenAcc(v, 0, limit)
}

func jsonLenAcc(v any, n, limit int) int {
	if n > limit {
		return n
	}
	switch t := v.(type) {
	case nil:
		return n + 4
	case bool:
		if t {
			return n + 4
		}
		return n + 5
	case Number:
		if !validNumber(string(t)) {
			return n + 4
		}
		return n + len(t)
	case string:
		return n + quotedLen(t)
	case []any:
		n += 2
		if len(t) > 1 {
			n += len(t) - 1
		}
		for _, e := range t {
			n = jsonLenAcc(e, n, limit)
			if n > limit {
				return n
			}
		}
		return n
	case *Object:
		if t == nil {
			return n + 4
		}
		n += 2 + len(t.keys) // braces, colons
		if len(t.keys) > 1 {
			n += len(t.keys) - 1
		}
		for i, k := range t.keys {
			n += quotedLen(k)
			n = jsonLenAcc(t.vals[i], n, limit)
			if n > limit {
				return n
			}
		}
		return n
	default:
		return n + 4
	}
}

// plainLen returns how many leading bytes of s need no escaping and no
// UTF-8 checks (printable ASCII other than '"' and '\\'), testing eight
// bytes per step.
func plainLen(s string) int {
	const (
		lo = 0x0101010101010101
		hi = 0x8080808080808080
	)
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		q := x ^ (0x22 * lo) // zero byte where '"'
		b := x ^ (0x5C * lo) // zero byte where '\\'
		// High bit set in a lane that is < 0x20, '"', '\\' or non-ASCII.
		if ((x-0x20*lo)&^x|(q-lo)&^q|(b-lo)&^b|x)&hi != 0 {
			break
		}
	}
	for i < len(s) && plainASCII[s[i]] {
		i++
	}
	return i
}
