package dashstream

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"strings"
)

// A StateDoc is one state snapshot kept as text plus a structural index,
// built so that the next snapshot costs what changed, not what it holds:
//
//   - raw is the snapshot text as it arrived; the index records where every
//     value of it starts and ends (offsets relative to the enclosing value,
//     so an unchanged subtree keeps its index entry wherever it moves);
//     containers of at most 512 bytes are kept as one piece, without an
//     index of their own;
//   - canon is the canonical text of the redacted state (CanonicalJSON),
//     every indexed value knowing its span of it.
//
// Building the next StateDoc scans the new text against the previous one:
// a value whose bytes equal the value at the same path before (same key,
// same bytes) is the same subtree — its index entry, compact length,
// redaction count and canonical text are reused without parsing it. Only
// the values that differ are parsed, redacted and canonicalised. Arrays
// that grew at the end share their unchanged prefix in one comparison.
//
// Every output equals what the tree-based path gives for the same texts:
// DiffStateDocs equals Diff of the two parsed, redacted trees; Hash equals
// StateHash; CompactJSON equals MarshalJSON; Redactions counts what
// redacting the whole tree would. A StateDoc does not change once built
// (apart from key lookup maps built on first use, and StateDocPool.Retire,
// which ends its use) and is not safe for concurrent use: one session uses
// it at a time. Containers of at most 512 bytes that a build parsed keep
// their parsed, redacted tree (within a budget) for the canonical text and
// the diffs against the neighbouring snapshots.
type StateDoc struct {
	raw   string
	root  docNode
	canon []byte
	hash  [32]byte
	// marks are saved SHA-256 states of canon (json_dochash.go), so the
	// next snapshot rehashes only what follows the prefix it shares.
	marks    []byte
	maxDepth int
	blobMax  int
	red      StateRedactor
	nodes    int // index entries, for MemSize
	// trees are the parsed, redacted values of containers kept as one
	// piece that this build parsed, by absolute raw offset (ascending), up
	// to treeBudget raw bytes (treeBytes): the canonical text and the
	// diffs against the neighbouring snapshots use them instead of parsing
	// the text again. They are read, never modified, and never handed out
	// except as the values of DiffStateDocs operations.
	trees     []docTree
	treeBytes int
	// Built by a StateDocPool (pool): id is this document's number there,
	// prevID its previous document's, and superseded the previous
	// document's containers this one rebuilt (their member lists go back to
	// the pool when the previous document is retired).
	pool       *StateDocPool
	id, prevID uint64
	superseded []*docContainer
	// restCompared is how many bytes the bulk comparisons of unchanged
	// tails read while building (tests check it stays linear).
	restCompared int
}

// StateRedactor hides secrets in state values (the translator's redaction
// rules). Implementations must be deterministic — the same input always
// gives the same output, which is what lets unchanged subtrees be reused —
// and comparable (a pointer): a previous document built with another
// redactor is not reused.
type StateRedactor interface {
	// SecretKey reports whether a member's non-null value is replaced
	// with Replacement.
	SecretKey(key string) bool
	// Replacement is the string that replaces a secret value.
	Replacement() string
	// RedactString returns s with credential-looking parts replaced, and
	// how many were.
	RedactString(s string) (string, int)
	// RedactValue redacts a parsed value in place (members of secret keys,
	// strings) and returns it (a string root is returned replaced) with the
	// number of replacements.
	RedactValue(v any) (any, int)
}

// docTree is the parsed, redacted value of the container at raw offset abs.
type docTree struct {
	abs int32
	v   any
}

// treeBudget is how many raw bytes of parsed containers a document keeps
// (the trees stay alive with it): at least treeMin, else 1/32 of the
// snapshot, at most treeMax.
func treeBudget(raw int) int { return min(max(treeMin, raw/32), treeMax) }

const (
	treeMin = 2 << 10
	treeMax = 32 << 10
)

// Kinds of indexed values.
const (
	kindNull uint8 = iota
	kindFalse
	kindTrue
	kindNumber
	kindString
	kindArray
	kindObject
	kindSecret // a member of a secret key: Replacement, whatever the raw value
)

// Node flags.
const (
	flagCompactRaw uint8 = 1 << iota // raw text equals the compact JSON
	flagReused                       // copied from the previous document (src valid)
)

// docNode indexes one value. Offsets are relative to the enclosing value
// (the root's to the document), lengths are exact.
type docNode struct {
	kind, flags uint8
	off, n      int32 // raw span
	coff, cn    int32 // canonical span
	clen        int32 // compact JSON length
	red         int32 // redactions in the subtree
	cnt         int32 // index entries in the subtree (this one included)
	src         int32 // when reused: absolute raw offset in the previous document
	srcc        int32 // when reused: absolute canonical offset in the previous document
	c           *docContainer
}

