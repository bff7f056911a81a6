package dashstreamexporter

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"

	"github.com/dashstream/dashstreamexporter/dashstream"
	"github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
	"github.com/dashstream/dashstreamexporter/internal/metadata"
)

// requireContiguous fails unless every thread's sequences in recs go up by
// exactly one (what `dashstream verify --strict` checks: a gap is a loss).
func requireContiguous(t *testing.T, recs []consumedRecord) {
	t.Helper()
	last := map[string]uint64{}
	for _, c := range recs {
		seq := dashstream.HeaderOf(c.msg).GetSequence()
		if prev, ok := last[c.key]; ok {
			require.Equal(t, prev+1, seq, "thread %s: sequence after %d", c.key, prev)
		}
		last[c.key] = seq
	}
}

// stateKindsAfter returns, per thread, "full" or "patch" for each StateDiff
// of recs above the thread's sequence in bySeq, and the events there.
func stateKindsAfter(recs []consumedRecord, bySeq map[string]uint64) (map[string][]string, map[string][]string) {
	kinds, events := map[string][]string{}, map[string][]string{}
	for _, c := range recs {
		if dashstream.HeaderOf(c.msg).GetSequence() <= bySeq[c.key] {
			continue
		}
		switch m := c.msg.GetMessage().(type) {
		case *dashstreampb.DashStreamMessage_StateDiff:
			k := "patch"
			if len(m.StateDiff.GetFullState()) > 0 {
				k = "full"
			}
			kinds[c.key] = append(kinds[c.key], k)
		case *dashstreampb.DashStreamMessage_Event:
			events[c.key] = append(events[c.key], m.Event.GetEventType().String())
		}
	}
	return kinds, events
}

// seqBefore returns each thread's highest sequence among the records of
// recs translated from steps before step (their timestamps come from the
// spans of stepTraces).
func seqBefore(recs []consumedRecord, step int) map[string]uint64 {
	limit := testEpoch.Add(time.Duration(step) * time.Second).UnixMicro()
	out := map[string]uint64{}
	for _, c := range recs {
		if h := dashstream.HeaderOf(c.msg); h.GetTimestampUs() < limit {
			out[c.key] = max(out[c.key], h.GetSequence())
		}
	}
	return out
}

// TestGracefulRestartContinuesSessions: a collector with a file_storage
// queue shut down gracefully — with everything delivered, or with a
// backlog queued while Kafka is down — and started again continues every
// thread: sequences without a gap across the restart, the next state
// message a patch against the state consumers hold (no full-state resync),
// no second GRAPH_START of the run in progress, and every thread replays to
// its last state.
func TestGracefulRestartContinuesSessions(t *testing.T) {
	for _, backlog := range []bool{false, true} {
		t.Run(fmt.Sprintf("backlog=%v", backlog), func(t *testing.T) {
			port := freePort(t)
			brokers := []string{fmt.Sprintf("127.0.0.1:%d", port)}
			if !backlog {
				newCluster(t, kfake.Ports(port))
			}
			dir := t.TempDir()
			storageID := component.MustNewIDWithName("file_storage", "queue")
			cfg := testConfig(brokers)
			cfg.QueueBatchConfig.Get().StorageID = &storageID
			threads := threadNames("graceful", 6)

			host1, ext1 := storageHost(t, storageID, dir)
			exp1, _ := startExporter(t, cfg, host1)
			const steps = 3
			for n := 1; n <= steps; n++ {
				require.NoError(t, exp1.ConsumeTraces(t.Context(), stepTraces(threads, n)))
			}
			first := int(exp1.enqueued.Load())
			if backlog {
				eventually(t, 20*time.Second, "a failed send attempt while Kafka is down", func() bool {
					return exp1.failedAttempts.Load() > 0
				})
			} else {
				consumeAll(t, brokers, first)
			}
			require.NoError(t, exp1.Shutdown(t.Context()))
			require.NoError(t, ext1.Shutdown(t.Context()))
			if backlog {
				newCluster(t, kfake.Ports(port))
			}

			host2, ext2 := storageHost(t, storageID, dir)
			t.Cleanup(func() { _ = ext2.Shutdown(context.Background()) })
			exp2, tel2 := startExporter(t, cfg, host2)
			for n := steps + 1; n <= steps+2; n++ {
				require.NoError(t, exp2.ConsumeTraces(t.Context(), stepTraces(threads, n)))
			}
			recs := consumeAll(t, brokers, first+int(exp2.enqueued.Load()))
			r := streamCheck(t, recs)
			requireContiguous(t, recs)
			kinds, events := stateKindsAfter(recs, seqBefore(recs, steps+1))
			for _, th := range threads {
				requireFinalState(t, r, th, stateJSON(th, steps+2))
				// Failed attempts while Kafka was down are retries, not
				// losses: the saved sessions continue with patches either way.
				assert.Equal(t, []string{"patch", "patch"}, kinds[th], "thread %s after the restart", th)
				assert.NotContains(t, events[th], "EVENT_TYPE_GRAPH_START", "thread %s: the run started again", th)
				assert.Zero(t, r.Thread(th).Gaps, "thread %s", th)
			}
			_, err := tel2.GetMetric("otelcol_dashstream_bad_input")
			assert.Error(t, err, "the saved sessions decoded")
			require.NoError(t, exp2.Shutdown(t.Context()))
		})
	}
}

