package translate

import (
	"container/list"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// sessionTable holds the per-thread sessions: at most max of them (least
// recently used evicted first), idle ones evicted after idle. A session in
// use (refs > 0) is never evicted, so a thread never has two live sessions.
type sessionTable struct {
	mu   sync.Mutex
	m    map[string]*session
	lru  list.List // of *session, front = most recently used
	max  int
	idle time.Duration
	// stateBytes is the accounted memory of all sessions' states;
	// stateBudget (0 = none) evicts least recently used idle sessions
	// beyond it, so memory stays bounded whatever the state sizes.
	stateBytes  atomic.Int64
	stateBudget int64
	now         func() time.Time
	seq         *sequenceClock
	// seeds: per thread without a session, the highest sequence known from
	// before this process (see SeedSequences).
	seeds map[string]uint64
}

func newSessionTable(maxThreads int, idle time.Duration, stateBudget int64, now func() time.Time, seq *sequenceClock) *sessionTable {
	return &sessionTable{m: make(map[string]*session), max: maxThreads, idle: idle, stateBudget: stateBudget, now: now, seq: seq}
}

// acquire returns the sessions of ids (sorted, unique), created when
// missing, each referenced and then locked in that order — a fixed order, so
// calls sharing threads cannot deadlock.
func (t *sessionTable) acquire(ids []string) []*session {
	out := make([]*session, len(ids))
	t.mu.Lock()
	nowNanos := t.now().UnixNano()
	for i, id := range ids {
		s, ok := t.m[id]
		if !ok {
			s = &session{threadID: id, nextSeq: t.startSequence(id)}
			s.elem = t.lru.PushFront(s)
			t.m[id] = s
		} else {
			t.lru.MoveToFront(s.elem)
		}
		s.refs++
		s.lastUsed = nowNanos
		out[i] = s
	}
	t.evictLocked(nowNanos)
	t.mu.Unlock()
	for _, s := range out {
		s.mu.Lock()
	}
	return out
}

// lookup references and locks the existing sessions of ids (sorted,
// unique); threads without a session are skipped (a new session starts
// without a base anyway).
func (t *sessionTable) lookup(ids []string) []*session {
	var out []*session
	t.mu.Lock()
	for _, id := range ids {
		if s, ok := t.m[id]; ok {
			s.refs++
			out = append(out, s)
		}
	}
	t.mu.Unlock()
	for _, s := range out {
		s.mu.Lock()
	}
	return out
}

// release unlocks and dereferences sessions taken by acquire or lookup.
func (t *sessionTable) release(ss []*session) {
	for _, s := range ss {
		s.mu.Unlock()
	}
	t.mu.Lock()
	nowNanos := t.now().UnixNano()
	for _, s := range ss {
		s.refs--
		s.lastUsed = nowNanos
		t.lru.MoveToFront(s.elem)
	}
	t.evictLocked(nowNanos)
	t.mu.Unlock()
}

// sweep evicts idle sessions; it returns how many it evicted.
func (t *sessionTable) sweep() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.evictLocked(t.now().UnixNano())
}

// evictLocked drops idle sessions and, beyond max, the least recently used
// ones not in use. It walks from the least recently used end and stops at
// the first session that is neither idle nor needed for the bound.
func (t *sessionTable) evictLocked(nowNanos int64) int {
	evicted := 0
	cutoff := int64(-1 << 63)
	if t.idle > 0 {
		cutoff = nowNanos - int64(t.idle)
	}
	for e := t.lru.Back(); e != nil; {
		s := e.Value.(*session)
		prev := e.Prev()
		over := len(t.m) > t.max || (t.stateBudget > 0 && t.stateBytes.Load() > t.stateBudget)
		// A thread with an open run waits for the run timeout to end it.
		idle := s.lastUsed < cutoff && s.oldestOpen.Load() == 0
		if !over && !idle {
			if s.lastUsed < cutoff {
				// Idle but holding an open run: look further.
				e = prev
				continue
			}
			break
		}
		if s.refs == 0 {
			// Not in use: nobody holds s.mu, and its last writer released
			// it before taking t.mu, so stateBytes is safe to read here.
			t.lru.Remove(e)
			delete(t.m, s.threadID)
			t.stateBytes.Add(-s.stateBytes)
			evicted++
		}
		e = prev
	}
	return evicted
}

// expiring returns, sorted, the threads with an open run that has had
// no span since before cutoff (unix nanos).
func (t *sessionTable) expiring(cutoff int64) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var ids []string
	for id, s := range t.m {
		if o := s.oldestOpen.Load(); o != 0 && o < cutoff {
			ids = append(ids, id)
		}
	}
	return sortedUnique(ids)
}

// len returns the number of live sessions.
func (t *sessionTable) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}

// sortedUnique sorts ids and removes duplicates in place.
func sortedUnique(ids []string) []string {
	slices.Sort(ids)
	return slices.Compact(ids)
}