// docContainer holds the members of an object or the elements of an array.
type docContainer struct {
	keys  []string // objects: member keys (unescaped); duplicates resolved
	kids  []docNode
	order []int32 // objects: member indexes in canonical (UTF-16) key order
	qlen  []int32 // objects: quoted (compact) length of each key
	// keysRaw: every key is written in the text exactly as the compact
	// form writes it, directly followed by ':'.
	keysRaw bool
	index   map[string]int // objects with many members: key → index, built on demand
}

func (c *docContainer) find(key string) int {
	if len(c.keys) > smallObject {
		if c.index == nil {
			c.index = make(map[string]int, len(c.keys))
			for i, k := range c.keys {
				c.index[k] = i
			}
		}
		if i, ok := c.index[key]; ok {
			return i
		}
		return -1
	}
	for i, k := range c.keys {
		if k == key {
			return i
		}
	}
	return -1
}

// ErrStateNotObject is returned by BuildStateDoc for JSON that is not an
// object.
var ErrStateNotObject = errors.New("dashstream: state is not a JSON object")

// BuildStateDoc indexes raw (a JSON object), redacts it with red (nil: no
// redaction), and canonicalises and hashes it, reusing whatever prev (nil:
// none) already holds of it. The document keeps raw itself, not a copy: a
// span attribute's string is its own allocation, so this holds exactly
// the snapshot's bytes (copy raw first if it is part of something larger). Errors are those ParseJSONString reports for
// the same text and limits, or ErrStateNotObject.
func BuildStateDoc(raw string, prev *StateDoc, red StateRedactor, maxDepth int) (*StateDoc, error) {
	return buildStateDoc(raw, prev, red, maxDepth, blobMax, nil)
}

// buildStateDoc is BuildStateDoc with the largest container kept as one
// piece given (tests index everything, or split at small sizes).
func buildStateDoc(raw string, prev *StateDoc, red StateRedactor, maxDepth, blob int, pool *StateDocPool) (*StateDoc, error) {
	if maxDepth <= 0 {
		maxDepth = DefaultMaxDepth
	}
	if len(raw) > math.MaxInt32/2 {
		return nil, &JSONSyntaxError{Offset: math.MaxInt32 / 2, Msg: "input exceeds limit", Err: ErrJSONTooLarge}
	}
	if prev != nil && (prev.red != red || prev.maxDepth != maxDepth || prev.blobMax != blob) {
		prev = nil
	}
	var d *StateDoc
	if pool != nil {
		d = pool.takeDoc()
		*d = StateDoc{raw: raw, maxDepth: maxDepth, red: red, blobMax: blob, trees: d.trees}
		d.pool, d.id = pool, pool.seq.Add(1)
		if prev != nil && prev.pool == pool {
			d.prevID = prev.id
		}
	} else {
		d = &StateDoc{raw: raw, maxDepth: maxDepth, red: red, blobMax: blob}
	}
	b := docBuilder{doc: d, p: parser{s: d.raw, maxDepth: maxDepth}, red: red, pool: pool}
	if pool != nil {
		pool.lend(&b)
		defer pool.giveBack(&b)
	}
	if prev != nil {
		b.old = prev
	}
	b.p.skipSpace()
	var oldRoot *docNode
	if prev != nil {
		oldRoot = &prev.root
	}
	oldRootAbs := 0
	if oldRoot != nil {
		oldRootAbs = int(oldRoot.off)
	}
	root, ok := b.value(oldRoot, oldRootAbs, 0, 0, "", false, 0)
	if ok {
		b.p.skipSpace()
		ok = b.p.i == len(b.p.s)
	}
	if !ok {
		// Report exactly what the tree parser reports for this text.
		if _, err := ParseJSONString(raw, ParseOptions{MaxDepth: maxDepth}); err != nil {
			return nil, err
		}
		return nil, &JSONSyntaxError{Offset: b.p.i, Msg: "invalid state", Err: ErrInvalidJSON}
	}
	if root.kind != kindObject {
		return nil, ErrStateNotObject
	}
	d.root = root
	d.nodes = int(root.cnt)
	var oldCanon []byte
	var oldMarks []byte
	if prev != nil {
		oldCanon, oldMarks = prev.canon, prev.marks
	}
	// The canonical text is as long as the compact one unless numbers are
	// respelled; append grows the buffer in that rare case. With a pool
	// the buffer is one of its capacity classes, with room to grow
	// (takeCanon: up to about twice the text).
	need := int(root.clen)
	if pool != nil {
		b.canon = pool.takeCanon(need)
	} else {
		b.canon = make([]byte, 0, need)
	}
	b.oldCanon = oldCanon
	b.canonical(&d.root, int(d.root.off))
	d.canon = b.canon
	d.hash, d.marks = b.hash(oldMarks)
	return d, nil
}

// Hash is the state hash (SHA-256 of the canonical text), equal to
// StateHash of the parsed, redacted state.
func (d *StateDoc) Hash() [32]byte { return d.hash }

