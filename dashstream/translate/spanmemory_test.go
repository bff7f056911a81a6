package translate

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"unsafe"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// checkSpanMemory asserts the span memory's invariants: every span in the
// ring is in the map once, and each run name is counted by exactly the
// memos naming it (free refs by none).
func checkSpanMemory(t *testing.T, m *spanMemory) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	checkSpanTable(t, &m.spans)
	naming := make(map[runRef]uint32)
	for slot := range m.spans.len() {
		e := m.spans.entry(slot)
		if v := e.memo; v.run != 0 {
			naming[v.run]++
		}
	}
	free := make(map[runRef]bool)
	for _, ref := range m.runs.free {
		require.False(t, free[ref], "ref %d freed twice", ref)
		free[ref] = true
	}
	require.Len(t, m.runs.refs, len(m.runs.names))
	for i, name := range m.runs.names {
		ref := runRef(i + 1)
		if free[ref] {
			assert.Empty(t, name, "free ref %d", ref)
			assert.Zero(t, m.runs.refs[i], "free ref %d", ref)
			assert.Zero(t, naming[ref], "free ref %d named by a memo", ref)
			continue
		}
		assert.NotZero(t, m.runs.refs[i], "ref %d (%s) named by no memo but not freed", ref, name)
		assert.Equal(t, naming[ref], m.runs.refs[i], "memos naming ref %d (%s)", ref, name)
		assert.Equal(t, ref, m.runs.ids[name], "name %s", name)
	}
	assert.Len(t, m.runs.ids, len(m.runs.names)-len(free))
}

func TestRunNames(t *testing.T) {
	n := runNames{ids: make(map[string]runRef)}
	assert.Zero(t, n.acquire("", 0), "no run: no name")
	n.release(0) // nothing to release

	a := n.acquire("run-a", 0)
	require.NotZero(t, a)
	assert.Equal(t, a, n.acquire("run-a", 0), "the same name, the same ref")
	b := n.acquire("run-b", 0)
	assert.NotEqual(t, a, b)
	assert.Equal(t, "run-a", n.name(a))
	assert.Equal(t, "run-b", n.name(b))
	assert.Equal(t, []uint32{2, 1}, n.refs)

	// A hint naming the run saves the lookup; a stale one is ignored.
	assert.Equal(t, b, n.acquire("run-b", b))
	assert.Equal(t, a, n.acquire("run-a", b), "a hint naming another run")
	assert.Equal(t, []uint32{3, 2}, n.refs)

	// The name is forgotten with the last memo naming it, and its ref
	// reused for the next new name.
	n.release(b)
	assert.Equal(t, "run-b", n.name(b), "one memo still names it")
	n.release(b)
	assert.Empty(t, n.name(b))
	assert.NotContains(t, n.ids, "run-b")
	assert.Equal(t, b, n.acquire("run-c", b), "a freed hint is not taken for another name: its slot is reused")
	assert.Equal(t, "run-c", n.name(b))
	assert.Equal(t, b, n.ids["run-c"])
	assert.Len(t, n.names, 2, "no new slot while one is free")
	assert.Equal(t, []uint32{3, 1}, n.refs)

	// The name is a copy: it keeps nothing it was cut from alive.
	big := "run-d" + string(make([]byte, 4096))
	d := n.acquire(big[:5], 0)
	assert.Equal(t, "run-d", n.name(d))
	assert.NotEqual(t, uintptr(unsafe.Pointer(unsafe.StringData(big))), uintptr(unsafe.Pointer(unsafe.StringData(n.name(d)))))
}

func TestSpanMemoryEviction(t *testing.T) {
	m := newSpanMemory(3, 2)
	key := func(s string) spanKey { return spanKey{traceID("t"), spanID("t", s)} }
	m.mu.Lock()
	m.add(key("s1"), spanMemo{parent: spanID("t", "p"), run: "r1"}, 0)
	m.add(key("s2"), spanMemo{run: "r1"}, 0)
	m.add(key("s3"), spanMemo{outside: true}, 0)
	m.mu.Unlock()
	checkSpanMemory(t, m)

	got, ok := m.lookup(key("s1"))
	assert.True(t, ok)
	assert.Equal(t, spanMemo{parent: spanID("t", "p"), run: "r1"}, got)
	got, _ = m.lookup(key("s3"))
	assert.Equal(t, spanMemo{outside: true}, got)
	_, ok = m.lookup(key("none"))
	assert.False(t, ok)

	// Overwriting a memo counts its old run out and its new one in.
	m.mu.Lock()
	m.remember(key("s2"), spanMemo{run: "r2"}, 0)
	m.mu.Unlock()
	checkSpanMemory(t, m)
	assert.Equal(t, uint32(1), m.runs.refs[m.runs.ids["r1"]-1])

	// The oldest span (s1) goes first, and r1 with it.
	m.mu.Lock()
	m.add(key("s4"), spanMemo{run: "r3"}, 0)
	m.mu.Unlock()
	checkSpanMemory(t, m)
	_, ok = m.lookup(key("s1"))
	assert.False(t, ok, "the oldest span is forgotten")
	assert.NotContains(t, m.runs.ids, "r1")
	got, _ = m.lookup(key("s2"))
	assert.Equal(t, "r2", got.run, "an overwritten memo keeps its place in the ring")

	// Then s2 (still its first place), and r2 with it; r4 takes r1's ref.
	freed := runRef(len(m.runs.names) - 2)
	m.mu.Lock()
	m.add(key("s5"), spanMemo{run: "r4"}, 0)
	m.mu.Unlock()
	checkSpanMemory(t, m)
	assert.NotContains(t, m.runs.ids, "r2")
	assert.Len(t, m.runs.names, 3, "freed refs are reused")
	assert.Contains(t, []runRef{1, 2}, m.runs.ids["r4"], "r4 reuses a freed ref (%d)", freed)
}

