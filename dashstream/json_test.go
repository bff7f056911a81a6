package dashstream

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
)

func TestParseJSONAccept(t *testing.T) {
	hiSur := string(appendSurrogate(nil, 0xD800))
	loSur := string(appendSurrogate(nil, 0xDC00))
	tests := []struct {
		name, in string
		want     any
		out      string // AppendJSON of the result
	}{
		{"null", `null`, nil, `null`},
		{"true", ` true `, true, `true`},
		{"false", "\t\r\nfalse\n", false, `false`},
		{"zero", `0`, Number("0"), `0`},
		{"negzero", `-0`, Number("-0"), `-0`},
		{"exp", `1E2`, Number("1E2"), `1E2`},
		{"frac exp", `-12.50e-003`, Number("-12.50e-003"), `-12.50e-003`},
		{"big int kept", `18446744073709551617`, Number("18446744073709551617"), `18446744073709551617`},
		{"string", `"abc"`, "abc", `"abc"`},
		{"escapes", `"\"\\\/\b\f\n\r\t"`, "\"\\/\b\f\n\r\t", `"\"\\/\b\f\n\r\t"`},
		{"unicode escape", `"\u00e9\u2603"`, "é☃", `"é☃"`},
		{"pair", `"\ud83d\ude00"`, "😀", `"😀"`},
		{"pair upper hex", `"\uD83D\uDE00"`, "😀", `"😀"`},
		{"lone high", `"\ud800"`, hiSur, `"\ud800"`},
		{"lone low", `"\udc00"`, loSur, `"\udc00"`},
		{"reversed pair", `"\udc00\ud800"`, loSur + hiSur, `"\udc00\ud800"`},
		{"high then non-low escape", `"\ud800\u0041"`, hiSur + "A", `"\ud800A"`},
		{"high high low", `"\ud83d\ud83d\ude00"`, string(appendSurrogate(nil, 0xD83D)) + "😀", `"\ud83d😀"`},
		{"nul escape", `"a\u0000b"`, "a\x00b", `"a\u0000b"`},
		{"control out", `"\u001f\u007f"`, "\x1f\x7f", "\"\\u001f\x7f\""},
		{"html and separators kept", `"<>&\u2028\u2029"`, "<>&\u2028\u2029", "\"<>&\u2028\u2029\""},
		{"invalid utf8", "\"a\xffb\"", "a\uFFFDb", "\"a\uFFFDb\""},
		{"raw surrogate bytes", "\"\xed\xa0\x80\"", "\uFFFD\uFFFD\uFFFD", "\"\uFFFD\uFFFD\uFFFD\""},
		{"raw non-ascii", `"café 中文 😀"`, "café 中文 😀", `"café 中文 😀"`},
		{"empty containers", `[ {}, [ ] ]`, []any{&Object{}, []any{}}, `[{},[]]`},
		{"object order kept", `{"b":1,"a":2}`, obj("b", Number("1"), "a", Number("2")), `{"b":1,"a":2}`},
		{"duplicate keys", `{"a":1,"b":2,"a":3}`, obj("a", Number("3"), "b", Number("2")), `{"a":3,"b":2}`},
		{"nested", `{"a":[1,{"b":null}]}`, obj("a", []any{Number("1"), obj("b", nil)}), `{"a":[1,{"b":null}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := ParseJSON([]byte(tt.in))
			if err != nil {
				t.Fatalf("ParseJSON(%q): %v", tt.in, err)
			}
			if !Equal(v, tt.want) || !sameText(v, tt.want) {
				t.Fatalf("ParseJSON(%q) = %s, want %s", tt.in, MarshalJSON(v), MarshalJSON(tt.want))
			}
			if s, ok := v.(string); ok && s != tt.want.(string) {
				t.Fatalf("string bytes %+q, want %+q", s, tt.want)
			}
			out := MarshalJSON(v)
			if string(out) != tt.out {
				t.Fatalf("MarshalJSON = %s, want %s", out, tt.out)
			}
			if n := jsonLen(v, -1); n != len(out) {
				t.Errorf("jsonLen = %d, want %d", n, len(out))
			}
			back, err := ParseJSON(out)
			if err != nil || !Equal(back, v) {
				t.Fatalf("round trip of %s: %v", out, err)
			}
		})
	}
}

// sameText compares the exact written form (Equal ignores number spelling).
func sameText(a, b any) bool { return string(MarshalJSON(a)) == string(MarshalJSON(b)) }

func obj(kv ...any) *Object {
	o := NewObject(len(kv) / 2)
	for i := 0; i < len(kv); i += 2 {
		o.Set(kv[i].(string), kv[i+1])
	}
	return o
}

func TestParseJSONReject(t *testing.T) {
	tests := []struct {
		name, in string
		offset   int
	}{
		{"empty", ``, 0},
		{"space only", `   `, 3},
		{"leading zero", `01`, 1},
		{"leading zero neg", `-01`, 2},
		{"plus", `+1`, 0},
		{"dot start", `.5`, 0},
		{"dot end", `1.`, 2},
		{"exp no digits", `1e`, 2},
		{"exp sign only", `1e+`, 3},
		{"minus only", `-`, 1},
		{"hex", `0x10`, 1},
		{"nan", `NaN`, 0},
		{"infinity", `Infinity`, 0},
		{"trailing garbage", `{} x`, 3},
		{"two values", `1 2`, 2},
		{"trailing comma array", `[1,]`, 3},
		{"trailing comma object", `{"a":1,}`, 7},
		{"missing colon", `{"a" 1}`, 5},
		{"single quotes", `{'a':1}`, 1},
		{"unquoted key", `{a:1}`, 1},
		{"unterminated string", `"abc`, 4},
		{"raw newline in string", "\"a\nb\"", 2},
		{"raw tab in string", "\"a\tb\"", 2},
		{"bad escape", `"\x"`, 1},
		{"short unicode escape", `"\u12"`, 1},
		{"bad hex", `"\u12g4"`, 1},
		{"truncated literal", `tru`, 0},
		{"wrong literal", `nul1`, 0},
		{"capital literal", `True`, 0},
		{"unclosed array", `[1,2`, 4},
		{"unclosed object", `{"a":1`, 6},
		{"comment", `// x` + "\n1", 0},
		{"bom", "\uFEFF1", 0},
		{"nul byte after", "1\x00", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := ParseJSON([]byte(tt.in))
			if err == nil {
				t.Fatalf("ParseJSON(%q) = %s, want error", tt.in, MarshalJSON(v))
			}
			if !errors.Is(err, ErrInvalidJSON) {
				t.Fatalf("error %v does not wrap ErrInvalidJSON", err)
			}
			var se *JSONSyntaxError
			if !errors.As(err, &se) || se.Offset != tt.offset {
				t.Fatalf("error %v: offset want %d", err, tt.offset)
			}
		})
	}
}

