package dashstream

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math/rand"
	"strings"
	"testing"
)

// testRedactor hides members named password or ending in _token, and
// "sk-" followed by letters inside strings.
type testRedactor struct{}

const testReplacement = "[REDACTED]"

func (testRedactor) SecretKey(k string) bool {
	return k == "password" || strings.HasSuffix(k, "_token")
}
func (testRedactor) Replacement() string { return testReplacement }
func (testRedactor) RedactString(s string) (string, int) {
	if !strings.Contains(s, "sk-") {
		return s, 0
	}
	var b strings.Builder
	n := 0
	for {
		i := strings.Index(s, "sk-")
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		j := i + 3
		for j < len(s) && s[j] >= 'a' && s[j] <= 'z' {
			j++
		}
		b.WriteString(testReplacement)
		n++
		s = s[j:]
	}
	return b.String(), n
}

func (r testRedactor) RedactValue(v any) (any, int) {
	switch t := v.(type) {
	case *Object:
		n := 0
		for i := 0; i < t.Len(); i++ {
			k, val := t.Key(i), t.Value(i)
			if val != nil && r.SecretKey(k) {
				if s, ok := val.(string); !ok || s != testReplacement {
					t.Set(k, testReplacement)
					n++
				}
				continue
			}
			nv, c := r.RedactValue(val)
			if c > 0 {
				t.Set(k, nv)
			}
			n += c
		}
		return t, n
	case []any:
		n := 0
		for i, e := range t {
			nv, c := r.RedactValue(e)
			if c > 0 {
				t[i] = nv
			}
			n += c
		}
		return t, n
	case string:
		return r.RedactString(t)
	}
	return v, 0
}

// treeState is the reference: the whole snapshot parsed and redacted.
type treeState struct {
	v    any
	reds int
}

func refState(t testing.TB, raw string, red StateRedactor) (treeState, error) {
	v, err := ParseJSONString(raw, ParseOptions{MaxDepth: 64})
	if err != nil {
		return treeState{}, err
	}
	if _, ok := v.(*Object); !ok {
		return treeState{}, ErrStateNotObject
	}
	n := 0
	if red != nil {
		v, n = red.RedactValue(v)
	}
	return treeState{v: v, reds: n}, nil
}

// checkDoc compares every output of the indexed path with the tree path.
func checkDoc(t *testing.T, step int, raw string, prevRaw string, prev *StateDoc, prevTree any, red StateRedactor) (*StateDoc, any) {
	return checkDocBlob(t, step, raw, prevRaw, prev, prevTree, red, 0)
}

// checkDocBlob is checkDoc with containers up to blob bytes kept whole.
func checkDocBlob(t *testing.T, step int, raw string, prevRaw string, prev *StateDoc, prevTree any, red StateRedactor, blob int) (*StateDoc, any) {
	t.Helper()
	return checkDocPool(t, step, raw, prevRaw, prev, prevTree, red, blob, nil)
}

