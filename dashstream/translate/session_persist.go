package translate

import (
	"slices"
	"strings"

	"github.com/klauspost/compress/s2"

	"github.com/dashstream/dashstreamexporter/dashstream"
)

// Restarts without gaps (SPEC §4.6). A new session normally starts its
// sequence at the current time in µs, which is above anything issued
// before but leaves a jump that `dashstream verify --strict` cannot tell
// from a loss. A restarted collector knows better: what Kafka's partition
// tails and its persistent queue hold (SeedSequences), and, after a
// graceful shutdown, the sessions themselves (ExportSessions /
// ImportSessions). With them each thread continues at +1.

// savedSession is what a graceful shutdown keeps of one thread's session
// so that the next process continues it: the next sequence, the state
// consumers hold (compact JSON, redacted, as sent), the checkpoint schedule
// and the runs it remembers (so a run that spans the restart gets no second
// GRAPH_START, and its edges and state order continue). The observed graph
// topology and router decisions are not kept: a run's schema went out with
// its GRAPH_START already.
type savedSession struct {
	ThreadID     string
	NextSequence uint64
	// State is the state consumers hold; nil when it is unknown (the next
	// state message is a full state).
	State []byte
	// StateSent: the session has sent a StateDiff (see session.stateSent).
	StateSent bool
	// Resync: the next state message must be a full state (after a loss).
	Resync               bool
	LastCheckpoint       []byte
	DiffsSinceCheckpoint int
	Runs                 []savedRun
}

// savedRun is what a session remembers of one run (see runState).
type savedRun struct {
	ID             string
	Started, Ended bool
	Last           stepCursor
	HasStatePos    bool
	MaxStatePos    int64
	MaxStateTime   uint64
}

// SeedSequences tells the translator the highest sequence known to exist
// per thread from before this process (Kafka's partition tails, the
// persistent queue). A thread without a session starts its next session at
// that sequence + 1 instead of at the clock (the seed is used once). A
// thread whose session would issue that sequence or a lower one was written
// by someone else meanwhile (it moved to another instance and back): its
// session moves past it and resyncs (full state, no base checkpoint), as a
// thread new to this instance does. It returns how many sessions resynced.
//
// Seeds are kept for at most MaxThreads threads; threads beyond that start
// at the clock, as without a seed.
func (t *Translator) SeedSequences(high map[string]uint64) int {
	return t.seed(high, true)
}

// RaiseSequences is SeedSequences for the threads that have a session only:
// for when sessions may have come and gone since the sequences were read
// (a seed must never take a thread below what this process issued).
func (t *Translator) RaiseSequences(high map[string]uint64) int {
	return t.seed(high, false)
}

func (t *Translator) seed(high map[string]uint64, store bool) int {
	if len(high) == 0 {
		return 0
	}
	st := t.sessions
	var live []string
	st.mu.Lock()
	if st.seeds == nil {
		st.seeds = make(map[string]uint64, min(len(high), st.max))
	}
	for id, seq := range high {
		if seq == 0 || id == "" {
			continue
		}
		if _, ok := st.m[id]; ok {
			live = append(live, id)
			continue
		}
		if !store {
			continue
		}
		if old, ok := st.seeds[id]; ok || len(st.seeds) < st.max {
			st.seeds[id] = max(old, seq)
		}
	}
	st.mu.Unlock()
	if len(live) == 0 {
		return 0
	}
	ss := st.lookup(sortedUnique(live))
	resynced := 0
	for _, s := range ss {
		if seq := high[s.threadID]; seq >= s.nextSeq {
			s.nextSeq = seq + 1
			s.markLost()
			s.stateSent = false
			resynced++
		}
	}
	st.release(ss)
	return resynced
}

// startSequence returns the first sequence of a new session of id: its
// seed + 1 when one is known (used once), else the clock's start. Called
// with t.mu held.
func (t *sessionTable) startSequence(id string) uint64 {
	if seq, ok := t.seeds[id]; ok {
		delete(t.seeds, id)
		return seq + 1
	}
	return t.seq.start()
}

// ExportSessions encodes the sessions kept, most recently used first, for a
// graceful shutdown to save, in at most maxBytes (0 = no bound; the least
// recently used are left out first). It returns the encoding and how many
// sessions it holds. Call it once no Translate is running.
func (t *Translator) ExportSessions(maxBytes int) ([]byte, int) {
	return marshalSessions(t.exportSessions(), maxBytes)
}

// ImportResult says what ImportSessions restored.
type ImportResult struct {
	// Restored sessions; Skipped ones decoded but were not usable.
	Restored, Skipped int
}

// ImportSessions restores sessions ExportSessions encoded; call it before
// the first Translate. Data that does not decode is an error wrapping
// ErrCorruptSessions and restores nothing: every thread then starts a fresh
// session (its first state message a full state).
func (t *Translator) ImportSessions(data []byte) (ImportResult, error) {
	saved, skipped, err := unmarshalSessions(data, t.cfg.StateMaxBytes)
	if err != nil {
		return ImportResult{}, err
	}
	return ImportResult{Restored: t.importSessions(saved), Skipped: skipped}, nil
}

