package translate

import (
	"math/rand/v2"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// checkSpanTable asserts the table's invariants: at most max spans, every
// ring entry found by its key at an index place reachable from where it
// belongs (no free place between), the index at most half full and
// holding nothing else.
func checkSpanTable(t *testing.T, tb *spanTable) {
	t.Helper()
	require.LessOrEqual(t, tb.len(), tb.max)
	used := 0
	for _, e := range tb.index {
		if e != 0 {
			used++
		}
	}
	require.Equal(t, tb.len(), used, "one index place per ring entry")
	if tb.len() > 0 {
		require.LessOrEqual(t, 2*used, len(tb.index), "the index is at most half full")
	}
	for slot := range tb.len() {
		e := tb.entry(slot)
		pos, found := tb.find(e.key, tb.hash(e.key))
		require.Equal(t, slot, found, "ring entry %d found by its key", slot)
		require.Equal(t, uint64(slot+1), tb.index[pos]&(1<<32-1))
	}
}

// TestSpanTable runs random adds, look-ups and changes against a model (a
// map and the order of adds) in tables small enough to wrap many times,
// with keys sharing trace ids and span ids (many collisions in the small
// indexes, so removals move entries back).
func TestSpanTable(t *testing.T) {
	for _, max := range []int{1, 2, 7, 37, 300} {
		rng := rand.New(rand.NewPCG(uint64(max), 1))
		tb := newSpanTable(max)
		model := map[spanKey]storedMemo{}
		var order []spanKey
		key := func() spanKey {
			var k spanKey
			k.trace = pcommon.TraceID{byte(rng.IntN(4))}
			k.span = pcommon.SpanID{byte(rng.IntN(64)), byte(rng.IntN(4))}
			return k
		}
		for op := 0; op < 20000; op++ {
			k := key()
			got := tb.get(k)
			want, ok := model[k]
			require.Equal(t, ok, got != nil, "max %d op %d: held", max, op)
			if ok {
				require.Equal(t, want, *got, "max %d op %d", max, op)
				if rng.IntN(2) == 0 {
					*got = storedMemo{run: runRef(op), outside: true}
					model[k] = *got
				}
				continue
			}
			v := storedMemo{parent: pcommon.SpanID{byte(op)}, run: runRef(op)}
			old, evicted := tb.add(k, v)
			model[k] = v
			order = append(order, k)
			require.Equal(t, len(order) > max, evicted, "max %d op %d: evicted", max, op)
			if evicted {
				gone := order[0]
				order = order[1:]
				assert.Equal(t, model[gone], old, "the oldest span's memo")
				delete(model, gone)
				require.Nil(t, tb.get(gone), "the oldest span is forgotten")
			}
			if op%97 == 0 {
				checkSpanTable(t, &tb)
			}
		}
		checkSpanTable(t, &tb)
		require.Equal(t, len(model), tb.len())
		for k, v := range model {
			got := tb.get(k)
			require.NotNil(t, got)
			require.Equal(t, v, *got)
		}
	}
}

// ringCapacity is how many spans tb's ring has room for without growing.
func ringCapacity(tb *spanTable) int {
	c := 0
	for _, ch := range tb.chunks {
		c += len(ch)
	}
	return c
}

// TestSpanTableRingGrowth: the ring's first chunk doubles while small,
// then whole chunks are added, never past max: the ring has room for
// fewer than a chunk more spans than it holds (at least 64), and reaches
// max exactly; entries stay where they were put.
func TestSpanTableRingGrowth(t *testing.T) {
	for _, tc := range []struct {
		max   int
		spans []int // fills to check along the way
	}{
		{max: 100, spans: []int{1, 64, 65, 100}},
		{max: 1 << 18, spans: []int{ringChunk - 1, ringChunk, ringChunk + 1, 42_000, 100_000, 1 << 18}},
		{max: 10_000, spans: []int{5000, 9999, 10_000}},
		{max: 3 * ringChunk, spans: []int{3 * ringChunk}},
	} {
		tb := newSpanTable(tc.max)
		key := func(i int) spanKey { return spanKey{span: pcommon.SpanID{byte(i), byte(i >> 8), byte(i >> 16), 1}} }
		added := 0
		for _, n := range tc.spans {
			for ; added < n; added++ {
				tb.add(key(added), storedMemo{run: runRef(added)})
			}
			c := ringCapacity(&tb)
			require.LessOrEqual(t, c, tc.max, "max %d, %d spans", tc.max, n)
			require.GreaterOrEqual(t, c, n)
			require.Less(t, c, max(n+ringChunk, 2*n, 65), "max %d: %d spans in a ring of %d", tc.max, n, c)
			if n > ringChunk {
				require.Less(t, c, n+ringChunk, "max %d: %d spans in a ring of %d", tc.max, n, c)
			}
		}
		require.Equal(t, tc.max, ringCapacity(&tb), "a full ring")
		for i := range added {
			require.Equal(t, runRef(i), tb.get(key(i)).run, "max %d: span %d", tc.max, i)
		}
		checkSpanTable(t, &tb)
		// Once full, each add forgets the oldest, chunk after chunk.
		for ; added < 2*tc.max+7; added++ {
			old, evicted := tb.add(key(added), storedMemo{run: runRef(added)})
			require.True(t, evicted)
			require.Equal(t, runRef(added-tc.max), old.run, "max %d: add %d evicts", tc.max, added)
			require.Nil(t, tb.get(key(added-tc.max)))
		}
		require.Equal(t, tc.max, ringCapacity(&tb))
		checkSpanTable(t, &tb)
	}
}
