package dashstream

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

// Number is a JSON number kept as its exact, validated source text.
type Number string

// Object is a JSON object that keeps member order.
type Object struct {
	keys  []string
	vals  []any
	index map[string]int // built lazily for larger objects
}

// ParseOptions bounds what ParseJSON accepts.
type ParseOptions struct {
	// MaxDepth is the deepest nesting accepted (default 1000 when 0).
	MaxDepth int
	// MaxBytes rejects larger input up front (0 = no limit).
	MaxBytes int
}