// JSONLen is the length of the compact JSON text of the redacted state.
func (d *StateDoc) JSONLen() int { return int(d.root.clen) }

// Redactions is the number of values redaction replaced in the state.
func (d *StateDoc) Redactions() int { return int(d.root.red) }

// CanonicalJSON is the canonical text of the redacted state (shared: do
// not modify).
func (d *StateDoc) CanonicalJSON() []byte { return d.canon }

// Text is the snapshot text the document was built from (unredacted):
// building it again without a previous document gives an equal document.
func (d *StateDoc) Text() string { return d.raw }

// MemSize estimates the memory the document holds: its text, canonical
// text, index and kept parsed values (about twice their text).
func (d *StateDoc) MemSize() int64 {
	const nodeSize = 40 + 16 // docNode plus a key header on average
	return int64(len(d.raw)) + int64(cap(d.canon)) + int64(d.nodes)*nodeSize + int64(cap(d.marks)) + 2*int64(d.treeBytes)
}

// Value returns the redacted state as a tree of its own (for tests and
// tools; the translator never needs it).
func (d *StateDoc) Value() any { return d.parse(&d.root, int(d.root.off)) }

// CompactJSON returns the compact JSON text of the redacted state, equal
// to MarshalJSON of the parsed, redacted tree. Values whose text already is
// compact are copied from the snapshot text as they are.
func (d *StateDoc) CompactJSON() []byte {
	return d.appendCompact(make([]byte, 0, d.root.clen), &d.root, int(d.root.off))
}

// AppendCompactJSON appends CompactJSON's text to dst: a caller that
// only encodes the text reuses one buffer.
func (d *StateDoc) AppendCompactJSON(dst []byte) []byte {
	return d.appendCompact(slices.Grow(dst, int(d.root.clen)), &d.root, int(d.root.off))
}

func (d *StateDoc) appendCompact(dst []byte, nd *docNode, abs int) []byte {
	if nd.flags&flagCompactRaw != 0 {
		return append(dst, d.raw[abs:abs+int(nd.n)]...)
	}
	switch {
	case nd.c == nil:
	case nd.kind == kindObject:
		dst = append(dst, '{')
		for i := range nd.c.kids {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendQuoted(dst, nd.c.keys[i])
			dst = append(dst, ':')
			k := &nd.c.kids[i]
			dst = d.appendCompact(dst, k, abs+int(k.off))
		}
		return append(dst, '}')
	case nd.kind == kindArray:
		dst = append(dst, '[')
		for i := range nd.c.kids {
			if i > 0 {
				dst = append(dst, ',')
			}
			k := &nd.c.kids[i]
			dst = d.appendCompact(dst, k, abs+int(k.off))
		}
		return append(dst, ']')
	}
	return AppendJSON(dst, d.materialize(nd, abs))
}

// materialize returns the redacted value nd indexes at abs: the kept tree
// of a container parsed while building, else parsed and redacted now. The
// result may be shared with the document: read it, never modify it.
func (d *StateDoc) materialize(nd *docNode, abs int) any {
	if nd.c == nil && (nd.kind == kindObject || nd.kind == kindArray) && len(d.trees) > 0 {
		if v, ok := d.tree(abs); ok {
			return v
		}
	}
	return d.parse(nd, abs)
}

