package dashstreamexporter // import "github.com/dashstream/dashstreamexporter"

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exporterhelper/xexporterhelper"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/dashstream/dashstreamexporter/dashstream/translate"
	"github.com/dashstream/dashstreamexporter/internal/metadata"
)

// tracesExporter is the component the factory returns. It translates each
// ConsumeTraces call exactly once, before the queue, and hands the ready
// records to an inner request-based exporterhelper exporter (queue, batch,
// retry, timeout, persistent storage) whose pusher produces them to Kafka.
//
// Ordering (SPEC §5.3): Translate returns with the touched threads' sessions
// locked; they stay locked until the inner ConsumeTraces returns, i.e. until
// the request is in the queue (or sent, without a queue). So per thread the
// enqueue order is the translation order, and calls on disjoint threads run
// in parallel.
type tracesExporter struct {
	cfg    *Config
	logger *zap.Logger
	tel    *telemetry
	tr     *translate.Translator
	inner  exporter.Traces
	losses *lossReporter

	// queueAsync: an accepted request is only queued, so an error from the
	// inner exporter means the records were never enqueued.
	queueAsync bool

	producer *kafkaProducer // set by start
	stash    *restoreStash
	restart  *restarter // continues the threads of the last process (restart.go)

	// Progress counters (tests and debug logs): records accepted by the
	// sending queue, and send attempts that left records unacknowledged.
	enqueued       atomic.Int64
	failedAttempts atomic.Int64

	// expiry ends runs whose own span never arrives (session.run_timeout);
	// started by start, stopped before the queue drains.
	expiryStop chan struct{}
	expiryDone chan struct{}

	shutdownOnce sync.Once
	shutdownErr  error
}

var _ exporter.Traces = (*tracesExporter)(nil)

// preparedKey carries the translated request from ConsumeTraces to the
// converter, which the inner exporter calls synchronously with this ctx.
type preparedKey struct{}

func newTracesExporter(ctx context.Context, set exporter.Settings, cfg *Config) (*tracesExporter, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, fmt.Errorf("dashstream: telemetry: %w", err)
	}
	e := &tracesExporter{
		cfg:    cfg,
		logger: set.Logger,
		tel:    &telemetry{tb: tb},
		stash:  &restoreStash{},
	}
	var resolve topicResolver
	if cfg.TopicFromAttribute != "" || cfg.TopicFromMetadataKey != "" {
		resolve = e.resolveTopic
	}
	e.tr, err = translate.New(cfg.translateConfig(resolve), set.Logger)
	if err != nil {
		tb.Shutdown()
		return nil, err
	}
	e.losses = newLossReporter(e.tr.ReportLoss)
	e.restart = newRestarter(cfg, set.ID, set.Logger, e.tel, e.tr)
	if err := tb.RegisterDashstreamActiveSessionsCallback(func(_ context.Context, o metric.Int64Observer) error {
		o.Observe(int64(e.tr.ActiveSessions()))
		return nil
	}); err != nil {
		tb.Shutdown()
		e.tr.Shutdown()
		return nil, fmt.Errorf("dashstream: telemetry: %w", err)
	}
	if cfg.QueueBatchConfig.HasValue() {
		e.queueAsync = !cfg.QueueBatchConfig.Get().WaitForResult
	}

	e.inner, err = xexporterhelper.NewTracesRequest(ctx, set, e.convert, e.push,
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
		exporterhelper.WithTimeout(cfg.TimeoutSettings),
		exporterhelper.WithRetry(cfg.BackOffConfig),
		xexporterhelper.WithQueueBatch(cfg.QueueBatchConfig, xexporterhelper.QueueBatchSettings{Encoding: requestEncoding{stash: e.stash}}),
		exporterhelper.WithStart(e.start),
		exporterhelper.WithShutdown(e.shutdown),
	)
	if err != nil {
		tb.Shutdown()
		e.tr.Shutdown()
		return nil, err
	}
	return e, nil
}

// Start starts the inner exporter; requests its persistent queue restores
// meanwhile go to the restore stash (see requestEncoding).
func (e *tracesExporter) Start(ctx context.Context, host component.Host) error {
	if err := e.restart.start(ctx, host); err != nil {
		return err
	}
	e.stash.setActive(true)
	defer e.stash.setActive(false)
	return e.inner.Start(ctx, host)
}

// Shutdown is idempotent (exporterhelper's retry sender is not).
func (e *tracesExporter) Shutdown(ctx context.Context) error {
	e.shutdownOnce.Do(func() {
		e.stopExpiry()
		e.shutdownErr = e.inner.Shutdown(ctx)
	})
	return e.shutdownErr
}

