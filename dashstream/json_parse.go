package dashstream

import (
	"strings"
	"unicode/utf8"
)

// ParseJSON parses exactly one RFC 8259 JSON value (surrounded only by
// whitespace) into the value model described in json.go, with the default
// depth limit. Errors wrap ErrInvalidJSON or ErrJSONTooDeep with the offset.
func ParseJSON(data []byte) (any, error) {
	return ParseJSONOptions(data, ParseOptions{})
}

// ParseJSONOptions is ParseJSON with explicit limits.
func ParseJSONOptions(data []byte, o ParseOptions) (any, error) {
	if o.MaxBytes > 0 && len(data) > o.MaxBytes {
		return nil, &JSONSyntaxError{Offset: o.MaxBytes, Msg: "input exceeds limit", Err: ErrJSONTooLarge}
	}
	// One copy of the input: unescaped strings, keys and numbers become
	// substrings of it, so parsing allocates little beyond the containers.
	return ParseJSONString(string(data), o)
}

// ParseJSONString parses JSON held in a Go string (for example a span
// attribute) without copying it; parsed strings may share its memory.
func ParseJSONString(s string, o ParseOptions) (any, error) {
	if o.MaxBytes > 0 && len(s) > o.MaxBytes {
		return nil, &JSONSyntaxError{Offset: o.MaxBytes, Msg: "input exceeds limit", Err: ErrJSONTooLarge}
	}
	p := parser{s: s, maxDepth: o.MaxDepth, slabSize: min(max(len(s)/16, 16), 4096)}
	if p.maxDepth <= 0 {
		p.maxDepth = DefaultMaxDepth
	}
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.i != len(p.s) {
		return nil, p.fail("unexpected data after the top-level value")
	}
	return v, nil
}

// parser is a recursive-descent RFC 8259 parser. Container members are
// collected on shared stacks and copied into exactly sized slices when the
// container closes, which avoids slice growth per container.
type parser struct {
	s        string
	i        int
	depth    int
	maxDepth int
	vals     []any    // pending array elements / object values
	keys     []string // pending object keys
	buf      []byte   // scratch for strings with escapes
	// boxed (nil: none) holds short string values already boxed into
	// any, shared by the trees of a document builder's parses: the
	// values state messages repeat (roles, node names, types) are boxed
	// once, not at every message.
	boxed map[string]any

	// Slabs that containers are carved from, so a parse makes a few large
	// allocations instead of three per object. Carved slices have cap ==
	// len, so a later append reallocates instead of touching a neighbour.
	objSlab  []Object
	valSlab  []any
	keySlab  []string
	slabSize int
}

func (p *parser) newObject() *Object {
	if len(p.objSlab) == cap(p.objSlab) {
		p.objSlab = make([]Object, 0, max(p.slabSize/4, 4))
	}
	p.objSlab = p.objSlab[:len(p.objSlab)+1]
	return &p.objSlab[len(p.objSlab)-1]
}

// inlineObject is an object of up to inlineMembers members with its key
// and value lists in one allocation.
type inlineObject struct {
	o    Object
	keys [inlineMembers]string
	vals [inlineMembers]any
}

const inlineMembers = 4

// newSizedObject returns an empty object with room for n members. A
// parser without slabs (a snapshot's few new values, parsed one by one)
// allocates a small object in one piece rather than three.
func (p *parser) newSizedObject(n int) *Object {
	if p.slabSize == 0 && n <= inlineMembers {
		io := &inlineObject{}
		io.o.keys, io.o.vals = io.keys[:0:n], io.vals[:0:n]
		return &io.o
	}
	o := p.newObject()
	o.keys = p.takeKeys(n)[:0]
	o.vals = p.takeVals(n)[:0]
	return o
}

func (p *parser) takeVals(n int) []any {
	if n > cap(p.valSlab)-len(p.valSlab) {
		if n > p.slabSize/2 {
			return make([]any, n)
		}
		p.valSlab = make([]any, 0, p.slabSize)
	}
	k := len(p.valSlab)
	p.valSlab = p.valSlab[:k+n]
	return p.valSlab[k : k+n : k+n]
}

func (p *parser) takeKeys(n int) []string {
	if n > cap(p.keySlab)-len(p.keySlab) {
		if n > p.slabSize/2 {
			return make([]string, n)
		}
		p.keySlab = make([]string, 0, p.slabSize)
	}
	k := len(p.keySlab)
	p.keySlab = p.keySlab[:k+n]
	return p.keySlab[k : k+n : k+n]
}

// Bounds of parser.boxed: strings up to maxBoxedLen bytes, at most
// maxBoxed of them (then it starts over).
const (
	maxBoxedLen = 32
	maxBoxed    = 256
)

