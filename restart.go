package dashstreamexporter // import "github.com/dashstream/dashstreamexporter"

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/uuid"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pipeline"
	"go.uber.org/zap"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/dashstream/dashstreamexporter/dashstream/translate"
)

// Restarts without gaps (SPEC §4.6): a restarted collector continues each
// thread's sequence from what Kafka and its persistent queue hold, so that
// for `dashstream verify --strict` a gap means a loss.
//
//   - At start, before the sending queue opens its storage, the queue's
//     records are read once: each thread's highest queued sequence.
//   - Meanwhile Kafka's partition tails are read (the same window as the
//     producer's read-back, dedup.go): each thread's highest sequence there.
//     ConsumeTraces waits for that read, at most seedWait after start and
//     not once an attempt failed (Kafka unreachable). Once calls went ahead
//     without it, a later read only raises the sessions that exist then:
//     threads first seen after the wait start at the clock, as without it
//     (a jump, never a reuse).
//   - A graceful shutdown saves the sessions (state, sequence, checkpoint
//     schedule, runs) in the queue's storage extension; the next start
//     loads them once and deletes them, so a rolling restart sends patches,
//     not full states. After kill -9 there is nothing saved: the threads
//     continue their sequences and send a full state first.

// seedWait bounds how long ConsumeTraces waits at start for Kafka's tails.
const seedWait = 10 * time.Second

// seedRetry is the pause between attempts to read Kafka's tails.
const seedRetry = 2 * time.Second

// savedSessionsMaxBytes bounds what a graceful shutdown saves; the least
// recently used sessions are left out first.
const savedSessionsMaxBytes = 128 << 20

// Where sessions are saved: a client of the queue's storage extension of
// its own, next to the queue's.
const (
	sessionsClientName = "dashstream_sessions"
	sessionsKey        = "sessions"
)

// instanceHeader marks every record with the instance that produced it: a
// random id kept in the queue's storage (so a restarted instance keeps it),
// a new one per process without storage. Only threads whose last record in
// Kafka carries this instance's id are continued from Kafka: any other
// thread may still be written by the instance it was on (it moved here, or
// its old instance still delivers a backlog), so it starts at the clock.
const instanceHeader = "dashstream-instance"

// instanceKey is where the instance id is kept in the sessions client.
const instanceKey = "instance"

// queueMetadataKey is exporterhelper's persistent queue metadata (its
// PersistentMetadata message: read index 3, write index 4, dispatched
// items 5, all fixed64); items are stored under their decimal index.
const queueMetadataKey = "qmv0"

// restarter continues a previous process's threads.
type restarter struct {
	cfg    *Config
	id     component.ID
	logger *zap.Logger
	tel    *telemetry
	tr     *translate.Translator

	sessions  storage.Client // nil without sending_queue.storage
	instance  []byte         // this instance's id (instanceHeader)
	seeded    chan struct{}  // closed once Kafka's tails are applied
	waitUntil time.Time
	cancel    context.CancelFunc
	done      chan struct{}
	late      chan struct{} // closed at the first call that stops waiting
	lateOnce  sync.Once
}

func newRestarter(cfg *Config, id component.ID, logger *zap.Logger, tel *telemetry, tr *translate.Translator) *restarter {
	return &restarter{cfg: cfg, id: id, logger: logger, tel: tel, tr: tr,
		seeded: make(chan struct{}), done: make(chan struct{}), late: make(chan struct{})}
}