// TestKillRestartContinuesSequences: kill -9 with records in the
// persistent queue (one request in flight, one queued behind it) that Kafka
// never got, and earlier ones that it has. The next process has no saved
// sessions: it continues every thread's sequence after the highest one in
// Kafka or the queue, with no gap, and its first state message is a full
// state.
func TestKillRestartContinuesSequences(t *testing.T) {
	cluster := newCluster(t)
	brokers := cluster.ListenAddrs()
	var stalling atomic.Bool
	cluster.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		return nil, nil, stalling.Load() // swallowed: never written, never answered
	})

	dir := t.TempDir()
	storageID := component.MustNewIDWithName("file_storage", "queue")
	cfg := testConfig(brokers)
	cfg.QueueBatchConfig.Get().StorageID = &storageID
	threads := threadNames("killed", 6)

	host1, ext1 := storageHost(t, storageID, dir)
	t.Cleanup(func() { _ = ext1.Shutdown(context.Background()) })
	exp1, _ := startExporter(t, cfg, host1)
	for n := 1; n <= 2; n++ {
		require.NoError(t, exp1.ConsumeTraces(t.Context(), stepTraces(threads, n)))
	}
	delivered := int(exp1.enqueued.Load())
	consumeAll(t, brokers, delivered)
	exp1.producer.conf.Net.ReadTimeout = 2 * time.Second
	stalling.Store(true)
	for n := 3; n <= 4; n++ {
		require.NoError(t, exp1.ConsumeTraces(t.Context(), stepTraces(threads, n)))
	}
	queued := int(exp1.enqueued.Load()) - delivered

	// kill -9: the storage as it is now is what the next process opens;
	// the dead process's Kafka client goes away.
	dir2 := t.TempDir()
	copyDir(t, dir, dir2)
	exp1.producer.mu.Lock()
	exp1.producer.closed = true
	client := exp1.producer.client
	exp1.producer.mu.Unlock()
	if client != nil {
		_ = client.Close()
	}
	stalling.Store(false)

	host2, ext2 := storageHost(t, storageID, dir2)
	t.Cleanup(func() { _ = ext2.Shutdown(context.Background()) })
	exp2, _ := startExporter(t, cfg, host2)
	require.NoError(t, exp2.ConsumeTraces(t.Context(), stepTraces(threads, 5)))
	recs := consumeAll(t, brokers, delivered+queued+int(exp2.enqueued.Load()))
	r := streamCheck(t, recs)
	requireContiguous(t, recs)
	kinds, _ := stateKindsAfter(recs, seqBefore(recs, 5))
	for _, th := range threads {
		requireFinalState(t, r, th, stateJSON(th, 5))
		assert.Equal(t, []string{"full"}, kinds[th], "thread %s: the first state after kill -9", th)
		assert.Zero(t, r.Thread(th).Gaps, "thread %s", th)
	}
	require.NoError(t, exp2.Shutdown(t.Context()))
	_ = exp1.Shutdown(context.Background())
}

