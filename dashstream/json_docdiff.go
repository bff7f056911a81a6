package dashstream

// DiffStateDocs returns the patch turning old's state into new's: exactly
// Diff of the two parsed, redacted trees, computed on the index. Values at
// the same path with the same bytes are equal without a look inside; only
// values whose bytes differ are compared (and, where the tree diff would,
// parsed). Both documents must be alive and unchanged during the call.
// Operation values may share memory with new (as Diff's share it with its
// new tree), and new keeps some of them for its next diff: read them (or
// Clone them), never modify them.
func DiffStateDocs(old, new *StateDoc) Patch {
	var sd StateDiffer
	return sd.Diff(old, new)
}

// StateDiffer is DiffStateDocs for a caller that diffs state after state:
// its operation list and pointer scratch serve every diff. The zero value
// is ready; it is not safe for concurrent use.
type StateDiffer struct {
	ops  Patch
	path []byte
}

// Diff is DiffStateDocs; the patch is valid until the next Diff or Reset.
func (s *StateDiffer) Diff(old, new *StateDoc) Patch {
	if s.path == nil {
		s.path = make([]byte, 0, 64)
	}
	d := docDiffer{differ: differ{ops: s.ops[:0], path: s.path[:0]}, old: old, new: new}
	d.diff(&old.root, int(old.root.off), &new.root, int(new.root.off))
	s.ops, s.path = d.ops, d.path[:0]
	return d.ops
}

// Reset lets go of what the last patch references (values of its new
// document), keeping the memory.
func (s *StateDiffer) Reset() {
	clear(s.ops)
	s.ops = s.ops[:0]
}

// docDiffer mirrors differ over two indexed documents.
type docDiffer struct {
	differ
	old, new *StateDoc
}

// same reports whether two indexed values are the same value because
// their bytes are (a redacted member only matches another redacted one).
func (d *docDiffer) same(o *docNode, oAbs int, n *docNode, nAbs int) bool {
	if (o.kind == kindSecret) != (n.kind == kindSecret) || o.n != n.n {
		return false
	}
	if n.flags&flagReused != 0 && int(n.src) == oAbs {
		return true
	}
	return d.old.raw[oAbs:oAbs+int(o.n)] == d.new.raw[nAbs:nAbs+int(n.n)]
}

// equal is Equal of the two values. Indexed containers are compared
// member by member, so only the members whose bytes differ are parsed.
func (d *docDiffer) equal(o *docNode, oAbs int, n *docNode, nAbs int) bool {
	if d.same(o, oAbs, n, nAbs) {
		return true
	}
	if o.kind == n.kind && o.c != nil && n.c != nil && (o.kind == kindObject || o.kind == kindArray) {
		oc, nc := o.c, n.c
		if len(oc.kids) != len(nc.kids) {
			return false
		}
		for i := range oc.kids {
			j := i
			if o.kind == kindObject && nc.keys[j] != oc.keys[i] {
				if j = nc.find(oc.keys[i]); j < 0 {
					return false
				}
			}
			ok, nk := &oc.kids[i], &nc.kids[j]
			if !d.equal(ok, oAbs+int(ok.off), nk, nAbs+int(nk.off)) {
				return false
			}
		}
		return true
	}
	return Equal(d.old.materialize(o, oAbs), d.new.materialize(n, nAbs))
}

func (d *docDiffer) diff(o *docNode, oAbs int, n *docNode, nAbs int) int {
	if d.same(o, oAbs, n, nAbs) {
		return 0
	}
	if (o.kind == kindObject || o.kind == kindArray) && o.kind == n.kind && (o.c == nil || n.c == nil) {
		// A container kept as one piece: the tree diff of the two values.
		return d.differ.diff(d.old.materialize(o, oAbs), d.new.materialize(n, nAbs))
	}
	switch o.kind {
	case kindObject:
		if n.kind == kindObject {
			mark := len(d.ops)
			return d.orReplace(mark, d.diffObject(o, oAbs, n, nAbs), n, nAbs)
		}
	case kindArray:
		if n.kind == kindArray {
			mark := len(d.ops)
			return d.orReplace(mark, d.diffArray(o, oAbs, n, nAbs), n, nAbs)
		}
	default:
		if n.kind != kindObject && n.kind != kindArray && d.equal(o, oAbs, n, nAbs) {
			return 0
		}
	}
	return d.emit(OpReplace, d.new.materialize(n, nAbs))
}