// Capabilities: the spans are only read; the queue holds records, not pdata.
func (e *tracesExporter) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

// ConsumeTraces translates td once and enqueues the records while the
// touched threads are still locked (see tracesExporter).
func (e *tracesExporter) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	e.restart.wait(ctx)
	began := time.Now()
	res, err := e.tr.Translate(ctx, td)
	if err != nil {
		e.logger.Error("Translating spans failed; dropping them.", zap.Int("spans", td.SpanCount()), zap.Error(err))
		return consumererror.NewPermanent(fmt.Errorf("dashstream: translating spans: %w", err))
	}
	defer res.Release()
	e.tel.translated(ctx, &res.Stats, time.Since(began))

	req := e.sizeChecked(ctx, res)
	recs := req.records
	if len(recs) == 0 {
		return nil
	}
	err = e.inner.ConsumeTraces(context.WithValue(ctx, preparedKey{}, req), td)
	if err == nil {
		e.enqueued.Add(int64(len(recs)))
	} else {
		// Some or all records never reach Kafka: every thread of the
		// result resyncs before its locks are released.
		res.MarkLost()
		if e.queueAsync {
			reason := lossRejected
			if errors.Is(err, exporterhelper.ErrQueueIsFull) {
				reason = lossQueueFull
			}
			e.tel.lost(ctx, len(recs), reason)
		}
	}
	return err
}

// startExpiry starts ending runs whose own span never arrives: every tenth
// of session.run_timeout (between 1 s and 1 min) the translator ends the
// runs quiet for longer, and their GRAPH_ERRORs are enqueued like any
// request's records. (A thread that gets spans again ends its expired runs
// in that call.)
func (e *tracesExporter) startExpiry() {
	timeout := e.cfg.Session.RunTimeout
	if timeout <= 0 || e.expiryStop != nil {
		return
	}
	every := min(max(timeout/10, time.Second), time.Minute)
	e.expiryStop, e.expiryDone = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(e.expiryDone)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-e.expiryStop:
				return
			case <-tick.C:
				e.expireRuns(context.Background())
			}
		}
	}()
}

// stopExpiry stops the expiry loop and waits for it.
func (e *tracesExporter) stopExpiry() {
	if e.expiryStop == nil {
		return
	}
	close(e.expiryStop)
	<-e.expiryDone
	e.expiryStop = nil
}

// expireRuns ends the runs quiet for longer than session.run_timeout and
// enqueues their GRAPH_ERRORs while their threads are still locked.
func (e *tracesExporter) expireRuns(ctx context.Context) {
	res := e.tr.ExpireRuns(ctx)
	if res == nil {
		return
	}
	defer res.Release()
	e.tel.counted(ctx, &res.Stats)
	req := e.sizeChecked(ctx, res)
	recs := req.records
	if len(recs) == 0 {
		return
	}
	if err := e.inner.ConsumeTraces(context.WithValue(ctx, preparedKey{}, req), ptrace.NewTraces()); err != nil {
		res.MarkLost()
		e.tel.lost(ctx, len(recs), lossRejected)
		e.logger.Warn("Enqueueing the end of timed-out runs failed; their threads resync.", zap.Int("records", len(recs)), zap.Error(err))
		return
	}
	e.enqueued.Add(int64(len(recs)))
}

// sizeChecked returns the request of the result's records that Kafka will
// accept, dropping (and counting) those larger than
// producer.max_message_bytes as sarama measures them: Kafka must never be
// handed a record it will reject (SPEC §3 "Limits"). Threads that lose a
// record resync.
func (e *tracesExporter) sizeChecked(ctx context.Context, res *translate.Result) *recordsRequest {
	limit := e.cfg.Producer.MaxMessageBytes
	// The request is the only holder of its new slice: merges may append.
	req := &recordsRequest{records: make([]*translate.Record, 0, len(res.Records)), ownsTail: true}
	dropped := 0
	for i := range res.Records {
		r := &res.Records[i]
		n := recordSize(r)
		if n > limit {
			dropped++
			// Thread ids come from span attributes: only at debug level.
			e.logger.Warn("Dropping a DashStream record larger than producer.max_message_bytes; its thread resyncs with a full state.",
				zap.String("message_type", messageTypeName(r.Type)), zap.Int("bytes", n), zap.Int("limit", limit))
			e.logger.Debug("Oversize record dropped.", zap.String("thread_id", r.ThreadID), zap.Uint64("sequence", r.Sequence))
			continue
		}
		req.records = append(req.records, r)
		req.bytes += n
	}
	if dropped > 0 {
		res.MarkLost()
		e.tel.oversize(ctx, dropped)
		e.tel.lost(ctx, dropped, lossOversize)
	}
	return req
}

