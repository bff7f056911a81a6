package translate

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"

	"github.com/dashstream/dashstreamexporter/dashstream"
	pb "github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
)

// Translator turns ptrace.Traces into ordered per-thread DashStream records
// (SPEC §4). It is safe for concurrent use: calls touching disjoint threads
// run in parallel, calls touching the same thread serialise on its session.
type Translator struct {
	cfg         Config
	log         *zap.Logger
	classifiers []classifier
	enc         *dashstream.Encoder
	red         *redactor
	clock       *sequenceClock
	sessions    *sessionTable
	traces      *traceMemory
	spans       *spanMemory
	now         func() time.Time
	// staticHeaders: Config.StaticHeaders sorted by key, added to every record.
	staticHeaders []Header
	// infos recycles the spanInfo slices of calls (*[]spanInfo, cleared):
	// they are a third of what a call allocates, and die with it.
	infos sync.Pool
	// arenas recycles the calls' arenas (*callArena): their maps, value
	// pools and message structs serve call after call.
	arenas sync.Pool
	// idSeed, when set (tests), seeds every call's id generator, so equal
	// input gives byte-identical records.
	idSeed *[32]byte
	// stateDocs recycles the buffers of replaced state documents.
	stateDocs dashstream.StateDocPool
}

// maxPooledInfos bounds the slices kept for reuse, so one huge call does not
// pin its memory.
const maxPooledInfos = 4096

// spanInfos returns n zeroed spanInfos, recycled when possible.
func (t *Translator) spanInfos(n int) []spanInfo {
	if p, ok := t.infos.Get().(*[]spanInfo); ok && cap(*p) >= n {
		return (*p)[:n]
	}
	return make([]spanInfo, n)
}

// recycleSpanInfos clears infos (no pointer into the call's traces stays)
// and keeps it for a later call; nothing may use them afterwards.
func (t *Translator) recycleSpanInfos(infos []spanInfo) {
	if cap(infos) == 0 || cap(infos) > maxPooledInfos {
		return
	}
	infos = infos[:cap(infos)]
	clear(infos)
	t.infos.Put(&infos)
}

// New validates cfg and builds a translator. logger may be nil.
func New(cfg Config, logger *zap.Logger) (*Translator, error) {
	return newTranslator(cfg, logger, time.Now)
}

func newTranslator(cfg Config, logger *zap.Logger, now func() time.Time) (*Translator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("translate: invalid config: %w", err)
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	cls, err := buildClassifiers(cfg.Conventions)
	if err != nil {
		return nil, fmt.Errorf("translate: %w", err)
	}
	enc, err := dashstream.NewEncoder(dashstream.EncoderOptions{
		Compression:          cfg.Compression,
		CompressionThreshold: cfg.CompressionThreshold,
		Level:                cfg.CompressionLevel,
		Window:               cfg.CompressionWindow,
	})
	if err != nil {
		return nil, fmt.Errorf("translate: encoder: %w", err)
	}
	red, err := newRedactor(cfg.Redaction)
	if err != nil {
		return nil, fmt.Errorf("translate: %w", err)
	}
	clock := &sequenceClock{now: now}
	static := make([]Header, 0, len(cfg.StaticHeaders))
	for k, v := range cfg.StaticHeaders {
		static = append(static, Header{Key: k, Value: []byte(v)})
	}
	slices.SortFunc(static, func(a, b Header) int { return strings.Compare(a.Key, b.Key) })
	return &Translator{
		staticHeaders: static,
		cfg:           cfg,
		log:           logger,
		classifiers:   cls,
		enc:           enc,
		red:           red,
		clock:         clock,
		sessions:      newSessionTable(cfg.MaxThreads, cfg.IdleTimeout, cfg.StateMemoryBytes, now, clock),
		traces:        newTraceMemory(maxTraceMemory),
		spans:         newSpanMemory(maxSpanMemory, maxRunTraceMemory),
		now:           now,
	}, nil
}

// Result is the outcome of one Translate call: the records, in order, and
// what was done. The sessions of every thread in it stay locked until
// Release, so the caller can enqueue the records before any other call
// translates more of those threads (SPEC §5.3).
type Result struct {
	Records []Record
	Stats   Stats

	t        *Translator
	mu       sync.Mutex
	sessions []*session
	threads  []string
	released bool
	ids      *idGen
	pending  []pendingValue
}

