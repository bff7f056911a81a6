package dashstreamexporter

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/dashstream/dashstreamexporter/dashstream"
)

// Cluster faults under steady load (SPEC §5.6: "under any leader election
// or broker loss a thread's records reach Kafka complete and in order"),
// on a three-broker kfake cluster with the real sarama client:
//
//   - leaders: partition leaders move to other brokers again and again;
//   - broker_loss: a broker is removed (its partitions get new leaders, its
//     listener closes) and added back on the same port, several times;
//   - slow_election: partition 0's leader answers 8, 14, then 8 produce
//     requests in a row with NOT_LEADER_FOR_PARTITION (14: longer than one
//     attempt's own tries, so the exporter's retry resends).
//
// Each asserts: every record the exporter accepted is in Kafka exactly once
// (none lost, no duplicate), each thread's sequences go up by one with no
// gap, the replay of every thread finds no problem and ends at the load's
// own final state, and nothing was counted as lost.
func TestChaos(t *testing.T) {
	scenarios := []struct {
		name  string
		chaos func(t *testing.T, c *kfake.Cluster, ports []int, stop <-chan struct{})
		// untilDone: the load goes on until the chaos function returns.
		untilDone bool
	}{
		{"leaders", chaosLeaderMoves, false},
		{"broker_loss", chaosBrokerLoss, false},
		{"slow_election", chaosSlowElection, true},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) { runChaos(t, sc.chaos, sc.untilDone) })
	}
}

// chaosLeaderMoves moves every partition's leader every 150 ms, in turns
// one partition to a named broker and all of them at random.
func chaosLeaderMoves(t *testing.T, c *kfake.Cluster, _ []int, stop <-chan struct{}) {
	for i := 0; ; i++ {
		if !pause(stop, 150*time.Millisecond) {
			return
		}
		if i%2 == 0 {
			part := int32(i/2) % chaosPartitions
			require.NoError(t, c.MoveTopicPartition(testTopic, part, (c.LeaderFor(testTopic, part)+1)%3))
		} else {
			c.ShufflePartitionLeaders()
		}
	}
}

// chaosBrokerLoss removes one broker after another and adds it back on its
// port 300 ms later.
func chaosBrokerLoss(t *testing.T, c *kfake.Cluster, ports []int, stop <-chan struct{}) {
	for i := 0; ; i++ {
		if !pause(stop, 200*time.Millisecond) {
			return
		}
		node := int32(i % 3)
		require.NoError(t, c.RemoveNode(node))
		pause(nil, 300*time.Millisecond)
		_, _, err := c.AddNode(node, ports[node])
		require.NoError(t, err)
	}
}

// chaosSlowElection: the leader of partition 0 refuses 8, 14, then 8 produce
// requests in a row (NOT_LEADER_FOR_PARTITION). 8 outlasted sarama's async
// producer's retries (3); 14 outlast one attempt's own tries (11), so the
// exporter's retry takes over.
func chaosSlowElection(t *testing.T, c *kfake.Cluster, _ []int, _ <-chan struct{}) {
	for _, count := range []int{8, 14, 8} {
		pause(nil, 300*time.Millisecond)
		h := c.Fault(kfake.Fault{
			Keys:       []kmsg.Key{kmsg.Produce},
			Topic:      testTopic,
			Partitions: []int32{0},
			Err:        kerr.NotLeaderForPartition,
			Count:      count,
		})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := h.Wait(ctx, count)
		cancel()
		require.NoError(t, err, "the fault was not hit %d times", count)
	}
}

// pause waits d or until stop is closed; false when stopped.
func pause(stop <-chan struct{}, d time.Duration) bool {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-stop:
		return false
	case <-tm.C:
		return true
	}
}

const (
	chaosPartitions = 6
	chaosThreads    = 12
	chaosRunSteps   = 5 // node steps per run; then the run's graph span
)

