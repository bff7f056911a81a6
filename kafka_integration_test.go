package dashstreamexporter

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/dashstream/dashstreamexporter/dashstream"
	"github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
	"github.com/dashstream/dashstreamexporter/internal/metadatatest"
)

// TestSpansToKafka: spans in, records out — with the queue alone and with
// batching — decoded, replayed per thread to the final states, sequences
// increasing per partition; and the SPEC §6 metrics match what arrived.
func TestSpansToKafka(t *testing.T) {
	for _, batching := range []bool{false, true} {
		t.Run(fmt.Sprintf("batch=%v", batching), func(t *testing.T) {
			cluster := newCluster(t)
			brokers := cluster.ListenAddrs()
			cfg := testConfig(brokers)
			cfg.CheckpointInterval = 4
			cfg.Headers = map[string]string{"source": "otelcol"}
			if batching {
				q := cfg.QueueBatchConfig.Get()
				b := exporterhelper.NewDefaultBatchConfig()
				b.FlushTimeout = 20 * time.Millisecond
				b.MinSize = 25
				b.MaxSize = 40
				q.Batch = configoptional.Some(b)
			}
			exp, tel := startExporter(t, cfg, nil)

			threads := threadNames("thread", 6)
			const steps = 10
			for n := 1; n <= steps; n++ {
				td := stepTraces(threads, n)
				if n == 1 {
					// One span no convention recognises: ignored and counted.
					td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty().SetName("GET /health")
				}
				require.NoError(t, exp.ConsumeTraces(t.Context(), td))
			}
			want := int(exp.enqueued.Load())
			require.Positive(t, want)
			recs := consumeAll(t, brokers, want)
			r := streamCheck(t, recs)
			for _, th := range threads {
				requireFinalState(t, r, th, stateJSON(th, steps))
			}
			for _, c := range recs {
				require.Equal(t, "otelcol", c.headers["source"], "static header")
			}

			// Telemetry: what was produced, by type and bytes, equals what
			// arrived; diffs, checkpoints and ignored spans are counted.
			byType := map[string]int64{}
			bytesByType := map[string]int64{}
			var patches, fulls, checkpoints int64
			for _, c := range recs {
				name := messageTypeName(dashstream.MessageTypeOf(c.msg))
				byType[name]++
				bytesByType[name] += int64(len(c.value))
				if sd := c.msg.GetStateDiff(); sd != nil {
					if len(sd.GetFullState()) > 0 {
						fulls++
					} else {
						patches++
					}
				}
				if c.msg.GetCheckpoint() != nil {
					checkpoints++
				}
			}
			require.Positive(t, checkpoints)
			eventually(t, 10*time.Second, "produced metric", func() bool {
				m, err := tel.GetMetric("otelcol_dashstream_records_produced")
				if err != nil {
					return false
				}
				var sum int64
				for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
					sum += dp.Value
				}
				return sum == int64(want)
			})
			assert.Equal(t, byType, sumByAttr(t, tel, "otelcol_dashstream_records_produced", "message_type"))
			assert.Equal(t, bytesByType, sumByAttr(t, tel, "otelcol_dashstream_bytes_produced", "message_type"))
			wantKinds := map[string]int64{"patch": patches}
			if fulls > 0 {
				wantKinds["full"] = fulls
			}
			assert.Equal(t, wantKinds, sumByAttr(t, tel, "otelcol_dashstream_state_diffs", "kind"))
			opts := []metricdatatest.Option{metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars()}
			metadatatest.AssertEqualDashstreamCheckpoints(t, tel, []metricdata.DataPoint[int64]{{Value: checkpoints}}, opts...)
			metadatatest.AssertEqualDashstreamSpansIgnored(t, tel, []metricdata.DataPoint[int64]{
				{Attributes: attribute.NewSet(attribute.String("reason", "unrecognised")), Value: 1},
			}, opts...)
			metadatatest.AssertEqualDashstreamActiveSessions(t, tel, []metricdata.DataPoint[int64]{{Value: int64(len(threads))}}, opts...)
			lat, err := tel.GetMetric("otelcol_dashstream_translation_latency")
			require.NoError(t, err)
			hist := lat.Data.(metricdata.Histogram[float64])
			require.Len(t, hist.DataPoints, 1)
			assert.Equal(t, uint64(steps), hist.DataPoints[0].Count)
			_, err = tel.GetMetric("otelcol_dashstream_records_lost")
			assert.Error(t, err, "nothing was lost")
		})
	}
}