// TestSpanMemoryKeepsRunAfterTraceForgotten: a span's memo keeps its run
// when its trace's run bookkeeping is forgotten (other traces came after
// it): a late child still joins the run, as with a memory large enough.
func TestSpanMemoryKeepsRunAfterTraceForgotten(t *testing.T) {
	calls := [][]sp{
		{quietAgent("a", "agent", "", "planner", 0, 100), chatSpan("a", "chat", "agent", 10, 20)},
		{quietAgent("b", "agent", "", "planner", 0, 100)},
		{quietAgent("c", "agent", "", "planner", 0, 100)},
		{toolSpan("a", "tool", "agent", "search", 30, 40)},
	}
	run := func(small bool) ([]string, *Translator) {
		tr := newTestTranslator(t, goldenConfig())
		if small {
			tr.spans = newSpanMemory(maxSpanMemory, 1)
		}
		var last []decoded
		for i, call := range calls {
			if small && i == len(calls)-1 {
				assert.NotContains(t, tr.spans.traces, traceID("a"), "the trace's runs were forgotten")
			}
			last = decodeAll(t, translateAll(t, tr, buildTraces(call...)).Records)
		}
		return runSummary(last, "a"), tr
	}
	want, _ := run(false)
	got, tr := run(true)
	assert.Equal(t, []string{"TOOL_START", "TOOL_END"}, want)
	assert.Equal(t, want, got)
	checkSpanMemory(t, tr.spans)
}

// TestConcurrentCallsSmallSpanMemory: calls on many goroutines, with the
// run timeout sweeping meanwhile, through a span memory small enough that
// its spans and traces are forgotten and overwritten all the time (spans
// sent again: ignored ones are remembered again): the memory's invariants
// hold (every run name counted by exactly the memos naming it), and every
// call succeeds. Run with -race.
func TestConcurrentCallsSmallSpanMemory(t *testing.T) {
	cfg := goldenConfig()
	cfg.RunTimeout = 1 // the sweep ends open runs as it goes
	tr := newTestTranslator(t, cfg)
	tr.spans = newSpanMemory(24, 4)
	const traces, senders, rounds = 32, 4, 3
	reqs := make([]ptrace.Traces, 0, 2*traces)
	for i := 0; i < traces; i++ {
		id := fmt.Sprintf("s%d", i)
		// Children first over two requests, application spans in both.
		reqs = append(reqs,
			buildTraces(chatSpan(id, "chat", "agent", 20, 30), toolSpan(id, "tool", "agent", "search", 40, 50), appSpan(id, "db", "tool", "query", 41, 49)),
			buildTraces(appSpan(id, "app", "", "handler", 0, 100), quietAgent(id, "agent", "app", "planner", 10, 90), appSpan(id, "db", "tool", "query", 41, 49)))
	}
	var (
		wg      sync.WaitGroup
		sweeper = make(chan struct{})
		stop    = make(chan struct{})
	)
	go func() {
		defer close(sweeper)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if res := tr.ExpireRuns(context.Background()); res != nil {
				res.Release()
			}
		}
	}()
	var mu sync.Mutex
	records := 0
	for s := 0; s < senders; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < rounds*len(reqs); n++ {
				res, err := tr.Translate(context.Background(), reqs[(n+s*5)%len(reqs)])
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				records += len(res.Records)
				mu.Unlock()
				res.Release()
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-sweeper
	assert.NotZero(t, records)
	checkSpanMemory(t, tr.spans)
	assert.Equal(t, 24, tr.spans.spans.len(), "the memory filled")
	assert.Less(t, len(tr.spans.runs.names), traces, "the names of forgotten runs were reused")
}