// tree returns the kept tree of the container at raw offset abs.
func (d *StateDoc) tree(abs int) (any, bool) {
	t := d.trees
	lo, hi := 0, len(t)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if int(t[m].abs) < abs {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(t) && int(t[lo].abs) == abs {
		return t[lo].v, true
	}
	return nil, false
}

// parse parses and redacts the value nd indexes at abs (a new tree).
func (d *StateDoc) parse(nd *docNode, abs int) any {
	if nd.kind == kindSecret {
		return d.red.Replacement()
	}
	p := parser{s: d.raw[:abs+int(nd.n)], i: abs, maxDepth: d.maxDepth + 1, slabSize: 16}
	v, err := p.value()
	if err != nil {
		return nil // indexed text always parses
	}
	if d.red != nil {
		v, _ = d.red.RedactValue(v)
	}
	return v
}

// appendCanonicalLeaf writes the canonical text of a scalar or secret;
// idx is the scratch its key order uses (kept between calls).
func (d *StateDoc) appendCanonicalLeaf(dst []byte, nd *docNode, abs int, idx *[]int) []byte {
	raw := d.raw[abs : abs+int(nd.n)]
	switch nd.kind {
	case kindNull, kindFalse, kindTrue:
		return append(dst, raw...)
	case kindNumber:
		return appendJSNumber(dst, Number(raw))
	case kindSecret:
		return appendQuoted(dst, d.red.Replacement())
	case kindString:
		if nd.flags&flagCompactRaw != 0 {
			return append(dst, raw...) // canonical strings are compact strings
		}
	}
	w := canonWriter{dst: dst, idx: (*idx)[:0]}
	w.value(d.materialize(nd, abs))
	*idx = w.idx[:0]
	return w.dst
}

// docBuilder scans a new snapshot against the previous document.
type docBuilder struct {
	doc      *StateDoc
	old      *StateDoc
	p        parser
	red      StateRedactor
	scratch  []byte
	canon    []byte
	oldCanon []byte
	eq       int // canon[:eq] == oldCanon[:eq]
	idx      []int
	treeIdx  []int // scratch of appendCanonicalLeaf
	pool     *StateDocPool
	sc       *builderScratch // lent by pool for the build
	// noRecycle: a duplicate key made two values of this snapshot stand
	// for one old value; nothing of the old document is handed back.
	noRecycle bool
}

// value indexes the value at b.p.i (whitespace skipped). old is the value
// at the same path in the previous document (nil: none) and oldAbs its
// absolute raw offset there; key is the member key ("" and member false
// for array elements and the root). ok is false on any syntax or depth
// error (the caller re-parses for the exact error).
//
// lim is how many bytes from base the new text is known to equal the old
// container's text (base and the old container start at the same place):
// a value that starts at its old offset inside that run is known equal for
// the rest of the run, so no byte is compared twice.
func (b *docBuilder) value(old *docNode, oldAbs, oldCabs, base int, key string, member bool, lim int) (docNode, bool) {
	b.p.skipSpace()
	if b.p.i >= len(b.p.s) {
		return docNode{}, false
	}
	start := b.p.i
	c := b.p.s[start]
	common := 0
	// Same bytes at the same path: the same value. Strings and containers
	// end where their bytes say; numbers and literals are cheap to rescan.
	if old != nil && (c == '"' || c == '{' || c == '[') && old.n > 0 {
		known := 0
		if rel := start - base; rel == int(old.off) && lim > rel {
			known = lim - rel
		}
		common = commonPrefixFrom(b.old.raw[oldAbs:oldAbs+int(old.n)], b.p.s[start:], known)
		if common == int(old.n) {
			end := start + common
			nd := *old
			nd.off = int32(start - base)
			nd.flags |= flagReused
			nd.src = int32(oldAbs)
			nd.srcc = int32(oldCabs)
			b.p.i = end
			return nd, true
		}
	}
	if member && c != 'n' && b.red != nil && b.red.SecretKey(key) {
		v, err := b.p.value()
		if err != nil {
			return docNode{}, false
		}
		nd := docNode{kind: kindSecret, off: int32(start - base), n: int32(b.p.i - start), cnt: 1, src: -1, srcc: -1}
		rep := b.red.Replacement()
		nd.clen = int32(quotedLen(rep))
		if s, ok := v.(string); !ok || s != rep {
			nd.red = 1
		}
		return nd, true
	}
	if c == '{' || c == '[' {
		kind := kindObject
		if c == '[' {
			kind = kindArray
		}
		if (old == nil || old.c == nil || old.kind != kind) && endsWithin(b.p.s, start, b.doc.blobMax) {
			// Nothing indexed to reuse inside: a small container is kept
			// as one piece (parsed whole when it changes), a large one
			// is indexed (without parsing it into a tree first).
			v, err := b.p.value()
			if err != nil {
				return docNode{}, false
			}
			return b.blob(v, kind, start, base), true
		}
		if kind == kindObject {
			return b.object(old, oldAbs, oldCabs, base, start, common)
		}
		return b.array(old, oldAbs, oldCabs, base, start, common)
	}
	// A scalar: parse, redact, measure.
	v, err := b.p.value()
	if err != nil {
		return docNode{}, false
	}
	nd := docNode{off: int32(start - base), n: int32(b.p.i - start), cnt: 1, src: -1, srcc: -1}
	switch t := v.(type) {
	case nil:
		nd.kind = kindNull
	case bool:
		nd.kind = kindFalse
		if t {
			nd.kind = kindTrue
		}
	case Number:
		nd.kind = kindNumber
	case string:
		nd.kind = kindString
		if b.red != nil {
			var r int
			v, r = b.red.RedactString(t)
			nd.red = int32(r)
		}
	}
	b.scratch = AppendJSON(b.scratch[:0], v)
	nd.clen = int32(len(b.scratch))
	if string(b.scratch) == b.p.s[start:b.p.i] {
		nd.flags |= flagCompactRaw
	}
	return nd, true
}

// blobMax is the largest container (text length) kept as one piece: it
// holds no index, so small members of message lists cost one entry each.
const blobMax = 512

// endsWithin reports whether the container opening at s[start] closes
// within limit bytes: brackets are matched outside strings, without
// validating (the parse or the index of the container does). A malformed
// text may go either way: both report it.
func endsWithin(s string, start, limit int) bool {
	end := min(len(s), start+limit)
	depth := 0
	for i := start; i < end; i++ {
		switch s[i] {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return true
			}
		case '"':
			for i++; i < end && s[i] != '"'; i++ {
				if s[i] == '\\' {
					i++
				}
			}
		}
	}
	return false
}