// start runs before the sending queue starts: it reads the persistent
// queue and the saved sessions, and starts reading Kafka's tails.
func (r *restarter) start(ctx context.Context, host component.Host) error {
	topics := map[string]bool{r.cfg.Topic: true}
	if ext, err := r.storageExtension(host); err != nil {
		return err
	} else if ext != nil {
		queued, err := r.peekQueue(ctx, ext)
		if err != nil {
			// The queue itself reports what it cannot read; its threads
			// then start at the clock, above anything queued.
			r.logger.Warn("Could not read the persistent queue's sequences; threads with queued records continue with a jump in sequence.", zap.Error(err))
		}
		for _, rec := range queued {
			topics[rec.topic] = true
		}
		if err := r.loadSessions(ctx, ext); err != nil {
			return err
		}
		r.loadInstance(ctx)
		high := make(map[string]uint64, len(queued))
		for thread, q := range queued {
			high[thread] = q.seq
		}
		r.tr.SeedSequences(high)
	}
	if r.instance == nil {
		r.instance = newInstanceID()
	}
	r.tr.SetInstanceHeader(instanceHeader, r.instance)
	list := make([]string, 0, len(topics))
	for t := range topics {
		list = append(list, t)
	}
	r.waitUntil = time.Now().Add(seedWait)
	bg, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go r.seedFromKafka(bg, list)
	return nil
}

// storageExtension returns the queue's storage extension, nil without one.
func (r *restarter) storageExtension(host component.Host) (storage.Extension, error) {
	q := r.cfg.QueueBatchConfig.Get()
	if q == nil || q.StorageID == nil || host == nil {
		return nil, nil
	}
	ext, ok := host.GetExtensions()[*q.StorageID]
	if !ok {
		return nil, fmt.Errorf("dashstream: storage extension %s not found", q.StorageID)
	}
	se, ok := ext.(storage.Extension)
	if !ok {
		return nil, fmt.Errorf("dashstream: %s is not a storage extension", q.StorageID)
	}
	return se, nil
}

// queuedThread is a thread's highest queued sequence and its topic.
type queuedThread struct {
	seq   uint64
	topic string
}

// peekQueue reads every request of the persistent queue (the sending queue
// has not opened it yet) and returns each thread's highest sequence.
func (r *restarter) peekQueue(ctx context.Context, ext storage.Extension) (map[string]queuedThread, error) {
	client, err := ext.GetClient(ctx, component.KindExporter, r.id, pipeline.SignalTraces.String())
	if err != nil {
		return nil, fmt.Errorf("opening the queue: %w", err)
	}
	defer func() { _ = client.Close(ctx) }()
	meta, err := client.Get(ctx, queueMetadataKey)
	if err != nil || len(meta) == 0 {
		return nil, err
	}
	keys, err := queueItemKeys(meta)
	if err != nil {
		return nil, err
	}
	out := map[string]queuedThread{}
	bad := 0
	const chunk = 256
	for len(keys) > 0 {
		n := min(chunk, len(keys))
		ops := make([]*storage.Operation, n)
		for i, k := range keys[:n] {
			ops[i] = storage.GetOperation(k)
		}
		keys = keys[n:]
		if err := client.Batch(ctx, ops...); err != nil {
			return out, fmt.Errorf("reading queued requests: %w", err)
		}
		for _, op := range ops {
			if op.Value == nil {
				continue
			}
			_, req, err := requestEncoding{}.Unmarshal(op.Value)
			if err != nil {
				bad++
				continue
			}
			for _, rec := range req.(*recordsRequest).records {
				if q := out[rec.ThreadID]; rec.Sequence > q.seq {
					out[rec.ThreadID] = queuedThread{seq: rec.Sequence, topic: rec.Topic}
				}
			}
		}
	}
	if bad > 0 {
		r.logger.Warn("Queued requests that do not decode were not read for sequences.", zap.Int("requests", bad))
	}
	return out, nil
}

