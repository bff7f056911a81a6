package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"

	"github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
)

// These tests drive the DashFlow relay protocol on /ws with a real websocket
// client, against records in kfake read with sarama.

type serveHarness struct {
	addr string
	srv  *server
	http *httptest.Server
	prod sarama.SyncProducer
	k    kafkaFlags
}

// configure changes the server before its handler is built (access, tenant, UI).
func startServe(t testing.TB, queue int, configure ...func(*server)) *serveHarness {
	t.Helper()
	addr := startKafka(t)
	k := kafkaFlags{brokers: addr, topic: defaultTopic, protocolVersion: "2.1.0", dialTimeout: 5 * time.Second}
	client, err := connect(&k)
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Close() })
	f := serveFlags{kafka: k, limits: defaultLiveLimits()}
	srv := newServer(client, f, t.Logf)
	srv.relay.queue = queue
	if queue > 0 {
		srv.relay.slow = 300 * time.Millisecond
	}
	for _, c := range configure {
		c(srv)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); srv.follow(ctx) }()
	hs := httptest.NewServer(srv.handler())
	t.Cleanup(func() {
		hs.CloseClientConnections()
		hs.Close()
		cancel()
		<-done
	})
	return &serveHarness{addr: addr, srv: srv, http: hs, prod: producer(t, &k), k: k}
}

// produceRun produces one valid run of thread, sequences from firstSeq.
func (h *serveHarness) produceRun(t *testing.T, thread string, firstSeq uint64) {
	t.Helper()
	produce(t, h.prod, defaultTopic, newStream(t, thread, firstSeq).run()...)
}

type wsClient struct {
	t testing.TB
	c *websocket.Conn
}

func (h *serveHarness) dial(t testing.TB) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(h.http.URL, "http")+"/ws", nil)
	require.NoError(t, err)
	c.SetReadLimit(8 << 20)
	t.Cleanup(func() { c.CloseNow() })
	return &wsClient{t: t, c: c}
}

func (w *wsClient) send(v any) {
	b, err := json.Marshal(v)
	require.NoError(w.t, err)
	require.NoError(w.t, w.c.Write(context.Background(), websocket.MessageText, b))
}

// frame is one message from the server: a control message or a record
// (cursor + value, checked to come in pairs).
type frame struct {
	ctl       map[string]any
	partition int32
	offset    int64
	value     []byte
}

func (w *wsClient) next(timeout time.Duration) (frame, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	typ, data, err := w.c.Read(ctx)
	if err != nil {
		return frame{}, err
	}
	require.Equal(w.t, websocket.MessageText, typ, "a binary frame without its cursor")
	var ctl map[string]any
	require.NoError(w.t, json.Unmarshal(data, &ctl))
	if ctl["type"] != "cursor" {
		return frame{ctl: ctl}, nil
	}
	off, err := strconv.ParseInt(ctl["offset"].(string), 10, 64)
	require.NoError(w.t, err, "offsets are strings")
	typ, value, err := w.c.Read(ctx)
	require.NoError(w.t, err)
	require.Equal(w.t, websocket.MessageBinary, typ, "the cursor's record must follow it")
	return frame{partition: int32(ctl["partition"].(float64)), offset: off, value: value}, nil
}

// until reads frames until a control message of type typ, returning the
// records before it and that message.
func (w *wsClient) until(typ string) ([]frame, map[string]any) {
	w.t.Helper()
	var recs []frame
	for {
		f, err := w.next(10 * time.Second)
		require.NoError(w.t, err, "waiting for %s after %d records", typ, len(recs))
		if f.ctl == nil {
			recs = append(recs, f)
			continue
		}
		if f.ctl["type"] == typ {
			return recs, f.ctl
		}
		if f.ctl["type"] != "gap" && f.ctl["type"] != "cursor_stale" {
			w.t.Fatalf("unexpected control message %v", f.ctl)
		}
	}
}

// records reads n records (failing on any control message but pong).
func (w *wsClient) records(n int) []frame {
	w.t.Helper()
	var recs []frame
	for len(recs) < n {
		f, err := w.next(10 * time.Second)
		require.NoError(w.t, err, "after %d of %d records", len(recs), n)
		if f.ctl != nil {
			w.t.Fatalf("control message %v while waiting for records", f.ctl)
		}
		recs = append(recs, f)
	}
	return recs
}

// offsetsOf returns, per partition, the last offset of recs, as the UI
// commits them.
func offsetsOf(recs []frame) map[string]string {
	out := map[string]string{}
	for _, r := range recs {
		out[strconv.Itoa(int(r.partition))] = strconv.FormatInt(r.offset, 10)
	}
	return out
}

// checkContiguous asserts recs hold, per partition, consecutive offsets from
// start[p] with no duplicate.
func checkContiguous(t *testing.T, recs []frame, start map[int32]int64) map[int32]int64 {
	t.Helper()
	next := map[int32]int64{}
	for p, s := range start {
		next[p] = s
	}
	for _, r := range recs {
		want, ok := next[r.partition]
		if !ok {
			want = 0
		}
		require.Equal(t, want, r.offset, "partition %d: a gap or a duplicate", r.partition)
		next[r.partition] = r.offset + 1
	}
	return next
}

