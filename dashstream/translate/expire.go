package translate

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"

	pb "github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
)

// Run timeout (SPEC §4.1: no run stays open). A run whose own span never
// arrives (the process died, a sampler or a full queue dropped it) is ended
// with GRAPH_ERROR once no span of it has arrived for Config.RunTimeout.
// Spans of it arriving later are dropped and counted (spans ignored,
// reason run_timed_out): reopening the run would show consumers a run that
// ended and went on.

// ignoreRunTimedOut counts spans of a run the run timeout ended.
const ignoreRunTimedOut = "run_timed_out"

// ExpireRuns ends the runs that have had no span for longer than
// RunTimeout. It returns nil when there are none; else a Result to enqueue
// and Release like Translate's (its sessions are locked until Release).
// Translate also ends the expired runs of the threads it touches; the
// exporter calls ExpireRuns periodically for the others.
func (t *Translator) ExpireRuns(ctx context.Context) *Result {
	if t.cfg.RunTimeout <= 0 {
		return nil
	}
	now := t.now()
	ids := t.sessions.expiring(now.Add(-t.cfg.RunTimeout).UnixNano())
	if len(ids) == 0 {
		return nil
	}
	res := &Result{t: t, Stats: newStats(), threads: ids}
	res.ids = newIDGen(now, 2*len(ids))
	if t.idSeed != nil {
		res.ids = seededIDGen(now, *t.idSeed)
	}
	res.sessions = t.sessions.acquire(ids)
	var found issues
	ar := t.takeArena(len(ids))
	defer t.putArena(ar)
	for _, s := range res.sessions {
		e := emitter{t: t, ctx: ctx, s: s, res: res, ar: ar, found: &found, now: now.UnixNano()}
		e.key = s.recordKey()
		e.expire()
		e.restDueState()
		s.noteOpenRuns()
	}
	res.finish(t.enc)
	t.account(found, &res.Stats)
	return res
}

// expire ends the session's runs quiet for longer than RunTimeout.
func (e *emitter) expire() {
	timeout := e.t.cfg.RunTimeout
	if timeout <= 0 {
		return
	}
	cutoff := e.now - int64(timeout)
	for _, run := range e.s.runs.list {
		id, rs := run.id, run.state
		if !rs.started || rs.ended || rs.lastSeen >= cutoff || rs.origin == nil {
			continue
		}
		e.timeOut(id, rs, timeout)
	}
}

// timeOut ends one run with GRAPH_ERROR.
func (e *emitter) timeOut(runID string, rs *runState, timeout time.Duration) {
	rs.ended, rs.timedOut = true, true
	o := rs.origin
	span := ptrace.NewSpan()
	span.SetTraceID(o.trace)
	span.SetSpanID(o.span)
	span.SetFlags(o.flags)
	span.TraceState().FromRaw(o.traceState)
	src := &spanInfo{span: span, resource: o.resource, traceID: o.trace, spanID: o.span, topic: o.topic, convention: "run_timeout"}
	quiet := time.Duration(e.now - rs.lastSeen).Round(time.Second)
	ab := e.attrs(4)
	ab.str("error", "run timed out: its own span never arrived and no span of it came for "+quiet.String()+
		" (session.run_timeout "+timeout.String()+")")
	ab.str("exception_type", "RunTimeout")
	ab.str("reason", "run_timeout")
	ab.str("run_id", runID)
	e.event(pb.EventType_EVENT_TYPE_GRAPH_ERROR, "", uint64(e.now), src, &ab, 0, "")
	e.restDue = true
	rs.origin = nil
	e.res.Stats.RunsTimedOut++
	for range e.t.spans.expireRun(o.trace, runID) {
		e.found.add("missing_parent", src)
	}
	e.t.log.Info("Run ended by session.run_timeout: its own span never arrived.",
		zap.Duration("quiet", quiet), zap.Duration("run_timeout", timeout))
	if ce := e.t.log.Check(zap.DebugLevel, "run timed out"); ce != nil {
		ce.Write(zap.String("thread_id", e.s.threadID), zap.String("run_id", runID))
	}
}

// origin records where run messages go, from its first span.
func (e *emitter) origin(src *spanInfo) *runOrigin {
	res := pcommon.NewResource()
	src.resource.CopyTo(res)
	return &runOrigin{
		trace: src.traceID, span: src.spanID, flags: src.span.Flags(),
		traceState: src.span.TraceState().AsRaw(), resource: res, topic: e.topic(src),
	}
}

// dropLate drops the spans of a run the run timeout ended, counted.
func (e *emitter) dropLate(rw *runWork) {
	n := int64(len(rw.nodes) + len(rw.pseudo) + len(rw.orphans))
	for _, ne := range rw.nodes {
		n += int64(len(ne.children))
	}
	if rw.graph != nil {
		n++ // the others are among the nodes and orphans
	}
	if n == 0 {
		return
	}
	e.res.Stats.SpansIgnored[ignoreRunTimedOut] += n
	e.t.log.Info("Spans of a run ended by session.run_timeout arrived late; dropped.", zap.Int64("spans", n))
}