// checkDocPool is checkDocBlob building with pool (nil: none); once
// checked, the previous document is retired to the pool.
func checkDocPool(t *testing.T, step int, raw string, prevRaw string, prev *StateDoc, prevTree any, red StateRedactor, blob int, pool *StateDocPool) (*StateDoc, any) {
	t.Helper()
	ref, refErr := refState(t, raw, red)
	doc, err := buildStateDoc(raw, prev, red, 64, blob, pool)
	if (err == nil) != (refErr == nil) {
		t.Fatalf("step %d: error %v, tree path %v\nraw: %s", step, err, refErr, raw)
	}
	if err != nil {
		if err.Error() != refErr.Error() {
			t.Fatalf("step %d: error %q, tree path %q", step, err, refErr)
		}
		return prev, prevTree
	}
	compact := MarshalJSON(ref.v)
	if got := doc.CompactJSON(); !bytes.Equal(got, compact) {
		t.Fatalf("step %d: compact\n got %s\nwant %s\nraw: %s", step, got, compact, raw)
	}
	if doc.JSONLen() != len(compact) {
		t.Fatalf("step %d: JSONLen %d, want %d", step, doc.JSONLen(), len(compact))
	}
	if canon := CanonicalJSON(ref.v); !bytes.Equal(doc.CanonicalJSON(), canon) {
		t.Fatalf("step %d: canonical\n got %s\nwant %s\nraw: %s\nprev: %s", step, doc.CanonicalJSON(), canon, raw, prevRaw)
	}
	if doc.Hash() != StateHash(ref.v) {
		t.Fatalf("step %d: hash differs", step)
	}
	if !Equal(doc.Value(), ref.v) {
		t.Fatalf("step %d: Value differs from the parsed, redacted state", step)
	}
	if doc.Redactions() != ref.reds {
		t.Fatalf("step %d: %d redactions, want %d", step, doc.Redactions(), ref.reds)
	}
	if prev != nil {
		want := Diff(prevTree, ref.v).AppendJSON(nil)
		got := DiffStateDocs(prev, doc).AppendJSON(nil)
		if !bytes.Equal(got, want) {
			t.Fatalf("step %d: patch\n got %s\nwant %s\nold: %s\nnew: %s", step, got, want, prevRaw, raw)
		}
	}
	if pool != nil {
		pool.Retire(prev, doc)
	}
	return doc, ref.v
}

func TestStateDocMatchesTreePath(t *testing.T) {
	for seed := int64(1); seed <= 1200; seed++ {
		r := rand.New(rand.NewSource(seed))
		blob := []int{0, 24, 80, blobMax}[seed%4]
		var red StateRedactor
		if seed%3 != 0 {
			red = testRedactor{}
		}
		g := &stateGen{r: r}
		state := g.object(3)
		var pool *StateDocPool
		if seed%2 == 0 {
			pool = &StateDocPool{}
		}
		var prev *StateDoc
		var prevTree any
		prevRaw := ""
		for step := 0; step < 25; step++ {
			raw := g.write(state)
			if r.Intn(40) == 0 {
				raw = g.corrupt(raw)
			}
			prev, prevTree = checkDocPool(t, step, raw, prevRaw, prev, prevTree, red, blob, pool)
			prevRaw = raw
			for k := r.Intn(3); k >= 0; k-- {
				state = g.mutate(state, 3).(genObject)
			}
		}
	}
}

func TestStateDocVectors(t *testing.T) {
	long := strings.Repeat("long text ", 10)
	cases := []string{
		`{}`, ` { } `, `{"a":1}`, `{"a":1,"a":2}`, `{"b":[1,2,{"c":"\ud800"}],"a":1.50}`,
		`{"😀":1,"\ue000":2}`, `{"n":12345678901234567890,"m":-0,"f":1e400}`,
		`{"s":"a\u0041\/b","t":"sk-abc in text"}`, `{"password":{"x":1},"api_token":null,"p_token":"[REDACTED]"}`,
		`{"a":["A","B","C"]}`, `{"a":["D","B"]}`, `{"a":["D","B","B"]}`, `{"a":["B","B"]}`,
		`{"a":["A` + long + `","B` + long + `","C` + long + `"]}`, `{"a":["D` + long + `","B` + long + `"]}`,
		`[1]`, `1`, `{"a":}`, `{"a":1}x`, `{"a":[1,2,]}`,
	}
	for _, red := range []StateRedactor{nil, testRedactor{}} {
		var prev *StateDoc
		var prevTree any
		prevRaw := ""
		for i, c := range cases {
			prev, prevTree = checkDoc(t, i, c, prevRaw, prev, prevTree, red)
			prevRaw = c
		}
	}
}

