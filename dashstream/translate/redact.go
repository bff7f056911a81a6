package translate

import (
	"fmt"
	"github.com/dashstream/dashstreamexporter/dashstream"
	"regexp"
	"strings"
)

// redactedText replaces every secret value and credential-looking match.
const redactedText = "[REDACTED]"

// redactor replaces secrets (SPEC §4.8). It is immutable after construction
// and safe for concurrent use.
type redactor struct {
	enabled  bool
	keys     []string // normalised
	patterns []redactPattern
}

// redactPattern is a compiled pattern with an optional cheap pre-check that
// must hold for the regular expression to be able to match; it keeps the
// common case (no credential in the string) free of regex work.
type redactPattern struct {
	re       *regexp.Regexp
	mayMatch func(string) bool
}

func newRedactor(c RedactionConfig) (*redactor, error) {
	r := &redactor{enabled: c.Enabled}
	if !c.Enabled {
		return r, nil
	}
	for _, k := range c.Keys {
		if k = normaliseKey(strings.TrimSpace(k)); k != "" {
			r.keys = append(r.keys, k)
		}
	}
	for i, p := range c.Patterns {
		re, err := regexp.Compile(p)
		if err != nil {
			return nil, fmt.Errorf("redaction.patterns[%d]: %w", i, err)
		}
		r.patterns = append(r.patterns, redactPattern{re: re, mayMatch: preCheckFor(p)})
	}
	return r, nil
}

// preCheckFor returns a literal test for the default patterns (whose every
// match contains a known literal), and nil (always run the regex) otherwise.
func preCheckFor(pattern string) func(string) bool {
	defaults := defaultRedactedPatterns()
	switch pattern {
	case defaults[0]:
		return func(s string) bool { return containsFoldASCII(s, "bearer") }
	case defaults[1]:
		return func(s string) bool { return containsLastRare(s, "sk-") }
	case defaults[2]:
		return func(s string) bool { return containsLastRare(s, "eyJ") }
	}
	return nil
}

// containsLastRare is strings.Contains for a needle whose last byte is
// rare in text ('-', 'J') while its first is common ('s', 'e'):
// strings.Index steps from one occurrence of the first byte to the next,
// which in prose is every few bytes, so this steps through the last
// byte's occurrences instead (IndexByte, vectorised, over long runs).
func containsLastRare(s, needle string) bool {
	last := len(needle) - 1
	c := needle[last]
	for i := last; i < len(s); {
		j := strings.IndexByte(s[i:], c)
		if j < 0 {
			return false
		}
		j += i
		if s[j-last:j] == needle[:last] {
			return true
		}
		i = j + 1
	}
	return false
}

// keyIsSecret reports whether a key names a secret: its normalised form
// (lower case, '-' → '_') equals a configured key, ends with "_"+key or
// starts with key+"_". So access_token and x-api-key are secrets while
// input_tokens and max_tokens are not.
func (r *redactor) keyIsSecret(key string) bool {
	if !r.enabled || len(r.keys) == 0 || len(key) < 3 {
		return false
	}
	var buf [64]byte
	var nk []byte
	if len(key) <= len(buf) {
		nk = buf[:copy(buf[:], key)]
	} else {
		nk = []byte(key)
	}
	for i := range nk {
		nk[i] = normaliseByte(nk[i])
	}
	for _, k := range r.keys {
		n, m := len(nk), len(k)
		switch {
		case n < m:
		case n == m:
			if string(nk) == k {
				return true
			}
		default:
			// string(b) == s comparisons do not allocate.
			if nk[n-m-1] == '_' && string(nk[n-m:]) == k {
				return true
			}
			if nk[m] == '_' && string(nk[:m]) == k {
				return true
			}
		}
	}
	return false
}

// redactString replaces every pattern match in s; n is the number of
// replacements made.
func (r *redactor) redactString(s string) (out string, n int) {
	if !r.enabled || len(s) < 8 {
		return s, 0
	}
	out = s
	for _, p := range r.patterns {
		if p.mayMatch != nil && !p.mayMatch(out) {
			continue
		}
		locs := p.re.FindAllStringIndex(out, -1)
		if len(locs) == 0 {
			continue
		}
		var b strings.Builder
		b.Grow(len(out))
		last := 0
		for _, l := range locs {
			b.WriteString(out[last:l[0]])
			b.WriteString(redactedText)
			last = l[1]
		}
		b.WriteString(out[last:])
		out = b.String()
		n += len(locs)
	}
	return out, n
}