// orReplace is differ.orReplace with the new container's length known.
func (d *docDiffer) orReplace(mark, cost int, n *docNode, nAbs int) int {
	if cost == 0 {
		return 0
	}
	fixed := opFixedLen + len("replace") + quotedLen(d.path) + valueLen + 1
	if fixed >= cost || fixed+int(n.clen) >= cost {
		return cost
	}
	clear(d.ops[mark:])
	d.ops = d.ops[:mark]
	return d.emit(OpReplace, d.new.materialize(n, nAbs))
}

func (d *docDiffer) diffObject(o *docNode, oAbs int, n *docNode, nAbs int) int {
	cost := 0
	base := len(d.path)
	matched := 0
	oc, nc := o.c, n.c
	for i, k := range oc.keys {
		j := i
		if j >= len(nc.keys) || nc.keys[j] != k {
			j = nc.find(k)
		}
		if j < 0 {
			d.path = appendPointerToken(d.path[:base], k)
			cost += d.emit(OpRemove, nil)
			continue
		}
		matched++
		ok, nk := &oc.kids[i], &nc.kids[j]
		if d.same(ok, oAbs+int(ok.off), nk, nAbs+int(nk.off)) {
			continue // no operations: the path is not even needed
		}
		d.path = appendPointerToken(d.path[:base], k)
		cost += d.diff(ok, oAbs+int(ok.off), nk, nAbs+int(nk.off))
	}
	if matched < len(nc.keys) {
		for j, k := range nc.keys {
			if oc.find(k) < 0 {
				d.path = appendPointerToken(d.path[:base], k)
				nk := &nc.kids[j]
				cost += d.emit(OpAdd, d.new.materialize(nk, nAbs+int(nk.off)))
			}
		}
	}
	d.path = d.path[:base]
	return cost
}

func (d *docDiffer) diffArray(o *docNode, oAbs int, n *docNode, nAbs int) int {
	ok, nk := o.c.kids, n.c.kids
	lo, ln := len(ok), len(nk)
	at := func(k []docNode, abs, i int) (*docNode, int) { return &k[i], abs + int(k[i].off) }
	eq := func(i, j int) bool {
		a, aAbs := at(ok, oAbs, i)
		b, bAbs := at(nk, nAbs, j)
		return d.equal(a, aAbs, b, bAbs)
	}
	p := 0
	for p < lo && p < ln && eq(p, p) {
		p++
	}
	s := 0
	for s < lo-p && s < ln-p && eq(lo-1-s, ln-1-s) {
		s++
	}
	mo, mn := lo-p-s, ln-p-s
	k := min(mo, mn)
	cost := 0
	base := len(d.path)
	for i := p; i < p+k; i++ {
		d.path = appendIndex(d.path[:base], i)
		a, aAbs := at(ok, oAbs, i)
		b, bAbs := at(nk, nAbs, i)
		cost += d.diff(a, aAbs, b, bAbs)
	}
	for i := p + mo - 1; i >= p+k; i-- {
		d.path = appendIndex(d.path[:base], i)
		cost += d.emit(OpRemove, nil)
	}
	for i := p + k; i < p+mn; i++ {
		d.path = appendIndex(d.path[:base], i)
		b, bAbs := at(nk, nAbs, i)
		cost += d.emit(OpAdd, d.new.materialize(b, bAbs))
	}
	d.path = d.path[:base]
	return cost
}