// blob indexes a small container parsed whole into v.
func (b *docBuilder) blob(v any, kind uint8, start, base int) docNode {
	nd := docNode{kind: kind, off: int32(start - base), n: int32(b.p.i - start), cnt: 1, src: -1, srcc: -1}
	if b.red != nil {
		var r int
		v, r = b.red.RedactValue(v)
		nd.red = int32(r)
	}
	b.scratch = AppendJSON(b.scratch[:0], v)
	nd.clen = int32(len(b.scratch))
	if string(b.scratch) == b.p.s[start:b.p.i] {
		nd.flags |= flagCompactRaw
	}
	// Keep the redacted tree for the canonical text and the diffs, as far
	// as the budget goes (offsets grow along the scan: trees stay sorted).
	if d := b.doc; d.treeBytes+int(nd.n) <= treeBudget(len(d.raw)) {
		d.trees = append(d.trees, docTree{abs: int32(start), v: v})
		d.treeBytes += int(nd.n)
	}
	return nd
}

// reuseRun copies the leading kids of old that lie wholly inside the first
// common bytes of the old and new container texts (with the byte after
// each, so a number cannot continue), and moves the scan past them.
func (b *docBuilder) reuseRun(old *docNode, oldAbs, oldCabs, start int, c *docContainer, l int) (int, bool) {
	if old == nil || old.c == nil || len(old.c.kids) == 0 {
		return 0, false
	}
	kids := old.c.kids
	// Binary search: the last kid ending strictly before l.
	lo, hi := 0, len(kids)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if int(kids[m].off+kids[m].n) < l {
			lo = m + 1
		} else {
			hi = m
		}
	}
	m := lo
	if m == 0 {
		return 0, false
	}
	c.kids = append(c.kids, kids[:m]...)
	if c.keys != nil {
		c.keys = append(c.keys, old.c.keys[:m]...)
	}
	for i := range c.kids[:m] {
		k := &c.kids[i]
		k.flags |= flagReused
		k.src = int32(oldAbs) + k.off
		k.srcc = int32(oldCabs) + k.coff
	}
	last := kids[m-1]
	b.p.i = start + int(last.off+last.n)
	return m, true
}

// changed reports whether the value just indexed (kid, in the container
// starting at start) differs in bytes from its old counterpart (nil: none).
// Only after a changed value is the rest of the container compared in
// bulk: an unchanged one is followed by the same text anyway, and comparing
// after every value would be quadratic.
func (b *docBuilder) changed(kid *docNode, start int, old *docNode, oldAbs int) bool {
	if old == nil {
		return false
	}
	if kid.flags&flagReused != 0 {
		return false
	}
	from := start + int(kid.off)
	return kid.n != old.n || b.p.s[from:from+int(kid.n)] != b.old.raw[oldAbs:oldAbs+int(old.n)]
}

// reuseRest is called right after a changed member or element that sits
// at the same index as in the old container: when the rest of the old
// container's text follows unchanged, the remaining old members are taken
// in bulk (shifted) and the scan moves past the container's end.
func (b *docBuilder) reuseRest(old *docNode, oldAbs, oldCabs, start int, c *docContainer) bool {
	j := len(c.kids) - 1
	if old == nil || j+1 >= len(old.c.kids) {
		return false
	}
	last := &old.c.kids[j]
	oldAfter := int(last.off + last.n)
	rest := b.old.raw[oldAbs+oldAfter : oldAbs+int(old.n)]
	pos := b.p.i
	if len(b.p.s)-pos < len(rest) {
		return false
	}
	b.doc.restCompared += len(rest)
	if b.p.s[pos:pos+len(rest)] != rest {
		return false
	}
	delta := int32(pos - start - oldAfter)
	for _, k := range old.c.kids[j+1:] {
		k.flags |= flagReused
		k.src = int32(oldAbs) + k.off
		k.srcc = int32(oldCabs) + k.coff
		k.off += delta
		c.kids = append(c.kids, k)
	}
	if c.keys != nil {
		c.keys = append(c.keys, old.c.keys[j+1:]...)
	}
	b.p.i = pos + len(rest)
	return true
}

// commonPrefixFrom returns the length of the longest common prefix of a
// and b, which share at least their first from bytes, comparing in growing
// blocks (memory speed for long equal runs).
func commonPrefixFrom(a, b string, from int) int {
	n := min(len(a), len(b))
	i := min(from, n)
	step := 64
	for i < n {
		s := min(step, n-i)
		if a[i:i+s] == b[i:i+s] {
			i += s
			step *= 2
			continue
		}
		if s <= 16 {
			for i < n && a[i] == b[i] {
				i++
			}
			return i
		}
		step = s / 2
	}
	return i
}