func TestParseJSONLimits(t *testing.T) {
	deep := strings.Repeat("[", 100000) + strings.Repeat("]", 100000)
	if _, err := ParseJSON([]byte(deep)); !errors.Is(err, ErrJSONTooDeep) {
		t.Fatalf("100000-deep array: %v, want ErrJSONTooDeep", err)
	}
	deepObj := strings.Repeat(`{"a":`, 100000) + "1" + strings.Repeat("}", 100000)
	if _, err := ParseJSON([]byte(deepObj)); !errors.Is(err, ErrJSONTooDeep) {
		t.Fatalf("100000-deep object: %v, want ErrJSONTooDeep", err)
	}
	ok1000 := strings.Repeat("[", 1000) + strings.Repeat("]", 1000)
	if _, err := ParseJSON([]byte(ok1000)); err != nil {
		t.Fatalf("1000-deep: %v", err)
	}
	if _, err := ParseJSON([]byte("[" + ok1000 + "]")); !errors.Is(err, ErrJSONTooDeep) {
		t.Fatalf("1001-deep: %v, want ErrJSONTooDeep", err)
	}
	if _, err := ParseJSONOptions([]byte(`[[1]]`), ParseOptions{MaxDepth: 1}); !errors.Is(err, ErrJSONTooDeep) {
		t.Fatalf("MaxDepth 1: %v", err)
	}
	if _, err := ParseJSONOptions([]byte(`[[1]]`), ParseOptions{MaxDepth: 2}); err != nil {
		t.Fatalf("MaxDepth 2: %v", err)
	}
	if _, err := ParseJSONOptions([]byte(`"12345"`), ParseOptions{MaxBytes: 6}); !errors.Is(err, ErrJSONTooLarge) {
		t.Fatalf("MaxBytes: %v, want ErrJSONTooLarge", err)
	}
	if _, err := ParseJSONOptions([]byte(`"1234"`), ParseOptions{MaxBytes: 6}); err != nil {
		t.Fatalf("MaxBytes exact: %v", err)
	}
}