func runChaos(t *testing.T, chaos func(*testing.T, *kfake.Cluster, []int, <-chan struct{}), untilDone bool) {
	ports := []int{freePort(t), freePort(t), freePort(t)}
	cluster, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.Ports(ports...), kfake.SeedTopics(chaosPartitions, testTopic))
	require.NoError(t, err)
	t.Cleanup(cluster.Close)
	brokers := cluster.ListenAddrs()
	cfg := testConfig(brokers)
	cfg.CheckpointInterval = 7
	cfg.BackOffConfig.MaxElapsedTime = 2 * time.Minute
	// A slow election holds a partition for seconds while the load goes on.
	cfg.QueueBatchConfig.Get().QueueSize = 1_000_000
	exp, tel := startExporter(t, cfg, nil)

	threads := threadNames("chaos", chaosThreads)
	stop := make(chan struct{})
	deadline := time.Now().Add(3 * time.Second)
	var chaosDone sync.WaitGroup
	finished := make(chan struct{})
	chaosDone.Go(func() {
		defer close(finished)
		chaos(t, cluster, ports, stop)
	})
	loading := func() bool {
		if time.Now().Before(deadline) {
			return true
		}
		select {
		case <-finished:
			return false
		default:
			return untilDone
		}
	}

	// Steady load: one step of every thread every 10 ms, for 3 s (or until
	// the chaos function is done).
	var steps atomic.Int64
	for n := 1; loading(); n++ {
		require.NoError(t, exp.ConsumeTraces(t.Context(), chaosStep(threads, n)))
		steps.Store(int64(n))
		time.Sleep(10 * time.Millisecond) // load pacing, not synchronisation
	}
	close(stop)
	chaosDone.Wait()
	last := int(steps.Load())

	want := int(exp.enqueued.Load())
	recs := consumeAll(t, brokers, want)
	r := streamCheck(t, recs)
	next := map[string]uint64{}
	for _, c := range recs {
		seq := dashstream.HeaderOf(c.msg).GetSequence()
		if n, ok := next[c.key]; ok {
			require.Equal(t, n, seq, "thread %s: sequence gap or repeat", c.key)
		}
		next[c.key] = seq + 1
	}
	for _, th := range threads {
		requireFinalState(t, r, th, stateJSON(th, last))
	}
	if m, err := tel.GetMetric("otelcol_dashstream_records_lost"); err == nil {
		for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
			assert.Zero(t, dp.Value, "records lost: %v", dp.Attributes)
		}
	}
	t.Logf("%d records over %d steps of %d threads; %d failed attempts", want, last, len(threads), exp.failedAttempts.Load())
}

// chaosStep is step n of every thread: a node span with the state after it;
// every chaosRunSteps steps the run's graph span ends it with that state,
// and the next step starts a new run (GRAPH_START).
func chaosStep(threads []string, n int) ptrace.Traces {
	td := ptrace.NewTraces()
	run := (n - 1) / chaosRunSteps
	for _, th := range threads {
		state := stateJSON(th, n)
		runID := fmt.Sprintf("run-%s-%d", th, run)
		var tid [16]byte
		copy(tid[:], runID)
		spans := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
		node := spans.AppendEmpty()
		chaosSpan(node, tid, pcommon.SpanID{byte(n >> 16), byte(n >> 8), byte(n), 1}, n, runID, th)
		node.SetParentSpanID(pcommon.SpanID{byte(run >> 8), byte(run), 0xff, 0xff})
		a := node.Attributes()
		a.PutStr("dashstream.span.kind", "node")
		a.PutStr("dashstream.node.name", "work")
		a.PutInt("dashstream.step", int64(n))
		a.PutStr("dashstream.state", state)
		if n%chaosRunSteps == 0 {
			g := spans.AppendEmpty()
			chaosSpan(g, tid, pcommon.SpanID{byte(run >> 8), byte(run), 0xff, 0xff}, n, runID, th)
			g.SetStartTimestamp(pcommon.NewTimestampFromTime(testEpoch.Add(time.Duration(n-chaosRunSteps+1)*time.Second - time.Millisecond)))
			g.Attributes().PutStr("dashstream.span.kind", "graph")
			g.Attributes().PutStr("dashstream.state", state)
		}
	}
	return td
}