// TestStateDocSecretNeverReused: a value that becomes secret (or stops
// being) is never taken from the previous document, whatever its bytes.
func TestStateDocSecretNeverReused(t *testing.T) {
	red := testRedactor{}
	a, err := BuildStateDoc(`{"note":{"v":"hunter2"},"list":["sk-abc"]}`, nil, red, 64)
	if err != nil {
		t.Fatal(err)
	}
	b, err := BuildStateDoc(`{"password":{"v":"hunter2"},"list":["sk-abc"]}`, a, red, 64)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []*StateDoc{a, b} {
		for _, out := range [][]byte{d.CompactJSON(), d.CanonicalJSON(), DiffStateDocs(a, b).AppendJSON(nil)} {
			if bytes.Contains(out, []byte("sk-abc")) {
				t.Fatalf("credential leaked: %s", out)
			}
		}
	}
	if bytes.Contains(b.CompactJSON(), []byte("hunter2")) || bytes.Contains(b.CanonicalJSON(), []byte("hunter2")) {
		t.Fatalf("secret member leaked: %s", b.CompactJSON())
	}
	// Unredacted document first, redacting one next: nothing is shared.
	c, err := BuildStateDoc(`{"note":"sk-abc"}`, nil, nil, 64)
	if err != nil {
		t.Fatal(err)
	}
	d, err := BuildStateDoc(`{"note":"sk-abc"}`, c, red, 64)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(d.CompactJSON(), []byte("sk-abc")) {
		t.Fatalf("previous document without redaction leaked into a redacted one: %s", d.CompactJSON())
	}
}

// TestStateDocKeptTrees: the parsed trees a build keeps for its canonical
// text and the diffs are the redacted values (a secret never comes back
// through them), are never handed out by Value (changing its result
// changes nothing in the document), and survive patches applied to a
// replica of the state.
func TestStateDocKeptTrees(t *testing.T) {
	red := testRedactor{}
	texts := []string{
		`{"msg":{"content":"key sk-abc","password":"hunter2"},"n":1}`,
		`{"msg":{"content":"key sk-def and sk-abc","password":"hunter3"},"n":2,"list":[{"api_token":"t1"}]}`,
		`{"msg":{"content":"plain","password":null},"n":3,"list":[{"api_token":"t1"},{"x":"sk-xyz"}]}`,
		`{"msg":{"content":"plain","password":null},"n":3,"list":[{"api_token":"t2"},{"x":"sk-xyz"}]}`,
	}
	secrets := []string{"sk-abc", "sk-def", "sk-xyz", "hunter", `"t1"`, `"t2"`}
	leak := func(where string, out []byte) {
		t.Helper()
		for _, sec := range secrets {
			if bytes.Contains(out, []byte(sec)) {
				t.Fatalf("%s leaked %q: %s", where, sec, out)
			}
		}
	}
	var prev *StateDoc
	var prevTree any
	var replica any
	for i, raw := range texts {
		doc, err := BuildStateDoc(raw, prev, red, 64)
		if err != nil {
			t.Fatal(err)
		}
		if len(doc.trees) == 0 {
			t.Fatalf("step %d: no parsed tree kept for a changed small state", i)
		}
		for _, tr := range doc.trees {
			leak(fmt.Sprintf("step %d: kept tree", i), MarshalJSON(tr.v))
		}
		ref, err := refState(t, raw, red)
		if err != nil {
			t.Fatal(err)
		}
		compact, canon := doc.CompactJSON(), append([]byte(nil), doc.CanonicalJSON()...)
		leak("compact", compact)
		leak("canonical", canon)
		if !bytes.Equal(compact, MarshalJSON(ref.v)) || !bytes.Equal(canon, CanonicalJSON(ref.v)) {
			t.Fatalf("step %d: outputs differ from the tree path:\n%s\n%s", i, compact, canon)
		}
		// Value is the caller's own: scribbling on it changes nothing.
		v := doc.Value().(*Object)
		v.Set("n", "sk-leak")
		v.Set("msg", "changed")
		if got := doc.CompactJSON(); !bytes.Equal(got, compact) {
			t.Fatalf("step %d: changing Value's result changed the document: %s", i, got)
		}
		if prev != nil {
			p := DiffStateDocs(prev, doc)
			out := p.AppendJSON(nil)
			leak("patch", out)
			if want := Diff(prevTree, ref.v).AppendJSON(nil); !bytes.Equal(out, want) {
				t.Fatalf("step %d: patch\n got %s\nwant %s", i, out, want)
			}
			// A consumer applying the patch to its replica (and, as
			// Apply asks, cloning before it changes the result in place)
			// does not reach into the document's trees.
			if replica, err = Apply(replica, p); err != nil {
				t.Fatal(err)
			}
			if !Equal(replica, ref.v) {
				t.Fatalf("step %d: patched replica %s, want %s", i, MarshalJSON(replica), compact)
			}
			Clone(replica).(*Object).Set("n", "scribbled")
			if !bytes.Equal(doc.CanonicalJSON(), canon) || !bytes.Equal(doc.CompactJSON(), compact) {
				t.Fatalf("step %d: applying the patch changed the document", i)
			}
		} else {
			replica = doc.Value()
		}
		prev, prevTree = doc, ref.v
	}
}