// queueItemKeys lists the keys of the queued and dispatched items named
// by the queue's metadata.
func queueItemKeys(meta []byte) ([]string, error) {
	var read, write uint64
	var dispatched []uint64
	b := meta
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, fmt.Errorf("queue metadata: %w", protowire.ParseError(n))
		}
		b = b[n:]
		switch {
		case typ == protowire.Fixed64Type && (num == 3 || num == 4 || num == 5):
			v, m := protowire.ConsumeFixed64(b)
			if m < 0 {
				return nil, fmt.Errorf("queue metadata: %w", protowire.ParseError(m))
			}
			b = b[m:]
			switch num {
			case 3:
				read = v
			case 4:
				write = v
			default:
				dispatched = append(dispatched, v)
			}
		case typ == protowire.BytesType && num == 5: // packed
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return nil, fmt.Errorf("queue metadata: %w", protowire.ParseError(m))
			}
			b = b[m:]
			for len(v) > 0 {
				x, k := protowire.ConsumeFixed64(v)
				if k < 0 {
					return nil, fmt.Errorf("queue metadata: %w", protowire.ParseError(k))
				}
				dispatched = append(dispatched, x)
				v = v[k:]
			}
		default:
			m := protowire.ConsumeFieldValue(num, typ, b)
			if m < 0 {
				return nil, fmt.Errorf("queue metadata: %w", protowire.ParseError(m))
			}
			b = b[m:]
		}
	}
	if write < read || write-read > 1<<24 {
		return nil, fmt.Errorf("queue metadata: read index %d, write index %d", read, write)
	}
	keys := make([]string, 0, int(write-read)+len(dispatched))
	for _, i := range dispatched {
		keys = append(keys, strconv.FormatUint(i, 10))
	}
	for i := read; i < write; i++ {
		keys = append(keys, strconv.FormatUint(i, 10))
	}
	return keys, nil
}

// loadSessions restores the sessions a graceful shutdown saved, once: they
// are deleted as they are loaded, so a later crash does not reuse them.
// Data that does not decode is logged and counted (bad_input, reason
// saved_sessions_corrupt); its threads start fresh with a full state.
func (r *restarter) loadSessions(ctx context.Context, ext storage.Extension) error {
	client, err := ext.GetClient(ctx, component.KindExporter, r.id, sessionsClientName)
	if err != nil {
		return fmt.Errorf("dashstream: opening saved sessions: %w", err)
	}
	r.sessions = client
	data, err := client.Get(ctx, sessionsKey)
	if err != nil {
		r.logger.Warn("Could not read saved sessions; threads resync with a full state.", zap.Error(err))
		return nil
	}
	if data == nil {
		return nil
	}
	if err := client.Delete(ctx, sessionsKey); err != nil {
		r.logger.Warn("Could not delete the saved sessions after reading them.", zap.Error(err))
	}
	got, err := r.tr.ImportSessions(data)
	if err != nil {
		r.tel.badInput(ctx, "saved_sessions_corrupt")
		r.logger.Error("Saved sessions are corrupt; their threads resync with a full state.", zap.Int("bytes", len(data)), zap.Error(err))
		return nil
	}
	if got.Skipped > 0 {
		r.tel.badInput(ctx, "saved_sessions_corrupt")
		r.logger.Warn("Some saved sessions are not usable; their threads resync with a full state.", zap.Int("skipped", got.Skipped))
	}
	r.logger.Info("Restored the sessions saved at the last shutdown.", zap.Int("sessions", got.Restored))
	return nil
}

// loadInstance reads this instance's id from the storage, creating it on
// the first start.
func (r *restarter) loadInstance(ctx context.Context) {
	id, err := r.sessions.Get(ctx, instanceKey)
	if err == nil && len(id) == 16 {
		r.instance = id
		return
	}
	r.instance = newInstanceID()
	if err := r.sessions.Set(ctx, instanceKey, r.instance); err != nil {
		r.logger.Warn("Could not store this instance's id; after a restart its threads start at the clock (a jump in sequence).", zap.Error(err))
	}
}

// newInstanceID returns a random 16-byte id, hex-encoded as header text.
func newInstanceID() []byte {
	id := uuid.New()
	return []byte(hex.EncodeToString(id[:]))[:16]
}