func chaosSpan(span ptrace.Span, tid [16]byte, sid pcommon.SpanID, n int, runID, thread string) {
	span.SetTraceID(tid)
	span.SetSpanID(sid)
	span.SetName("work")
	span.SetStartTimestamp(pcommon.NewTimestampFromTime(testEpoch.Add(time.Duration(n) * time.Second)))
	span.SetEndTimestamp(pcommon.NewTimestampFromTime(testEpoch.Add(time.Duration(n)*time.Second + 500*time.Millisecond)))
	a := span.Attributes()
	a.PutStr("dashstream.thread_id", thread)
	a.PutStr("dashstream.run_id", runID)
	a.PutStr("dashstream.graph.name", "chaos_graph")
}

// TestProducerPrefixUnderElection: whatever a partition's leader answers,
// the records a send reports acknowledged are a prefix of that partition's
// records (no record fails after a later one was acknowledged), and Kafka
// holds exactly those, in order. A broker refusing 8 produce requests in a
// row (longer than one attempt's retries) is the election that made
// sarama's async producer fail a batch and acknowledge the next one.
func TestProducerPrefixUnderElection(t *testing.T) {
	for _, faults := range []int{2, 5, 8, 13} {
		t.Run(fmt.Sprintf("faults=%d", faults), func(t *testing.T) {
			cluster, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.SeedTopics(1, testTopic))
			require.NoError(t, err)
			t.Cleanup(cluster.Close)
			p := testProducer(t, cluster.ListenAddrs(), func(c *Config) { c.Producer.MaxMessageBytes = 64 << 10 })
			warm := testRecords(1, 16, "warm", 1)
			warm[0].Topic = testTopic
			require.NoError(t, p.send(warm)[0])

			// The fault starts with the fourth produce request: the first
			// batches are acknowledged, later ones wait behind the failing one.
			var seen atomic.Int32
			cluster.Fault(kfake.Fault{
				Keys: []kmsg.Key{kmsg.Produce}, Topic: testTopic, Err: kerr.NotLeaderForPartition, Count: faults,
				When: func(kmsg.Request) bool { return seen.Add(1) > 3 },
			})
			recs := testRecords(3000, 300, "one", 1)
			for _, r := range recs {
				r.Topic = testTopic
				r.Value = fmt.Appendf(nil, "%0300d", r.Sequence)
			}
			outcomes := p.send(recs)
			acked, firstFailed := 0, -1
			for i, err := range outcomes {
				if err == nil {
					acked++
					if firstFailed >= 0 {
						t.Fatalf("record %d acknowledged after record %d failed (%v)", i, firstFailed, outcomes[firstFailed])
					}
				} else if firstFailed < 0 {
					firstFailed = i
				}
			}
			t.Logf("%d of %d acknowledged", acked, len(recs))
			got := rawValues(t, cluster.ListenAddrs(), 1+acked)
			require.Len(t, got, 1+acked, "Kafka holds exactly the acknowledged records")
			for k := range acked {
				require.Equal(t, string(recs[k].Value), got[1+k], "record %d in its place", k)
			}
		})
	}
}

// rawValues reads the test topic's record values (undecoded) from the start
// until want arrived (failing at the deadline), plus whatever follows
// within 300 ms.
func rawValues(t *testing.T, brokers []string, want int) []string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(testTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(t, err)
	defer cl.Close()
	var out []string
	deadline := time.Now().Add(30 * time.Second)
	for extra := false; ; {
		wait := time.Second
		if extra {
			wait = 300 * time.Millisecond
		}
		ctx, cancel := context.WithTimeout(t.Context(), wait)
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { out = append(out, string(r.Value)) })
		cancel()
		if extra {
			return out
		}
		if len(out) >= want {
			extra = true
		}
		require.True(t, time.Now().Before(deadline), "only %d of %d records arrived", len(out), want)
	}
}
