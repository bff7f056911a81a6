package dashstreamexporter

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"

	"github.com/dashstream/dashstreamexporter/dashstream"
	"github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
	"github.com/dashstream/dashstreamexporter/internal/metadata"
)

const testTopic = "dashstream-events"

// testEpoch: span times of the workload (microsecond timestamps derive from it).
var testEpoch = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// freePort returns a TCP port nothing listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	return port
}

// newCluster starts an in-process Kafka (kfake) on 127.0.0.1 with the topic
// seeded over 4 partitions.
func newCluster(t *testing.T, opts ...kfake.Opt) *kfake.Cluster { return newClusterB(t, opts...) }

func newClusterB(t testing.TB, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	all := append([]kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(4, testTopic)}, opts...)
	c, err := kfake.NewCluster(all...)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

// testConfig is the default config pointed at brokers, with fast retries.
func testConfig(brokers []string) *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.ClientConfig.Brokers = brokers
	cfg.ClientConfig.Metadata.Retry.Max = 2
	cfg.ClientConfig.Metadata.Retry.Backoff = 50 * time.Millisecond
	cfg.ClientConfig.DialTimeout = time.Second
	cfg.BackOffConfig.InitialInterval = 50 * time.Millisecond
	cfg.BackOffConfig.MaxInterval = 300 * time.Millisecond
	cfg.BackOffConfig.MaxElapsedTime = time.Minute
	return cfg
}

// startExporter creates and starts the exporter with component test
// telemetry; it is shut down at cleanup unless the test did it.
func startExporter(t *testing.T, cfg *Config, host component.Host) (*tracesExporter, *componenttest.Telemetry) {
	return startExporterHost(t, cfg, host)
}

func startExporterB(b *testing.B, cfg *Config) (*tracesExporter, *componenttest.Telemetry) {
	return startExporterHost(b, cfg, nil)
}

func startExporterHost(t testing.TB, cfg *Config, host component.Host) (*tracesExporter, *componenttest.Telemetry) {
	t.Helper()
	require.NoError(t, cfg.Validate())
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	set := exportertest.NewNopSettings(metadata.Type)
	set.ID = component.NewID(metadata.Type) // stable: the persistent queue is keyed by it
	set.TelemetrySettings = tel.NewTelemetrySettings()
	if os.Getenv("DASHSTREAM_TEST_LOG") != "" {
		set.Logger, _ = zap.NewDevelopment()
		set.TelemetrySettings.Logger = set.Logger
	}
	exp, err := NewFactory().CreateTraces(t.Context(), set, cfg)
	require.NoError(t, err)
	if host == nil {
		host = componenttest.NewNopHost()
	}
	require.NoError(t, exp.Start(t.Context(), host))
	t.Cleanup(func() { _ = exp.Shutdown(context.Background()) })
	return exp.(*tracesExporter), tel
}

// stateJSON is the state of thread after step n: the last (up to) 10 notes,
// one new per step, so consecutive states differ by a small patch and the
// size stays bounded however many steps run.
func stateJSON(thread string, n int) string {
	notes := make([]string, 0, 10)
	for i := max(1, n-9); i <= n; i++ {
		notes = append(notes, fmt.Sprintf("note %d of %s", i, thread))
	}
	b, _ := json.Marshal(map[string]any{"thread": thread, "step": n, "notes": notes})
	return string(b)
}

// nodeStep appends one node span (dashstream convention) of thread's run
// for step n, carrying the state after it, to td.
func nodeStep(td ptrace.Traces, thread string, n int, state string) {
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "agent")
	span := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	var tid [16]byte
	copy(tid[:], "run-"+thread)
	span.SetTraceID(tid)
	span.SetSpanID(pcommon.SpanID{byte(n >> 8), byte(n), 1, 2, 3, 4, 5, 6})
	span.SetName("work")
	span.SetStartTimestamp(pcommon.NewTimestampFromTime(testEpoch.Add(time.Duration(n) * time.Second)))
	span.SetEndTimestamp(pcommon.NewTimestampFromTime(testEpoch.Add(time.Duration(n)*time.Second + 500*time.Millisecond)))
	a := span.Attributes()
	a.PutStr("dashstream.span.kind", "node")
	a.PutStr("dashstream.thread_id", thread)
	a.PutStr("dashstream.run_id", "run-"+thread)
	a.PutStr("dashstream.graph.name", "test_graph")
	a.PutStr("dashstream.node.name", "work")
	a.PutInt("dashstream.step", int64(n))
	a.PutStr("dashstream.state", state)
}

// stepTraces builds one ConsumeTraces payload: step n of every thread.
func stepTraces(threads []string, n int) ptrace.Traces {
	td := ptrace.NewTraces()
	for _, th := range threads {
		nodeStep(td, th, n, stateJSON(th, n))
	}
	return td
}

