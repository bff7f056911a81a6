package dashstream

import (
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
)

func jsonForTest(t testing.TB, s string) any {
	t.Helper()
	v, err := ParseJSON([]byte(s))
	if err != nil {
		t.Fatalf("ParseJSON(%s): %v", s, err)
	}
	return v
}

// TestApplyRFC6902 runs the examples of RFC 6902 appendix A plus edge cases.
func TestApplyRFC6902(t *testing.T) {
	tests := []struct {
		name, doc, patch, want string // want "" = error expected
	}{
		{"A.1 add member", `{"foo":"bar"}`, `[{"op":"add","path":"/baz","value":"qux"}]`, `{"baz":"qux","foo":"bar"}`},
		{"A.2 add array element", `{"foo":["bar","baz"]}`, `[{"op":"add","path":"/foo/1","value":"qux"}]`, `{"foo":["bar","qux","baz"]}`},
		{"A.3 remove member", `{"baz":"qux","foo":"bar"}`, `[{"op":"remove","path":"/baz"}]`, `{"foo":"bar"}`},
		{"A.4 remove element", `{"foo":["bar","qux","baz"]}`, `[{"op":"remove","path":"/foo/1"}]`, `{"foo":["bar","baz"]}`},
		{"A.5 replace", `{"baz":"qux","foo":"bar"}`, `[{"op":"replace","path":"/baz","value":"boo"}]`, `{"baz":"boo","foo":"bar"}`},
		{"A.6 move member", `{"foo":{"bar":"baz","waldo":"fred"},"qux":{"corge":"grault"}}`,
			`[{"op":"move","from":"/foo/waldo","path":"/qux/thud"}]`, `{"foo":{"bar":"baz"},"qux":{"corge":"grault","thud":"fred"}}`},
		{"A.7 move element", `{"foo":["all","grass","cows","eat"]}`, `[{"op":"move","from":"/foo/1","path":"/foo/3"}]`,
			`{"foo":["all","cows","eat","grass"]}`},
		{"A.8 test ok", `{"baz":"qux","foo":["a",2,"c"]}`,
			`[{"op":"test","path":"/baz","value":"qux"},{"op":"test","path":"/foo/1","value":2}]`, `{"baz":"qux","foo":["a",2,"c"]}`},
		{"A.9 test fails", `{"baz":"qux"}`, `[{"op":"test","path":"/baz","value":"bar"}]`, ""},
		{"A.10 add nested", `{"foo":"bar"}`, `[{"op":"add","path":"/child","value":{"grandchild":{}}}]`, `{"foo":"bar","child":{"grandchild":{}}}`},
		{"A.11 extra members ignored", `{"foo":"bar"}`, `[{"op":"add","path":"/baz","value":"qux","xyz":123}]`, `{"foo":"bar","baz":"qux"}`},
		{"A.12 missing parent", `{"foo":"bar"}`, `[{"op":"add","path":"/baz/bat","value":"qux"}]`, ""},
		{"A.14 escape order", `{"/":9,"~1":10}`, `[{"op":"test","path":"/~01","value":10}]`, `{"/":9,"~1":10}`},
		{"A.15 string vs number", `{"/":9,"~1":10}`, `[{"op":"test","path":"/~01","value":"10"}]`, ""},
		{"A.16 add array value", `{"foo":["bar"]}`, `[{"op":"add","path":"/foo/-","value":["abc","def"]}]`, `{"foo":["bar",["abc","def"]]}`},
		{"add root", `{"a":1}`, `[{"op":"add","path":"","value":[1]}]`, `[1]`},
		{"replace root", `{"a":1}`, `[{"op":"replace","path":"","value":null}]`, `null`},
		{"remove root", `{"a":1}`, `[{"op":"remove","path":""}]`, ""},
		{"add replaces member", `{"a":1}`, `[{"op":"add","path":"/a","value":2}]`, `{"a":2}`},
		{"add at end index", `[1,2]`, `[{"op":"add","path":"/2","value":3}]`, `[1,2,3]`},
		{"add past end", `[1,2]`, `[{"op":"add","path":"/3","value":3}]`, ""},
		{"add at 0", `[1,2]`, `[{"op":"add","path":"/0","value":0}]`, `[0,1,2]`},
		{"leading zero index", `[1,2]`, `[{"op":"replace","path":"/01","value":0}]`, ""},
		{"negative index", `[1,2]`, `[{"op":"remove","path":"/-1"}]`, ""},
		{"remove dash", `[1,2]`, `[{"op":"remove","path":"/-"}]`, ""},
		{"replace missing", `{"a":1}`, `[{"op":"replace","path":"/b","value":0}]`, ""},
		{"remove missing", `{"a":1}`, `[{"op":"remove","path":"/b"}]`, ""},
		{"through scalar", `{"a":1}`, `[{"op":"add","path":"/a/b","value":0}]`, ""},
		{"bad pointer", `{"a":1}`, `[{"op":"add","path":"a","value":0}]`, ""},
		{"bad escape", `{"a":1}`, `[{"op":"add","path":"/~2","value":0}]`, ""},
		{"empty key", `{"":1}`, `[{"op":"replace","path":"/","value":2}]`, `{"":2}`},
		{"copy", `{"a":{"x":[1]},"b":1}`, `[{"op":"copy","from":"/a","path":"/c"},{"op":"add","path":"/c/x/-","value":2}]`,
			`{"a":{"x":[1]},"b":1,"c":{"x":[1,2]}}`},
		{"copy missing", `{"a":1}`, `[{"op":"copy","from":"/z","path":"/c"}]`, ""},
		{"move into child", `{"a":{"b":1}}`, `[{"op":"move","from":"/a","path":"/a/c"}]`, ""},
		{"move to self", `{"a":{"b":1}}`, `[{"op":"move","from":"/a","path":"/a"}]`, `{"a":{"b":1}}`},
		{"move to sibling prefix", `{"a":1,"ab":2}`, `[{"op":"move","from":"/a","path":"/abc"}]`, `{"ab":2,"abc":1}`},
		{"test whole doc", `{"a":[1.0]}`, `[{"op":"test","path":"","value":{"a":[1]}}]`, `{"a":[1.0]}`},
		{"many ops same array", `{"l":[0,1,2,3]}`,
			`[{"op":"remove","path":"/l/0"},{"op":"add","path":"/l/-","value":4},{"op":"replace","path":"/l/0","value":9},{"op":"add","path":"/l/1","value":8},{"op":"move","from":"/l/0","path":"/l/-"}]`,
			`{"l":[8,2,3,4,9]}`},
		{"failing op after good ones", `{"a":1}`, `[{"op":"add","path":"/b","value":2},{"op":"remove","path":"/zz"}]`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := jsonForTest(t, tt.doc)
			before := string(MarshalJSON(doc))
			p, err := ParsePatchJSON([]byte(tt.patch))
			if err != nil {
				t.Fatalf("ParsePatchJSON: %v", err)
			}
			got, err := Apply(doc, p)
			if after := string(MarshalJSON(doc)); after != before {
				t.Fatalf("Apply modified its input: %s -> %s", before, after)
			}
			if tt.want == "" {
				if err == nil {
					t.Fatalf("Apply = %s, want error", MarshalJSON(got))
				}
				var pe *PatchError
				if !errors.Is(err, ErrPatch) || !errors.As(err, &pe) {
					t.Fatalf("error %v is not a *PatchError wrapping ErrPatch", err)
				}
				if pe.Index < 0 || pe.Index >= len(p) || pe.Path != p[pe.Index].Path || pe.Op != p[pe.Index].Op ||
					!strings.Contains(err.Error(), "operation "+strconv.Itoa(pe.Index)) {
					t.Fatalf("error %v does not name the failing operation", err)
				}
				if tt.name == "failing op after good ones" && pe.Index != 1 {
					t.Fatalf("Index = %d, want 1", pe.Index)
				}
				return
			}
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if want := jsonForTest(t, tt.want); !Equal(got, want) {
				t.Fatalf("Apply = %s, want %s", MarshalJSON(got), tt.want)
			}
		})
	}
}