// sumByAttr reads a counter's data points keyed by one attribute's value.
func sumByAttr(t *testing.T, tel *componenttest.Telemetry, name, key string) map[string]int64 {
	t.Helper()
	m, err := tel.GetMetric(name)
	require.NoError(t, err)
	out := map[string]int64{}
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		v, _ := dp.Attributes.Value(attribute.Key(key))
		out[v.AsString()] += dp.Value
	}
	return out
}

// TestOutageRedelivery: the broker stops while 5 batches are pushed and
// comes back on the same port (same data directory) within the retry
// window: every record is delivered exactly once, in order.
func TestOutageRedelivery(t *testing.T) {
	port := freePort(t)
	dir := t.TempDir()
	opts := []kfake.Opt{kfake.Ports(port), kfake.DataDir(dir)}
	cluster := newCluster(t, opts...)
	brokers := cluster.ListenAddrs()
	exp, _ := startExporter(t, testConfig(brokers), nil)

	threads := threadNames("outage", 4)
	require.NoError(t, exp.ConsumeTraces(t.Context(), stepTraces(threads, 1)))
	before := int(exp.enqueued.Load())
	consumeAll(t, brokers, before)

	cluster.Close()
	const batches = 5
	for n := 2; n < 2+batches; n++ {
		require.NoError(t, exp.ConsumeTraces(t.Context(), stepTraces(threads, n)))
	}
	eventually(t, 20*time.Second, "a failed send attempt during the outage", func() bool {
		return exp.failedAttempts.Load() > 0
	})

	cluster2, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(4, testTopic)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(cluster2.Close)

	want := int(exp.enqueued.Load())
	recs := consumeAll(t, brokers, want)
	r := streamCheck(t, recs)
	for _, th := range threads {
		requireFinalState(t, r, th, stateJSON(th, 1+batches))
	}
}

// TestOversizeRecordPermanent: a record the broker rejects as too large is a
// permanent error for that record only; other threads are unaffected; that
// thread's next state message is a full state.
func TestOversizeRecordPermanent(t *testing.T) {
	cluster := newCluster(t, kfake.BrokerConfigs(map[string]string{"message.max.bytes": "6000"}))
	brokers := cluster.ListenAddrs()
	cfg := testConfig(brokers)
	cfg.FrameCompression.Enabled = false
	// One request per call: the broker rejects a whole partition batch, so
	// merged requests would take the other threads' records down with the
	// oversized one (the reason producer.max_message_bytes must not exceed
	// the broker's message.max.bytes).
	cfg.QueueBatchConfig.Get().Batch = configoptional.None[exporterhelper.BatchConfig]()
	exp, tel := startExporter(t, cfg, nil)

	small := threadNames("small", 3)
	require.NoError(t, exp.ConsumeTraces(t.Context(), stepTraces(append(small, "big"), 1)))

	// Step 2 of "big" carries a state far over the broker's limit; it is
	// sent alone so only its records are in the rejected request.
	noise := make([]byte, 8000)
	_, _ = rand.Read(noise)
	bigState, _ := json.Marshal(map[string]any{"thread": "big", "step": 2, "blob": hex.EncodeToString(noise)})
	td := ptrace.NewTraces()
	nodeStep(td, "big", 2, string(bigState))
	require.NoError(t, exp.ConsumeTraces(t.Context(), td))
	require.NoError(t, exp.ConsumeTraces(t.Context(), stepTraces(small, 2)))

	eventually(t, 20*time.Second, "the permanent loss to be counted and reported", func() bool {
		m, err := tel.GetMetric("otelcol_dashstream_records_lost")
		return err == nil && len(m.Data.(metricdata.Sum[int64]).DataPoints) > 0 && exp.losses.idle()
	})
	lost, err := tel.GetMetric("otelcol_dashstream_records_lost")
	require.NoError(t, err)
	dps := lost.Data.(metricdata.Sum[int64]).DataPoints
	require.Len(t, dps, 1)
	reason, _ := dps[0].Attributes.Value("reason")
	assert.Equal(t, lossOversize, reason.AsString())
	lostRecords := dps[0].Value

	// Next step of "big" with a small state: a full state must follow.
	require.NoError(t, exp.ConsumeTraces(t.Context(), stepTraces([]string{"big"}, 3)))
	want := int(exp.enqueued.Load()) - int(lostRecords)
	recs := consumeAll(t, brokers, want)
	r := streamCheck(t, recs)
	for _, th := range small {
		requireFinalState(t, r, th, stateJSON(th, 2))
	}
	requireFinalState(t, r, "big", stateJSON("big", 3))
	var bigDiffs []*dashstreampb.StateDiff
	for _, c := range recs {
		if c.key == "big" && c.msg.GetStateDiff() != nil {
			bigDiffs = append(bigDiffs, c.msg.GetStateDiff())
		}
	}
	require.NotEmpty(t, bigDiffs)
	last := bigDiffs[len(bigDiffs)-1]
	assert.NotEmpty(t, last.GetFullState(), "the state message after the loss must be a full state")
}

