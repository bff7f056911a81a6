package dashstreamexporter

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
	"go.opentelemetry.io/collector/component"
)

// TestCrashAfterUnacknowledgedWrite: the broker writes a request's records
// but the acknowledgement never reaches the exporter; the exporter dies
// without a graceful shutdown (its storage closed under it, its Kafka
// client gone, as after kill -9), and a new one starts on the same
// persistent queue, restores the request that was in flight and sends it
// again with a new producer id, which Kafka's idempotence cannot match. No
// record may reach consumers twice, none may be lost, and every thread
// must replay to its last state.
func TestCrashAfterUnacknowledgedWrite(t *testing.T) {
	for i := range 3 {
		t.Run("", func(t *testing.T) { crashOnce(t, i) })
	}
}

func crashOnce(t *testing.T, round int) {
	cluster := newCluster(t)
	brokers := cluster.ListenAddrs()

	// A produce request, once stalling is on, is handed to kfake through a
	// side client (so its records are written, as the original producer's
	// batches with their producer id and sequences) and never answered.
	// (Produce versions with topic names, as sarama sends them.)
	fwd, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.MaxVersions(kversion.V3_0_0()))
	require.NoError(t, err)
	defer fwd.Close()
	var stalling atomic.Bool
	var forwarding atomic.Int32
	var writtenRecords atomic.Int64
	written := make(chan struct{})
	cluster.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		if forwarding.Load() > 0 {
			forwarding.Add(-1)
			return nil, nil, false // the copy: written as usual
		}
		if !stalling.CompareAndSwap(true, false) {
			return nil, nil, false
		}
		for _, tp := range req.(*kmsg.ProduceRequest).Topics {
			for _, p := range tp.Partitions {
				var b kmsg.RecordBatch
				if assert.NoError(t, b.ReadFrom(p.Records)) {
					writtenRecords.Add(int64(b.NumRecords))
				}
			}
		}
		forwarding.Add(1)
		go func() {
			resp, err := fwd.Request(context.Background(), req)
			if err == nil {
				for _, tp := range resp.(*kmsg.ProduceResponse).Topics {
					for _, p := range tp.Partitions {
						assert.Zero(t, p.ErrorCode, "the copy was written")
					}
				}
			}
			assert.NoError(t, err)
			close(written)
		}()
		return nil, nil, true // no answer to the exporter
	})

	dir := t.TempDir()
	storageID := component.MustNewIDWithName("file_storage", "queue")
	cfg := testConfig(brokers)
	cfg.QueueBatchConfig.Get().StorageID = &storageID
	threads := threadNames("crash", 4)

	host1, ext1 := storageHost(t, storageID, dir)
	exp1, _ := startExporter(t, cfg, host1)
	// The dead exporter's wait for the lost acknowledgement ends soon (its
	// producer is created at the first send, with this setting).
	exp1.producer.conf.Net.ReadTimeout = 3 * time.Second
	for n := 1; n <= 2; n++ {
		require.NoError(t, exp1.ConsumeTraces(t.Context(), stepTraces(threads, n)))
	}
	delivered := int(exp1.enqueued.Load())
	consumeAll(t, brokers, delivered)

	// Step 3 is written by the broker; its acknowledgement is lost.
	stalling.Store(true)
	require.NoError(t, exp1.ConsumeTraces(t.Context(), stepTraces(threads, 3)))
	select {
	case <-written:
	case <-time.After(30 * time.Second):
		t.Fatal("the stalled request never reached the broker")
	}
	inFlight := int(exp1.enqueued.Load()) - delivered

	// kill -9: what is on disk now is what the next process finds (a copy
	// of the storage directory, taken while the exporter waits for the lost
	// acknowledgement), and the exporter's Kafka client goes away; nothing
	// of it is shut down gracefully.
	dir2 := t.TempDir()
	copyDir(t, dir, dir2)
	exp1.producer.mu.Lock()
	exp1.producer.closed = true
	client := exp1.producer.client
	exp1.producer.mu.Unlock()
	if client != nil {
		_ = client.Close()
	}

	host2, ext2 := storageHost(t, storageID, dir2)
	t.Cleanup(func() { _ = ext2.Shutdown(context.Background()) })
	exp2, _ := startExporter(t, cfg, host2)
	require.NoError(t, exp2.ConsumeTraces(t.Context(), stepTraces(threads, 4)))
	want := delivered + inFlight + int(exp2.enqueued.Load())
	recs := consumeAll(t, brokers, want) // exact: no record twice
	r := streamCheck(t, recs)            // strictly increasing sequences per thread
	requireContiguous(t, recs)           // and no gap across the restart (restart.go)
	for _, th := range threads {
		requireFinalState(t, r, th, stateJSON(th, 4))
	}
	assert.Equal(t, writtenRecords.Load(), exp2.producer.deduplicated.Load(),
		"round %d: exactly the records the broker wrote without acknowledging them are skipped", round)
	assert.Positive(t, inFlight)
	require.NoError(t, exp2.Shutdown(t.Context()))
	_ = exp1.Shutdown(context.Background())
	_ = ext1.Shutdown(context.Background())
}

// copyDir copies the regular files of src into dst.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	entries, err := os.ReadDir(src)
	require.NoError(t, err)
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600))
	}
}