// stateGen builds random states and writes them in varied JSON spellings.
type stateGen struct {
	r   *rand.Rand
	sb  strings.Builder
	ids int
}

type genNum struct{ spellings []string }

var genKeys = []string{"a", "b", "messages", "count", "password", "api_token", "z", "é", "😀", "\ue000", "k\"q", "long_key_name", "A", "_"}

var genNums = []genNum{
	{[]string{"1", "1.0", "1e0", "10E-1", "0.1e1"}},
	{[]string{"0", "-0", "0.0", "0e5"}},
	{[]string{"12345678901234567890", "1.2345678901234567890e19"}},
	{[]string{"9007199254740993"}},
	{[]string{"-3.25", "-325e-2"}},
	{[]string{"1e21", "1000000000000000000000"}},
	{[]string{"0.0000001", "1e-7"}},
	{[]string{"1e400"}},
}

var genStrings = []string{"", "hello", "sk-abc key", "tab\there", "quote\"q", "é😀", "\x7f", "line\nbreak", "[REDACTED]", "a/b", "<>&", "\u2028"}

func (g *stateGen) scalar() any {
	if g.r.Intn(3) == 0 { // a small alphabet, so equal values recur
		return []any{nil, true, "x", genNums[0], strings.Repeat("long text ", 8)}[g.r.Intn(5)]
	}
	switch g.r.Intn(7) {
	case 0:
		return nil
	case 1:
		return g.r.Intn(2) == 0
	case 2, 3:
		return genNums[g.r.Intn(len(genNums))]
	case 4:
		return rawString(`"\ud800 lone"`)
	default:
		g.ids++
		s := genStrings[g.r.Intn(len(genStrings))]
		if g.r.Intn(2) == 0 {
			s += fmt.Sprint(g.ids)
		}
		return s
	}
}

// rawString is a string literal written exactly as given.
type rawString string

type genMember struct {
	k string
	v any
}

type genObject []genMember

func (g *stateGen) value(depth int) any {
	if depth <= 0 || g.r.Intn(3) == 0 {
		return g.scalar()
	}
	if g.r.Intn(2) == 0 {
		return g.object(depth - 1)
	}
	n := g.r.Intn(5)
	a := make([]any, n)
	for i := range a {
		a[i] = g.value(depth - 1)
	}
	return a
}

func (g *stateGen) object(depth int) genObject {
	n := g.r.Intn(5)
	var o genObject
	for i := 0; i < n; i++ {
		k := genKeys[g.r.Intn(len(genKeys))]
		dup := false
		for _, m := range o {
			if m.k == k {
				dup = true
			}
		}
		if !dup {
			o = append(o, genMember{k, g.value(depth)})
		}
	}
	return o
}