func normaliseKey(k string) string {
	b := []byte(k)
	for i := range b {
		b[i] = normaliseByte(b[i])
	}
	return string(b)
}

func normaliseByte(c byte) byte {
	switch {
	case c >= 'A' && c <= 'Z':
		return c + ('a' - 'A')
	case c == '-':
		return '_'
	}
	return c
}

// containsFoldASCII reports whether s contains the lower-case ASCII word sub,
// ignoring ASCII case, without allocating; '_' in sub also matches '-'.
// Candidates are found with IndexByte (vectorised) on both cases of the
// first letter.
func containsFoldASCII(s, sub string) bool {
	n := len(sub)
	if n == 0 || len(s) < n {
		return false
	}
	lo, up := sub[0], sub[0]
	if lo >= 'a' && lo <= 'z' {
		up = lo - ('a' - 'A')
	}
	for pass := 0; pass < 2; pass++ {
		first := lo
		if pass == 1 {
			if lo == up {
				break
			}
			first = up
		}
		rest := s
		for {
			i := strings.IndexByte(rest, first)
			if i < 0 || len(rest)-i < n {
				break
			}
			if equalFoldAt(rest[i+1:], sub[1:]) {
				return true
			}
			rest = rest[i+1:]
		}
	}
	return false
}

// equalFoldAt reports whether s starts with sub (lower case), ignoring
// ASCII case, '-' matching '_'.
func equalFoldAt(s, sub string) bool {
	for j := 0; j < len(sub); j++ {
		c := s[j]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != sub[j] && (sub[j] != '_' || c != '-') {
			return false
		}
	}
	return true
}

// mayNeedRedaction is a cheap test on raw text: false means no key and no
// string in it can be redacted, so parsing it for redaction (or walking its
// parsed form) can be skipped. JSON escapes (\u…) can hide a key from this
// test, so it always says true for text containing one.
func (r *redactor) mayNeedRedaction(raw string) bool {
	if !r.enabled {
		return false
	}
	if strings.Contains(raw, `\u`) {
		return true
	}
	for _, k := range r.keys {
		if containsFoldASCII(raw, k) {
			return true
		}
	}
	for _, p := range r.patterns {
		if p.mayMatch == nil || p.mayMatch(raw) {
			return true
		}
	}
	return false
}

// redactJSON redacts a parsed JSON value in place (objects and arrays are
// modified; a top-level string is returned replaced) and returns how many
// values it replaced. Values of secret keys become "[REDACTED]" (null stays
// null); strings have credential-looking matches replaced.
func (r *redactor) redactJSON(v any) (any, int) {
	if !r.enabled {
		return v, 0
	}
	switch t := v.(type) {
	case *dashstream.Object:
		n := 0
		for i := 0; i < t.Len(); i++ {
			k, val := t.Key(i), t.Value(i)
			if val != nil && r.keyIsSecret(k) {
				if s, ok := val.(string); !ok || s != redactedText {
					t.Set(k, redactedText)
					n++
				}
				continue
			}
			switch tv := val.(type) {
			case string:
				// Handled here: boxing every string back into an interface
				// would allocate even when nothing is replaced.
				if ns, c := r.redactString(tv); c > 0 {
					t.Set(k, ns)
					n += c
				}
			case *dashstream.Object, []any:
				_, c := r.redactJSON(val)
				n += c
			}
		}
		return t, n
	case []any:
		n := 0
		for i, e := range t {
			switch te := e.(type) {
			case string:
				if ns, c := r.redactString(te); c > 0 {
					t[i] = ns
					n += c
				}
			case *dashstream.Object, []any:
				_, c := r.redactJSON(e)
				n += c
			}
		}
		return t, n
	case string:
		return r.redactString(t)
	}
	return v, 0
}