// commonPrefixBytes is commonPrefix for byte slices.
func commonPrefixBytes(a, b []byte) int {
	n := min(len(a), len(b))
	i := 0
	step := 64
	for i < n {
		s := min(step, n-i)
		if bytes.Equal(a[i:i+s], b[i:i+s]) {
			i += s
			step *= 2
			continue
		}
		if s <= 16 {
			for i < n && a[i] == b[i] {
				i++
			}
			return i
		}
		step = s / 2
	}
	return i
}

func (b *docBuilder) enter() bool {
	b.p.depth++
	return b.p.depth <= b.p.maxDepth
}

func (b *docBuilder) object(old *docNode, oldAbs, oldCabs, base, start, common int) (docNode, bool) {
	if !b.enter() {
		return docNode{}, false
	}
	if old != nil && (old.kind != kindObject || old.c == nil) {
		old = nil
	}
	c := b.newContainer()
	if old != nil {
		c.kids = b.takeKids(old, len(old.c.kids)+1)
	}
	b.p.i++ // '{'
	// While the keys are the old ones in order (sameKeys), c.keys is not
	// written: the old key slice is shared at the end, or copied as far as
	// it matched when the keys diverge (ownKeys).
	sameKeys := old != nil
	var dup bool
	keysOK, bulk := true, false
	if _, ok := b.reuseRun(old, oldAbs, oldCabs, start, c, common); ok {
		bulk = true
		if !b.afterMember('}') {
			return docNode{}, false
		}
		if b.p.s[b.p.i-1] == '}' {
			goto done
		}
	} else {
		b.p.skipSpace()
		if b.p.i < len(b.p.s) && b.p.s[b.p.i] == '}' {
			b.p.i++
			goto done
		}
	}
	for {
		b.p.skipSpace()
		if b.p.i >= len(b.p.s) || b.p.s[b.p.i] != '"' {
			return docNode{}, false
		}
		keyStart := b.p.i
		k, err := b.p.str()
		if err != nil {
			return docNode{}, false
		}
		if keysOK && (b.p.i-keyStart != len(k)+2 || b.p.i >= len(b.p.s) || b.p.s[b.p.i] != ':' || quotedLen(k) != len(k)+2) {
			keysOK = false // escapes (the decoded key is shorter) or spaces
		}
		b.p.skipSpace()
		if b.p.i >= len(b.p.s) || b.p.s[b.p.i] != ':' {
			return docNode{}, false
		}
		b.p.i++
		var ok *docNode
		okAbs, okCabs := 0, 0
		aligned := false
		if old != nil {
			j := len(c.kids)
			if sameKeys && j < len(old.c.keys) && old.c.keys[j] == k {
				// The keys so far are the old ones in order, and those
				// are unique: k cannot repeat one of them.
				aligned = true
			} else {
				if sameKeys {
					sameKeys = false
					c.ownKeys(old)
				}
				j = old.c.find(k)
			}
			if j >= 0 {
				k = old.c.keys[j] // already owned: no reference into this text
				ok = &old.c.kids[j]
				okAbs = oldAbs + int(ok.off)
				okCabs = oldCabs + int(ok.coff)
			}
		}
		if ok == nil {
			// Keys outlive this text when the object is reused later.
			k = strings.Clone(k)
		}
		kid, good := b.value(ok, okAbs, okCabs, start, k, true, common)
		if !good {
			return docNode{}, false
		}
		j := -1
		if !aligned {
			j = findKey(c, k, len(c.kids))
		}
		if j >= 0 {
			// Duplicate key: the last value wins at the first position.
			// Both values were built against the same old member, so
			// the old containers are not handed back (see takeKids).
			c.kids[j] = kid
			dup = true
			b.doc.superseded, b.noRecycle = nil, true
		} else {
			if !sameKeys {
				c.keys = append(c.keys, k)
			}
			c.kids = append(c.kids, kid)
			if aligned && b.changed(&kid, start, ok, okAbs) && b.reuseRest(old, oldAbs, oldCabs, start, c) {
				bulk = true
				goto done
			}
		}
		if !b.afterMember('}') {
			return docNode{}, false
		}
		if b.p.s[b.p.i-1] == '}' {
			break
		}
	}
done:
	b.p.depth--
	if old == nil {
		c.clip()
	}
	if sameKeys {
		// The keys are a prefix of the old ones (unique, so no duplicate).
		c.keys = old.c.keys[:len(c.kids):len(c.kids)]
	}
	if sameKeys && len(c.keys) == len(old.c.keys) {
		c.order, c.qlen = old.c.order, old.c.qlen
	} else {
		c.qlen = make([]int32, len(c.keys))
		for i, k := range c.keys {
			c.qlen[i] = int32(quotedLen(k))
		}
	}
	c.keysRaw = keysOK && !dup && (!bulk || old.c.keysRaw)
	nd := docNode{kind: kindObject, off: int32(start - base), n: int32(b.p.i - start), cnt: 1, src: -1, srcc: -1, c: c}
	n := 2 + len(c.keys)
	if len(c.keys) > 1 {
		n += len(c.keys) - 1
	}
	compact := !dup
	for i := range c.kids {
		k := &c.kids[i]
		n += int(c.qlen[i]) + int(k.clen)
		nd.red += k.red
		nd.cnt += k.cnt
		if k.flags&flagCompactRaw == 0 {
			compact = false
		}
	}
	nd.clen = int32(n)
	if compact && n == int(nd.n) && c.keysRaw {
		nd.flags |= flagCompactRaw
	}
	return nd, true
}