func threadNames(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

// consumedRecord is one record read back from Kafka, decoded.
type consumedRecord struct {
	partition int32
	offset    int64
	key       string
	value     []byte
	headers   map[string]string
	msg       *dashstreampb.DashStreamMessage
}

// consumeAtLeast reads the topic from the start until at least want records
// arrived (failing at the deadline) and returns what it read.
func consumeAtLeast(t *testing.T, brokers []string, want int) []consumedRecord {
	t.Helper()
	return consume(t, brokers, want, false)
}

// stateEquals compares a replayed state with JSON text.
func stateEquals(got any, want string) bool {
	v, err := dashstream.ParseJSON([]byte(want))
	return err == nil && dashstream.Equal(v, got)
}

// consumeAll reads the topic from the start until want records arrived
// (failing at the deadline), then makes sure no extra record follows.
func consumeAll(t *testing.T, brokers []string, want int) []consumedRecord {
	t.Helper()
	return consume(t, brokers, want, true)
}

func consume(t *testing.T, brokers []string, want int, exact bool) []consumedRecord {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(testTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(t, err)
	defer cl.Close()
	dec, err := dashstream.NewDecoder(dashstream.DecoderOptions{})
	require.NoError(t, err)

	var out []consumedRecord
	add := func(fs kgo.Fetches) {
		fs.EachRecord(func(r *kgo.Record) {
			msg, err := dec.Decode(r.Value)
			require.NoError(t, err, "record %d/%d does not decode", r.Partition, r.Offset)
			h := map[string]string{}
			for _, x := range r.Headers {
				h[x.Key] = string(x.Value)
			}
			out = append(out, consumedRecord{partition: r.Partition, offset: r.Offset, key: string(r.Key), value: r.Value, headers: h, msg: msg})
		})
	}
	deadline := time.Now().Add(60 * time.Second)
	for len(out) < want {
		require.True(t, time.Now().Before(deadline), "only %d of %d records arrived", len(out), want)
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		add(cl.PollFetches(ctx))
		cancel()
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	add(cl.PollFetches(ctx))
	cancel()
	if exact {
		require.Len(t, out, want, "more records than were enqueued")
	}
	return out
}

// streamCheck verifies what reached Kafka (SPEC §3–§5): every record
// decodes, the key is the thread id, message ids are unique, each thread
// lives on one partition with strictly increasing sequences, and the replay
// finds no inconsistency. It returns the replayer.
func streamCheck(t *testing.T, recs []consumedRecord) *dashstream.Replayer {
	t.Helper()
	ids := map[string]bool{}
	lastSeq := map[string]uint64{}
	partOf := map[string]int32{}
	r := dashstream.NewReplayer()
	for _, c := range recs {
		h := dashstream.HeaderOf(c.msg)
		require.NotNil(t, h)
		require.Equal(t, c.key, h.GetThreadId(), "record key must be the thread id")
		id := string(h.GetMessageId())
		require.False(t, ids[id], "duplicate message_id in thread %s sequence %d", c.key, h.GetSequence())
		ids[id] = true
		if p, ok := partOf[c.key]; ok {
			require.Equal(t, p, c.partition, "thread %s on two partitions", c.key)
		}
		partOf[c.key] = c.partition
		require.Greater(t, h.GetSequence(), lastSeq[c.key], "thread %s: sequence not increasing", c.key)
		lastSeq[c.key] = h.GetSequence()
		require.True(t, strings.HasPrefix(c.headers["traceparent"], "00-"), "traceparent header missing")
		require.NoError(t, r.Apply(c.msg), "replay of thread %s sequence %d", c.key, h.GetSequence())
	}
	for kind, n := range r.ProblemCounts() {
		if !kind.IsNote() {
			t.Errorf("replay found %d %s problems: %v", n, kind, r.Problems())
		}
	}
	return r
}

// requireFinalState checks a thread's replayed state.
func requireFinalState(t *testing.T, r *dashstream.Replayer, thread, want string) {
	t.Helper()
	ts := r.Thread(thread)
	require.NotNil(t, ts, "thread %s never seen", thread)
	require.True(t, ts.StateKnown, "thread %s state unknown", thread)
	wantV, err := dashstream.ParseJSON([]byte(want))
	require.NoError(t, err)
	require.True(t, dashstream.Equal(wantV, ts.State), "thread %s: state %s, want %s", thread, dashstream.MarshalJSON(ts.State), want)
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		require.True(t, time.Now().Before(deadline), "timed out waiting for %s", what)
		runtimeYield()
	}
}

// runtimeYield gives other goroutines a moment between polls.
func runtimeYield() { time.Sleep(5 * time.Millisecond) }
