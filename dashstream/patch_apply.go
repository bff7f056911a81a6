package dashstream

import (
	"errors"
	"strings"
)

// ApplyOptions bounds what Apply may build.
type ApplyOptions struct {
	// MaxNodes caps the document size (in JSON values) that copy operations
	// may grow it to. 0 means max(65536, 2 × the nodes of the document and
	// the patch values), so legitimate patches pass while a patch of
	// repeated root copies cannot double its way to exhausting memory.
	MaxNodes int
}

// minCopyBudget is the smallest default node budget for copy operations.
const minCopyBudget = 1 << 16

// Apply applies an RFC 6902 patch to doc and returns the new document; doc
// is not modified. The result shares unchanged sub-trees with doc and
// values with the patch (copy-on-write), so neither should be mutated in
// place afterwards without Clone. Errors wrap ErrPatch (*PatchError).
func Apply(doc any, p Patch) (any, error) {
	return ApplyWithOptions(doc, p, ApplyOptions{})
}

// ApplyWithOptions is Apply with explicit limits.
func ApplyWithOptions(doc any, p Patch, o ApplyOptions) (any, error) {
	// Ownership only pays off when a container can be changed twice.
	track := len(p) > 1 || len(p) == 1 && p[0].Op == OpMove
	a := applier{root: doc, orig: doc, patch: p, maxNodes: o.MaxNodes, track: track}
	for i := range p {
		if err := a.apply(&p[i]); err != nil {
			return nil, &PatchError{Index: i, Op: p[i].Op, Path: p[i].Path, Msg: err.Error()}
		}
	}
	return a.root, nil
}

// applier applies operations with copy-on-write: a container is copied the
// first time an operation changes it, and containers this Apply created
// (owned) are then changed in place.
type applier struct {
	root  any
	orig  any
	patch Patch
	track bool // remember owned containers (only useful with several ops)
	objs  ptrSet[Object]
	arrs  ptrSet[any] // keyed by the address of element 0

	maxNodes int // copy budget; computed at the first copy when 0
	nodes    int // document size estimate, valid once sized
	sized    bool
}

func (a *applier) apply(op *PatchOp) error {
	switch op.Op {
	case OpAdd:
		a.account(op.Value)
		return a.add(op.Path, op.Value)
	case OpRemove:
		_, err := a.remove(op.Path)
		return err
	case OpReplace:
		a.account(op.Value)
		return a.replace(op.Path, op.Value)
	case OpMove:
		if op.Path == op.From {
			_, err := lookup(a.root, op.From)
			return err
		}
		if strings.HasPrefix(op.Path, op.From+"/") {
			return errors.New("cannot move a value into one of its own children")
		}
		v, err := a.remove(op.From)
		if err != nil {
			return errors.New("from: " + err.Error())
		}
		return a.add(op.Path, v)
	case OpCopy:
		v, err := lookup(a.root, op.From)
		if err != nil {
			return errors.New("from: " + err.Error())
		}
		if err := a.budget(v); err != nil {
			return err
		}
		// A deep copy: the source may contain containers this Apply owns
		// and changes in place later.
		return a.add(op.Path, Clone(v))
	case OpTest:
		v, err := lookup(a.root, op.Path)
		if err != nil {
			return err
		}
		if !Equal(v, op.Value) {
			return errors.New("test failed: value differs")
		}
		return nil
	default:
		return errors.New("unknown operation")
	}
}

// account adds an inserted value to the size estimate once sizing is on.
func (a *applier) account(v any) {
	if a.sized {
		a.nodes += countNodes(v, a.maxNodes)
	}
}

// budget checks that copying v keeps the document within maxNodes.
func (a *applier) budget(v any) error {
	if !a.sized {
		if a.maxNodes <= 0 {
			total := countNodes(a.orig, -1)
			for i := range a.patch {
				total += countNodes(a.patch[i].Value, -1)
			}
			a.maxNodes = max(minCopyBudget, 2*total)
		}
		a.nodes = countNodes(a.root, a.maxNodes)
		a.sized = true
	}
	rem := max(a.maxNodes-a.nodes, 0)
	n := countNodes(v, rem)
	if n > rem {
		return errors.New("copy would grow the document beyond the node budget")
	}
	a.nodes += n
	return nil
}

// countNodes counts JSON values in v, stopping once the count exceeds
// limit (limit < 0: no limit).
func countNodes(v any, limit int) int {
	n := 0
	var walk func(v any) bool
	walk = func(v any) bool {
		n++
		if limit >= 0 && n > limit {
			return false
		}
		switch t := v.(type) {
		case []any:
			for _, e := range t {
				if !walk(e) {
					return false
				}
			}
		case *Object:
			if t != nil {
				for _, e := range t.vals {
					if !walk(e) {
						return false
					}
				}
			}
		}
		return true
	}
	walk(v)
	return n
}