// newContainer returns an empty container, from the pool when there is one.
func (b *docBuilder) newContainer() *docContainer {
	if b.pool == nil {
		return new(docContainer)
	}
	return b.pool.takeContainer()
}

// takeKids returns an empty member list of capacity n for the container
// rebuilding old, and notes old as superseded.
func (b *docBuilder) takeKids(old *docNode, n int) []docNode {
	if b.pool == nil {
		return make([]docNode, 0, n)
	}
	if !b.noRecycle && b.doc.prevID != 0 {
		b.doc.superseded = append(b.doc.superseded, old.c)
	}
	return b.pool.takeKids(n)
}

// clip gives back what growing the member lists of a new container by
// appending left unused (the document keeps them as long as it lives).
func (c *docContainer) clip() {
	if n := len(c.kids); cap(c.kids) > n+n/8+4 {
		c.kids = append(make([]docNode, 0, n), c.kids...)
	}
	if n := len(c.keys); cap(c.keys) > n+n/8+4 {
		c.keys = append(make([]string, 0, n), c.keys...)
	}
}

// ownKeys gives c a key slice of its own holding the old keys of the
// members indexed so far (which were the old ones in order).
func (c *docContainer) ownKeys(old *docNode) {
	c.keys = make([]string, len(c.kids), len(old.c.kids)+1)
	copy(c.keys, old.c.keys)
}

// findKey returns the index of key among the first n members of c, or -1.
func findKey(c *docContainer, key string, n int) int {
	if n > 32 {
		if c.index == nil || len(c.index) != n {
			c.index = make(map[string]int, n)
			for i, k := range c.keys[:n] {
				c.index[k] = i
			}
		}
		i, ok := c.index[key]
		if ok {
			return i
		}
		c.index[key] = n // the caller appends key at n
		return -1
	}
	for i, k := range c.keys[:n] {
		if k == key {
			return i
		}
	}
	return -1
}

// afterMember consumes the separator after a member or element: ',' or
// the closing byte.
func (b *docBuilder) afterMember(closing byte) bool {
	b.p.skipSpace()
	if b.p.i >= len(b.p.s) {
		return false
	}
	c := b.p.s[b.p.i]
	b.p.i++
	return c == ',' || c == closing
}

func (b *docBuilder) array(old *docNode, oldAbs, oldCabs, base, start, common int) (docNode, bool) {
	if !b.enter() {
		return docNode{}, false
	}
	if old != nil && (old.kind != kindArray || old.c == nil) {
		old = nil
	}
	c := b.newContainer()
	if old != nil {
		c.kids = b.takeKids(old, len(old.c.kids)+len(old.c.kids)/8+1)
	}
	b.p.i++ // '['
	if _, ok := b.reuseRun(old, oldAbs, oldCabs, start, c, common); ok {
		if !b.afterMember(']') {
			return docNode{}, false
		}
		if b.p.s[b.p.i-1] == ']' {
			goto done
		}
	} else {
		b.p.skipSpace()
		if b.p.i < len(b.p.s) && b.p.s[b.p.i] == ']' {
			b.p.i++
			goto done
		}
	}
	for {
		var ok *docNode
		okAbs, okCabs := 0, 0
		if old != nil && len(c.kids) < len(old.c.kids) {
			ok = &old.c.kids[len(c.kids)]
			okAbs = oldAbs + int(ok.off)
			okCabs = oldCabs + int(ok.coff)
		}
		kid, good := b.value(ok, okAbs, okCabs, start, "", false, common)
		if !good {
			return docNode{}, false
		}
		c.kids = append(c.kids, kid)
		if ok != nil && b.changed(&kid, start, ok, okAbs) && b.reuseRest(old, oldAbs, oldCabs, start, c) {
			goto done
		}
		if !b.afterMember(']') {
			return docNode{}, false
		}
		if b.p.s[b.p.i-1] == ']' {
			break
		}
	}
done:
	b.p.depth--
	if old == nil {
		c.clip()
	}
	nd := docNode{kind: kindArray, off: int32(start - base), n: int32(b.p.i - start), cnt: 1, src: -1, srcc: -1, c: c}
	n := 2
	if len(c.kids) > 1 {
		n += len(c.kids) - 1
	}
	compact := true
	for i := range c.kids {
		k := &c.kids[i]
		n += int(k.clen)
		nd.red += k.red
		nd.cnt += k.cnt
		if k.flags&flagCompactRaw == 0 {
			compact = false
		}
	}
	nd.clen = int32(n)
	if compact && n == int(nd.n) {
		nd.flags |= flagCompactRaw
	}
	return nd, true
}

