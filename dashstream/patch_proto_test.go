package dashstream

import (
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// wireFields parses one message's top-level fields into number → raw value
// (varints as their value, bytes as their length-delimited payload).
func wireFields(t *testing.T, b []byte) map[protowire.Number][]uint64 {
	t.Helper()
	out := map[protowire.Number][]uint64{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			t.Fatalf("bad tag: %v", protowire.ParseError(n))
		}
		b = b[n:]
		switch typ {
		case protowire.VarintType:
			v, m := protowire.ConsumeVarint(b)
			if m < 0 {
				t.Fatalf("bad varint: %v", protowire.ParseError(m))
			}
			out[num] = append(out[num], v)
			b = b[m:]
		case protowire.BytesType:
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				t.Fatalf("bad bytes: %v", protowire.ParseError(m))
			}
			out[num] = append(out[num], uint64(len(v)))
			b = b[m:]
		default:
			t.Fatalf("unexpected wire type %d", typ)
		}
	}
	return out
}

// The DashFlow UI hands decoded records from its worker to the page with
// postMessage, which drops protobufjs' prototype defaults: op, path, from
// (move/copy) and encoding must be on the wire even at their zero values.
func TestToProtoWritesDefaultsExplicitly(t *testing.T) {
	const (
		fOp, fPath, fValue, fFrom, fEncoding protowire.Number = 1, 2, 3, 4, 5
	)
	p := Patch{
		{Op: OpAdd, Path: "/a", Value: Number("1")},
		{Op: OpReplace, Path: "", Value: NewObject(0)}, // the root: path ""
		{Op: OpRemove, Path: "/b"},
		{Op: OpMove, From: "", Path: "/c"},
		{Op: OpCopy, From: "/d", Path: "/e"},
	}
	for i, op := range p.ToProto() {
		b, err := proto.Marshal(op)
		if err != nil {
			t.Fatal(err)
		}
		f := wireFields(t, b)
		if got := f[fOp]; len(got) != 1 || got[0] != uint64(p[i].Op) {
			t.Errorf("op %d (%v): op field = %v, want [%d]", i, p[i].Op, got, p[i].Op)
		}
		if got := f[fEncoding]; len(got) != 1 || got[0] != 0 {
			t.Errorf("op %d (%v): encoding field = %v, want [0] (JSON)", i, p[i].Op, got)
		}
		if got := f[fPath]; len(got) != 1 || got[0] != uint64(len(p[i].Path)) {
			t.Errorf("op %d (%v): path field = %v, want one of length %d", i, p[i].Op, got, len(p[i].Path))
		}
		wantFrom := p[i].Op == OpMove || p[i].Op == OpCopy
		if got := f[fFrom]; wantFrom != (len(got) == 1) {
			t.Errorf("op %d (%v): from field = %v, present want %v", i, p[i].Op, got, wantFrom)
		}
		wantValue := p[i].Op == OpAdd || p[i].Op == OpReplace
		if got := f[fValue]; wantValue != (len(got) == 1) {
			t.Errorf("op %d (%v): value field = %v, present want %v", i, p[i].Op, got, wantValue)
		}
	}
}

// TestProtoOpsReuse: a ProtoOps converts patch after patch on its own
// memory, and every result marshals exactly as ToProto's does, whatever
// the previous (longer, with from and values) conversion left behind.
func TestProtoOpsReuse(t *testing.T) {
	patches := []Patch{
		{
			{Op: OpMove, From: "/x", Path: "/c"},
			{Op: OpAdd, Path: "/a", Value: "a long value that fills the buffer"},
			{Op: OpCopy, From: "/d", Path: "/e"},
		},
		{{Op: OpRemove, Path: "/b"}},
		{{Op: OpReplace, Path: "/a", Value: Number("2")}, {Op: OpAdd, Path: "/z", Value: NewObject(0)}},
		{{Op: OpTest, Path: "/t", Value: "v"}},
	}
	var c ProtoOps
	for round := range 2 {
		for i, p := range patches {
			got, want := c.Convert(p), p.ToProto()
			if len(got) != len(want) {
				t.Fatalf("round %d patch %d: %d ops, want %d", round, i, len(got), len(want))
			}
			for j := range got {
				gb, err := proto.MarshalOptions{Deterministic: true}.Marshal(got[j])
				if err != nil {
					t.Fatal(err)
				}
				wb, err := proto.MarshalOptions{Deterministic: true}.Marshal(want[j])
				if err != nil {
					t.Fatal(err)
				}
				if string(gb) != string(wb) {
					t.Errorf("round %d patch %d op %d: %x, want %x", round, i, j, gb, wb)
				}
			}
		}
	}
	if allocs := testing.AllocsPerRun(10, func() { c.Convert(patches[0]) }); allocs != 0 && !raceEnabled {
		t.Errorf("Convert of a patch that fits allocates %.0f times", allocs)
	}
}