// mutate changes a few things: appends, deletes, moves, nested edits,
// type changes, key reorderings.
func (g *stateGen) mutate(v any, depth int) any {
	switch t := v.(type) {
	case genObject:
		o := append(genObject(nil), t...)
		switch g.r.Intn(6) {
		case 0:
			if len(o) > 0 {
				i := g.r.Intn(len(o))
				o = append(o[:i], o[i+1:]...)
			}
		case 1:
			k := genKeys[g.r.Intn(len(genKeys))]
			for _, m := range o {
				if m.k == k {
					return o
				}
			}
			o = append(o, genMember{k, g.value(depth)})
		case 2:
			g.r.Shuffle(len(o), func(i, j int) { o[i], o[j] = o[j], o[i] })
		default:
			if len(o) > 0 {
				i := g.r.Intn(len(o))
				o[i].v = g.mutate(o[i].v, depth-1)
			}
		}
		return o
	case []any:
		a := append([]any(nil), t...)
		switch g.r.Intn(6) {
		case 0, 1:
			return append(a, g.value(depth))
		case 2:
			if len(a) > 0 && g.r.Intn(2) == 0 {
				i := g.r.Intn(len(a))
				return append(a[:i], a[i+1:]...)
			}
			i := g.r.Intn(len(a) + 1)
			return append(a[:i], append([]any{g.value(depth)}, a[i:]...)...)
		case 3:
			if len(a) > 1 {
				i, j := g.r.Intn(len(a)), g.r.Intn(len(a))
				a[i], a[j] = a[j], a[i]
			}
		default:
			if len(a) > 0 {
				i := g.r.Intn(len(a))
				a[i] = g.mutate(a[i], depth-1)
			}
		}
		return a
	default:
		if g.r.Intn(4) == 0 {
			return g.value(depth)
		}
		return g.scalar()
	}
}

// write spells v with random whitespace, number spellings, escapes and
// (rarely) a duplicate key.
func (g *stateGen) write(v any) string {
	g.sb.Reset()
	style := g.r.Intn(3)
	g.emit(v, style)
	return g.sb.String()
}

func (g *stateGen) ws(style int) {
	switch style {
	case 1:
		g.sb.WriteByte(' ')
	case 2:
		if g.r.Intn(4) == 0 {
			g.sb.WriteString("\n  ")
		}
	}
}

func (g *stateGen) emit(v any, style int) {
	switch t := v.(type) {
	case nil:
		g.sb.WriteString("null")
	case bool:
		fmt.Fprint(&g.sb, t)
	case genNum:
		g.sb.WriteString(t.spellings[g.r.Intn(len(t.spellings))])
	case rawString:
		g.sb.WriteString(string(t))
	case string:
		g.str(t)
	case []any:
		g.sb.WriteByte('[')
		for i, e := range t {
			if i > 0 {
				g.sb.WriteByte(',')
				g.ws(style)
			}
			g.emit(e, style)
		}
		g.sb.WriteByte(']')
	case genObject:
		g.sb.WriteByte('{')
		for i, m := range t {
			if i > 0 {
				g.sb.WriteByte(',')
				g.ws(style)
			}
			if g.r.Intn(30) == 0 { // a duplicate written first: the later value wins
				g.str(m.k)
				g.sb.WriteString(":0,")
			}
			g.str(m.k)
			g.sb.WriteByte(':')
			g.ws(style)
			g.emit(m.v, style)
		}
		g.sb.WriteByte('}')
	}
}

func (g *stateGen) str(s string) {
	g.sb.WriteByte('"')
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			g.sb.WriteByte('\\')
			g.sb.WriteRune(c)
		case c < 0x20:
			fmt.Fprintf(&g.sb, `\u%04x`, c)
		case c == 'a' && g.r.Intn(8) == 0:
			g.sb.WriteString(`\u0061`)
		case c == '/' && g.r.Intn(2) == 0:
			g.sb.WriteString(`\/`)
		default:
			g.sb.WriteRune(c)
		}
	}
	g.sb.WriteByte('"')
}

// corrupt damages a text so that it is not a valid state.
func (g *stateGen) corrupt(s string) string {
	switch g.r.Intn(3) {
	case 0:
		return s[:g.r.Intn(len(s))]
	case 1:
		return "[" + s + "]"
	default:
		return s + "}"
	}
}