// convert is the inner exporter's converter: it is called synchronously by
// the inner ConsumeTraces and returns the request translated just before.
func (e *tracesExporter) convert(ctx context.Context, _ ptrace.Traces) (xexporterhelper.Request, error) {
	if req, ok := ctx.Value(preparedKey{}).(*recordsRequest); ok && req != nil {
		return req, nil
	}
	return nil, errors.New("dashstream: spans reached the sending queue without translation")
}

// push produces one request's records and settles their outcomes.
func (e *tracesExporter) push(ctx context.Context, req xexporterhelper.Request) error {
	r, ok := req.(*recordsRequest)
	if !ok {
		return consumererror.NewPermanent(fmt.Errorf("dashstream: unexpected request type %T", req))
	}
	if e.producer == nil {
		return errNotStarted
	}
	if restored := e.stash.drain(); len(restored) > 0 {
		r = newRecordsRequest(append(restored, r.records...))
	}
	if len(r.records) == 0 {
		return nil
	}
	began := time.Now()
	outcomes := e.producer.send(r.records)
	e.tel.produced(ctx, r.records, outcomes)
	return e.settle(ctx, r, outcomes, began)
}

// settle turns per-record outcomes into the request's result (SPEC §5.5–5.6):
//   - permanently rejected records are dropped, counted and logged;
//   - a failed record of a thread whose later record was acknowledged in
//     this attempt is dropped too: resending it would put it out of order
//     (the producer keeps each partition's acknowledged records a prefix of
//     what it sent, so this is a guard, not an expected path);
//   - the other failed records are returned, in order, in a partialFailure,
//     so the retry resends only them. They are not lost: their threads'
//     sessions are left alone — unless the retry sender would not try again
//     (retry disabled, or retry_on_failure.max_elapsed_time reached), in
//     which case they are dropped here, counted (retries_exhausted) and
//     their threads resync.
//
// Only threads that really lost a record are reported lost: their next
// state message is a full state.
func (e *tracesExporter) settle(ctx context.Context, r *recordsRequest, outcomes []error, began time.Time) error {
	start := began
	if r.retrying {
		start = r.retryStart
	}
	acked := 0
	for _, err := range outcomes {
		if err == nil {
			acked++
		}
	}
	delivered := r.delivered + acked
	if acked == len(outcomes) {
		if r.retrying {
			e.logger.Info("Kafka acknowledged the retried records.", zap.Int("records", len(r.records)),
				zap.Duration("since_first_attempt", time.Since(start)))
		}
		return e.finish(r.dropped, delivered)
	}
	lastAcked := make(map[string]int)
	for i, rec := range r.records {
		if outcomes[i] == nil {
			lastAcked[rec.ThreadID] = i
		}
	}
	var (
		remaining        []*translate.Record
		dropped          []*translate.Record
		lostBy           = map[string]int{}
		firstPerm, retry error
	)
	for i, rec := range r.records {
		err := outcomes[i]
		if err == nil {
			continue
		}
		if isPermanent(err, e.cfg.Producer.AllowAutoTopicCreation) {
			lostBy[lossReason(err)]++
			dropped = append(dropped, rec)
			if firstPerm == nil {
				firstPerm = err
			}
			continue
		}
		if j, ok := lastAcked[rec.ThreadID]; ok && j > i {
			lostBy[lossReordered]++
			dropped = append(dropped, rec)
			if firstPerm == nil {
				firstPerm = err
			}
			continue
		}
		remaining = append(remaining, rec)
		if retry == nil {
			retry = err
		}
	}
	if len(remaining) > 0 && e.lastAttempt(start) {
		lostBy[lossRetriesExhausted] += len(remaining)
		dropped = append(dropped, remaining...)
		if firstPerm == nil {
			firstPerm = retry
		}
		remaining = nil
	}
	droppedErr := r.dropped
	if len(dropped) > 0 {
		reasons := make([]string, 0, len(lostBy))
		for reason, n := range lostBy {
			e.tel.lost(ctx, n, reason)
			if reason == lossOversize {
				e.tel.oversize(ctx, n)
			}
			reasons = append(reasons, reason)
		}
		sort.Strings(reasons)
		threads := threadsOf(dropped)
		e.logger.Error("DashStream records dropped; their threads resync with a full state.",
			zap.Int("dropped_records", len(dropped)), zap.Int("acknowledged", acked),
			zap.Int("retrying", len(remaining)), zap.Int("records", len(r.records)),
			zap.Int("threads", len(threads)), zap.Strings("reasons", reasons), zap.Error(firstPerm))
		e.logger.Debug("Threads resyncing after dropped records.", zap.Strings("thread_ids", threads))
		e.losses.add(threads)
		cause := firstPerm
		if cause == nil {
			cause = errors.New("records failed after later records of their thread were acknowledged")
		}
		droppedErr = errors.Join(droppedErr, fmt.Errorf("dashstream: %d of %d records dropped: %w", len(dropped), len(r.records), cause))
	}
	if len(remaining) > 0 {
		e.failedAttempts.Add(1)
		e.logger.Info("Kafka did not acknowledge some records; retrying them, in order.",
			zap.Int("unacknowledged", len(remaining)), zap.Int("acknowledged", acked), zap.Int("records", len(r.records)),
			zap.Int("threads", len(threadsOf(remaining))), zap.Duration("since_first_attempt", time.Since(start)), zap.Error(retry))
		next := newRecordsRequest(remaining)
		next.dropped, next.retrying, next.retryStart, next.delivered = droppedErr, true, start, delivered
		return &partialFailure{
			remaining: next,
			failed:    len(remaining),
			total:     len(r.records),
			cause:     retry,
		}
	}
	return e.finish(droppedErr, delivered)
}