func TestRelayReplayThenLiveThenResume(t *testing.T) {
	h := startServe(t, 0)
	for i := range 3 {
		h.produceRun(t, fmt.Sprintf("thread-%d", i), 100)
	}
	c := h.dial(t)
	c.send(map[string]any{"type": "resume", "from": "earliest", "lastOffsetsByPartition": map[string]string{}})
	recs, done := c.until("replay_complete")
	require.Len(t, recs, 30)
	require.EqualValues(t, 30, done["totalReplayed"])
	require.Equal(t, "earliest", done["mode"])
	want := offsetsOf(recs)
	for p := range 3 { // an empty partition's cursor is -1: resuming from it starts at 0
		if _, ok := want[strconv.Itoa(p)]; !ok {
			want[strconv.Itoa(p)] = "-1"
		}
	}
	require.Equal(t, want, toStringMap(done["lastOffsetsByPartition"]))
	next := checkContiguous(t, recs, nil)

	// Live: records produced now arrive without asking.
	h.produceRun(t, "thread-live", 500)
	live := c.records(10)
	next = checkContiguous(t, live, next)

	// A client that applied only part of it resumes exactly after it.
	seen := append(recs, live...)
	cut := seen[:17]
	c2 := h.dial(t)
	c2.send(map[string]any{"type": "resume", "from": "cursor", "lastOffsetsByPartition": offsetsOf(cut)})
	rest, done2 := c2.until("replay_complete")
	start := map[int32]int64{}
	for p, o := range offsetsOf(cut) {
		pi, _ := strconv.Atoi(p)
		oi, _ := strconv.ParseInt(o, 10, 64)
		start[int32(pi)] = oi + 1
	}
	got := checkContiguous(t, rest, start)
	require.Equal(t, next, got, "resume must end where the first client is: no gap, no duplicate")
	require.Len(t, rest, len(seen)-len(cut))
	require.Equal(t, "cursor", done2["mode"])
}

func toStringMap(v any) map[string]string {
	out := map[string]string{}
	for k, x := range v.(map[string]any) {
		out[k] = x.(string)
	}
	return out
}

func TestRelayResumeLatest(t *testing.T) {
	h := startServe(t, 0)
	h.produceRun(t, "old", 1)
	c := h.dial(t)
	c.send(map[string]any{"type": "resume", "from": "latest", "lastOffsetsByPartition": map[string]string{}})
	recs, done := c.until("replay_complete")
	require.Empty(t, recs, "latest replays nothing")
	require.EqualValues(t, 0, done["totalReplayed"])
	h.produceRun(t, "new", 1)
	for _, r := range c.records(10) {
		require.NotEqual(t, int64(-1), r.offset)
	}
}

func TestRelayStaleCursor(t *testing.T) {
	h := startServe(t, 0)
	h.produceRun(t, "stale", 1) // one thread: one partition, offsets 0..9
	client, err := connect(&h.k)
	require.NoError(t, err)
	defer client.Close()
	part, err := client.Partitions(defaultTopic)
	require.NoError(t, err)
	var p int32 = -1
	for _, q := range part {
		if n, _ := client.GetOffset(defaultTopic, q, sarama.OffsetNewest); n == 10 {
			p = q
		}
	}
	require.NotEqual(t, int32(-1), p, "the thread's partition")
	admin, err := sarama.NewClusterAdminFromClient(client)
	require.NoError(t, err)
	require.NoError(t, admin.DeleteRecords(defaultTopic, map[int32]int64{p: 6}))

	c := h.dial(t)
	c.send(map[string]any{"type": "resume", "from": "cursor",
		"lastOffsetsByPartition": map[string]string{strconv.Itoa(int(p)): "1"}})
	var stale, gap map[string]any
	var recs []frame
	for stale == nil || gap == nil || len(recs) < 4 {
		f, err := c.next(10 * time.Second)
		require.NoError(t, err)
		switch {
		case f.ctl == nil:
			recs = append(recs, f)
		case f.ctl["type"] == "cursor_stale":
			stale = f.ctl
		case f.ctl["type"] == "gap":
			gap = f.ctl
		}
	}
	require.Equal(t, "1", stale["requested"])
	require.Equal(t, "6", stale["oldest"])
	require.EqualValues(t, 4, gap["count"], "offsets 2..5 are gone")
	require.Equal(t, int64(6), recs[0].offset, "replay restarts at the oldest record")
}

