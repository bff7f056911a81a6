package dashstreamexporter // import "github.com/dashstream/dashstreamexporter"

import "sync"

// lossReporter calls Translator.ReportLoss from its own goroutine. The
// pusher cannot call it directly: without a queue (or with wait_for_result)
// the pusher runs while ConsumeTraces still holds the very sessions
// ReportLoss must lock, and would deadlock. Reports are coalesced by thread.
type lossReporter struct {
	report func(threadIDs []string)

	mu      sync.Mutex
	pending map[string]struct{}
	busy    bool
	started bool

	wake chan struct{}
	quit chan struct{}
	done chan struct{}
}

func newLossReporter(report func([]string)) *lossReporter {
	return &lossReporter{
		report:  report,
		pending: map[string]struct{}{},
		wake:    make(chan struct{}, 1),
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
	}
}

func (l *lossReporter) start() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.started {
		return
	}
	l.started = true
	go l.run()
}

// add schedules a loss report for threads.
func (l *lossReporter) add(threads []string) {
	if len(threads) == 0 {
		return
	}
	l.mu.Lock()
	for _, t := range threads {
		l.pending[t] = struct{}{}
	}
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

func (l *lossReporter) run() {
	defer close(l.done)
	for {
		select {
		case <-l.quit:
			return
		case <-l.wake:
		}
		for {
			l.mu.Lock()
			if len(l.pending) == 0 {
				l.busy = false
				l.mu.Unlock()
				break
			}
			ids := make([]string, 0, len(l.pending))
			for t := range l.pending {
				ids = append(ids, t)
			}
			l.pending = map[string]struct{}{}
			l.busy = true
			l.mu.Unlock()
			l.report(ids)
		}
	}
}

// idle reports whether every scheduled report has been made.
func (l *lossReporter) idle() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.pending) == 0 && !l.busy
}

// stop ends the goroutine; reports still pending are dropped with the
// sessions they concern (the translator shuts down next).
func (l *lossReporter) stop() {
	l.mu.Lock()
	started := l.started
	l.started = false
	l.mu.Unlock()
	if !started {
		return
	}
	close(l.quit)
	<-l.done
}