// box returns s boxed into any, from p.boxed when it is there. A string
// kept there is a copy: s may be part of a large text.
func (p *parser) box(s string) any {
	if v, ok := p.boxed[s]; ok {
		return v
	}
	if len(p.boxed) >= maxBoxed {
		clear(p.boxed)
	}
	s = strings.Clone(s)
	var v any = s
	p.boxed[s] = v
	return v
}

func (p *parser) fail(msg string) error {
	return &JSONSyntaxError{Offset: p.i, Msg: msg, Err: ErrInvalidJSON}
}

func (p *parser) skipSpace() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) value() (any, error) {
	p.skipSpace()
	if p.i >= len(p.s) {
		return nil, p.fail("unexpected end of input")
	}
	switch c := p.s[p.i]; c {
	case '{':
		return p.object()
	case '[':
		return p.array()
	case '"':
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		if p.boxed != nil && len(s) <= maxBoxedLen {
			return p.box(s), nil
		}
		return s, nil
	case 't':
		return p.literal("true", true)
	case 'f':
		return p.literal("false", false)
	case 'n':
		return p.literal("null", nil)
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			return p.number()
		}
		return nil, p.fail("unexpected character " + quoteByte(c))
	}
}

func quoteByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return "'" + string(rune(c)) + "'"
	}
	const hex = "0123456789abcdef"
	return "0x" + string([]byte{hex[c>>4], hex[c&15]})
}

func (p *parser) literal(word string, v any) (any, error) {
	if len(p.s)-p.i < len(word) || p.s[p.i:p.i+len(word)] != word {
		return nil, p.fail("invalid literal")
	}
	p.i += len(word)
	return v, nil
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > p.maxDepth {
		return &JSONSyntaxError{Offset: p.i, Msg: "nesting exceeds limit", Err: ErrJSONTooDeep}
	}
	return nil
}

func (p *parser) array() (any, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	p.i++ // '['
	p.skipSpace()
	if p.i < len(p.s) && p.s[p.i] == ']' {
		p.i++
		p.depth--
		return []any{}, nil
	}
	base := len(p.vals)
	for {
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		p.vals = append(p.vals, v)
		p.skipSpace()
		if p.i >= len(p.s) {
			return nil, p.fail("unexpected end of input in array")
		}
		c := p.s[p.i]
		p.i++
		if c == ']' {
			break
		}
		if c != ',' {
			p.i--
			return nil, p.fail("expected ',' or ']' in array")
		}
	}
	arr := p.takeVals(len(p.vals) - base)
	copy(arr, p.vals[base:])
	clear(p.vals[base:])
	p.vals = p.vals[:base]
	p.depth--
	return arr, nil
}

func (p *parser) object() (any, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	p.i++ // '{'
	p.skipSpace()
	if p.i < len(p.s) && p.s[p.i] == '}' {
		p.i++
		p.depth--
		return p.newObject(), nil
	}
	base := len(p.vals)
	for {
		p.skipSpace()
		if p.i >= len(p.s) || p.s[p.i] != '"' {
			return nil, p.fail("expected string key in object")
		}
		k, err := p.str()
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		if p.i >= len(p.s) || p.s[p.i] != ':' {
			return nil, p.fail("expected ':' after object key")
		}
		p.i++
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		p.keys = append(p.keys, k)
		p.vals = append(p.vals, v)
		p.skipSpace()
		if p.i >= len(p.s) {
			return nil, p.fail("unexpected end of input in object")
		}
		c := p.s[p.i]
		p.i++
		if c == '}' {
			break
		}
		if c != ',' {
			p.i--
			return nil, p.fail("expected ',' or '}' in object")
		}
	}
	n := len(p.vals) - base
	kbase := len(p.keys) - n
	o := p.newSizedObject(n)
	for j := 0; j < n; j++ {
		o.Set(p.keys[kbase+j], p.vals[base+j])
	}
	clear(p.vals[base:])
	clear(p.keys[kbase:])
	p.vals = p.vals[:base]
	p.keys = p.keys[:kbase]
	p.depth--
	return o, nil
}

// plainASCII marks bytes that need no attention inside a JSON string.
var plainASCII = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str parses a string starting at the opening quote.
func (p *parser) str() (string, error) {
	start := p.i + 1
	j := start
	for j < len(p.s) {
		c := p.s[j]
		if plainASCII[c] {
			j++
			continue
		}
		if c == '"' {
			p.i = j + 1
			return p.s[start:j], nil
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(p.s[j:])
			if r == utf8.RuneError && size == 1 {
				break
			}
			j += size
			continue
		}
		break // backslash or control character
	}
	return p.strSlow(start, j)
}