func TestRelayControlMessages(t *testing.T) {
	h := startServe(t, 0)
	h.produceRun(t, "ctl", 1)
	c := h.dial(t)
	c.send(map[string]any{"type": "ping"})
	f, err := c.next(5 * time.Second)
	require.NoError(t, err)
	require.Equal(t, "pong", f.ctl["type"])
	c.send(map[string]any{"type": "cursor_reset"})
	f, err = c.next(5 * time.Second)
	require.NoError(t, err)
	require.Equal(t, "cursor_reset_complete", f.ctl["type"])
	latest := toStringMap(f.ctl["latestOffsetsByPartition"])
	require.Len(t, latest, 3)
	// Resuming from the reset cursor sends nothing old.
	c.send(map[string]any{"type": "resume", "from": "cursor", "lastOffsetsByPartition": latest})
	recs, _ := c.until("replay_complete")
	require.Empty(t, recs)
	c.send(map[string]any{"type": "resume", "from": "cursor", "lastOffsetsByPartition": map[string]string{"0": "x"}})
	f, err = c.next(5 * time.Second)
	require.NoError(t, err)
	require.Equal(t, "error", f.ctl["type"], "a malformed cursor is answered, not ignored")
}

func TestRelayRefusesForeignOrigin(t *testing.T) {
	h := startServe(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(h.http.URL, "http")+"/ws",
		&websocket.DialOptions{HTTPHeader: http.Header{"Origin": []string{"http://evil.example"}}})
	require.Error(t, err)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
}

// A client that stops reading is told and dropped; the server holds at
// most its queue for it.
func TestRelayDropsSlowClient(t *testing.T) {
	h := startServe(t, 4)
	// Incompressible states, so that the socket buffers fill up.
	rnd := rand.New(rand.NewPCG(1, 2))
	pad := func() string {
		raw := make([]byte, 150<<10)
		for i := range raw {
			raw[i] = byte(rnd.Uint32())
		}
		return base64.StdEncoding.EncodeToString(raw)
	}
	b := newStream(t, "big", 1)
	msgs := []*dashstreampb.DashStreamMessage{b.graphStart(`{"messages":["hi"],"counter":0}`)}
	for i := range 200 {
		msgs = append(msgs, b.fullState(fmt.Sprintf(`{"messages":["hi"],"counter":%d,"pad":%q}`, i+1, pad())))
	}
	produce(t, h.prod, defaultTopic, msgs...)
	c := h.dial(t)
	c.send(map[string]any{"type": "resume", "from": "earliest", "lastOffsetsByPartition": map[string]string{}})
	deadline := time.Now().Add(20 * time.Second)
	for h.srv.relay.dropped.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond) // polling a counter, not synchronising
	}
	require.EqualValues(t, 1, h.srv.relay.dropped.Load(), "the slow client was not dropped")
	var disconnect map[string]any
	for {
		f, err := c.next(10 * time.Second)
		if err != nil {
			break
		}
		if f.ctl != nil && f.ctl["type"] == "disconnect" {
			disconnect = f.ctl
		}
	}
	require.NotNil(t, disconnect, "the client is told why")
	require.Equal(t, "backpressure", disconnect["reason"])
}

func TestCheckListen(t *testing.T) {
	for _, tc := range []struct {
		addr   string
		remote bool
		ok     bool
	}{
		{"127.0.0.1:8080", false, true},
		{"localhost:8080", false, true},
		{"[::1]:8080", false, true},
		{"0.0.0.0:8080", false, false},
		{":8080", false, false},
		{"192.0.2.1:8080", false, false},
		{"0.0.0.0:8080", true, true},
		{"nonsense", false, false},
	} {
		err := checkListen(tc.addr, tc.remote)
		require.Equal(t, tc.ok, err == nil, "%s remote=%v: %v", tc.addr, tc.remote, err)
	}
}

// A page of another site whose name was rebound to 127.0.0.1 sends its own
// Host: it must not read the view or the relay.
func TestServeRefusesForeignHost(t *testing.T) {
	h := startServe(t, 0)
	for _, path := range []string{"/live/api/threads", "/ws", "/health"} {
		req, err := http.NewRequest(http.MethodGet, h.http.URL+path, nil)
		require.NoError(t, err)
		req.Host = "rebound.example:8080"
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusForbidden, resp.StatusCode, path)
	}
	require.EqualValues(t, 3, h.srv.access.refusedCounts()[refusedForeignHost], "counted")
	for _, host := range []string{"127.0.0.1:8080", "localhost:1", "[::1]:80", "localhost"} {
		require.True(t, loopbackHost(host), host)
	}
	for _, host := range []string{"example.com", "10.0.0.1:80", "127.0.0.1.example:80", ""} {
		require.False(t, loopbackHost(host), host)
	}
}

func TestRelayMaxClients(t *testing.T) {
	h := startServe(t, 0)
	h.srv.relay.maxClients = 1
	h.dial(t)
	deadline := time.Now().Add(5 * time.Second)
	for h.srv.relay.clients.Load() < 1 {
		require.True(t, time.Now().Before(deadline))
		time.Sleep(10 * time.Millisecond) // polling a counter
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(h.http.URL, "http")+"/ws", nil)
	require.Error(t, err)
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
}
