package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
		check   func(t *testing.T, o options)
	}{
		{name: "defaults", check: func(t *testing.T, o options) {
			require.Equal(t, "127.0.0.1:9092", o.listen)
			require.Equal(t, 3, o.partitions)
			require.Equal(t, []string{"dashstream-events"}, o.topics)
			require.False(t, o.noAutoCreate)
		}},
		{name: "custom", args: []string{"-listen", ":19092", "-partitions", "5", "-topics", "a, b,,", "-no-auto-create"},
			check: func(t *testing.T, o options) {
				require.Equal(t, ":19092", o.listen)
				require.Equal(t, 5, o.partitions)
				require.Equal(t, []string{"a", "b"}, o.topics)
				require.True(t, o.noAutoCreate)
			}},
		{name: "zero partitions", args: []string{"-partitions", "0"}, wantErr: "at least 1"},
		{name: "bad listen", args: []string{"-listen", "9092"}, wantErr: "-listen"},
		{name: "bad log level", args: []string{"-log-level", "loud"}, wantErr: "log-level"},
		{name: "extra args", args: []string{"foo"}, wantErr: "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseFlags(tt.args, io.Discard)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			tt.check(t, o)
		})
	}
}

// syncBuffer lets the test read what run writes from another goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRunServesKafkaAndAutoCreatesTopics(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrCh := make(chan string, 1)
	done := make(chan error, 1)
	var stdout syncBuffer
	go func() {
		done <- run(ctx, []string{"-listen", "127.0.0.1:0", "-partitions", "4"}, &stdout, io.Discard,
			func(addr string) { addrCh <- addr })
	}()
	var addr string
	select {
	case addr = <-addrCh:
	case err := <-done:
		t.Fatalf("run returned before ready: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("devkafka not ready within 20s")
	}
	require.True(t, strings.HasPrefix(addr, "127.0.0.1:"), addr)
	require.Contains(t, stdout.String(), "devkafka ready: brokers="+addr+" partitions=4")

	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.AllowAutoTopicCreation(), kgo.DefaultProduceTopic("fresh-topic"))
	require.NoError(t, err)
	defer cl.Close()
	pctx, pcancel := context.WithTimeout(ctx, 20*time.Second)
	defer pcancel()
	require.NoError(t, cl.ProduceSync(pctx, &kgo.Record{Key: []byte("t1"), Value: []byte("v")}).FirstErr())

	parts := partitionCounts(pctx, t, cl, "fresh-topic", "dashstream-events")
	require.Equal(t, map[string]int{"fresh-topic": 4, "dashstream-events": 4}, parts)

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("run did not return after cancel")
	}
}

func TestRunNoAutoCreateRejectsUnknownTopic(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrCh := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-listen", "127.0.0.1:0", "-no-auto-create"}, io.Discard, io.Discard,
			func(addr string) { addrCh <- addr })
	}()
	addr := <-addrCh
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("missing"),
		kgo.RecordDeliveryTimeout(3*time.Second))
	require.NoError(t, err)
	defer cl.Close()
	pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
	defer pcancel()
	require.Error(t, cl.ProduceSync(pctx, &kgo.Record{Value: []byte("v")}).FirstErr())
	cancel()
	require.NoError(t, <-done)
}

// partitionCounts asks the broker for the partition count of each topic.
func partitionCounts(ctx context.Context, t *testing.T, cl *kgo.Client, topics ...string) map[string]int {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	for _, name := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(name)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, cl)
	require.NoError(t, err)
	out := make(map[string]int)
	for _, rt := range resp.Topics {
		require.Zero(t, rt.ErrorCode, "topic %v", rt.Topic)
		out[*rt.Topic] = len(rt.Partitions)
	}
	return out
}

// TestClusterChaos: -brokers 3 starts three brokers on consecutive ports;
// the control endpoints move leaders, take a broker away and bring it back
// on its port, and inject produce faults; SIGUSR1 reshuffles the leaders.
func TestClusterChaos(t *testing.T) {
	c, err := startCluster(options{listen: "127.0.0.1:0", partitions: 6, topics: []string{"dashstream-events"}, logLevel: "none", brokers: 3}, io.Discard)
	require.NoError(t, err)
	defer c.Close()
	require.Len(t, c.ListenAddrs(), 3)
	ch, err := newChaos(c, []string{"dashstream-events"}, io.Discard)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, stop, err := ch.serve(ctx, "127.0.0.1:0")
	require.NoError(t, err)
	defer stop()
	base := "http://" + addr.String()
	post := func(path string, want int) {
		t.Helper()
		resp, err := http.Post(base+path, "", nil)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, want, resp.StatusCode, "%s: %s", path, body)
	}

	post("/leaders/move?topic=dashstream-events&partition=2&node=1", http.StatusNoContent)
	require.Equal(t, int32(1), c.LeaderFor("dashstream-events", 2))
	post("/leaders/move?topic=dashstream-events&partition=2&node=7", http.StatusBadRequest)

	post("/brokers/remove?node=1", http.StatusNoContent)
	require.Len(t, c.ListenAddrs(), 2)
	for p := int32(0); p < 6; p++ {
		require.NotEqual(t, int32(1), c.LeaderFor("dashstream-events", p), "a removed broker leads nothing")
	}
	post("/brokers/add?node=1", http.StatusNoContent)
	require.ElementsMatch(t, ch.initialAddrs(), c.ListenAddrs(), "the broker is back on its port")

	post("/faults/produce?count=2&error=NOT_LEADER_FOR_PARTITION&partition=0", http.StatusNoContent)
	post("/faults/produce?error=NO_SUCH_ERROR", http.StatusBadRequest)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic("dashstream-events"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	require.NoError(t, err)
	defer cl.Close()
	pctx, pcancel := context.WithTimeout(ctx, 20*time.Second)
	defer pcancel()
	require.NoError(t, cl.ProduceSync(pctx, &kgo.Record{Partition: 0, Value: []byte("v")}).FirstErr(),
		"the client's retries ride out two NOT_LEADER answers")

	resp, err := http.Get(base + "/leaders")
	require.NoError(t, err)
	defer resp.Body.Close()
	var got struct {
		Brokers []string                    `json:"brokers"`
		Leaders map[string]map[string]int32 `json:"leaders"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
	require.Len(t, got.Brokers, 3)
	require.Len(t, got.Leaders["dashstream-events"], 6)
}