// seedFromKafka reads the tails of topics until it succeeds or the exporter
// shuts down, and seeds the translator with them.
func (r *restarter) seedFromKafka(ctx context.Context, topics []string) {
	defer close(r.done)
	warned := false
	for {
		high, err := r.readTails(ctx, topics)
		if err == nil {
			var resynced int
			select {
			case <-r.late:
				// Calls went ahead meanwhile: their threads' sessions may
				// have issued clock sequences and been evicted since.
				resynced = r.tr.RaiseSequences(high)
			default:
				resynced = r.tr.SeedSequences(high)
			}
			close(r.seeded)
			r.logger.Info("Read Kafka's partition tails: threads continue their sequences.",
				zap.Int("threads", len(high)), zap.Int("resynced_sessions", resynced))
			return
		}
		if ctx.Err() != nil {
			return
		}
		if !warned {
			// Kafka is unreachable: hold no call for it (the queue fills
			// meanwhile); threads first seen now start at the clock.
			r.lateOnce.Do(func() { close(r.late) })
			r.logger.Warn("Could not read Kafka's partition tails yet; retrying. Threads first seen before it succeeds start at the clock (a jump in sequence).", zap.Error(err))
			warned = true
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(seedRetry):
		}
	}
}

// readTails returns each thread's highest sequence in the last records
// (readBack) of every partition of topics.
func (r *restarter) readTails(ctx context.Context, topics []string) (map[string]uint64, error) {
	sc, err := newSaramaConfig(ctx, r.cfg)
	if err != nil {
		return nil, err
	}
	client, err := sarama.NewClient(r.cfg.ClientConfig.Brokers, sc)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { _ = client.Close() })
	defer func() {
		if stop() {
			_ = client.Close()
		}
	}()
	tail, err := newKafkaTail(readBack(r.cfg))
	if err != nil {
		return nil, err
	}
	tail.instance, tail.own = r.instance, map[string]bool{}
	for _, topic := range topics {
		parts, err := client.Partitions(topic)
		if errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
			continue // nothing written there yet
		}
		if err != nil {
			return nil, fmt.Errorf("dashstream: partitions of %q: %w", topic, err)
		}
		for _, p := range parts {
			if err := tail.read(client, topicPartition{topic, p}); err != nil {
				return nil, err
			}
		}
	}
	for thread := range tail.high {
		if !tail.own[thread] {
			delete(tail.high, thread) // last written by another instance
		}
	}
	return tail.high, nil
}

// wait holds a ConsumeTraces call until Kafka's tails are applied, at most
// until seedWait after start.
func (r *restarter) wait(ctx context.Context) {
	select {
	case <-r.seeded:
		return
	case <-r.late:
		return
	default:
	}
	timer := time.NewTimer(time.Until(r.waitUntil))
	defer timer.Stop()
	select {
	case <-r.seeded:
	case <-ctx.Done():
	case <-timer.C:
		r.lateOnce.Do(func() {
			close(r.late)
			r.logger.Warn("Kafka's partition tails were not read in time; threads first seen now start at the clock (a jump in sequence).",
				zap.Duration("waited", seedWait))
		})
	}
}

// shutdown stops reading Kafka's tails and saves the sessions (graceful
// shutdown, after the queue stopped: nothing translates any more).
func (r *restarter) shutdown(ctx context.Context) error {
	if r.cancel != nil {
		r.cancel()
		<-r.done
	}
	if r.sessions == nil {
		return nil
	}
	defer func() { _ = r.sessions.Close(ctx) }()
	data, n := r.tr.ExportSessions(savedSessionsMaxBytes)
	if err := r.sessions.Set(ctx, sessionsKey, data); err != nil {
		return fmt.Errorf("dashstream: saving sessions: %w", err)
	}
	r.logger.Info("Saved the sessions for the next start.", zap.Int("sessions", n), zap.Int("bytes", len(data)))
	return nil
}