func TestApplyCopyIsIndependent(t *testing.T) {
	doc := jsonForTest(t, `{"a":{"x":[1,{"y":2}]}}`)
	p, err := ParsePatchJSON([]byte(`[{"op":"add","path":"/a/z","value":0},{"op":"copy","from":"/a","path":"/b"},` +
		`{"op":"replace","path":"/a/x/1/y","value":3},{"op":"add","path":"/b/x/0","value":0}]`))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Apply(doc, p)
	if err != nil {
		t.Fatal(err)
	}
	want := jsonForTest(t, `{"a":{"x":[1,{"y":3}],"z":0},"b":{"x":[0,1,{"y":2}],"z":0}}`)
	if !Equal(got, want) {
		t.Fatalf("got %s", MarshalJSON(got))
	}
	if string(MarshalJSON(doc)) != `{"a":{"x":[1,{"y":2}]}}` {
		t.Fatalf("input modified: %s", MarshalJSON(doc))
	}
}

func TestApplyPatchValuesNotModified(t *testing.T) {
	val := jsonForTest(t, `{"k":[1]}`)
	p := Patch{{Op: OpAdd, Path: "/v", Value: val}, {Op: OpAdd, Path: "/v/k/-", Value: Number("2")}, {Op: OpAdd, Path: "/v/n", Value: nil}}
	got, err := Apply(&Object{}, p)
	if err != nil {
		t.Fatal(err)
	}
	if string(MarshalJSON(val)) != `{"k":[1]}` {
		t.Fatalf("patch value modified: %s", MarshalJSON(val))
	}
	if string(MarshalJSON(got)) != `{"v":{"k":[1,2],"n":null}}` {
		t.Fatalf("got %s", MarshalJSON(got))
	}
}