// TestStateDocHashVectors: the UI's vectors hold for indexed documents,
// built fresh, against the previous vector's document, and against an
// earlier copy of themselves (everything reused).
func TestStateDocHashVectors(t *testing.T) {
	vectors := loadVectors(t, sharedOrLocalVectors(t))
	objects := 0
	var prev *StateDoc
	for _, vec := range vectors {
		if len(vec.StateJSON) == 0 || strings.TrimSpace(vec.StateJSON)[0] != '{' {
			continue
		}
		objects++
		first, err := BuildStateDoc(vec.StateJSON, prev, nil, 0)
		if err != nil {
			t.Fatalf("%s: %v", vec.Name, err)
		}
		again, err := BuildStateDoc(vec.StateJSON, first, nil, 0)
		if err != nil {
			t.Fatalf("%s: %v", vec.Name, err)
		}
		for _, d := range []*StateDoc{first, again} {
			if string(d.CanonicalJSON()) != vec.Canonical {
				t.Fatalf("%s: canonical\n got %s\nwant %s", vec.Name, d.CanonicalJSON(), vec.Canonical)
			}
			sum := d.Hash()
			if h := fmt.Sprintf("%x", sum[:]); h != vec.SHA256Hex {
				t.Errorf("%s: hash %s, want %s", vec.Name, h, vec.SHA256Hex)
			}
		}
		if p := DiffStateDocs(first, again); len(p) != 0 {
			t.Errorf("%s: a document differs from itself: %v", vec.Name, p)
		}
		prev = again
	}
	if objects < 20 {
		t.Fatalf("only %d object vectors", objects)
	}
}

func sharedOrLocalVectors(t *testing.T) string {
	if p := sharedVectorPath(t); fileExists(p) {
		return p
	}
	return "testdata/" + vectorFile
}

// FuzzStateDoc: for any pair of texts, the indexed path (the second built
// against the first) agrees with the tree path on errors, compact text,
// canonical text, hash, redaction count and patch.
func FuzzStateDoc(f *testing.F) {
	f.Add(`{"a":1,"b":[1,2,3]}`, `{"a":2,"b":[1,2,3,4]}`)
	f.Add(`{"messages":[{"role":"user","content":"hi"}],"n":1}`, `{"n":1.0, "messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"sk-abc"}]}`)
	f.Add(`{"password":"x","k":{"api_token":[1]}}`, `{"password":{"y":1},"k":{"api_token":null}}`)
	f.Add(`{"s":"\ud800","😀":1,"\ue000":2}`, `{"\ue000":2,"😀":1,"s":"\udc00"}`)
	f.Add(`{"a":1,"a":2}`, `{"a":2}`)
	f.Add(`{"n":12345678901234567890,"m":1e400}`, `{"n":12345678901234567891,"m":-0}`)
	f.Add(`{"a":[1,2,3]}`, `{"a":[1,2,3`)
	f.Fuzz(func(t *testing.T, a, b string) {
		red := testRedactor{}
		for _, blob := range []int{0, 16} {
			prev, prevTree := checkDocBlob(t, 0, a, "", nil, nil, red, blob)
			checkDocBlob(t, 1, b, a, prev, prevTree, red, blob)
		}
		// Through a pool, back and forth: later builds take what the
		// retired documents held.
		var pool StateDocPool
		var prev *StateDoc
		var prevTree any
		prevRaw := ""
		for i, raw := range []string{a, b, a, b} {
			prev, prevTree = checkDocPool(t, i, raw, prevRaw, prev, prevTree, red, 16, &pool)
			prevRaw = raw
		}
	})
}