// strSlow handles escapes, invalid UTF-8 and errors; s[start:j] is plain.
func (p *parser) strSlow(start, j int) (string, error) {
	b := append(p.buf[:0], p.s[start:j]...)
	for {
		if j >= len(p.s) {
			p.i = j
			return "", p.fail("unterminated string")
		}
		c := p.s[j]
		switch {
		case c == '"':
			p.i = j + 1
			p.buf = b
			return string(b), nil
		case c == '\\':
			var err error
			b, j, err = p.escape(b, j)
			if err != nil {
				return "", err
			}
		case c < 0x20:
			p.i = j
			return "", p.fail("control character in string")
		case c < utf8.RuneSelf:
			b = append(b, c)
			j++
		default:
			r, size := utf8.DecodeRuneInString(p.s[j:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, "\uFFFD"...)
			} else {
				b = append(b, p.s[j:j+size]...)
			}
			j += size
		}
	}
}

// escape decodes the escape sequence at s[j] (a backslash) into b.
func (p *parser) escape(b []byte, j int) ([]byte, int, error) {
	if j+1 >= len(p.s) {
		p.i = j
		return b, j, p.fail("unterminated escape")
	}
	switch c := p.s[j+1]; c {
	case '"', '\\', '/':
		return append(b, c), j + 2, nil
	case 'b':
		return append(b, '\b'), j + 2, nil
	case 'f':
		return append(b, '\f'), j + 2, nil
	case 'n':
		return append(b, '\n'), j + 2, nil
	case 'r':
		return append(b, '\r'), j + 2, nil
	case 't':
		return append(b, '\t'), j + 2, nil
	case 'u':
		r, ok := hex4(p.s, j+2)
		if !ok {
			p.i = j
			return b, j, p.fail("invalid \\u escape")
		}
		j += 6
		switch {
		case r < 0xD800 || r > 0xDFFF:
			return utf8.AppendRune(b, rune(r)), j, nil
		case r < 0xDC00 && j+1 < len(p.s) && p.s[j] == '\\' && p.s[j+1] == 'u':
			if lo, ok := hex4(p.s, j+2); ok && lo >= 0xDC00 && lo <= 0xDFFF {
				return utf8.AppendRune(b, rune(0x10000+((r-0xD800)<<10)+(lo-0xDC00))), j + 6, nil
			}
		}
		return appendSurrogate(b, r), j, nil
	default:
		p.i = j
		return b, j, p.fail("invalid escape character")
	}
}

// appendSurrogate stores a lone UTF-16 surrogate as its WTF-8 bytes.
func appendSurrogate(b []byte, r uint32) []byte {
	return append(b, 0xED, byte(0x80|(r>>6)&0x3F), byte(0x80|r&0x3F))
}

// surrogateAt decodes a WTF-8 surrogate at s[i], if there is one.
func surrogateAt[T string | []byte](s T, i int) (uint32, bool) {
	if i+2 < len(s) && s[i] == 0xED && s[i+1] >= 0xA0 && s[i+1] <= 0xBF && s[i+2] >= 0x80 && s[i+2] <= 0xBF {
		return 0xD000 | uint32(s[i+1]&0x3F)<<6 | uint32(s[i+2]&0x3F), true
	}
	return 0, false
}

func hex4(s string, i int) (uint32, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r uint32
	for k := i; k < i+4; k++ {
		c := s[k]
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | uint32(c)
	}
	return r, true
}

func (p *parser) number() (any, error) {
	n := scanNumber(p.s, p.i)
	if n <= 0 {
		p.i -= n
		return nil, p.fail("invalid number")
	}
	v := Number(p.s[p.i : p.i+n])
	p.i += n
	return v, nil
}

// scanNumber returns the length of the RFC 8259 number at s[i:], or
// -(offset of the offending byte relative to i) (<= 0) when it is malformed.
func scanNumber(s string, i int) int {
	j := i
	if j < len(s) && s[j] == '-' {
		j++
	}
	if j >= len(s) {
		return -(j - i)
	}
	switch c := s[j]; {
	case c == '0':
		j++
	case c >= '1' && c <= '9':
		j++
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
	default:
		return -(j - i)
	}
	if j < len(s) && s[j] == '.' {
		j++
		if j >= len(s) || s[j] < '0' || s[j] > '9' {
			return -(j - i)
		}
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
	}
	if j < len(s) && (s[j] == 'e' || s[j] == 'E') {
		j++
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		if j >= len(s) || s[j] < '0' || s[j] > '9' {
			return -(j - i)
		}
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
	}
	return j - i
}

// validNumber reports whether s is exactly one RFC 8259 number.
func validNumber(s string) bool {
	return len(s) > 0 && scanNumber(s, 0) == len(s)
}
