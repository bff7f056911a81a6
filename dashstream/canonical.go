package dashstream

import (
	"crypto/sha256"
	"hash"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// The canonical form is what the DashFlow UI (utils/stateHash.ts) hashes
// after JSON.parse: keys sorted by UTF-16 code units, no whitespace, numbers
// printed as a JavaScript float64, strings as JSON.stringify writes them.

// maxSafeInteger is Number.MAX_SAFE_INTEGER (2^53-1).
const maxSafeInteger = 1<<53 - 1

// CanonicalJSON returns the canonical JSON text of v.
func CanonicalJSON(v any) []byte {
	return AppendCanonicalJSON(make([]byte, 0, 256), v)
}

// AppendCanonicalJSON appends the canonical JSON text of v to dst.
func AppendCanonicalJSON(dst []byte, v any) []byte {
	w := canonWriter{dst: dst, idx: make([]int, 0, 64)}
	w.value(v)
	return w.dst
}

// StateHash is the SHA-256 of the canonical JSON of v: the value of
// StateDiff.state_hash. Large states are streamed into the hash in chunks,
// so memory stays constant whatever the state size.
func StateHash(v any) [32]byte {
	w := canonWriter{dst: make([]byte, 0, hashChunk+512), idx: make([]int, 0, 64), streaming: true}
	w.value(v)
	if w.hash == nil {
		return sha256.Sum256(w.dst)
	}
	_, _ = w.hash.Write(w.dst) // hash.Hash.Write never fails
	var sum [32]byte
	w.hash.Sum(sum[:0])
	return sum
}

// hashChunk is how much canonical text StateHash buffers before hashing it.
const hashChunk = 2048

// canonWriter writes canonical JSON. idx is a stack of member orders shared
// by all objects being written, so sorting allocates nothing per object.
type canonWriter struct {
	dst       []byte
	idx       []int
	streaming bool      // hand full chunks to hash
	hash      hash.Hash // created once the text outgrows one chunk
}

func (w *canonWriter) flush() {
	if w.streaming && len(w.dst) >= hashChunk {
		if w.hash == nil {
			w.hash = sha256.New()
		}
		_, _ = w.hash.Write(w.dst)
		w.dst = w.dst[:0]
	}
}

func (w *canonWriter) value(v any) {
	switch t := v.(type) {
	case Number:
		w.dst = appendJSNumber(w.dst, t)
	case string:
		w.dst = appendQuoted(w.dst, t)
		w.flush()
	case []any:
		w.dst = append(w.dst, '[')
		for i, e := range t {
			if i > 0 {
				w.dst = append(w.dst, ',')
			}
			w.value(e)
		}
		w.dst = append(w.dst, ']')
		w.flush()
	case *Object:
		if t == nil {
			w.dst = append(w.dst, "null"...)
			return
		}
		w.object(t)
	default:
		w.dst = AppendJSON(w.dst, v) // null, bool, or outside the model (null)
	}
}

func (w *canonWriter) object(o *Object) {
	n := len(o.keys)
	w.dst = append(w.dst, '{')
	base := len(w.idx)
	for i := 0; i < n; i++ {
		w.idx = append(w.idx, i)
	}
	sortKeys(w.idx[base:base+n], o.keys)
	for j := 0; j < n; j++ {
		if j > 0 {
			w.dst = append(w.dst, ',')
		}
		i := w.idx[base+j] // re-read: nested objects may grow w.idx
		w.dst = appendQuoted(w.dst, o.keys[i])
		w.dst = append(w.dst, ':')
		w.value(o.vals[i])
	}
	w.idx = w.idx[:base]
	w.dst = append(w.dst, '}')
	w.flush()
}

// sortKeys orders member indexes by key, comparing UTF-16 code units.
func sortKeys(idx []int, keys []string) {
	if len(idx) <= 12 {
		for i := 1; i < len(idx); i++ {
			for j := i; j > 0 && compareUTF16(keys[idx[j-1]], keys[idx[j]]) > 0; j-- {
				idx[j-1], idx[j] = idx[j], idx[j-1]
			}
		}
		return
	}
	slices.SortFunc(idx, func(a, b int) int { return compareUTF16(keys[a], keys[b]) })
}

// compareUTF16 compares two (WTF-8) strings the way JavaScript compares
// strings: by UTF-16 code units. Where the first difference is between two
// ASCII bytes that equals byte order; otherwise (a supplementary character,
// "😀" = D83D DE00, sorts before "\uE000"; lone surrogates; bytes that are
// not UTF-8 and are written as U+FFFD) the code units are compared.
func compareUTF16(a, b string) int {
	n := min(len(a), len(b))
	i := 0
	for i < n && a[i] == b[i] {
		i++
	}
	if i == n {
		switch {
		case len(a) < len(b):
			if b[i]&0xC0 == 0x80 { // the prefix ends inside a character of b
				return compareUnitsFrom(a, b)
			}
			return -1
		case len(a) > len(b):
			if a[i]&0xC0 == 0x80 {
				return compareUnitsFrom(a, b)
			}
			return 1
		}
		return 0
	}
	if a[i] >= utf8.RuneSelf || b[i] >= utf8.RuneSelf {
		return compareUnitsFrom(a, b)
	}
	if a[i] < b[i] {
		return -1
	}
	return 1
}

// compareUnitsFrom is the general code-unit comparison (slow path).
func compareUnitsFrom(a, b string) int {
	ia, ib := unitIter{s: a}, unitIter{s: b}
	for {
		ua, oka := ia.next()
		ub, okb := ib.next()
		switch {
		case !oka && !okb:
			return 0
		case !oka:
			return -1
		case !okb:
			return 1
		case ua != ub:
			if ua < ub {
				return -1
			}
			return 1
		}
	}
}

// unitIter yields the UTF-16 code units of a WTF-8 string.
type unitIter struct {
	s       string
	pending uint16 // low surrogate still to yield, or 0
}

func (it *unitIter) next() (uint16, bool) {
	if it.pending != 0 {
		u := it.pending
		it.pending = 0
		return u, true
	}
	if len(it.s) == 0 {
		return 0, false
	}
	if c := it.s[0]; c < utf8.RuneSelf {
		it.s = it.s[1:]
		return uint16(c), true
	}
	if r, ok := surrogateAt(it.s, 0); ok {
		it.s = it.s[3:]
		return uint16(r), true
	}
	r, size := utf8.DecodeRuneInString(it.s)
	it.s = it.s[size:]
	if r >= 0x10000 {
		r -= 0x10000
		it.pending = uint16(0xDC00 + r&0x3FF)
		return uint16(0xD800 + r>>10), true
	}
	return uint16(r), true
}

// appendJSNumber writes n as JavaScript's Number.prototype.toString prints
// the float64 JSON.parse makes of it.
func appendJSNumber(dst []byte, n Number) []byte {
	if jsVerbatim(n) {
		return append(dst, n...)
	}
	if n == "-0" {
		return append(dst, '0')
	}
	f, ok := numberFloat(n)
	if !ok {
		return append(dst, "null"...)
	}
	return appendJSFloat(dst, f)
}

// isShortInt reports whether n is a plain integer of at most 15 digits,
// which float64 represents exactly and JavaScript prints verbatim.
func isShortInt(n Number) bool {
	i := 0
	if len(n) > 0 && n[0] == '-' {
		i = 1
	}
	d := len(n) - i
	if d < 1 || d > 15 || (n[i] == '0' && d > 1) {
		return false
	}
	for ; i < len(n); i++ {
		if n[i] < '0' || n[i] > '9' {
			return false
		}
	}
	return true
}

// jsVerbatim reports whether JavaScript prints n exactly as written: plain
// notation, at most 15 significant digits (so the float64 round trip gives
// back the same shortest digits), no trailing fraction zeros, no -0, and
// not below 1e-6 (which JavaScript writes with an exponent).
func jsVerbatim(n Number) bool {
	i := 0
	if len(n) > 0 && n[0] == '-' {
		i = 1
	}
	if i >= len(n) || n[i] < '0' || n[i] > '9' {
		return false
	}
	sig := 0
	if n[i] == '0' {
		i++
		if i == len(n) {
			return len(n) == 1 // "0" yes, "-0" no
		}
	} else {
		for ; i < len(n) && n[i] >= '0' && n[i] <= '9'; i++ {
			sig++
		}
		if i == len(n) {
			return sig <= 15
		}
	}
	if n[i] != '.' || i+1 >= len(n) {
		return false
	}
	i++
	zeros := 0
	if sig == 0 {
		for i < len(n) && n[i] == '0' {
			zeros++
			i++
		}
		if zeros > 5 {
			return false
		}
	}
	start := i
	for ; i < len(n) && n[i] >= '0' && n[i] <= '9'; i++ {
	}
	if i != len(n) || i == start || n[i-1] == '0' {
		return false
	}
	return sig+(i-start) <= 15
}

// numberFloat converts valid number text to the float64 JSON.parse yields;
// ok is false for invalid text and for values that overflow to ±Inf.
func numberFloat(n Number) (float64, bool) {
	if !validNumber(string(n)) {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsInf(f, 0) {
		// ParseFloat reports overflow as ±Inf with ErrRange; underflow to
		// zero is not an error. The syntax was checked above.
		return 0, false
	}
	return f, true
}

// appendJSFloat formats f like JavaScript: shortest round-trip digits,
// plain notation for 1e-6 <= |f| < 1e21, exponent form ("1e+21", "1e-7")
// otherwise, and -0 as 0.
func appendJSFloat(dst []byte, f float64) []byte {
	if f == 0 {
		return append(dst, '0')
	}
	abs := math.Abs(f)
	if abs >= 1e-6 && abs < 1e21 {
		return strconv.AppendFloat(dst, f, 'f', -1, 64)
	}
	start := len(dst)
	dst = strconv.AppendFloat(dst, f, 'e', -1, 64)
	// Go writes e-07 / e+07; JavaScript writes e-7 / e+7.
	if k := len(dst) - start; k >= 4 && dst[len(dst)-4] == 'e' && dst[len(dst)-2] == '0' {
		dst[len(dst)-2] = dst[len(dst)-1]
		dst = dst[:len(dst)-1]
	}
	return dst
}

// UISkipsVerification reports whether the UI will not verify the state
// hash of v because it holds a number beyond ±(2^53-1) (finite after
// JSON.parse); such states still get a correct hash of the float64 view.
func UISkipsVerification(v any) bool {
	switch t := v.(type) {
	case Number:
		if isShortInt(t) {
			return false
		}
		f, ok := numberFloat(t)
		return ok && math.Abs(f) > maxSafeInteger
	case []any:
		for _, e := range t {
			if UISkipsVerification(e) {
				return true
			}
		}
	case *Object:
		if t == nil {
			return false
		}
		for _, e := range t.vals {
			if UISkipsVerification(e) {
				return true
			}
		}
	}
	return false
}
