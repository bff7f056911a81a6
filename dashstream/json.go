package dashstream

import (
	"errors"
	"math/big"
	"strconv"
)

// JSON values are represented with plain Go types so that every part of the
// project can build and inspect them without an accessor API:
//
//	nil        JSON null
//	bool       true / false
//	Number     a number, kept as its exact source text (never a float64)
//	string     a string; lone UTF-16 surrogates from \uD800-style escapes are
//	           kept as WTF-8 (3-byte) sequences so they survive a round trip
//	[]any      an array
//	*Object    an object, members in first-seen order, duplicate keys: last
//	           value wins at the first key's position (as JSON.parse does)
//
// Values are treated as immutable once they are handed to Diff or Apply:
// patches reference sub-values of the new document and Apply shares unchanged
// sub-trees with its input (copy-on-write). Clone a value before mutating it
// in place if another holder may still see it.
//
// Any other Go type inside a value is not JSON: writers emit it as null and
// Equal never reports it equal to anything.

// Number is a JSON number kept as its exact, validated source text.
// A Number built by hand must hold RFC 8259 number syntax; writers emit
// invalid text as null rather than producing invalid JSON.
type Number string

// Object is a JSON object that keeps member order.
//
// The zero value is an empty object ready to use. Objects with more than
// smallObject members keep a key index, maintained on every write so that
// concurrent readers never race on a lazily built map.
type Object struct {
	keys  []string
	vals  []any
	index map[string]int // only when len(keys) > smallObject
}

// smallObject is the member count up to which a linear scan beats a map.
const smallObject = 8

// ParseOptions bounds what ParseJSON accepts.
type ParseOptions struct {
	// MaxDepth is the deepest nesting accepted (default 1000 when 0).
	MaxDepth int
	// MaxBytes rejects larger input up front (0 = no limit).
	MaxBytes int
}

// DefaultMaxDepth is the nesting limit ParseJSON applies when none is given.
const DefaultMaxDepth = 1000

// Errors returned by the JSON parser, usable with errors.Is; the concrete
// error is a *JSONSyntaxError carrying the byte offset.
var (
	ErrInvalidJSON  = errors.New("invalid JSON")
	ErrJSONTooDeep  = errors.New("JSON nested too deeply")
	ErrJSONTooLarge = errors.New("JSON input too large")
)

// JSONSyntaxError reports where parsing stopped and why.
type JSONSyntaxError struct {
	Offset int    // byte offset in the input
	Msg    string // what was wrong
	Err    error  // one of ErrInvalidJSON, ErrJSONTooDeep, ErrJSONTooLarge
}

func (e *JSONSyntaxError) Error() string {
	return "dashstream: " + e.Err.Error() + " at byte " + strconv.Itoa(e.Offset) + ": " + e.Msg
}

// Unwrap lets errors.Is match the sentinel.
func (e *JSONSyntaxError) Unwrap() error { return e.Err }

// NewObject returns an empty object with room for capacity members.
func NewObject(capacity int) *Object {
	if capacity < 0 {
		capacity = 0
	}
	o := &Object{keys: make([]string, 0, capacity), vals: make([]any, 0, capacity)}
	return o
}

// Len returns the number of members.
func (o *Object) Len() int {
	if o == nil {
		return 0
	}
	return len(o.keys)
}

// Key returns the i-th member's key (0 <= i < Len()).
func (o *Object) Key(i int) string { return o.keys[i] }

// Value returns the i-th member's value (0 <= i < Len()).
func (o *Object) Value(i int) any { return o.vals[i] }

// find returns the member index of key, or -1.
func (o *Object) find(key string) int {
	if o == nil {
		return -1
	}
	if o.index != nil {
		if i, ok := o.index[key]; ok {
			return i
		}
		return -1
	}
	for i, k := range o.keys {
		if k == key {
			return i
		}
	}
	return -1
}

// Get returns the value of key and whether it is present.
func (o *Object) Get(key string) (any, bool) {
	i := o.find(key)
	if i < 0 {
		return nil, false
	}
	return o.vals[i], true
}

// Set replaces the value of key in place, or appends a new member.
func (o *Object) Set(key string, v any) {
	if i := o.find(key); i >= 0 {
		o.vals[i] = v
		return
	}
	o.keys = append(o.keys, key)
	o.vals = append(o.vals, v)
	if o.index != nil {
		o.index[key] = len(o.keys) - 1
	} else if len(o.keys) > smallObject {
		o.buildIndex()
	}
}

// Delete removes key, keeping the order of the other members, and reports
// whether it was present.
func (o *Object) Delete(key string) bool {
	i := o.find(key)
	if i < 0 {
		return false
	}
	o.removeAt(i)
	return true
}

// removeAt deletes member i.
func (o *Object) removeAt(i int) {
	key := o.keys[i]
	n := len(o.keys)
	copy(o.keys[i:], o.keys[i+1:])
	copy(o.vals[i:], o.vals[i+1:])
	o.keys[n-1] = ""
	o.vals[n-1] = nil
	o.keys = o.keys[:n-1]
	o.vals = o.vals[:n-1]
	if o.index == nil {
		return
	}
	if len(o.keys) <= smallObject {
		o.index = nil
		return
	}
	delete(o.index, key)
	for j := i; j < len(o.keys); j++ {
		o.index[o.keys[j]] = j
	}
}