// Threads returns the thread ids the result touched, sorted.
func (r *Result) Threads() []string { return r.threads }

// MarkLost records that the result's records were not enqueued: every thread
// of the result resyncs (its next state message is a full_state without a
// base checkpoint). Call it before Release; after Release use ReportLoss.
func (r *Result) MarkLost() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.released {
		return
	}
	for _, s := range r.sessions {
		s.markLost()
	}
}

// Release unlocks the result's sessions. It is idempotent.
func (r *Result) Release() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.released {
		return
	}
	r.released = true
	if r.t != nil && len(r.sessions) > 0 {
		r.t.sessions.release(r.sessions)
	}
	r.sessions = nil
}

// Translate classifies, orders and encodes the spans of td. On return the
// sessions of the threads in the result are locked: the caller enqueues the
// records, then calls Release (and MarkLost first when enqueueing failed).
// Bad input never fails the call: it is skipped, logged at debug level and
// counted in Stats.
func (t *Translator) Translate(ctx context.Context, td ptrace.Traces) (*Result, error) {
	res := &Result{t: t, Stats: newStats()}
	infos := t.spanInfos(td.SpanCount())
	// The spanInfos are only used during the call: records keep bytes.
	defer t.recycleSpanInfos(infos)

	// 1. collect and classify every span (collect.go),
	c := t.collect(td, infos, &res.Stats)
	found := c.found
	defer func() { t.account(found, &res.Stats) }()
	if len(c.spans) == 0 && len(c.ignored) == 0 {
		return res, nil
	}
	// 2. place them in runs and threads, in canonical order (assemble.go,
	// runs.go),
	work := t.assemble(c, &res.Stats, &found)
	if len(work) == 0 {
		return res, nil
	}
	ids := make([]string, 0, len(work))
	for id := range work {
		ids = append(ids, id)
	}
	ids = sortedUnique(ids)
	res.threads = ids
	// A node span makes about four records (its START and END events, a
	// StateDiff, now and then a Checkpoint: 3.9 in the saturation
	// workload); sized for that, the slice is not regrown and copied.
	res.Records = make([]Record, 0, 4*len(c.spans))
	res.ids = newIDGen(t.now(), 3*len(c.spans))
	if t.idSeed != nil {
		res.ids = seededIDGen(t.now(), *t.idSeed)
	}
	res.sessions = t.sessions.acquire(ids)
	// 3. emit each thread's messages in order (emit.go).
	ar := t.takeArena(len(c.spans))
	now := t.now().UnixNano()
	for i, id := range ids {
		e := emitter{t: t, ctx: ctx, s: res.sessions[i], res: res, ar: ar, found: &found, now: now}
		e.thread(work[id])
	}
	t.putArena(ar)
	res.finish(t.enc)
	return res, nil
}

// ReportLoss marks threads whose records were lost after their result was
// released (for example a permanent Kafka error): each resyncs. It must not
// be called while holding an unreleased Result of the same threads.
func (t *Translator) ReportLoss(threadIDs []string) {
	if len(threadIDs) == 0 {
		return
	}
	ids := sortedUnique(append([]string(nil), threadIDs...))
	ss := t.sessions.lookup(ids)
	for _, s := range ss {
		s.markLost()
	}
	t.sessions.release(ss)
}

// ActiveSessions returns the number of thread sessions kept.
func (t *Translator) ActiveSessions() int { return t.sessions.len() }

// SweepIdle evicts sessions idle longer than IdleTimeout (also done lazily
// on every call) and returns how many it evicted.
func (t *Translator) SweepIdle() int { return t.sessions.sweep() }

// Shutdown releases the translator's resources. Sessions are dropped; a
// translator is not used after Shutdown.
func (t *Translator) Shutdown() {
	t.sessions.mu.Lock()
	defer t.sessions.mu.Unlock()
	for id, s := range t.sessions.m {
		if s.refs == 0 {
			t.sessions.lru.Remove(s.elem)
			delete(t.sessions.m, id)
			t.sessions.stateBytes.Add(-s.stateBytes)
		}
	}
}

func newStats() Stats {
	return Stats{
		SpansIgnored:  map[string]int64{},
		RecordsByType: map[pb.MessageType]int64{},
		BytesByType:   map[pb.MessageType]int64{},
		BadInput:      map[string]int64{},
	}
}