func TestAppendJSONEscaping(t *testing.T) {
	hi := string(appendSurrogate(nil, 0xD83D))
	lo := string(appendSurrogate(nil, 0xDE00))
	tests := []struct {
		in   any
		want string
	}{
		{"\x00\x01\x08\x09\x0a\x0b\x0c\x0d\x1f", `"\u0000\u0001\b\t\n\u000b\f\r\u001f"`},
		{`a"b\c/d`, `"a\"b\\c/d"`},
		{hi + lo, `"😀"`}, // two WTF-8 halves form one character
		{lo + hi, `"\ude00\ud83d"`},
		{"\xff\xfe", "\"\uFFFD\uFFFD\""},
		{Number("1.50"), `1.50`},
		{Number("bogus"), `null`},
		{Number(""), `null`},
		{(*Object)(nil), `null`},
		{struct{}{}, `null`},
		{[]any{nil, true, false, "x", Number("-1")}, `[null,true,false,"x",-1]`},
	}
	for _, tt := range tests {
		got := string(MarshalJSON(tt.in))
		if got != tt.want {
			t.Errorf("MarshalJSON(%#v) = %s, want %s", tt.in, got, tt.want)
		}
		if n := jsonLen(tt.in, -1); n != len(got) {
			t.Errorf("jsonLen(%#v) = %d, want %d", tt.in, n, len(got))
		}
	}
}

func TestObjectMethods(t *testing.T) {
	for _, n := range []int{3, smallObject, smallObject + 1, 40} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			o := NewObject(0)
			for i := 0; i < n; i++ {
				o.Set("k"+strconv.Itoa(i), Number(strconv.Itoa(i)))
			}
			if o.Len() != n {
				t.Fatalf("Len = %d", o.Len())
			}
			o.Set("k1", "replaced")
			if v, ok := o.Get("k1"); !ok || v != "replaced" || o.Key(1) != "k1" || o.Value(1) != "replaced" {
				t.Fatalf("Set in place failed: %v %v", v, ok)
			}
			if _, ok := o.Get("missing"); ok {
				t.Fatal("Get(missing) reported present")
			}
			if !o.Delete("k0") || o.Delete("k0") {
				t.Fatal("Delete(k0) wrong result")
			}
			if o.Len() != n-1 || o.Key(0) != "k1" {
				t.Fatalf("after delete: len %d first %q", o.Len(), o.Key(0))
			}
			for i := 1; i < n; i++ {
				k := "k" + strconv.Itoa(i)
				v, ok := o.Get(k)
				if !ok || o.Key(i-1) != k || o.Value(i-1) != v {
					t.Fatalf("member %s lost after delete", k)
				}
			}
			o.Set("new", nil)
			if v, ok := o.Get("new"); !ok || v != nil || o.Key(o.Len()-1) != "new" {
				t.Fatal("append after delete failed")
			}
			c := Clone(o).(*Object)
			c.Set("k1", "changed")
			if v, _ := o.Get("k1"); v != "replaced" {
				t.Fatal("Clone shares members with the original")
			}
		})
	}
	var z Object
	z.Set("a", true)
	if v, ok := z.Get("a"); !ok || v != true {
		t.Fatal("zero Object unusable")
	}
}