func (o *Object) buildIndex() {
	o.index = make(map[string]int, len(o.keys))
	for i, k := range o.keys {
		o.index[k] = i
	}
}

// shallowCopy returns a new object with the same members (values shared).
func (o *Object) shallowCopy(extra int) *Object {
	c := &Object{
		keys: make([]string, len(o.keys), len(o.keys)+extra),
		vals: make([]any, len(o.vals), len(o.vals)+extra),
	}
	copy(c.keys, o.keys)
	copy(c.vals, o.vals)
	if o.index != nil {
		c.index = make(map[string]int, len(o.index)+extra)
		for k, i := range o.index {
			c.index[k] = i
		}
	}
	return c
}

// Clone returns a deep copy of a JSON value; strings and Numbers are
// immutable and shared.
func Clone(v any) any {
	switch t := v.(type) {
	case []any:
		c := make([]any, len(t))
		for i, e := range t {
			c[i] = Clone(e)
		}
		return c
	case *Object:
		if t == nil {
			return t
		}
		c := &Object{keys: make([]string, len(t.keys)), vals: make([]any, len(t.vals))}
		copy(c.keys, t.keys)
		for i, e := range t.vals {
			c.vals[i] = Clone(e)
		}
		if t.index != nil {
			c.buildIndex()
		}
		return c
	default:
		return v
	}
}

// Equal reports whether a and b are the same JSON value. Object member order
// does not matter (the state hash ignores it too); numbers are equal when
// their exact decimal values are equal ("1", "1.0" and "1e0" are), never by
// float64 rounding. Values outside the model are never equal.
func Equal(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case Number:
		y, ok := b.(Number)
		return ok && numbersEqual(x, y)
	case string:
		y, ok := b.(string)
		return ok && x == y
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !Equal(x[i], y[i]) {
				return false
			}
		}
		return true
	case *Object:
		y, ok := b.(*Object)
		if !ok || x == nil || y == nil {
			return false
		}
		return objectsEqual(x, y)
	default:
		return false
	}
}

func objectsEqual(x, y *Object) bool {
	if x == y {
		return true
	}
	if len(x.keys) != len(y.keys) {
		return false
	}
	for i, k := range x.keys {
		var yv any
		if y.keys[i] == k {
			yv = y.vals[i]
		} else {
			j := y.find(k)
			if j < 0 {
				return false
			}
			yv = y.vals[j]
		}
		if !Equal(x.vals[i], yv) {
			return false
		}
	}
	return true
}

// numbersEqual compares two numbers by exact decimal value.
func numbersEqual(a, b Number) bool {
	if a == b {
		return true
	}
	var ba, bb [40]byte
	na, ok1 := decimalOf(string(a), ba[:0])
	nb, ok2 := decimalOf(string(b), bb[:0])
	if !ok1 || !ok2 {
		return false
	}
	if len(na.digits) == 0 || len(nb.digits) == 0 { // zero, whatever the sign
		return len(na.digits) == len(nb.digits)
	}
	if na.neg != nb.neg || string(na.digits) != string(nb.digits) {
		return false
	}
	if na.expText == "" && nb.expText == "" {
		return na.exp == nb.exp
	}
	return na.exponentText() == nb.exponentText()
}

func (d decimal) exponentText() string {
	if d.expText != "" {
		return d.expText
	}
	return strconv.FormatInt(d.exp, 10)
}

// decimal is a number normalised to ±0.DIGITS × 10^exp with no leading or
// trailing zero digits.
type decimal struct {
	neg     bool
	digits  []byte
	exp     int64  // when expText is empty
	expText string // exact exponent for huge ones (exp is 0 then)
}

func decimalOf(s string, buf []byte) (decimal, bool) {
	if !validNumber(s) {
		return decimal{}, false
	}
	var d decimal
	i := 0
	if s[0] == '-' {
		d.neg = true
		i++
	}
	intDigits := int64(0)
	seenNonZero := false
	leadingFracZeros := int64(0)
	for ; i < len(s) && s[i] != '.' && s[i] != 'e' && s[i] != 'E'; i++ {
		if s[i] != '0' || seenNonZero {
			seenNonZero = true
			buf = append(buf, s[i])
			intDigits++
		}
	}
	if i < len(s) && s[i] == '.' {
		for i++; i < len(s) && s[i] != 'e' && s[i] != 'E'; i++ {
			if s[i] == '0' && !seenNonZero {
				leadingFracZeros++
				continue
			}
			seenNonZero = true
			buf = append(buf, s[i])
		}
	}
	for len(buf) > 0 && buf[len(buf)-1] == '0' {
		buf = buf[:len(buf)-1]
	}
	d.digits = buf
	shift := intDigits - leadingFracZeros
	if i < len(s) { // exponent
		i++
		eneg := false
		if s[i] == '+' || s[i] == '-' {
			eneg = s[i] == '-'
			i++
		}
		for i < len(s)-1 && s[i] == '0' {
			i++
		}
		et := s[i:]
		if len(et) > 15 {
			// Far beyond float range, yet Equal must stay exact.
			e, _ := new(big.Int).SetString(et, 10)
			if eneg {
				e.Neg(e)
			}
			d.expText = e.Add(e, big.NewInt(shift)).String()
			return d, true
		}
		var e int64
		for k := 0; k < len(et); k++ {
			e = e*10 + int64(et[k]-'0')
		}
		if eneg {
			e = -e
		}
		shift += e
	}
	d.exp = shift
	return d, true
}
