package dashstream

import (
	"github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
)

// ToProto converts the patch to wire DiffOperations: value is the JSON text
// of the value (a literal null is the 4 bytes "null") for add, replace and
// test; from is set for move and copy; encoding is JSON. op, path, from and
// encoding are set explicitly, so they are written even at their defaults
// (OP_TYPE_ADD, "", VALUE_ENCODING_JSON): consumers that drop protobufjs'
// prototype defaults (the DashFlow UI) must still see them. All values share
// one buffer and the fields one block, so the conversion allocates little.
func (p Patch) ToProto() []*dashstreampb.DiffOperation {
	var c ProtoOps
	return c.Convert(p)
}

// ProtoOps converts patches as ToProto does, reusing its memory: what a
// Convert returns is valid until the next Convert on the same ProtoOps.
// The zero value is ready to use.
type ProtoOps struct {
	buf     []byte
	structs []dashstreampb.DiffOperation
	fields  []opFields
	out     []*dashstreampb.DiffOperation
}

// Convert is ToProto on c's memory.
func (c *ProtoOps) Convert(p Patch) []*dashstreampb.DiffOperation {
	if len(p) == 0 {
		return nil
	}
	size := 0
	for i := range p {
		if hasValue(p[i].Op) {
			size += jsonLen(p[i].Value, -1)
		}
	}
	// What the previous Convert returned is overwritten.
	buf := c.buf[:0]
	if cap(buf) < size {
		buf = make([]byte, 0, size)
	}
	if cap(c.structs) < len(p) {
		n := max(len(p), 2*cap(c.structs))
		c.structs = make([]dashstreampb.DiffOperation, n)
		c.fields = make([]opFields, n)
		c.out = make([]*dashstreampb.DiffOperation, n)
	}
	structs, fields, out := c.structs[:len(p)], c.fields[:len(p)], c.out[:len(p):len(p)]
	for i := range p {
		op, f := &structs[i], &fields[i]
		*op = dashstreampb.DiffOperation{}
		*f = opFields{op: p[i].Op, path: p[i].Path, enc: dashstreampb.DiffOperation_VALUE_ENCODING_JSON}
		op.Op, op.Path, op.Encoding = &f.op, &f.path, &f.enc
		if hasFrom(p[i].Op) {
			f.from = p[i].From
			op.From = &f.from
		}
		if hasValue(p[i].Op) {
			start := len(buf)
			buf = AppendJSON(buf, p[i].Value)
			op.Value = buf[start:len(buf):len(buf)]
		}
		out[i] = op
	}
	c.buf = buf
	return out
}

// opFields holds the explicitly present scalar fields of one DiffOperation.
type opFields struct {
	op         OpType
	enc        dashstreampb.DiffOperation_ValueEncoding
	path, from string
}

// PatchFromProto converts wire DiffOperations back into a Patch. It rejects
// unknown operations, encodings other than JSON, and values that are
// missing or not valid JSON. Errors wrap ErrPatch.
func PatchFromProto(ops []*dashstreampb.DiffOperation) (Patch, error) {
	p := make(Patch, 0, len(ops))
	for i, w := range ops {
		if w == nil {
			return nil, &PatchError{Index: i, Msg: "nil operation"}
		}
		op := PatchOp{Op: w.GetOp(), Path: w.GetPath()}
		if !validOp(op.Op) {
			return nil, &PatchError{Index: i, Op: op.Op, Path: op.Path, Msg: "unknown operation"}
		}
		if w.GetEncoding() != dashstreampb.DiffOperation_VALUE_ENCODING_JSON {
			return nil, &PatchError{Index: i, Op: op.Op, Path: op.Path,
				Msg: "unsupported value encoding " + w.GetEncoding().String()}
		}
		if hasFrom(op.Op) {
			op.From = w.GetFrom()
		}
		if hasValue(op.Op) {
			if len(w.GetValue()) == 0 {
				return nil, &PatchError{Index: i, Op: op.Op, Path: op.Path, Msg: "missing value"}
			}
			v, err := ParseJSON(w.GetValue())
			if err != nil {
				return nil, &PatchError{Index: i, Op: op.Op, Path: op.Path, Msg: "value: " + err.Error()}
			}
			op.Value = v
		}
		p = append(p, op)
	}
	return p, nil
}
