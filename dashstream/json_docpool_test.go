package dashstream

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// classCapacity is the capacity of canonical buffer class c.
func classCapacity(c int) int {
	if c == 0 {
		return 1 << canonMinBits
	}
	base := 1 << (canonMinBits + (c-1)/canonSub)
	return base + ((c-1)%canonSub+1)*(base/canonSub)
}

// TestCanonClasses: a text's class capacity holds it with at most an
// eighth to spare; a buffer goes back to the largest class it can serve,
// which for a new buffer is the class it was made for.
func TestCanonClasses(t *testing.T) {
	for n := 1; n <= 1<<22; n += 1 + n/97 {
		c, capacity := canonClass(n)
		if c < 0 || capacity != classCapacity(c) || capacity < n || (n > 64 && capacity-n > n/8+1) {
			t.Fatalf("canonClass(%d) = %d, capacity %d", n, c, capacity)
		}
		if back := canonClassOf(capacity); back != c {
			t.Fatalf("a new buffer for %d bytes (class %d, capacity %d) goes back to class %d", n, c, capacity, back)
		}
		for _, spare := range []int{1, n / 16, n / 3} {
			got := canonClassOf(capacity + spare)
			if got < c || classCapacity(got) > capacity+spare || classCapacity(got+1) <= capacity+spare {
				t.Fatalf("capacity %d goes back to class %d (capacity %d), not the largest it serves",
					capacity+spare, got, classCapacity(got))
			}
		}
	}
	if c := canonClassOf(63); c != -1 {
		t.Fatalf("a 63-byte buffer goes to class %d", c)
	}
	if c, capacity := canonClass(1 << 33); c != -1 || capacity != 1<<33 {
		t.Fatalf("beyond the classes: class %d, capacity %d", c, capacity)
	}
}

// TestStateDocPoolRecyclesDocuments: along a chain of appended snapshots
// built and retired one after another, every build after the first few
// takes a retired document and the rebuilt containers (root object and
// message list) of a retired one, and each equals a fresh build.
func TestStateDocPoolRecyclesDocuments(t *testing.T) {
	var pool StateDocPool
	msgs := `{"role":"user","content":"` + strings.Repeat("hello ", 100) + `"}`
	var prev *StateDoc
	seen := map[*StateDoc]bool{}
	seenC := map[*docContainer]bool{}
	docsReused, containersReused := 0, 0
	for i := 0; i < 40; i++ {
		msgs += fmt.Sprintf(`,{"role":"assistant","node":"n%d","content":"reply %d"}`, i, i)
		raw := `{"context":"c","messages":[` + msgs + `],"step":` + fmt.Sprint(i) + `}`
		doc, err := pool.Build(raw, prev, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		if seen[doc] {
			docsReused++
		}
		if doc.root.c == nil || doc.root.c.kids[1].c == nil {
			t.Fatalf("step %d: the state is not indexed (raise its size)", i)
		}
		for _, c := range []*docContainer{doc.root.c, doc.root.c.kids[1].c} {
			if seenC[c] {
				containersReused++
			}
			seenC[c] = true
		}
		seen[doc] = true
		fresh, err := BuildStateDoc(raw, nil, nil, 0)
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
		pool.Retire(prev, doc)
		prev = doc
	}
	// sync.Pool may drop entries (a GC between builds): most, not all.
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop entries")
	}
	if docsReused < 30 || containersReused < 60 {
		t.Fatalf("reused %d retired documents and %d containers in 40 builds", docsReused, containersReused)
	}
}

// TestParserBoxesShortStringsOnce: a document builder's parser boxes a
// short string value once and hands out the same boxed value for it after
// (copied out of the text it came from), leaves long ones alone, and
// bounds what it keeps.
func TestParserBoxesShortStringsOnce(t *testing.T) {
	text := `["assistant","assistant","` + strings.Repeat("x", maxBoxedLen+1) + `"]`
	p := parser{s: text, maxDepth: 8, boxed: map[string]any{}}
	v, err := p.value()
	if err != nil {
		t.Fatal(err)
	}
	arr := v.([]any)
	if arr[0] != "assistant" || arr[1] != "assistant" || len(arr[2].(string)) != maxBoxedLen+1 {
		t.Fatalf("parsed %v", arr)
	}
	if len(p.boxed) != 1 || p.boxed["assistant"] != "assistant" {
		t.Fatalf("kept %v", p.boxed)
	}
	for i := range maxBoxed + 10 {
		p.box(fmt.Sprint(i))
	}
	if len(p.boxed) > maxBoxed {
		t.Fatalf("kept %d boxed strings, bound %d", len(p.boxed), maxBoxed)
	}
	if got := testing.AllocsPerRun(100, func() { _ = p.box("9") }); got != 0 {
		t.Fatalf("boxing a kept string allocates %v times", got)
	}
}

// kidsCapacity is the capacity of member list class c.
func kidsCapacity(c int) int {
	if c < kidsExact {
		return c + 1
	}
	base := 1 << ((c-kidsExact)/kidsExact + 3)
	return base + ((c-kidsExact)%kidsExact+1)*(base/kidsExact)
}

// TestKidsClasses: a member list's class capacity holds it (exactly up to
// eight members, else with at most an eighth to spare), and a list goes
// back to the largest class it serves.
func TestKidsClasses(t *testing.T) {
	for n := 1; n <= 1<<22; n += 1 + n/97 {
		c, capacity := kidsClass(n)
		if c < 0 || capacity != kidsCapacity(c) || capacity < n || (n <= kidsExact && capacity != n) || (n > kidsExact && capacity-n > n/8+1) {
			t.Fatalf("kidsClass(%d) = %d, capacity %d", n, c, capacity)
		}
		if back := kidsClassOf(capacity); back != c {
			t.Fatalf("a new list for %d members (class %d, capacity %d) goes back to class %d", n, c, capacity, back)
		}
		for _, spare := range []int{1, n / 16, n / 3} {
			got := kidsClassOf(capacity + spare)
			if got < c || kidsCapacity(got) > capacity+spare || kidsCapacity(got+1) <= capacity+spare {
				t.Fatalf("capacity %d goes back to class %d (capacity %d), not the largest it serves",
					capacity+spare, got, kidsCapacity(got))
			}
		}
	}
	if c := kidsClassOf(0); c != -1 {
		t.Fatalf("an empty list goes to class %d", c)
	}
}
