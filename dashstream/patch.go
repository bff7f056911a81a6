package dashstream

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
)

// OpType is the RFC 6902 operation, numbered as on the wire.
type OpType = dashstreampb.DiffOperation_OpType

// The six RFC 6902 operations.
const (
	OpAdd     = dashstreampb.DiffOperation_OP_TYPE_ADD
	OpRemove  = dashstreampb.DiffOperation_OP_TYPE_REMOVE
	OpReplace = dashstreampb.DiffOperation_OP_TYPE_REPLACE
	OpMove    = dashstreampb.DiffOperation_OP_TYPE_MOVE
	OpCopy    = dashstreampb.DiffOperation_OP_TYPE_COPY
	OpTest    = dashstreampb.DiffOperation_OP_TYPE_TEST
)

// PatchOp is one RFC 6902 operation. Path and From are RFC 6901 JSON
// Pointers; Value is used by add, replace and test, From by move and copy.
type PatchOp struct {
	Op    OpType
	Path  string
	From  string
	Value any
}

// Patch is an RFC 6902 JSON Patch: operations applied in order.
type Patch []PatchOp

// ErrPatch is wrapped by every error Apply and the patch decoders return.
var ErrPatch = errors.New("JSON patch failed")

// PatchError says which operation failed and why.
type PatchError struct {
	Index int    // position of the operation in the patch
	Op    OpType // its operation
	Path  string // its path
	Msg   string
}

func (e *PatchError) Error() string {
	return "dashstream: JSON patch operation " + strconv.Itoa(e.Index) + " (" + opName(e.Op) + " " +
		strconv.Quote(e.Path) + "): " + e.Msg
}

// Unwrap lets errors.Is match ErrPatch.
func (e *PatchError) Unwrap() error { return ErrPatch }

// opName is the RFC 6902 spelling of op.
func opName(op OpType) string {
	switch op {
	case OpAdd:
		return "add"
	case OpRemove:
		return "remove"
	case OpReplace:
		return "replace"
	case OpMove:
		return "move"
	case OpCopy:
		return "copy"
	case OpTest:
		return "test"
	}
	return "op" + strconv.Itoa(int(op))
}

// opFromName parses an RFC 6902 operation name.
func opFromName(name string) (OpType, bool) {
	for op := OpAdd; op <= OpTest; op++ {
		if opName(op) == name {
			return op, true
		}
	}
	return 0, false
}

func validOp(op OpType) bool { return op >= OpAdd && op <= OpTest }

// hasValue and hasFrom say which members an operation carries.
func hasValue(op OpType) bool { return op == OpAdd || op == OpReplace || op == OpTest }
func hasFrom(op OpType) bool  { return op == OpMove || op == OpCopy }

// UseFullState reports whether a state should be sent as full_state rather
// than as a patch: when the patch's JSON is longer than 1.1 × the state's.
func UseFullState(patchJSONLen, stateJSONLen int) bool {
	return patchJSONLen*10 > stateJSONLen*11
}

// AppendJSON appends the RFC 6902 JSON array form of the patch.
func (p Patch) AppendJSON(dst []byte) []byte {
	dst = append(dst, '[')
	for i := range p {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = p[i].appendJSON(dst)
	}
	return append(dst, ']')
}

func (op *PatchOp) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"op":"`...)
	dst = append(dst, opName(op.Op)...)
	dst = append(dst, `","path":`...)
	dst = appendQuoted(dst, op.Path)
	if hasFrom(op.Op) {
		dst = append(dst, `,"from":`...)
		dst = appendQuoted(dst, op.From)
	}
	if hasValue(op.Op) {
		dst = append(dst, `,"value":`...)
		dst = AppendJSON(dst, op.Value)
	}
	return append(dst, '}')
}

// JSONLen is len(p.AppendJSON(nil)), computed without writing.
func (p Patch) JSONLen() int {
	n := 2
	if len(p) > 1 {
		n += len(p) - 1
	}
	for i := range p {
		n += p[i].jsonLen()
	}
	return n
}

// Fixed parts of an operation's JSON: {"op":"","path":} / ,"from": / ,"value":
const (
	opFixedLen = len(`{"op":"","path":}`)
	fromLen    = len(`,"from":`)
	valueLen   = len(`,"value":`)
)

func (op *PatchOp) jsonLen() int {
	n := opFixedLen + len(opName(op.Op)) + quotedLen(op.Path)
	if hasFrom(op.Op) {
		n += fromLen + quotedLen(op.From)
	}
	if hasValue(op.Op) {
		n += valueLen + jsonLen(op.Value, -1)
	}
	return n
}