// TestApplySharedDocConcurrently checks that Apply only reads its input:
// run with -race, concurrent patches of one document must not conflict.
func TestApplySharedDocConcurrently(t *testing.T) {
	doc := benchChat(30)
	done := make(chan error, 4)
	for g := 0; g < 4; g++ {
		go func() {
			p := Patch{
				{Op: OpAdd, Path: "/messages/-", Value: chatMessage(100 + g)},
				{Op: OpReplace, Path: "/messages/" + strconv.Itoa(g) + "/content", Value: "changed"},
				{Op: OpRemove, Path: "/messages/10"},
				{Op: OpAdd, Path: "/g", Value: Number(strconv.Itoa(g))},
			}
			var err error
			for i := 0; i < 50 && err == nil; i++ {
				_, err = Apply(doc, p)
			}
			done <- err
		}()
	}
	for g := 0; g < 4; g++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if !Equal(doc, benchChat(30)) {
		t.Fatal("shared document was modified")
	}
}

func TestApplyCopyBudget(t *testing.T) {
	// Repeated root copies double the document; the budget stops them.
	doc := jsonForTest(t, `{"a":[1,2,3,4,5,6,7,8]}`)
	var p Patch
	for i := 0; i < 40; i++ {
		p = append(p, PatchOp{Op: OpCopy, From: "", Path: "/a/-"})
	}
	_, err := Apply(doc, p)
	if !errors.Is(err, ErrPatch) || !strings.Contains(err.Error(), "budget") {
		t.Fatalf("err = %v, want node budget error", err)
	}
	if _, err := ApplyWithOptions(doc, p[:3], ApplyOptions{MaxNodes: 20}); err == nil {
		t.Fatal("MaxNodes 20 not enforced")
	}
	if _, err := ApplyWithOptions(doc, p[:1], ApplyOptions{MaxNodes: 5}); err == nil {
		t.Fatal("MaxNodes below the document size not enforced")
	}
	if _, err := ApplyWithOptions(doc, p[:3], ApplyOptions{MaxNodes: 1000}); err != nil {
		t.Fatalf("MaxNodes 1000: %v", err)
	}
}