// TestStateDocLargeHashResume: states far larger than the spacing of the
// saved hash states, changed at the start, the middle and the end of the
// canonical text, appended to and cut: every hash is the SHA-256 of the
// canonical text of the parsed state.
func TestStateDocLargeHashResume(t *testing.T) {
	msgs := make([]string, 0, 2000)
	for i := 0; i < 2000; i++ {
		msgs = append(msgs, fmt.Sprintf(`{"role":"user","content":"message %d with some words in it"}`, i))
	}
	texts := []string{}
	for step := 0; step < 12; step++ {
		m := msgs[:1500+step*40]
		if step == 7 {
			m = msgs[:1000] // cut
		}
		mid := append([]string(nil), m...)
		if step%3 == 1 {
			mid[len(mid)/2] = fmt.Sprintf(`{"role":"user","content":"edited %d"}`, step)
		}
		texts = append(texts, fmt.Sprintf(`{"a_first":%d,"messages":[%s],"z_last":%d}`, step%2, strings.Join(mid, ","), step))
	}
	var prev *StateDoc
	var prevTree any
	prevRaw := ""
	for i, raw := range texts {
		doc, tree := checkDoc(t, i, raw, prevRaw, prev, prevTree, nil)
		if len(doc.CanonicalJSON()) < 4*minMarkSpacing {
			t.Fatalf("state of %d bytes does not exercise the saved hash states", len(doc.CanonicalJSON()))
		}
		if doc.Hash() != sha256.Sum256(doc.CanonicalJSON()) {
			t.Fatalf("step %d: hash is not SHA-256 of the canonical text", i)
		}
		prev, prevTree, prevRaw = doc, tree, raw
	}
}