// TestCorruptSavedSessions: saved sessions that do not decode are logged
// and counted (bad_input, reason saved_sessions_corrupt), never a panic;
// the threads continue their sequences from Kafka with a full state.
func TestCorruptSavedSessions(t *testing.T) {
	cluster := newCluster(t)
	brokers := cluster.ListenAddrs()
	dir := t.TempDir()
	storageID := component.MustNewIDWithName("file_storage", "queue")
	cfg := testConfig(brokers)
	cfg.QueueBatchConfig.Get().StorageID = &storageID
	threads := threadNames("corrupt", 4)

	host1, ext1 := storageHost(t, storageID, dir)
	exp1, _ := startExporter(t, cfg, host1)
	require.NoError(t, exp1.ConsumeTraces(t.Context(), stepTraces(threads, 1)))
	first := int(exp1.enqueued.Load())
	consumeAll(t, brokers, first)
	require.NoError(t, exp1.Shutdown(t.Context()))
	// Damage what was saved.
	client, err := ext1.(storage.Extension).GetClient(t.Context(), component.KindExporter, component.NewID(metadata.Type), sessionsClientName)
	require.NoError(t, err)
	saved, err := client.Get(t.Context(), sessionsKey)
	require.NoError(t, err)
	require.NotEmpty(t, saved, "the graceful shutdown saved the sessions")
	require.NoError(t, client.Set(t.Context(), sessionsKey, saved[:len(saved)/2]))
	require.NoError(t, client.Close(t.Context()))
	require.NoError(t, ext1.Shutdown(t.Context()))

	host2, ext2 := storageHost(t, storageID, dir)
	t.Cleanup(func() { _ = ext2.Shutdown(context.Background()) })
	exp2, tel2 := startExporter(t, cfg, host2)
	require.NoError(t, exp2.ConsumeTraces(t.Context(), stepTraces(threads, 2)))
	recs := consumeAll(t, brokers, first+int(exp2.enqueued.Load()))
	r := streamCheck(t, recs)
	requireContiguous(t, recs)
	kinds, _ := stateKindsAfter(recs, seqBefore(recs, 2))
	for _, th := range threads {
		requireFinalState(t, r, th, stateJSON(th, 2))
		assert.Equal(t, []string{"full"}, kinds[th], "thread %s", th)
	}
	assert.Equal(t, map[string]int64{"saved_sessions_corrupt": 1}, sumByAttr(t, tel2, "otelcol_dashstream_bad_input", "reason"))
	require.NoError(t, exp2.Shutdown(t.Context()))
}

// TestMovedThreadStartsAtClock: a thread whose last record in Kafka was
// written by another instance (it moved here) is not continued from Kafka:
// the other instance may still write it. Its sequence jumps above
// everything issued before (the clock), and its first state message is a
// full state — what `dashstream verify` shows as one gap at the move.
func TestMovedThreadStartsAtClock(t *testing.T) {
	cluster := newCluster(t)
	brokers := cluster.ListenAddrs()
	storageID := component.MustNewIDWithName("file_storage", "queue")
	cfg := testConfig(brokers)
	cfg.QueueBatchConfig.Get().StorageID = &storageID
	threads := threadNames("moved", 4)

	hostX, extX := storageHost(t, storageID, t.TempDir())
	t.Cleanup(func() { _ = extX.Shutdown(context.Background()) })
	x, _ := startExporter(t, cfg, hostX)
	for n := 1; n <= 2; n++ {
		require.NoError(t, x.ConsumeTraces(t.Context(), stepTraces(threads, n)))
	}
	first := int(x.enqueued.Load())
	consumeAll(t, brokers, first)
	require.NoError(t, x.Shutdown(t.Context()))

	hostY, extY := storageHost(t, storageID, t.TempDir()) // another instance
	t.Cleanup(func() { _ = extY.Shutdown(context.Background()) })
	y, _ := startExporter(t, cfg, hostY)
	require.NoError(t, y.ConsumeTraces(t.Context(), stepTraces(threads, 3)))
	recs := consumeAll(t, brokers, first+int(y.enqueued.Load()))
	r := streamCheck(t, recs)
	before := seqBefore(recs, 3)
	kinds, _ := stateKindsAfter(recs, before)
	for _, th := range threads {
		requireFinalState(t, r, th, stateJSON(th, 3))
		assert.Equal(t, []string{"full"}, kinds[th], "thread %s on its new instance", th)
		assert.Equal(t, 1, r.Thread(th).Gaps, "thread %s: one jump at the move", th)
	}
	for _, c := range recs {
		if c.key == threads[0] && dashstream.HeaderOf(c.msg).GetSequence() > before[c.key] {
			assert.NotEqual(t, c.headers[instanceHeader], "", "records carry their instance")
		}
	}
	require.NoError(t, y.Shutdown(t.Context()))
}