// parentSlot walks path to the container holding its last token, making
// every container on the way owned, and returns the slot holding that
// container plus the (unescaped) last token. For path "" it returns nil.
func (a *applier) parentSlot(path string) (slot *any, last string, err error) {
	if path == "" {
		return nil, "", nil
	}
	slot = &a.root
	pos := 0
	for {
		tok, next, err := pointerToken(path, pos)
		if err != nil {
			return nil, "", err
		}
		if next == len(path) {
			return slot, tok, nil
		}
		switch c := (*slot).(type) {
		case *Object:
			i := c.find(tok)
			if i < 0 {
				return nil, "", errors.New("member " + quoteTok(tok) + " not found")
			}
			c = a.ownObject(slot, c)
			slot = &c.vals[i]
		case []any:
			i, err := arrayIndex(tok, len(c), false)
			if err != nil {
				return nil, "", err
			}
			c = a.ownArray(slot, c, 0)
			slot = &c[i]
		default:
			return nil, "", errors.New("path goes through a value that is not a container")
		}
		pos = next
	}
}

func quoteTok(tok string) string { return string(appendQuoted(nil, tok)) }

// ownObject returns an owned version of c, stored back into slot.
func (a *applier) ownObject(slot *any, c *Object) *Object {
	if a.objs.has(c) {
		return c
	}
	c = c.shallowCopy(1)
	if a.track {
		a.objs.add(c)
	}
	*slot = c
	return c
}

// ownArray returns an owned version of c with room for extra more
// elements, stored back into slot.
func (a *applier) ownArray(slot *any, c []any, extra int) []any {
	if len(c) > 0 && a.arrs.has(&c[0]) {
		return c
	}
	n := make([]any, len(c), len(c)+max(extra, 1))
	copy(n, c)
	*slot = n
	a.markArray(n)
	return n
}

func (a *applier) markArray(c []any) {
	if a.track && len(c) > 0 && !a.arrs.has(&c[0]) {
		a.arrs.add(&c[0])
	}
}

func (a *applier) add(path string, v any) error {
	slot, tok, err := a.parentSlot(path)
	if err != nil {
		return err
	}
	if slot == nil {
		a.root = v
		return nil
	}
	switch c := (*slot).(type) {
	case *Object:
		c = a.ownObject(slot, c)
		c.Set(tok, v)
	case []any:
		i, err := arrayIndex(tok, len(c), true)
		if err != nil {
			return err
		}
		c = a.ownArray(slot, c, 1)
		c = append(c, nil)
		copy(c[i+1:], c[i:])
		c[i] = v
		*slot = c
		a.markArray(c)
	default:
		return errors.New("parent of the target is not a container")
	}
	return nil
}

// remove deletes the value at path and returns it.
func (a *applier) remove(path string) (any, error) {
	slot, tok, err := a.parentSlot(path)
	if err != nil {
		return nil, err
	}
	if slot == nil {
		return nil, errors.New("cannot remove the whole document")
	}
	switch c := (*slot).(type) {
	case *Object:
		i := c.find(tok)
		if i < 0 {
			return nil, errors.New("member " + quoteTok(tok) + " not found")
		}
		c = a.ownObject(slot, c)
		v := c.vals[i]
		c.removeAt(i)
		return v, nil
	case []any:
		i, err := arrayIndex(tok, len(c), false)
		if err != nil {
			return nil, err
		}
		c = a.ownArray(slot, c, 0)
		v := c[i]
		copy(c[i:], c[i+1:])
		c[len(c)-1] = nil
		*slot = c[:len(c)-1]
		return v, nil
	default:
		return nil, errors.New("parent of the target is not a container")
	}
}

func (a *applier) replace(path string, v any) error {
	slot, tok, err := a.parentSlot(path)
	if err != nil {
		return err
	}
	if slot == nil {
		a.root = v
		return nil
	}
	switch c := (*slot).(type) {
	case *Object:
		i := c.find(tok)
		if i < 0 {
			return errors.New("member " + quoteTok(tok) + " not found")
		}
		c = a.ownObject(slot, c)
		c.vals[i] = v
	case []any:
		i, err := arrayIndex(tok, len(c), false)
		if err != nil {
			return err
		}
		c = a.ownArray(slot, c, 0)
		c[i] = v
	default:
		return errors.New("parent of the target is not a container")
	}
	return nil
}

// ptrSet is a small set of pointers: a slice while small, then a map.
type ptrSet[T any] struct {
	small []*T
	big   map[*T]struct{}
}

func (s *ptrSet[T]) has(p *T) bool {
	if s.big != nil {
		_, ok := s.big[p]
		return ok
	}
	for _, q := range s.small {
		if q == p {
			return true
		}
	}
	return false
}

func (s *ptrSet[T]) add(p *T) {
	if s.big != nil {
		s.big[p] = struct{}{}
		return
	}
	s.small = append(s.small, p)
	if len(s.small) > 32 {
		s.big = make(map[*T]struct{}, 64)
		for _, q := range s.small {
			s.big[q] = struct{}{}
		}
		s.small = nil
	}
}
