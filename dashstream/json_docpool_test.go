package dashstream

import (
	"bytes"
	"fmt"
	"runtime/debug"
	"strings"
	"testing"
	"unsafe"
)

// TestCanonClasses: a text's class capacity holds it with at most an
// eighth to spare; a buffer goes back to the largest class it can serve,
// which for a new buffer is the class it was made for.
func TestCanonClasses(t *testing.T) {
	for n := 1; n <= 1<<22; n += 1 + n/97 {
		c, capacity := canonClass(n)
		if c < 0 || capacity != canonCapacity(c) || capacity < n || (n > 64 && capacity-n > n/8+1) {
			t.Fatalf("canonClass(%d) = %d, capacity %d", n, c, capacity)
		}
		if back := canonClassOf(capacity); back != c {
			t.Fatalf("a new buffer for %d bytes (class %d, capacity %d) goes back to class %d", n, c, capacity, back)
		}
		for _, spare := range []int{1, n / 16, n / 3} {
			got := canonClassOf(capacity + spare)
			if got < c || canonCapacity(got) > capacity+spare || canonCapacity(got+1) <= capacity+spare {
				t.Fatalf("capacity %d goes back to class %d (capacity %d), not the largest it serves",
					capacity+spare, got, canonCapacity(got))
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

// TestTakeCanonReach: a take serves n bytes with a pooled buffer of n's
// class or up to canonReach classes above (not below, not further up),
// and otherwise makes one canonHeadroom classes above n's.
func TestTakeCanonReach(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop entries")
	}
	for _, n := range []int{40, 100, 3000, 70_000} {
		c, _ := canonClass(n)
		for _, tc := range []struct {
			offset int // pooled buffer's class, relative to n's
			taken  bool
		}{
			{-1, false}, {0, true}, {1, true}, {canonHeadroom, true}, {canonReach, true}, {canonReach + 1, false},
		} {
			if c+tc.offset < 0 {
				continue
			}
			var pooled, got []byte
			taken := false
			// A goroutine moved to another P between the put and the take
			// misses what it put: try again before calling it a miss.
			for try := 0; try < 3 && !taken; try++ {
				var p StateDocPool
				pooled = make([]byte, 0, canonCapacity(c+tc.offset))
				p.putBytes(pooled)
				got = p.takeCanon(n)
				taken = unsafe.SliceData(got) == unsafe.SliceData(pooled)
			}
			if taken != tc.taken {
				t.Errorf("n=%d, pooled buffer %d classes up (capacity %d): taken %v, want %v", n, tc.offset, cap(pooled), taken, tc.taken)
			}
			if !tc.taken && cap(got) != canonCapacity(c+canonHeadroom) {
				t.Errorf("n=%d: new buffer of capacity %d, want %d (class %d + %d)", n, cap(got), canonCapacity(c+canonHeadroom), c, canonHeadroom)
			}
			if len(got) != 0 || cap(got) < n {
				t.Errorf("n=%d: took len %d cap %d", n, len(got), cap(got))
			}
		}
	}
}

// TestTakeKidsReach: lists of up to kidsExact members are taken from
// their exact class; longer ones like canonical text (takeCanon).
func TestTakeKidsReach(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop entries")
	}
	for _, tc := range []struct {
		n, offset int
		taken     bool
		newCap    int // capacity of a new list when not taken
	}{
		{n: 3, offset: 0, taken: true},
		{n: 3, offset: 1, taken: false, newCap: 3},
		{n: 8, offset: 1, taken: false, newCap: 8},
		{n: 20, offset: -1, taken: false, newCap: kidsCapacity(kidsClassMust(20) + canonHeadroom)},
		{n: 20, offset: 0, taken: true},
		{n: 20, offset: canonReach, taken: true},
		{n: 20, offset: canonReach + 1, taken: false, newCap: kidsCapacity(kidsClassMust(20) + canonHeadroom)},
		{n: 500, offset: canonHeadroom, taken: true},
	} {
		c := kidsClassMust(tc.n)
		var pooled, got []docNode
		taken := false
		for try := 0; try < 3 && !taken; try++ { // see TestTakeCanonReach
			var p StateDocPool
			pooled = make([]docNode, 0, kidsCapacity(c+tc.offset))
			box := pooled
			p.kids[kidsClassOf(cap(pooled))].Put(&box)
			got = p.takeKids(tc.n)
			taken = unsafe.SliceData(got) == unsafe.SliceData(pooled)
		}
		if taken != tc.taken {
			t.Errorf("n=%d, pooled list %d classes up (capacity %d): taken %v, want %v", tc.n, tc.offset, cap(pooled), taken, tc.taken)
		}
		if !tc.taken && cap(got) != tc.newCap {
			t.Errorf("n=%d: new list of capacity %d, want %d", tc.n, cap(got), tc.newCap)
		}
	}
}

func kidsClassMust(n int) int {
	c, _ := kidsClass(n)
	return c
}

// TestStateDocPoolGrowingThreads: threads side by side whose states grow
// by a message a snapshot (the saturation workload's append pattern),
// generation after generation, built and retired as the translator does.
// A thread's snapshots reuse a few buffers instead of one per class, and
// what the pool holds once all have finished stays within a small multiple
// of what the live documents of one generation hold.
func TestStateDocPoolGrowingThreads(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop entries")
	}
	// A collection empties the pools (two in a row): none while counting.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	for _, tc := range []struct {
		threads, snapshots, gens, msg int
		// Bounds: canonical buffers made per thread, and what the pool
		// holds at the end over what the last documents held (class by
		// class pools: 20, 12 and 32 buffers a thread; 11.6, 10.9 and 8.1
		// times; with headroom and reach 9, 4.7 and 10.5; 5.2, 3.3 and 2.6).
		perThread, heldRatio float64
	}{
		{threads: 1, snapshots: 20, gens: 3, msg: 256, perThread: 12, heldRatio: 7},
		{threads: 20, snapshots: 20, gens: 3, msg: 256, perThread: 7, heldRatio: 5},
		{threads: 10, snapshots: 30, gens: 2, msg: 1024, perThread: 20, heldRatio: 5},
	} {
		t.Run(fmt.Sprintf("threads=%d/snapshots=%d/msg=%d", tc.threads, tc.snapshots, tc.msg), func(t *testing.T) {
			var pool StateDocPool
			buffers := map[*byte]bool{}
			lastLive := 0
			for gen := 0; gen < tc.gens; gen++ {
				docs := make([]*StateDoc, tc.threads)
				msgs := make([]string, tc.threads)
				for step := 0; step < tc.snapshots; step++ {
					lastLive = 0
					for th := range docs {
						msgs[th] += fmt.Sprintf(`{"role":"assistant","content":"%d %s"},`, step, strings.Repeat("x", tc.msg))
						raw := `{"context":"` + strings.Repeat("c", 1024) + `","messages":[` + msgs[th] + `null],"step":` + fmt.Sprint(step) + `}`
						doc, err := pool.Build(raw, docs[th], nil, 0)
						if err != nil {
							t.Fatal(err)
						}
						buffers[unsafe.SliceData(doc.CanonicalJSON())] = true
						pool.Retire(docs[th], doc)
						docs[th] = doc
						lastLive += cap(doc.canon) + cap(doc.marks)
					}
				}
				for th := range docs {
					pool.Retire(docs[th], nil)
				}
			}
			if perThread := float64(len(buffers)) / float64(tc.threads); perThread > tc.perThread {
				t.Errorf("%d canonical buffers for %d threads of %d snapshots: %.1f a thread", len(buffers), tc.threads, tc.snapshots, perThread)
			}
			held := 0
			for c := range pool.canon {
				for {
					b, ok := pool.canon[c].Get().(*[]byte)
					if !ok {
						break
					}
					held += cap(*b)
				}
			}
			if float64(held) > tc.heldRatio*float64(lastLive) {
				t.Errorf("the pool holds %d bytes of buffers, the last snapshots' documents %d", held, lastLive)
			}
			t.Logf("%d buffers, pool holds %d bytes, live documents %d", len(buffers), held, lastLive)
		})
	}
}
