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
	if len(p) == 0 {
		return nil
	}
	size := 0
	for i := range p {
		if hasValue(p[i].Op) {
			size += jsonLen(p[i].Value, -1)
		}
	}
	buf := make([]byte, 0, size)
	structs := make([]dashstreampb.DiffOperation, len(p))
	fields := make([]opFields, len(p))
	out := make([]*dashstreampb.DiffOperation, len(p))
	for i := range p {
		op, f := &structs[i], &fields[i]
		f.op, f.path, f.enc = p[i].Op, p[i].Path, dashstreampb.DiffOperation_VALUE_ENCODING_JSON
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