// ParsePatchJSON decodes the RFC 6902 JSON form of a patch. Members other
// than op, path, from and value are ignored, as the RFC asks.
func ParsePatchJSON(data []byte) (Patch, error) {
	v, err := ParseJSON(data)
	if err != nil {
		return nil, fmt.Errorf("dashstream: %w: %w", ErrPatch, err)
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, &PatchError{Index: -1, Msg: "patch is not a JSON array"}
	}
	p := make(Patch, 0, len(arr))
	for i, e := range arr {
		o, ok := e.(*Object)
		if !ok {
			return nil, &PatchError{Index: i, Msg: "operation is not a JSON object"}
		}
		var op PatchOp
		name, _ := o.Get("op")
		ns, _ := name.(string)
		if op.Op, ok = opFromName(ns); !ok {
			return nil, &PatchError{Index: i, Op: -1, Msg: "missing or unknown \"op\""}
		}
		path, _ := o.Get("path")
		if op.Path, ok = path.(string); !ok {
			return nil, &PatchError{Index: i, Op: op.Op, Msg: "missing or non-string \"path\""}
		}
		if hasFrom(op.Op) {
			from, _ := o.Get("from")
			if op.From, ok = from.(string); !ok {
				return nil, &PatchError{Index: i, Op: op.Op, Path: op.Path, Msg: "missing or non-string \"from\""}
			}
		}
		if hasValue(op.Op) {
			if op.Value, ok = o.Get("value"); !ok {
				return nil, &PatchError{Index: i, Op: op.Op, Path: op.Path, Msg: "missing \"value\""}
			}
		}
		p = append(p, op)
	}
	return p, nil
}

// ---- pointers ----

// appendPointerToken appends "/" and key escaped per RFC 6901.
func appendPointerToken(dst []byte, key string) []byte {
	dst = append(dst, '/')
	if strings.IndexByte(key, '~') < 0 && strings.IndexByte(key, '/') < 0 {
		return append(dst, key...)
	}
	for i := 0; i < len(key); i++ {
		switch key[i] {
		case '~':
			dst = append(dst, '~', '0')
		case '/':
			dst = append(dst, '~', '1')
		default:
			dst = append(dst, key[i])
		}
	}
	return dst
}

// pointerToken returns the reference token that starts at path[pos] (a
// '/'), unescaped, and the position after it.
func pointerToken(path string, pos int) (tok string, next int, err error) {
	if path[pos] != '/' {
		return "", 0, errors.New("JSON pointer must start with '/'")
	}
	end := strings.IndexByte(path[pos+1:], '/')
	if end < 0 {
		end = len(path)
	} else {
		end += pos + 1
	}
	tok = path[pos+1 : end]
	if strings.IndexByte(tok, '~') < 0 {
		return tok, end, nil
	}
	b := make([]byte, 0, len(tok))
	for i := 0; i < len(tok); i++ {
		if tok[i] != '~' {
			b = append(b, tok[i])
			continue
		}
		if i+1 >= len(tok) || (tok[i+1] != '0' && tok[i+1] != '1') {
			return "", 0, errors.New("invalid '~' escape in JSON pointer")
		}
		if tok[i+1] == '0' {
			b = append(b, '~')
		} else {
			b = append(b, '/')
		}
		i++
	}
	return string(b), end, nil
}

// arrayIndex parses an array reference token for an array of length n;
// "-" means n when allowEnd (add), and an index may equal n only then.
func arrayIndex(tok string, n int, allowEnd bool) (int, error) {
	if tok == "-" {
		if allowEnd {
			return n, nil
		}
		return 0, errors.New(`"-" does not name an existing array element`)
	}
	if tok == "" || len(tok) > 10 || (tok[0] == '0' && len(tok) > 1) {
		return 0, errors.New("invalid array index " + strconv.Quote(tok))
	}
	i := 0
	for k := 0; k < len(tok); k++ {
		c := tok[k]
		if c < '0' || c > '9' {
			return 0, errors.New("invalid array index " + strconv.Quote(tok))
		}
		i = i*10 + int(c-'0')
	}
	if i > n || (i == n && !allowEnd) {
		return 0, errors.New("array index " + tok + " out of range")
	}
	return i, nil
}

// lookup returns the value at path in doc (read only).
func lookup(doc any, path string) (any, error) {
	cur := doc
	for pos := 0; pos < len(path); {
		tok, next, err := pointerToken(path, pos)
		if err != nil {
			return nil, err
		}
		switch c := cur.(type) {
		case *Object:
			v, ok := c.Get(tok)
			if !ok {
				return nil, errors.New("member " + strconv.Quote(tok) + " not found")
			}
			cur = v
		case []any:
			i, err := arrayIndex(tok, len(c), false)
			if err != nil {
				return nil, err
			}
			cur = c[i]
		default:
			return nil, errors.New("path goes through a value that is not a container")
		}
		pos = next
	}
	return cur, nil
}