func TestDiffTable(t *testing.T) {
	long := `"` + strings.Repeat("x", 40) + `"`
	tests := []struct{ name, old, new, want string }{
		{"equal", `{"a":1}`, `{"a":1.0}`, `[]`},
		{"equal reordered", `{"a":1,"b":[1,{"c":null}]}`, `{"b":[1,{"c":null}],"a":1}`, `[]`},
		{"field change", `{"a":1,"b":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`, `{"a":2,"b":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`,
			`[{"op":"replace","path":"/a","value":2}]`},
		{"member add and remove", `{"keep":` + long + `,"gone":1}`, `{"keep":` + long + `,"new":2}`,
			`[{"op":"remove","path":"/gone"},{"op":"add","path":"/new","value":2}]`},
		{"append", `{"m":[` + long + `,` + long + `]}`, `{"m":[` + long + `,` + long + `,1,2]}`,
			`[{"op":"add","path":"/m/2","value":1},{"op":"add","path":"/m/3","value":2}]`},
		{"truncate", `[` + long + `,` + long + `,1,2]`, `[` + long + `,` + long + `]`,
			`[{"op":"remove","path":"/3"},{"op":"remove","path":"/2"}]`},
		{"insert middle", `[` + long + `,` + long + `]`, `[` + long + `,0,` + long + `]`,
			`[{"op":"add","path":"/1","value":0}]`},
		{"delete middle", `[` + long + `,0,` + long + `]`, `[` + long + `,` + long + `]`,
			`[{"op":"remove","path":"/1"}]`},
		{"nested element", `[` + long + `,{"a":1,"b":` + long + `}]`, `[` + long + `,{"a":2,"b":` + long + `}]`,
			`[{"op":"replace","path":"/1/a","value":2}]`},
		{"escaped keys", `{"a/b~c":1,"z":` + long + `}`, `{"a/b~c":2,"z":` + long + `}`,
			`[{"op":"replace","path":"/a~1b~0c","value":2}]`},
		{"type change", `{"a":[1],"z":` + long + `}`, `{"a":{"0":1},"z":` + long + `}`,
			`[{"op":"replace","path":"/a","value":{"0":1}}]`},
		{"scalar root", `1`, `"x"`, `[{"op":"replace","path":"","value":"x"}]`},
		{"small doc replaced whole", `{"a":1,"b":2}`, `{"c":3}`, `[{"op":"replace","path":"","value":{"c":3}}]`},
		{"big ints exact", `{"n":9007199254740993,"z":` + long + `}`, `{"n":9007199254740995,"z":` + long + `}`,
			`[{"op":"replace","path":"/n","value":9007199254740995}]`},
		{"null value", `{"n":1,"z":` + long + `}`, `{"n":null,"z":` + long + `}`, `[{"op":"replace","path":"/n","value":null}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old, new := jsonForTest(t, tt.old), jsonForTest(t, tt.new)
			p := Diff(old, new)
			if got := string(p.AppendJSON(nil)); got != tt.want {
				t.Fatalf("Diff =\n %s\nwant\n %s", got, tt.want)
			}
			checkDiff(t, old, new, p)
		})
	}
}

// checkDiff asserts the invariants every diff must satisfy.
func checkDiff(t testing.TB, old, new any, p Patch) {
	t.Helper()
	oldText, newText := string(MarshalJSON(old)), string(MarshalJSON(new))
	got, err := Apply(old, p)
	if err != nil {
		t.Fatalf("Apply(Diff) failed: %v\nold %s\nnew %s\npatch %s", err, oldText, newText, p.AppendJSON(nil))
	}
	if !Equal(got, new) {
		t.Fatalf("Apply(old, Diff(old,new)) != new\nold %s\nnew %s\npatch %s\ngot %s", oldText, newText, p.AppendJSON(nil), MarshalJSON(got))
	}
	if StateHash(got) != StateHash(new) {
		t.Fatalf("state hash differs after apply")
	}
	if Equal(old, new) != (len(p) == 0) {
		t.Fatalf("Equal(old,new)=%v but patch has %d ops", Equal(old, new), len(p))
	}
	js := p.AppendJSON(nil)
	if p.JSONLen() != len(js) {
		t.Fatalf("JSONLen %d != len(AppendJSON) %d", p.JSONLen(), len(js))
	}
	root := Patch{{Op: OpReplace, Path: "", Value: new}}
	if p.JSONLen() > root.JSONLen() {
		t.Fatalf("patch (%d bytes) longer than root replace (%d)\nold %s\nnew %s\npatch %s", p.JSONLen(), root.JSONLen(), oldText, newText, js)
	}
	if string(MarshalJSON(old)) != oldText || string(MarshalJSON(new)) != newText {
		t.Fatal("Diff or Apply modified an input")
	}
	if again := Diff(old, new).AppendJSON(nil); string(again) != string(js) {
		t.Fatalf("Diff not deterministic: %s vs %s", js, again)
	}
	back, err := ParsePatchJSON(js)
	if err != nil || string(back.AppendJSON(nil)) != string(js) {
		t.Fatalf("patch JSON round trip: %v", err)
	}
	fromProto, err := PatchFromProto(p.ToProto())
	if err != nil || string(fromProto.AppendJSON(nil)) != string(js) {
		t.Fatalf("proto round trip: %v", err)
	}
}

// ---- random documents ----

var randKeys = []string{"a", "b", "c", "messages", "", "a/b", "m~n", "~1", "é", "😀", "\uE000", "k" + "\x00"}

func randNumber(r *rand.Rand) Number {
	switch r.IntN(8) {
	case 0:
		return Number(strconv.Itoa(r.IntN(10)))
	case 1:
		return Number(strconv.Itoa(r.IntN(2000000) - 1000000))
	case 2:
		return []Number{"9007199254740993", "-9007199254740993", "18446744073709551617", "123456789012345678901234567890"}[r.IntN(4)]
	case 3:
		return []Number{"-0", "0.0", "1E2", "1e400", "2.5e-8", "1.0", "10e-1"}[r.IntN(7)]
	default:
		return Number(strconv.FormatFloat(r.NormFloat64()*1000, 'g', -1, 64))
	}
}

func randString(r *rand.Rand) string {
	pool := []string{"", "x", "hello", "a/b", "~", "\"quoted\"", "line\nbreak", "é中😀", "\u2028", "<&>",
		string(appendSurrogate(nil, 0xD800)), "\x01", strings.Repeat("long ", 10)}
	return pool[r.IntN(len(pool))]
}

func randValue(r *rand.Rand, depth int) any {
	k := r.IntN(10)
	if depth <= 0 && k >= 7 {
		k = r.IntN(7)
	}
	switch k {
	case 0:
		return nil
	case 1:
		return r.IntN(2) == 0
	case 2, 3:
		return randNumber(r)
	case 4, 5, 6:
		return randString(r)
	case 7:
		n := r.IntN(6)
		a := make([]any, n)
		for i := range a {
			a[i] = randValue(r, depth-1)
		}
		return a
	default:
		n := r.IntN(6)
		o := NewObject(n)
		for i := 0; i < n; i++ {
			o.Set(randKeys[r.IntN(len(randKeys))], randValue(r, depth-1))
		}
		return o
	}
}

// mutate returns a changed copy of v (v itself is left alone).
func mutate(r *rand.Rand, v any, depth int) any {
	switch t := v.(type) {
	case []any:
		a := append([]any(nil), t...)
		if len(a) > 0 && r.IntN(3) > 0 {
			i := r.IntN(len(a))
			a[i] = mutate(r, a[i], depth-1)
			return a
		}
		switch r.IntN(6) {
		case 0: // append
			for n := r.IntN(3) + 1; n > 0; n-- {
				a = append(a, randValue(r, depth-1))
			}
		case 1: // truncate
			a = a[:r.IntN(len(a)+1)]
		case 2: // insert
			i := r.IntN(len(a) + 1)
			a = append(a[:i], append([]any{randValue(r, depth-1)}, a[i:]...)...)
		case 3: // delete
			if len(a) > 0 {
				i := r.IntN(len(a))
				a = append(a[:i], a[i+1:]...)
			}
		case 4: // type change
			return randValue(r, depth)
		default: // reverse
			for i, j := 0, len(a)-1; i < j; i, j = i+1, j-1 {
				a[i], a[j] = a[j], a[i]
			}
		}
		return a
	case *Object:
		o := t.shallowCopy(1)
		if o.Len() > 0 && r.IntN(3) > 0 {
			i := r.IntN(o.Len())
			o.vals[i] = mutate(r, o.vals[i], depth-1)
			return o
		}
		switch r.IntN(4) {
		case 0:
			o.Set(randKeys[r.IntN(len(randKeys))], randValue(r, depth-1))
		case 1:
			if o.Len() > 0 {
				o.Delete(o.Key(r.IntN(o.Len())))
			}
		case 2:
			return randValue(r, depth)
		default: // reorder members: equal value
			n := NewObject(o.Len())
			for i := o.Len() - 1; i >= 0; i-- {
				n.Set(o.Key(i), o.Value(i))
			}
			return n
		}
		return o
	default:
		if r.IntN(4) == 0 {
			return randValue(r, depth)
		}
		return randValue(r, 0)
	}
}

// randState is a larger, state-like document (big enough that most diffs
// beat a root replace), so mutations exercise nested operations.
func randState(r *rand.Rand) any {
	st := NewObject(7)
	st.Set("system_prompt", strings.Repeat("You are a helpful agent. ", 8))
	msgs := make([]any, 5+r.IntN(20))
	for i := range msgs {
		m := NewObject(3)
		m.Set("role", randString(r))
		m.Set("content", "message "+strconv.Itoa(i)+" "+randString(r))
		m.Set("extra", randValue(r, 2))
		msgs[i] = m
	}
	st.Set("messages", msgs)
	for n := r.IntN(5); n > 0; n-- {
		st.Set(randKeys[r.IntN(len(randKeys))], randValue(r, 3))
	}
	return st
}

func TestDiffApplyProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const pairs = 12000
	var ops, rootOps, empty, statePairs int
	for i := 0; i < pairs; i++ {
		var old, new any
		switch i % 5 {
		case 4: // unrelated documents
			old, new = randValue(r, 4), randValue(r, 4)
		case 3: // small related documents
			old = randValue(r, 5)
			new = old
			for n := r.IntN(3) + 1; n > 0; n-- {
				new = mutate(r, new, 5)
			}
		default: // state-like related documents
			statePairs++
			old = randState(r)
			o := old.(*Object).shallowCopy(1)
			for n := r.IntN(4) + 1; n > 0; n-- {
				switch i := r.IntN(o.Len() + 2); {
				case i < o.Len():
					o.vals[i] = mutate(r, o.vals[i], 6)
				case i == o.Len():
					o.Set(randKeys[r.IntN(len(randKeys))], randValue(r, 3))
				case o.Len() > 0:
					o.Delete(o.Key(r.IntN(o.Len())))
				}
			}
			new = o
		}
		p := Diff(old, new)
		checkDiff(t, old, new, p)
		if i%5 < 3 {
			ops += len(p)
			for _, op := range p {
				if op.Path == "" {
					rootOps++
				}
			}
			if len(p) == 0 {
				empty++
			}
		}
	}
	// Guard the generator itself: state-like pairs must mostly give nested
	// edits, not root replaces or no change.
	if rootOps*5 > statePairs || empty*5 > statePairs || ops < statePairs {
		t.Fatalf("weak generator: %d state pairs: %d ops, %d root replaces, %d empty diffs", statePairs, ops, rootOps, empty)
	}
	t.Logf("%d state-like pairs: %d ops, %d root replaces, %d empty", statePairs, ops, rootOps, empty)
}

func TestPatchProto(t *testing.T) {
	p := Patch{
		{Op: OpAdd, Path: "/a", Value: nil},
		{Op: OpReplace, Path: "/b", Value: jsonForTest(t, `{"x":[1,"y"]}`)},
		{Op: OpRemove, Path: "/c"},
		{Op: OpMove, From: "/d", Path: "/e"},
		{Op: OpCopy, From: "/e", Path: "/f"},
		{Op: OpTest, Path: "/f", Value: Number("1.50")},
	}
	ops := p.ToProto()
	if len(ops) != len(p) {
		t.Fatalf("%d ops", len(ops))
	}
	if string(ops[0].GetValue()) != "null" || string(ops[1].GetValue()) != `{"x":[1,"y"]}` || ops[2].GetValue() != nil ||
		ops[3].GetValue() != nil || ops[3].GetFrom() != "/d" || string(ops[5].GetValue()) != "1.50" {
		t.Fatalf("unexpected proto ops: %v", ops)
	}
	// Values share one buffer; appending to one must not clobber the next.
	_ = append(ops[0].Value, 'x')
	if string(ops[1].GetValue()) != `{"x":[1,"y"]}` {
		t.Fatal("proto values alias each other")
	}
	back, err := PatchFromProto(ops)
	if err != nil {
		t.Fatal(err)
	}
	if string(back.AppendJSON(nil)) != string(p.AppendJSON(nil)) {
		t.Fatalf("round trip: %s", back.AppendJSON(nil))
	}

	bad := []func(){
		func() { ops[1].Encoding = dashstreampb.DiffOperation_VALUE_ENCODING_MSGPACK.Enum() },
		func() { ops[1].Value = []byte("{") },
		func() { ops[1].Value = nil },
		func() { ops[1].Op = dashstreampb.DiffOperation_OpType(9).Enum() },
	}
	for i, spoil := range bad {
		ops = p.ToProto()
		spoil()
		if _, err := PatchFromProto(ops); !errors.Is(err, ErrPatch) {
			t.Errorf("case %d: err = %v, want ErrPatch", i, err)
		}
	}
	if _, err := PatchFromProto([]*dashstreampb.DiffOperation{nil}); !errors.Is(err, ErrPatch) {
		t.Errorf("nil op: %v", err)
	}
}

func TestParsePatchJSONErrors(t *testing.T) {
	for _, in := range []string{`{}`, `[1]`, `[{"path":"/a"}]`, `[{"op":"jump","path":"/a"}]`, `[{"op":"add"}]`,
		`[{"op":"add","path":"/a"}]`, `[{"op":"move","path":"/a"}]`, `[{"op":"remove","path":1}]`, `[`} {
		if _, err := ParsePatchJSON([]byte(in)); !errors.Is(err, ErrPatch) {
			t.Errorf("ParsePatchJSON(%s) = %v, want ErrPatch", in, err)
		}
	}
}

func TestUseFullState(t *testing.T) {
	tests := []struct {
		patch, state int
		want         bool
	}{{110, 100, false}, {111, 100, true}, {0, 0, false}, {1, 0, true}, {50, 100, false}}
	for _, tt := range tests {
		if got := UseFullState(tt.patch, tt.state); got != tt.want {
			t.Errorf("UseFullState(%d, %d) = %v", tt.patch, tt.state, got)
		}
	}
}

// ---- benchmarks ----

// benchChat is a state with n chat messages, about 80 bytes each.
func benchChat(n int) *Object {
	st := NewObject(4)
	msgs := make([]any, n)
	for i := range msgs {
		msgs[i] = chatMessage(i)
	}
	st.Set("messages", msgs)
	st.Set("step", Number("3"))
	st.Set("next", "agent")
	return st
}

func chatMessage(i int) *Object {
	m := NewObject(3)
	m.Set("role", []string{"user", "assistant"}[i%2])
	m.Set("content", "turn "+strconv.Itoa(i)+" lorem ipsum dolor sit amet")
	m.Set("id", Number(strconv.Itoa(100000+i)))
	return m
}

func BenchmarkDiff4KiBOneField(b *testing.B) {
	old := benchState(4 << 10)
	new := old.shallowCopy(0)
	new.Set("counter", Number("8"))
	b.SetBytes(int64(len(MarshalJSON(old))))
	runJSONBench(b, func() {
		if p := Diff(old, new); len(p) != 1 {
			b.Fatal(len(p))
		}
	})
}

func BenchmarkDiff4KiBAppendMessage(b *testing.B) {
	old := benchChat(50)
	new := Clone(old).(*Object)
	msgs, _ := new.Get("messages")
	new.Set("messages", append(msgs.([]any), chatMessage(50)))
	b.SetBytes(int64(len(MarshalJSON(old))))
	runJSONBench(b, func() {
		if p := Diff(old, new); len(p) != 1 {
			b.Fatal(len(p))
		}
	})
}

// BenchmarkDiffHashEncode4KiB is the per-snapshot work of the exporter on a
// 4 KiB state: diff, state hash, full-state decision and wire operations.
func BenchmarkDiffHashEncode4KiB(b *testing.B) {
	old := benchChat(50)
	new := Clone(old).(*Object)
	msgs, _ := new.Get("messages")
	new.Set("messages", append(msgs.([]any), chatMessage(50)))
	b.SetBytes(int64(len(MarshalJSON(old))))
	runJSONBench(b, func() {
		p := Diff(old, new)
		_ = StateHash(new)
		if UseFullState(p.JSONLen(), jsonLen(new, -1)) {
			b.Fatal("full state")
		}
		_ = p.ToProto()
	})
}

func BenchmarkApply4KiBAppendMessage(b *testing.B) {
	old := benchChat(50)
	new := Clone(old).(*Object)
	msgs, _ := new.Get("messages")
	new.Set("messages", append(msgs.([]any), chatMessage(50)))
	p := Diff(old, new)
	runJSONBench(b, func() {
		if _, err := Apply(old, p); err != nil {
			b.Fatal(err)
		}
	})
}

func FuzzApplyPatch(f *testing.F) {
	f.Add([]byte(`{"foo":["bar","baz"],"x":{"y":1}}`), []byte(`[{"op":"add","path":"/foo/1","value":"qux"},{"op":"remove","path":"/x/y"}]`))
	f.Add([]byte(`{"a":[1]}`), []byte(`[{"op":"copy","from":"","path":"/a/-"},{"op":"copy","from":"","path":"/a/-"}]`))
	f.Add([]byte(`{"a":{"b":1}}`), []byte(`[{"op":"move","from":"/a","path":"/c"},{"op":"test","path":"/c/b","value":1.0}]`))
	f.Add([]byte(`[1,2,3]`), []byte(`[{"op":"replace","path":"/-","value":0},{"op":"add","path":"","value":null}]`))
	f.Fuzz(func(t *testing.T, docText, patchText []byte) {
		doc, err := ParseJSON(docText)
		if err != nil {
			return
		}
		p, err := ParsePatchJSON(patchText)
		if err != nil {
			if !errors.Is(err, ErrPatch) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		before := string(MarshalJSON(doc))
		patchBefore := string(p.AppendJSON(nil))
		got, err := Apply(doc, p)
		if string(MarshalJSON(doc)) != before || string(p.AppendJSON(nil)) != patchBefore {
			t.Fatal("Apply modified the document or the patch")
		}
		if err != nil {
			if !errors.Is(err, ErrPatch) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		// The budget keeps results within a small multiple of the input.
		if n := countNodes(got, -1); n > 2*(countNodes(doc, -1)+len(patchText))+minCopyBudget {
			t.Fatalf("result has %d nodes", n)
		}
		if _, err := ParseJSON(MarshalJSON(got)); err != nil {
			t.Fatalf("result does not reparse: %v", err)
		}
	})
}

func FuzzDiff(f *testing.F) {
	f.Add([]byte(`{"a":1,"m":[1,2,3],"s":"x"}`), []byte(`{"a":2,"m":[1,2,3,4],"t":null}`))
	f.Add([]byte(`[{"a":[1]},{"b":2}]`), []byte(`[{"b":2}]`))
	f.Add([]byte(`{"a/b":{"~":9007199254740993}}`), []byte(`{"a/b":{"~":9007199254740995}}`))
	f.Add([]byte(`1`), []byte(`{"x":"\ud800"}`))
	f.Fuzz(func(t *testing.T, oldText, newText []byte) {
		old, err1 := ParseJSON(oldText)
		new, err2 := ParseJSON(newText)
		if err1 != nil || err2 != nil {
			return
		}
		checkDiff(t, old, new, Diff(old, new))
	})
}