// TestOversizeDroppedBeforeKafka: a record over producer.max_message_bytes
// never reaches Kafka; it is counted and its thread resyncs.
func TestOversizeDroppedBeforeKafka(t *testing.T) {
	cluster := newCluster(t)
	brokers := cluster.ListenAddrs()
	cfg := testConfig(brokers)
	cfg.Producer.MaxMessageBytes = 4096
	cfg.FrameCompression.Enabled = false
	exp, tel := startExporter(t, cfg, nil)

	require.NoError(t, exp.ConsumeTraces(t.Context(), stepTraces([]string{"a", "b"}, 1)))
	noise := make([]byte, 4000)
	_, _ = rand.Read(noise)
	bigState, _ := json.Marshal(map[string]any{"thread": "b", "blob": hex.EncodeToString(noise)})
	td := stepTraces([]string{"a"}, 2)
	nodeStep(td, "b", 2, string(bigState))
	require.NoError(t, exp.ConsumeTraces(t.Context(), td))
	require.NoError(t, exp.ConsumeTraces(t.Context(), stepTraces([]string{"a", "b"}, 3)))

	recs := consumeAll(t, brokers, int(exp.enqueued.Load()))
	r := streamCheck(t, recs)
	requireFinalState(t, r, "a", stateJSON("a", 3))
	requireFinalState(t, r, "b", stateJSON("b", 3))
	m, err := tel.GetMetric("otelcol_dashstream_oversize_drops")
	require.NoError(t, err)
	assert.Positive(t, m.Data.(metricdata.Sum[int64]).DataPoints[0].Value)
	for _, c := range recs {
		assert.LessOrEqual(t, len(c.value), 4096)
	}
}

// TestPersistentQueueSurvivesRestart: with file_storage, records queued while
// the broker is down survive an exporter restart and are delivered after
// it, in order.
func TestPersistentQueueSurvivesRestart(t *testing.T) {
	port := freePort(t)
	brokers := []string{fmt.Sprintf("127.0.0.1:%d", port)}
	dir := t.TempDir()
	storageID := component.MustNewIDWithName("file_storage", "queue")
	cfg := testConfig(brokers)
	cfg.QueueBatchConfig.Get().StorageID = &storageID

	threads := threadNames("durable", 3)
	host1, ext1 := storageHost(t, storageID, dir)
	exp1, _ := startExporter(t, cfg, host1)
	const steps = 4
	for n := 1; n <= steps; n++ {
		require.NoError(t, exp1.ConsumeTraces(t.Context(), stepTraces(threads, n)))
	}
	want := int(exp1.enqueued.Load())
	eventually(t, 20*time.Second, "a failed send attempt while Kafka is down", func() bool {
		return exp1.failedAttempts.Load() > 0
	})
	require.NoError(t, exp1.Shutdown(t.Context()))
	require.NoError(t, ext1.Shutdown(t.Context()))

	newCluster(t, kfake.Ports(port))
	host2, ext2 := storageHost(t, storageID, dir)
	t.Cleanup(func() { _ = ext2.Shutdown(context.Background()) })
	exp2, _ := startExporter(t, cfg, host2)
	// The restarted exporter translates more: its fresh sessions continue
	// the threads with higher sequences and a full state.
	require.NoError(t, exp2.ConsumeTraces(t.Context(), stepTraces(threads, steps+1)))
	recs := consumeAll(t, brokers, want+int(exp2.enqueued.Load()))
	// In order although exporterhelper re-queues the request that was in
	// flight at shutdown at the tail (the restore stash puts it first).
	r := streamCheck(t, recs)
	for _, th := range threads {
		requireFinalState(t, r, th, stateJSON(th, steps+1))
		assert.Positive(t, r.Thread(th).FullStates, "thread %s resynced with a full state", th)
	}
	require.NoError(t, exp2.Shutdown(t.Context()))
}