// exportSessions returns the sessions kept, most recently used first.
func (t *Translator) exportSessions() []savedSession {
	st := t.sessions
	st.mu.Lock()
	ids := make([]string, 0, len(st.m))
	for e := st.lru.Front(); e != nil; e = e.Next() {
		ids = append(ids, e.Value.(*session).threadID)
	}
	st.mu.Unlock()
	order := make(map[string]int, len(ids))
	for i, id := range ids {
		order[id] = i
	}
	ss := st.lookup(sortedUnique(append([]string(nil), ids...)))
	out := make([]savedSession, len(ss))
	var red dashstream.StateRedactor
	if t.red.enabled {
		red = t.red
	}
	n := 0
	for _, s := range ss {
		i, ok := order[s.threadID]
		if !ok {
			continue
		}
		out[i] = t.saveSession(s, red)
		n++
	}
	st.release(ss)
	// Sessions evicted between the two looks leave holes.
	kept := out[:0]
	for _, s := range out {
		if s.ThreadID != "" {
			kept = append(kept, s)
		}
	}
	return kept
}

// saveSession copies what a restart needs of s (locked).
func (t *Translator) saveSession(s *session, red dashstream.StateRedactor) savedSession {
	out := savedSession{
		ThreadID:             s.threadID,
		NextSequence:         s.nextSeq,
		StateSent:            s.stateSent,
		Resync:               s.resync,
		LastCheckpoint:       append([]byte(nil), s.lastCheckpoint...),
		DiffsSinceCheckpoint: s.diffsSinceCheckpoint,
	}
	if len(out.LastCheckpoint) == 0 {
		out.LastCheckpoint = nil
	}
	for _, run := range s.runs.list {
		id, r := run.id, run.state
		if r == nil {
			continue
		}
		last := r.last
		last.nodes = append([]string(nil), last.nodes...)
		out.Runs = append(out.Runs, savedRun{ID: id, Started: r.started, Ended: r.ended, Last: last,
			HasStatePos: r.hasStatePos, MaxStatePos: r.maxStatePos, MaxStateTime: r.maxStateTime})
	}
	if !s.hasBase {
		return out
	}
	// The compact JSON is what consumers hold (redacted); the document's
	// raw text may not be.
	switch {
	case s.doc != nil:
		out.State = append([]byte(nil), s.doc.CompactJSON()...)
	case s.resting != nil:
		text, err := s2.Decode(nil, s.resting)
		if err != nil {
			break
		}
		doc, err := dashstream.BuildStateDoc(string(text), nil, red, maxStateDepth)
		if err != nil {
			break
		}
		out.State = doc.CompactJSON()
	}
	return out
}

// importSessions restores saved sessions. Threads that already have a
// session keep it;
// at most MaxThreads sessions are restored (the most recently used first,
// as ExportSessions orders them). A session's state is rebuilt at its
// thread's next snapshot; a state that does not build then is treated as
// unknown (full state). It returns how many sessions were restored.
func (t *Translator) importSessions(saved []savedSession) int {
	st := t.sessions
	st.mu.Lock()
	defer st.mu.Unlock()
	nowNanos := st.now().UnixNano()
	n := 0
	for i := range saved {
		sv := &saved[i]
		if sv.ThreadID == "" || sv.NextSequence == 0 || len(st.m) >= st.max {
			continue
		}
		if _, ok := st.m[sv.ThreadID]; ok {
			continue
		}
		s := &session{
			threadID:             sv.ThreadID,
			nextSeq:              sv.NextSequence,
			stateSent:            sv.StateSent,
			resync:               sv.Resync,
			lastCheckpoint:       sv.LastCheckpoint,
			diffsSinceCheckpoint: max(sv.DiffsSinceCheckpoint, 0),
			lastUsed:             nowNanos,
		}
		for _, r := range sv.Runs {
			rs := s.runs.get(r.ID)
			rs.started, rs.ended, rs.last = r.Started, r.Ended, r.Last
			rs.hasStatePos, rs.maxStatePos, rs.maxStateTime = r.HasStatePos, r.MaxStatePos, r.MaxStateTime
		}
		if sv.State != nil {
			// Rests as a finished run's state does; the next snapshot
			// builds it again (emitter.wake).
			s.resting = s2.Encode(nil, sv.State)
			s.hasBase = true
			s.stateBytes = int64(len(s.resting))
			st.stateBytes.Add(s.stateBytes)
		}
		if sv.NextSequence > 1 {
			t.clock.issued(sv.NextSequence - 1)
		}
		// Oldest last: saved is most recently used first.
		s.elem = st.lru.PushBack(s)
		st.m[sv.ThreadID] = s
		n++
	}
	return n
}

// SetInstanceHeader adds a header to every record from now on, replacing
// one of the same key: the exporter marks its records with the identity of
// its instance, so that a restart seeds only the threads whose last record
// in Kafka is its own (a thread another instance wrote since may still be
// written there). Call it before the first Translate.
func (t *Translator) SetInstanceHeader(key string, value []byte) {
	hs := slices.DeleteFunc(slices.Clone(t.staticHeaders), func(h Header) bool { return h.Key == key })
	hs = append(hs, Header{Key: key, Value: slices.Clone(value)})
	slices.SortFunc(hs, func(a, b Header) int { return strings.Compare(a.Key, b.Key) })
	t.staticHeaders = hs
}