// canonical appends the canonical text of nd (at raw offset abs) to
// b.canon and records its span; a reused value copies its old canonical
// text. The caller turns nd.coff into an offset relative to its own.
func (b *docBuilder) canonical(nd *docNode, abs int) {
	start := len(b.canon)
	if nd.flags&flagReused != 0 {
		b.copyOld(int(nd.srcc), int(nd.srcc+nd.cn))
		nd.coff = int32(start)
		return
	}
	switch {
	case nd.c == nil:
		b.canon = b.doc.appendCanonicalLeaf(b.canon, nd, abs, &b.treeIdx)
		b.track(start, -1)
	case nd.kind == kindObject:
		c := nd.c
		if c.order == nil {
			b.idx = b.idx[:0]
			for i := range c.keys {
				b.idx = append(b.idx, i)
			}
			sortKeys(b.idx, c.keys)
			c.order = make([]int32, len(b.idx))
			for i, j := range b.idx {
				c.order[i] = int32(j)
			}
		}
		b.put('{')
		for j := 0; j < len(c.order); j++ {
			if j > 0 {
				b.put(',')
			}
			i := c.order[j]
			k := &c.kids[i]
			if k.flags&flagReused != 0 {
				// A reused member was written `"key":value` in the old
				// canonical text; members that were next to each other
				// there are copied at once.
				first := int(k.srcc) - int(c.qlen[i]) - 1
				end := int(k.srcc + k.cn)
				m := j + 1
				for m < len(c.order) {
					n := &c.kids[c.order[m]]
					if n.flags&flagReused == 0 || int(n.srcc)-int(c.qlen[c.order[m]])-1 != end+1 {
						break
					}
					end = int(n.srcc + n.cn)
					m++
				}
				at := len(b.canon)
				b.copyOld(first, end)
				for q := j; q < m; q++ {
					n := &c.kids[c.order[q]]
					n.coff = int32(at-start) + n.srcc - int32(first)
				}
				j = m - 1
				continue
			}
			at := len(b.canon)
			b.canon = appendQuoted(b.canon, c.keys[i])
			b.canon = append(b.canon, ':')
			b.track(at, -1)
			b.kid(nd, int(i), abs, start)
		}
		b.put('}')
	case nd.kind == kindArray:
		c := nd.c
		b.put('[')
		for i := 0; i < len(c.kids); i++ {
			if i > 0 {
				b.put(',')
			}
			// A run of reused elements whose old canonical texts were
			// contiguous is copied at once.
			k := &c.kids[i]
			if k.flags&flagReused != 0 {
				j := i + 1
				end := k.srcc + k.cn
				for j < len(c.kids) {
					n := &c.kids[j]
					if n.flags&flagReused == 0 || n.srcc != end+1 {
						break
					}
					end = n.srcc + n.cn
					j++
				}
				if j > i+1 {
					at := len(b.canon)
					b.copyOld(int(k.srcc), int(end))
					for m := i; m < j; m++ {
						n := &c.kids[m]
						n.coff = int32(at-start) + (n.srcc - k.srcc)
					}
					i = j - 1
					continue
				}
			}
			b.kid(nd, i, abs, start)
		}
		b.put(']')
	default:
		b.canon = b.doc.appendCanonicalLeaf(b.canon, nd, abs, &b.treeIdx)
		b.track(start, -1)
	}
	nd.coff = int32(start)
	nd.cn = int32(len(b.canon) - start)
}

// put appends one byte of canonical text.
func (b *docBuilder) put(c byte) {
	b.canon = append(b.canon, c)
	b.track(len(b.canon)-1, -1)
}

// copyOld appends old canonical text [from, to).
func (b *docBuilder) copyOld(from, to int) {
	at := len(b.canon)
	b.canon = append(b.canon, b.oldCanon[from:to]...)
	b.track(at, from)
}

// track extends eq, the length of the prefix the new canonical text shares
// with the old one, over bytes just appended at at (copied from old offset
// src, or -1). Copies to their old position extend it without a look;
// anything else is compared only while the texts still agree.
func (b *docBuilder) track(at, src int) {
	if b.eq != at {
		return
	}
	if src == at {
		b.eq = len(b.canon)
		return
	}
	end := min(len(b.canon), len(b.oldCanon))
	if at >= end {
		return
	}
	b.eq = at + commonPrefixBytes(b.oldCanon[at:end], b.canon[at:end])
}

// kid writes the canonical text of member i of nd, whose canonical text
// starts at parentStart.
func (b *docBuilder) kid(nd *docNode, i, abs, parentStart int) {
	k := &nd.c.kids[i]
	b.canonical(k, abs+int(k.off))
	k.coff -= int32(parentStart)
}
