package main

import (
	"fmt"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
)

// BenchmarkServeThousandThreads measures `dashstream serve` with 1,000
// threads in the topic (one 10-message run each, 10,000 records): the live
// model's heap once it holds them all, and per iteration 10 relay clients
// replaying the whole topic from the beginning at once (wall time, and the
// process CPU time it took).
//
//	go test ./cmd/dashstream -run '^$' -bench ServeThousandThreads -benchtime 3x
func BenchmarkServeThousandThreads(b *testing.B) {
	h := startServe(b, 0)
	const threads, clients = 1000, 10
	var msgs []*sarama.ProducerMessage
	for i := range threads {
		id := fmt.Sprintf("bench-%04d", i)
		for _, v := range encode(b, newStream(b, id, 1).run()...) {
			msgs = append(msgs, &sarama.ProducerMessage{Topic: defaultTopic, Key: sarama.StringEncoder(id), Value: sarama.ByteEncoder(v)})
		}
	}
	require.NoError(b, h.prod.SendMessages(msgs))
	deadline := time.Now().Add(2 * time.Minute)
	for {
		list, _, records, _ := h.srv.model.threadList()
		if len(list) == threads && records == int64(len(msgs)) {
			break
		}
		require.True(b, time.Now().Before(deadline), "the live model holds %d threads", len(list))
		time.Sleep(50 * time.Millisecond) // polling the model with a deadline
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heapLoaded := float64(ms.HeapInuse) / (1 << 20)

	b.ResetTimer()
	cpu0 := cpuSeconds()
	for range b.N {
		var wg sync.WaitGroup
		for range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := h.dial(b)
				defer c.c.CloseNow()
				c.send(map[string]any{"type": "resume", "from": "earliest", "lastOffsetsByPartition": map[string]string{}})
				recs, _ := c.until("replay_complete")
				if len(recs) != len(msgs) {
					b.Errorf("a client replayed %d records, want %d", len(recs), len(msgs))
				}
			}()
		}
		wg.Wait()
	}
	b.StopTimer()
	b.ReportMetric(heapLoaded, "heap-MiB")
	b.ReportMetric((cpuSeconds()-cpu0)/float64(b.N), "cpu-s/replay")
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-after-MiB")
}

// cpuSeconds is the process's user + system CPU time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
