package dashstream

// Diff returns an RFC 6902 patch that turns old into new (nil when they
// are Equal). Objects are diffed member by member; arrays have their common
// prefix and suffix trimmed, so appends become add operations and
// truncations removes from the end (highest index first), and same-length
// changed middles are diffed element by element. Wherever the operations
// for a container would be longer (as JSON) than replacing that container,
// a single replace is emitted instead, so the patch is never longer than
// replacing the root. The output is deterministic. Operation values share
// memory with new.
func Diff(old, new any) Patch {
	d := differ{path: make([]byte, 0, 64)}
	d.diff(old, new)
	return d.ops
}

// differ accumulates operations; path is the escaped pointer of the value
// being compared.
type differ struct {
	ops  Patch
	path []byte
}

// diff appends the operations turning old into new at d.path and returns
// their cost: the JSON length of each operation plus one (its separator).
func (d *differ) diff(old, new any) int {
	switch o := old.(type) {
	case *Object:
		if n, ok := new.(*Object); ok && o != nil && n != nil {
			if o == n {
				return 0
			}
			mark := len(d.ops)
			return d.orReplace(mark, d.diffObject(o, n), new)
		}
	case []any:
		if n, ok := new.([]any); ok {
			mark := len(d.ops)
			return d.orReplace(mark, d.diffArray(o, n), new)
		}
	default:
		if Equal(old, new) {
			return 0
		}
	}
	return d.emit(OpReplace, new)
}

// orReplace keeps the operations after mark (costing cost) unless a single
// replace of the container with new is shorter.
func (d *differ) orReplace(mark, cost int, new any) int {
	if cost == 0 {
		return 0
	}
	fixed := opFixedLen + len("replace") + quotedLen(d.path) + valueLen + 1
	if fixed >= cost {
		return cost
	}
	vl := jsonLen(new, cost-fixed)
	if fixed+vl >= cost {
		return cost
	}
	clear(d.ops[mark:])
	d.ops = d.ops[:mark]
	return d.emit(OpReplace, new)
}

// emit appends one operation at d.path and returns its cost.
func (d *differ) emit(op OpType, v any) int {
	d.ops = append(d.ops, PatchOp{Op: op, Path: string(d.path), Value: v})
	cost := opFixedLen + len(opName(op)) + quotedLen(d.path) + 1
	if hasValue(op) {
		cost += valueLen + jsonLen(v, -1)
	}
	return cost
}

func (d *differ) diffObject(o, n *Object) int {
	cost := 0
	base := len(d.path)
	matched := 0
	for i, k := range o.keys {
		j := i
		if j >= len(n.keys) || n.keys[j] != k {
			j = n.find(k)
		}
		d.path = appendPointerToken(d.path[:base], k)
		if j < 0 {
			cost += d.emit(OpRemove, nil)
			continue
		}
		matched++
		cost += d.diff(o.vals[i], n.vals[j])
	}
	if matched < len(n.keys) {
		for j, k := range n.keys {
			if o.find(k) < 0 {
				d.path = appendPointerToken(d.path[:base], k)
				cost += d.emit(OpAdd, n.vals[j])
			}
		}
	}
	d.path = d.path[:base]
	return cost
}

func (d *differ) diffArray(o, n []any) int {
	lo, ln := len(o), len(n)
	p := 0
	for p < lo && p < ln && Equal(o[p], n[p]) {
		p++
	}
	s := 0
	for s < lo-p && s < ln-p && Equal(o[lo-1-s], n[ln-1-s]) {
		s++
	}
	mo, mn := lo-p-s, ln-p-s
	k := min(mo, mn)
	cost := 0
	base := len(d.path)
	for i := p; i < p+k; i++ {
		d.path = appendIndex(d.path[:base], i)
		cost += d.diff(o[i], n[i])
	}
	for i := p + mo - 1; i >= p+k; i-- { // shrink: highest index first
		d.path = appendIndex(d.path[:base], i)
		cost += d.emit(OpRemove, nil)
	}
	for i := p + k; i < p+mn; i++ { // grow: insert in order
		d.path = appendIndex(d.path[:base], i)
		cost += d.emit(OpAdd, n[i])
	}
	d.path = d.path[:base]
	return cost
}

// appendIndex appends "/" and the decimal index.
func appendIndex(dst []byte, i int) []byte {
	dst = append(dst, '/')
	if i < 10 {
		return append(dst, byte('0'+i))
	}
	var b [20]byte
	k := len(b)
	for i > 0 {
		k--
		b[k] = byte('0' + i%10)
		i /= 10
	}
	return append(dst, b[k:]...)
}