// TestStateDocMemSizeCountsReusedSubtrees: a document that reuses its
// predecessor's subtrees accounts for them as much as one built fresh.
func TestStateDocMemSizeCountsReusedSubtrees(t *testing.T) {
	var msgs []string
	for i := 0; i < 400; i++ {
		msgs = append(msgs, fmt.Sprintf(`{"role":"user","content":"message %d %s"}`, i, strings.Repeat("x", i%700)))
	}
	a := `{"n":1,"messages":[` + strings.Join(msgs, ",") + `]}`
	b := `{"n":2,"messages":[` + strings.Join(msgs, ",") + `]}`
	prev, err := BuildStateDoc(a, nil, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	reused, err := BuildStateDoc(b, prev, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := BuildStateDoc(b, nil, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The kept parsed trees are what each build parsed (all new messages
	// for the fresh one, within the budget): the rest must be equal.
	noTrees := func(d *StateDoc) int64 { return d.MemSize() - 2*int64(d.treeBytes) }
	if noTrees(reused) != noTrees(fresh) || reused.nodes != fresh.nodes || fresh.nodes < 400 {
		t.Fatalf("MemSize reused %d (%d entries), fresh %d (%d entries)", reused.MemSize(), reused.nodes, fresh.MemSize(), fresh.nodes)
	}
	if fresh.treeBytes == 0 || fresh.treeBytes > treeBudget(len(b)) || reused.treeBytes != 0 {
		t.Fatalf("kept trees: fresh %d bytes (budget %d), reused %d", fresh.treeBytes, treeBudget(len(b)), reused.treeBytes)
	}
	if m := fresh.MemSize(); m < int64(2*len(b)) || m > int64(4*len(b)) {
		t.Fatalf("MemSize %d for %d bytes of JSON", m, len(b))
	}
}

// TestStateDocLongScalarArrays: an array of many equal scalars changed at
// both ends is compared in bulk once, not once per unchanged element
// (which would be quadratic).
func TestStateDocLongScalarArrays(t *testing.T) {
	zeros := strings.TrimSuffix(strings.Repeat("0,", 20000), ",")
	a := `{"a":[1,` + zeros + `,2],"b":{"x":1,"y":2}}`
	b := `{"a":[3,` + zeros + `,4],"b":{"x":5,"y":2}}`
	prev, err := BuildStateDoc(a, nil, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	d, err := BuildStateDoc(b, prev, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if d.restCompared > 2*len(b) {
		t.Fatalf("bulk comparisons read %d bytes for a %d-byte state: not linear", d.restCompared, len(b))
	}
	if p := DiffStateDocs(prev, d); len(p) != 3 {
		t.Fatalf("patch %s, want three replaces", p.AppendJSON(nil))
	}
}

// TestStateDocPool: a chain of documents built and retired through a pool
// reuses the canonical text and member lists of the replaced documents,
// with outputs equal to fresh builds; a retired document hands out nothing;
// duplicate keys (two new values built on one old one) hand nothing back.
func TestStateDocPool(t *testing.T) {
	msgs, n := docBenchMessages(16 << 10)
	texts := func(i int) string {
		switch i % 6 {
		case 4:
			return fmt.Sprintf(`{"step":%d}`, i) // too small for the buffers
		case 5:
			return fmt.Sprintf(`{"step":%d,"messages":%s,"messages":%s}`, i, msgs, msgs)
		}
		return fmt.Sprintf(`{"step":%d,"messages":%s,%s]}`, i, msgs[:len(msgs)-1], docBenchMessage(n+i))
	}
	var pool StateDocPool
	var prev *StateDoc
	canonReused, kidsReused := 0, 0
	var freed map[*docNode]bool // member lists handed back last time
	var freedCanon *byte
	for i := 0; i < 30; i++ {
		raw := texts(i)
		doc, err := pool.Build(raw, prev, testRedactor{}, 64)
		if err != nil {
			t.Fatal(err)
		}
		if &doc.canon[:1][0] == freedCanon {
			canonReused++
		}
		for _, c := range []*docContainer{doc.root.c, doc.root.c.kids[len(doc.root.c.kids)-1].c} {
			if c != nil && cap(c.kids) > 0 && freed[&c.kids[:1][0]] {
				kidsReused++
			}
		}
		fresh, err := BuildStateDoc(raw, nil, testRedactor{}, 64)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(doc.CanonicalJSON(), fresh.CanonicalJSON()) || doc.Hash() != fresh.Hash() || !bytes.Equal(doc.CompactJSON(), fresh.CompactJSON()) {
			t.Fatalf("step %d: pooled build differs from a fresh one", i)
		}
		if prev != nil {
			want := DiffStateDocs(prev, fresh).AppendJSON(nil)
			if got := DiffStateDocs(prev, doc).AppendJSON(nil); !bytes.Equal(got, want) {
				t.Fatalf("step %d: patch %s, want %s", i, got, want)
			}
		}
		if i%6 == 5 && len(doc.superseded) != 0 {
			t.Fatalf("step %d: duplicate keys, yet %d old containers to hand back", i, len(doc.superseded))
		}
		freed, freedCanon = map[*docNode]bool{}, nil
		for _, c := range doc.superseded {
			if cap(c.kids) > 0 {
				freed[&c.kids[:1][0]] = true
			}
		}
		if prev != nil && cap(prev.canon) > 0 {
			freedCanon = &prev.canon[:1][0]
		}
		pool.Retire(prev, doc)
		if prev != nil && prev.CanonicalJSON() != nil {
			t.Fatal("a retired document still hands out its text")
		}
		if len(doc.superseded) != 0 {
			t.Fatal("superseded containers kept after the retirement")
		}
		prev = doc
	}
	// A document of another pool (or none) as the previous one: nothing
	// of it is taken for the pool's member lists, and the next document
	// does not hold on to its containers.
	var other StateDocPool
	foreign, err := other.Build(texts(0), nil, testRedactor{}, 64)
	if err != nil {
		t.Fatal(err)
	}
	next, err := pool.Build(texts(1), foreign, testRedactor{}, 64)
	if err != nil {
		t.Fatal(err)
	}
	if next.prevID != 0 || len(next.superseded) != 0 {
		t.Fatalf("built on another pool's document: previous id %d, %d containers to hand back", next.prevID, len(next.superseded))
	}
	pool.Retire(foreign, next)
	if foreign.root.c.kids == nil {
		t.Fatal("retiring another pool's document took its member lists")
	}
	// The document of step i-1, retired once step i is built, serves step
	// i+1 unless the sizes differ too much (around the small and the
	// duplicate-key steps).
	t.Logf("reused %d canonical texts and %d member lists", canonReused, kidsReused)
	if !raceEnabled && (canonReused < 8 || kidsReused < 8) {
		t.Fatalf("reused %d canonical texts and %d member lists in 30 builds", canonReused, kidsReused)
	}
}