func TestEqual(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{`1`, `1.0`, true}, {`1`, `1e0`, true}, {`100`, `1E2`, true}, {`0.5`, `5e-1`, true},
		{`-0`, `0`, true}, {`0e10`, `-0.000`, true}, {`1`, `-1`, false}, {`1`, `2`, false},
		{`9007199254740993`, `9007199254740992`, false}, {`12.3400`, `1234e-2`, true},
		{`1e999999999999999999999`, `10e999999999999999999998`, true},
		{`1e999999999999999999999`, `1e999999999999999999998`, false},
		{`1e1000000000000000`, `10e999999999999999`, true},
		{`{"a":1,"b":[1,2]}`, `{"b":[1,2],"a":1.0}`, true}, {`{"a":1}`, `{"a":1,"b":2}`, false},
		{`{"a":1}`, `{"b":1}`, false}, {`[1,2]`, `[2,1]`, false}, {`"1"`, `1`, false},
		{`null`, `false`, false}, {`[]`, `{}`, false}, {`{}`, `{}`, true}, {`"a"`, `"a"`, true},
	}
	for _, tt := range tests {
		a, err1 := ParseJSON([]byte(tt.a))
		b, err2 := ParseJSON([]byte(tt.b))
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if got := Equal(a, b); got != tt.want {
			t.Errorf("Equal(%s, %s) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
		if got := Equal(b, a); got != tt.want {
			t.Errorf("Equal(%s, %s) = %v, want %v", tt.b, tt.a, got, tt.want)
		}
	}
}

func BenchmarkParseJSON4KiB(b *testing.B) {
	data := MarshalJSON(benchState(4 << 10))
	b.SetBytes(int64(len(data)))
	runJSONBench(b, func() {
		if _, err := ParseJSON(data); err != nil {
			b.Fatal(err)
		}
	})
}

func BenchmarkMarshalJSON4KiB(b *testing.B) {
	v := benchState(4 << 10)
	buf := make([]byte, 0, 8<<10)
	b.SetBytes(int64(len(MarshalJSON(v))))
	runJSONBench(b, func() { buf = AppendJSON(buf[:0], v) })
}

func TestPlainLen(t *testing.T) {
	base := []byte("abcdefghijklmnopqrstuvwx")
	for pos := 0; pos < len(base); pos++ {
		for c := 0; c < 256; c++ {
			s := append([]byte(nil), base...)
			s[pos] = byte(c)
			want := len(s)
			if !plainASCII[c] {
				want = pos
			}
			if got := plainLen(string(s)); got != want {
				t.Fatalf("plainLen with %#x at %d = %d, want %d", c, pos, got, want)
			}
		}
	}
}

func FuzzParseJSON(f *testing.F) {
	for _, s := range []string{`{"a":[1,2.5e3,-0,"x\u00e9\ud800"],"b":{"c":null,"c":true}}`, `[]`, `"\udc00\ud83d\ude00"`,
		`{"":{"":[[[]]]}}`, "\"\xff\"", `1E400`, `[1,]`, `{"a" 1}`, `01`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := ParseJSON(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidJSON) && !errors.Is(err, ErrJSONTooDeep) {
				t.Fatalf("untyped error %v", err)
			}
			if errors.Is(err, ErrInvalidJSON) && json.Valid(data) {
				t.Fatalf("rejected JSON that encoding/json accepts: %v", err)
			}
			return
		}
		if !json.Valid(data) {
			t.Fatalf("accepted JSON that encoding/json rejects: %q", data)
		}
		out := MarshalJSON(v)
		if n := jsonLen(v, -1); n != len(out) {
			t.Fatalf("jsonLen %d != %d", n, len(out))
		}
		v2, err := ParseJSON(out)
		if err != nil {
			t.Fatalf("output %q does not reparse: %v", out, err)
		}
		if !Equal(v, v2) || string(MarshalJSON(v2)) != string(out) {
			t.Fatalf("round trip changed the value: %q -> %q", out, MarshalJSON(v2))
		}
		canon := CanonicalJSON(v)
		c2, err := ParseJSON(canon)
		if err != nil {
			t.Fatalf("canonical %q does not parse: %v", canon, err)
		}
		if string(CanonicalJSON(c2)) != string(canon) {
			t.Fatalf("canonical form not a fixed point: %q", canon)
		}
		_ = StateHash(v)
		_ = UISkipsVerification(v)
	})
}
