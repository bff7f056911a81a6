package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"syscall"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/dashstream/dashstreamexporter/bench/internal/workload"
)

// exportMethod is the OTLP trace service's only RPC.
const exportMethod = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

// errorPause slows a worker down after a failed call so a refusing
// collector does not turn the generator into a busy loop.
const errorPause = 20 * time.Millisecond

// workerStats is one worker's tally; merged after all workers end.
type workerStats struct {
	requestsOK, requestsFailed          int64
	spansOK, nodeSpansOK, spansFailed   int64
	spansRejected, runsCompleted, bytes int64
	firstError                          string
	rtts                                []time.Duration
}

// drive runs the workers until the duration has passed and each has
// finished its current generation, then reports.
func drive(ctx context.Context, o options, tpl *workload.Template) (workload.LoadResult, error) {
	conns := make([]*grpc.ClientConn, o.concurrency)
	for i := range conns {
		conn, err := grpc.NewClient(o.endpoint,
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.ForceCodecV2(rawCodec{}), grpc.MaxCallSendMsgSize(64<<20)))
		if err != nil {
			return workload.LoadResult{}, fmt.Errorf("connecting to %s: %w", o.endpoint, err)
		}
		defer conn.Close()
		conns[i] = conn
	}

	start := time.Now()
	deadline := start.Add(o.duration)
	// The nonce keeps ids of successive generator processes apart.
	nonce := uint64(start.UnixNano()/int64(time.Millisecond)) & 0xffff
	stats := make([]workerStats, o.concurrency)
	var wg sync.WaitGroup
	for w := range o.concurrency {
		wg.Go(func() {
			runWorker(ctx, w, conns[w], o, tpl, deadline, nonce, &stats[w])
		})
	}
	wg.Wait()
	end := time.Now()

	res := workload.LoadResult{
		Workload:      o.workload,
		Rate:          o.rate,
		Concurrency:   o.concurrency,
		StartUnixNano: start.UnixNano(),
		EndUnixNano:   end.UnixNano(),
		Seconds:       end.Sub(start).Seconds(),
	}
	var rtts []time.Duration
	for _, s := range stats {
		res.RequestsOK += s.requestsOK
		res.RequestsFailed += s.requestsFailed
		res.SpansOK += s.spansOK
		res.NodeSpansOK += s.nodeSpansOK
		res.SpansFailed += s.spansFailed
		res.SpansRejected += s.spansRejected
		res.RunsCompleted += s.runsCompleted
		res.BytesSent += s.bytes
		if res.FirstError == "" {
			res.FirstError = s.firstError
		}
		rtts = append(rtts, s.rtts...)
	}
	slices.Sort(rtts)
	res.RPCp50Ms = quantile(rtts, 0.50).Seconds() * 1e3
	res.RPCp99Ms = quantile(rtts, 0.99).Seconds() * 1e3

	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return res, fmt.Errorf("getrusage: %w", err)
	}
	res.CPUUserSeconds = tvSeconds(ru.Utime)
	res.CPUSystemSeconds = tvSeconds(ru.Stime)
	res.MaxRSSKiB = ru.Maxrss
	return res, nil
}

// runWorker sends generations in order. Pacing (when a rate is set) spreads
// each worker's share of the rate evenly over its requests.
func runWorker(ctx context.Context, w int, conn *grpc.ClientConn, o options, tpl *workload.Template,
	deadline time.Time, nonce uint64, st *workerStats) {
	perWorker := o.rate / float64(o.concurrency)
	next := time.Now()
	nodeDur := uint64(o.workload.NodeDuration.Nanoseconds())
	var buf []byte
	for counter := uint64(1); ctx.Err() == nil && time.Now().Before(deadline); counter++ {
		gen := nonce<<48 | uint64(w)<<32 | counter
		genStart := uint64(time.Now().UnixNano())
		runOK := true
		for i := range tpl.Requests {
			r := &tpl.Requests[i]
			if perWorker > 0 {
				next = next.Add(time.Duration(float64(r.Spans) / perWorker * float64(time.Second)))
				if d := time.Until(next); d > 0 {
					select {
					case <-ctx.Done():
						return
					case <-time.After(d):
					}
				} else if d < -time.Second {
					// Far behind (the collector stalled): do not burst to catch up.
					next = time.Now()
				}
			}
			now := time.Now()
			buf = r.Render(buf, gen, uint64(now.UnixNano()), genStart, nodeDur)
			if !send(ctx, conn, o.timeout, buf, r, st) {
				runOK = false
				select {
				case <-ctx.Done():
					return
				case <-time.After(errorPause):
				}
			}
		}
		if runOK {
			st.runsCompleted += int64(tpl.Config.Threads)
		}
	}
}

// send makes one export call and records its outcome.
func send(ctx context.Context, conn *grpc.ClientConn, timeout time.Duration, body []byte, r *workload.Request, st *workerStats) bool {
	// The call outlives the generator's deadline: a started generation is
	// finished so every run sent is complete.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	var resp rawMessage
	t0 := time.Now()
	err := conn.Invoke(cctx, exportMethod, &rawMessage{b: body}, &resp)
	st.rtts = append(st.rtts, time.Since(t0))
	if err != nil {
		st.requestsFailed++
		st.spansFailed += int64(r.Spans)
		if st.firstError == "" {
			st.firstError = err.Error()
		}
		return false
	}
	st.requestsOK++
	st.spansOK += int64(r.Spans)
	st.nodeSpansOK += int64(r.NodeSpans)
	st.bytes += int64(len(body))
	er := ptraceotlp.NewExportResponse()
	if uerr := er.UnmarshalProto(resp.b); uerr == nil {
		if n := er.PartialSuccess().RejectedSpans(); n > 0 {
			st.spansRejected += n
			if st.firstError == "" {
				st.firstError = "partial success: " + er.PartialSuccess().ErrorMessage()
			}
		}
	} else if st.firstError == "" {
		st.firstError = fmt.Sprintf("decoding export response: %v", uerr)
	}
	return true
}

// quantile returns the q-quantile of sorted durations (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i]
}

func tvSeconds(tv syscall.Timeval) float64 {
	return float64(tv.Sec) + float64(tv.Usec)/1e6
}