type storageTestHost struct {
	component.Host
	exts map[component.ID]component.Component
}

func (h storageTestHost) GetExtensions() map[component.ID]component.Component { return h.exts }

func storageHost(t *testing.T, id component.ID, dir string) (component.Host, extension.Extension) {
	t.Helper()
	f := filestorage.NewFactory()
	cfg := f.CreateDefaultConfig().(*filestorage.Config)
	cfg.Directory = dir
	ext, err := f.Create(t.Context(), extensiontest.NewNopSettings(f.Type()), cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(t.Context(), nil))
	return storageTestHost{exts: map[component.ID]component.Component{id: ext}}, ext
}

// TestConcurrentOverlappingThreads: many ConsumeTraces calls at once touching
// overlapping threads: per thread the records in Kafka carry strictly
// increasing sequences and replay to the right final state (SPEC §5.3).
func TestConcurrentOverlappingThreads(t *testing.T) {
	cluster := newCluster(t)
	brokers := cluster.ListenAddrs()
	cfg := testConfig(brokers)
	cfg.CheckpointInterval = 3
	b := exporterhelper.NewDefaultBatchConfig()
	b.FlushTimeout = 10 * time.Millisecond
	b.MinSize = 50
	cfg.QueueBatchConfig.Get().Batch = configoptional.Some(b)
	cfg.QueueBatchConfig.Get().QueueSize = 10_000
	exp, _ := startExporter(t, cfg, nil)

	threads := threadNames("shared", 6)
	var mu sync.Mutex
	next := map[string]int{}
	const workers, calls = 12, 8
	var wg sync.WaitGroup
	errs := make(chan error, workers*calls)
	for w := range workers {
		wg.Go(func() {
			for c := range calls {
				// Each call touches 3 of the 6 threads, overlapping others.
				td := ptrace.NewTraces()
				for k := range 3 {
					th := threads[(w+c+2*k)%len(threads)]
					mu.Lock()
					next[th]++
					n := next[th]
					mu.Unlock()
					nodeStep(td, th, n, stateJSON(th, n))
				}
				errs <- exp.ConsumeTraces(context.Background(), td)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	recs := consumeAll(t, brokers, int(exp.enqueued.Load()))
	r := streamCheck(t, recs)
	for _, th := range threads {
		requireFinalState(t, r, th, stateJSON(th, next[th]))
	}
}

// TestQueueDisabledPermanentError: without a queue, ConsumeTraces returns
// the permanent error of a rejected record to the caller.
func TestQueueDisabledPermanentError(t *testing.T) {
	cluster := newCluster(t, kfake.BrokerConfigs(map[string]string{"message.max.bytes": "3000"}))
	cfg := testConfig(cluster.ListenAddrs())
	cfg.QueueBatchConfig = configoptional.None[exporterhelper.QueueBatchConfig]()
	cfg.FrameCompression.Enabled = false
	exp, _ := startExporter(t, cfg, nil)

	noise := make([]byte, 4000)
	_, _ = rand.Read(noise)
	state, _ := json.Marshal(map[string]any{"blob": hex.EncodeToString(noise)})
	td := ptrace.NewTraces()
	nodeStep(td, "solo", 1, string(state))
	err := exp.ConsumeTraces(t.Context(), td)
	require.Error(t, err)
	assert.True(t, consumererror.IsPermanent(err), "got %v", err)
	require.NoError(t, exp.ConsumeTraces(t.Context(), stepTraces([]string{"solo"}, 2)))
}