// finish is a request's result once none of its records is left to retry.
// With an asynchronous queue, a request of which some records reached Kafka
// ends without error: its losses are counted and logged above with their
// real size, while an error would make the sending queue log the whole
// request as dropped. A caller that waits for the result (queue disabled or
// wait_for_result) gets the permanent error.
func (e *tracesExporter) finish(dropped error, delivered int) error {
	if dropped == nil || (e.queueAsync && delivered > 0) {
		return nil
	}
	return consumererror.NewPermanent(dropped)
}

// lastAttempt reports whether exporterhelper's retry sender may give up
// after an attempt that ends now (its next delay, at most max_interval ×
// (1 + randomization_factor), would pass max_elapsed_time, counted from the
// first attempt), so the records left are lost unless settled as such now.
func (e *tracesExporter) lastAttempt(start time.Time) bool {
	b := e.cfg.BackOffConfig
	if !b.Enabled {
		return true
	}
	if b.MaxElapsedTime <= 0 {
		return false
	}
	longest := time.Duration(float64(b.MaxInterval)*(1+b.RandomizationFactor)) + time.Second
	return time.Now().Add(longest).After(start.Add(b.MaxElapsedTime))
}

// resolveTopic picks a resource's topic: client metadata, then resource
// attribute, then the configured topic. Values that are not valid topic
// names are counted as bad input and ignored.
func (e *tracesExporter) resolveTopic(ctx context.Context, res pcommon.Resource) string {
	if key := e.cfg.TopicFromMetadataKey; key != "" {
		if vals := client.FromContext(ctx).Metadata.Get(key); len(vals) > 0 && vals[0] != "" {
			if validTopic(vals[0]) {
				return vals[0]
			}
			e.tel.badInput(ctx, "invalid_topic")
		}
	}
	if attr := e.cfg.TopicFromAttribute; attr != "" {
		if v, ok := res.Attributes().Get(attr); ok {
			if s := v.AsString(); validTopic(s) {
				return s
			}
			e.tel.badInput(ctx, "invalid_topic")
		}
	}
	return e.cfg.Topic
}

// start runs before the queue starts consuming.
func (e *tracesExporter) start(ctx context.Context, _ component.Host) error {
	sc, err := newSaramaConfig(ctx, e.cfg)
	if err != nil {
		return err
	}
	// The producer connects on the first push, so the collector starts
	// (and the persistent queue fills) while Kafka is down.
	e.producer = newKafkaProducer(e.cfg.ClientConfig.Brokers, sc, readBack(e.cfg), e.logger)
	if q := e.cfg.QueueBatchConfig; q.HasValue() && q.Get().NumConsumers > 1 {
		e.logger.Warn("sending_queue.num_consumers > 1 sends several requests at once: records of a thread may reach Kafka out of order.",
			zap.Int("num_consumers", q.Get().NumConsumers))
	}
	if e.cfg.Producer.Linger > 0 {
		e.logger.Warn("producer.linger has no effect: each partition's next batch is sent as soon as the previous one is acknowledged.")
	}
	e.losses.start()
	e.startExpiry()
	return nil
}

// shutdown runs after the queue has drained.
func (e *tracesExporter) shutdown(ctx context.Context) error {
	e.losses.stop()
	err := e.restart.shutdown(ctx)
	if e.producer != nil {
		err = errors.Join(err, e.producer.close())
	}
	e.tr.Shutdown()
	e.tel.tb.Shutdown()
	return err
}
