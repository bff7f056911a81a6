package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/coder/websocket"
)

// The DashFlow observability UI does not read Kafka: it talks to DashFlow's
// websocket relay on /ws. This file speaks that relay's protocol over our
// topic, so the unmodified UI, served from the same origin, works on our
// stream:
//
//   - the client sends {"type":"resume","from":"latest"|"earliest"|"cursor",
//     "lastOffsetsByPartition":{"0":"41",…}} (offsets it has applied);
//   - each record goes out as a text frame {"type":"cursor","partition":P,
//     "offset":"O"} followed by the record value as a binary frame;
//   - once the records that were in the topic when the resume arrived are
//     sent, {"type":"replay_complete",…}; then live records follow;
//   - a cursor older than what Kafka still holds gets {"type":"cursor_stale"}
//     and {"type":"gap"} before the replay from the oldest record;
//   - {"type":"ping"} → {"type":"pong"}; {"type":"cursor_reset"} →
//     {"type":"cursor_reset_complete","latestOffsetsByPartition":…};
//   - a client that cannot keep up (its queue full for relaySlowClient) is
//     sent {"type":"disconnect","reason":"backpressure"} and closed; it
//     resumes from its cursor.
//
// Each client reads the topic with its own partition consumers from the
// offsets it asked for, so a resume is exact (no duplicates, no gaps) as far
// back as the topic's retention, and the server holds no replay buffer: per
// client at most relayQueueUnits records wait to be written.

// relayQueueUnits bounds what waits to be written to one client.
const relayQueueUnits = 512

// relayWriteTimeout bounds one frame write; a client that does not read is
// dropped.
const relayWriteTimeout = 10 * time.Second

// relaySlowClient is how long a client's queue may stay full.
const relaySlowClient = 5 * time.Second

func (rl *relay) slowAfter() time.Duration {
	if rl.slow > 0 {
		return rl.slow
	}
	return relaySlowClient
}

// relay serves /ws, /health and /version.
type relay struct {
	// client answers metadata and offset queries; every websocket client
	// reads the topic through a client of its own from dial, so that one's
	// fetches never wait behind another's on a shared connection.
	client  sarama.Client
	dial    func() (sarama.Client, error)
	topic   string
	origins []string
	// queue is the number of units (a cursor and its record, or a control
	// message) waiting for one client; 0 means relayQueueUnits.
	queue int
	// maxClients bounds the websocket clients served at once (0: no bound).
	maxClients int
	// slow is how long a full queue may stay full before its client is
	// dropped; 0 means relaySlowClient.
	slow    time.Duration
	started time.Time
	logf    func(format string, args ...any)
	// tenant keeps one tenant's records (--tenant).
	tenant tenantFilter

	clients       atomic.Int64
	sent          atomic.Int64 // records written to clients
	sendFailed    atomic.Int64
	sendTimeouts  atomic.Int64
	dropped       atomic.Int64 // clients dropped for backpressure
	kafkaErrors   atomic.Int64
	lastRecordAt  atomic.Int64 // unix nanos of the newest record read by any reader
	recordsServed atomic.Int64 // records read from Kafka for clients
}

// relayFrame is one websocket message.
type relayFrame struct {
	binary bool
	data   []byte
}

// relayConn is one websocket client.
type relayConn struct {
	rl   *relay
	c    *websocket.Conn
	out  chan []relayFrame // units: a cursor and its record go together
	kill chan string       // closed (with a reason sent first) to drop the client
	done <-chan struct{}   // the connection's end
	once sync.Once
}

// control sends one JSON text frame to a client.
func (rc *relayConn) control(v any) bool {
	b, err := json.Marshal(v)
	if err != nil {
		return false
	}
	return rc.enqueue([]relayFrame{{data: b}})
}

// enqueue queues frames. A full queue holds the client's Kafka reader back
// (it reads for this client alone); when it stays full for the relay's
// slow-client time, the client is dropped.
func (rc *relayConn) enqueue(unit []relayFrame) bool {
	select {
	case rc.out <- unit:
		return true
	default:
	}
	t := time.NewTimer(rc.rl.slowAfter())
	defer t.Stop()
	select {
	case rc.out <- unit:
		return true
	case <-rc.done:
		return false
	case <-t.C:
		rc.drop("backpressure")
		return false
	}
}

// drop tells the writer to say why and close.
func (rc *relayConn) drop(reason string) {
	rc.once.Do(func() {
		rc.rl.dropped.Add(1)
		rc.kill <- reason
		close(rc.kill)
	})
}

// serveWS runs one client until it goes away or is dropped.
func (rl *relay) serveWS(w http.ResponseWriter, r *http.Request) {
	if rl.maxClients > 0 && rl.clients.Load() >= int64(rl.maxClients) {
		http.Error(w, "too many websocket clients", http.StatusServiceUnavailable)
		return
	}
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: rl.origins})
	if err != nil {
		rl.logf("websocket from %s refused: %v", r.RemoteAddr, err)
		return
	}
	c.SetReadLimit(1 << 20)
	rl.clients.Add(1)
	defer rl.clients.Add(-1)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	queue := rl.queue
	if queue <= 0 {
		queue = relayQueueUnits
	}
	rc := &relayConn{rl: rl, c: c, out: make(chan []relayFrame, queue), kill: make(chan string, 1), done: ctx.Done()}

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer cancel()
		rc.write(ctx)
	}()

	var stream context.CancelFunc
	var streamDone chan struct{}
	stopStream := func() {
		if stream != nil {
			stream()
			<-streamDone
			stream = nil
		}
	}
	defer stopStream()
	for {
		typ, data, err := c.Read(ctx)
		if err != nil {
			break
		}
		if typ != websocket.MessageText {
			continue
		}
		var msg struct {
			Type                   string            `json:"type"`
			From                   string            `json:"from"`
			LastOffsetsByPartition map[string]string `json:"lastOffsetsByPartition"`
		}
		if err := json.Unmarshal(data, &msg); err != nil {
			rc.control(map[string]any{"type": "error", "message": "malformed JSON message"})
			continue
		}
		switch msg.Type {
		case "ping":
			rc.control(map[string]any{"type": "pong"})
		case "resume":
			stopStream()
			offsets, bad := parseOffsets(msg.LastOffsetsByPartition)
			if bad != "" {
				rc.control(map[string]any{"type": "error", "message": bad})
			}
			sctx, scancel := context.WithCancel(ctx)
			stream, streamDone = scancel, make(chan struct{})
			go func(done chan struct{}) {
				defer close(done)
				rl.stream(sctx, rc, msg.From, offsets)
			}(streamDone)
		case "cursor_reset":
			latest, err := rl.latestOffsets()
			if err != nil {
				rc.control(map[string]any{"type": "error", "message": "cursor reset: " + err.Error()})
				continue
			}
			rc.control(map[string]any{"type": "cursor_reset_complete", "latestOffsetsByPartition": latest,
				"bufferCleared": true, "truncated": false, "totalPartitions": len(latest),
				"message": fmt.Sprintf("Cursor reset complete. %d partition(s) available.", len(latest))})
		}
	}
	cancel()
	stopStream()
	wg.Wait()
}

// write sends queued frames in order until ctx ends or the client is
// dropped, which it is told first.
func (rc *relayConn) write(ctx context.Context) {
	defer rc.c.CloseNow()
	dropped := func(reason string) {
		b, _ := json.Marshal(map[string]any{"type": "disconnect", "reason": reason,
			"message": "Disconnected: the connection could not keep up. Reconnect with the resume protocol."})
		wctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = rc.c.Write(wctx, websocket.MessageText, b)
		cancel()
		rc.c.Close(websocket.StatusPolicyViolation, reason)
	}
	for {
		// A drop goes before anything still queued.
		select {
		case reason := <-rc.kill:
			dropped(reason)
			return
		default:
		}
		select {
		case <-ctx.Done():
			rc.c.Close(websocket.StatusGoingAway, "server closing")
			return
		case reason := <-rc.kill:
			dropped(reason)
			return
		case unit := <-rc.out:
			for _, f := range unit {
				typ := websocket.MessageText
				if f.binary {
					typ = websocket.MessageBinary
				}
				wctx, cancel := context.WithTimeout(ctx, relayWriteTimeout)
				err := rc.c.Write(wctx, typ, f.data)
				cancel()
				if err != nil {
					if errors.Is(err, context.DeadlineExceeded) {
						rc.rl.sendTimeouts.Add(1)
					} else {
						rc.rl.sendFailed.Add(1)
					}
					return
				}
				if f.binary {
					rc.rl.sent.Add(1)
				}
			}
		}
	}
}

// parseOffsets reads lastOffsetsByPartition (offsets as strings, as the UI
// sends them to keep 64-bit precision; numbers are accepted too).
func parseOffsets(in map[string]string) (map[int32]int64, string) {
	out := make(map[int32]int64, len(in))
	for k, v := range in {
		p, err1 := strconv.ParseInt(k, 10, 32)
		o, err2 := strconv.ParseInt(v, 10, 64)
		if err1 != nil || err2 != nil || p < 0 || o < -1 {
			return out, fmt.Sprintf("bad offset %q for partition %q", v, k)
		}
		out[int32(p)] = o
	}
	return out, ""
}

// waitForTopic polls until the topic exists (the collector creates it with
// its first record) or ctx ends.
func (rl *relay) partitions(ctx context.Context) ([]int32, error) {
	for {
		parts, err := rl.client.Partitions(rl.topic)
		if err == nil && len(parts) > 0 {
			return parts, nil
		}
		if err != nil && !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
			rl.kafkaErrors.Add(1)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
			_ = rl.client.RefreshMetadata(rl.topic)
		}
	}
}

// latestOffsets returns, per partition, the offset of its newest record
// (-1 when empty) as a resume cursor: resuming from it sends only what
// comes next.
func (rl *relay) latestOffsets() (map[string]string, error) {
	parts, err := rl.client.Partitions(rl.topic)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(parts))
	for _, p := range parts {
		newest, err := rl.client.GetOffset(rl.topic, p, sarama.OffsetNewest)
		if err != nil {
			return nil, err
		}
		out[strconv.Itoa(int(p))] = strconv.FormatInt(newest-1, 10)
	}
	return out, nil
}

// stream sends a client the records it asked for, then live records, until
// ctx ends.
func (rl *relay) stream(ctx context.Context, rc *relayConn, from string, last map[int32]int64) {
	parts, err := rl.partitions(ctx)
	if err != nil {
		return
	}
	if from == "" {
		from = "cursor"
	}
	reader, err := rl.dial()
	if err != nil {
		rl.kafkaErrors.Add(1)
		rc.control(map[string]any{"type": "error", "message": "connecting to Kafka: " + err.Error()})
		return
	}
	defer reader.Close()
	start := make(map[int32]int64, len(parts))
	sent := make(map[int32]int64, len(parts)) // last offset sent per partition
	for _, p := range parts {
		oldest, err1 := rl.client.GetOffset(rl.topic, p, sarama.OffsetOldest)
		newest, err2 := rl.client.GetOffset(rl.topic, p, sarama.OffsetNewest)
		if err := errors.Join(err1, err2); err != nil {
			rl.kafkaErrors.Add(1)
			rc.control(map[string]any{"type": "error", "message": "offsets: " + err.Error()})
			return
		}
		sent[p] = newest - 1
		switch from {
		case "latest":
			start[p] = newest
		case "earliest":
			start[p] = oldest
		default:
			l, known := last[p]
			switch {
			case !known:
				start[p] = oldest // a partition the client has not seen
			case l+1 < oldest:
				rc.control(map[string]any{"type": "cursor_stale", "partition": p,
					"requested": strconv.FormatInt(l, 10), "oldest": strconv.FormatInt(oldest, 10),
					"message": "Cursor is older than the topic's oldest record; state may be incomplete."})
				rc.control(map[string]any{"type": "gap", "partition": p, "count": oldest - (l + 1), "severity": "warning",
					"message": "Records between the cursor and the oldest retained record are gone."})
				start[p] = oldest
			default:
				start[p] = min(l+1, newest)
			}
		}
		if start[p] < newest {
			sent[p] = start[p] - 1
		}
	}
	total := 0
	complete := func() {
		offs := make(map[string]string, len(sent))
		for p, o := range sent {
			offs[strconv.Itoa(int(p))] = strconv.FormatInt(o, 10)
		}
		rc.control(map[string]any{"type": "replay_complete", "lastOffsetsByPartition": offs,
			"capped": false, "totalReplayed": total, "mode": from})
	}
	caughtUp := false
	_, err = consumeTopic(ctx, reader, rl.topic, consumeOptions{
		Start:  start,
		Follow: true,
		OnCaughtUp: func() {
			caughtUp = true
			complete()
		},
		OnError: func(error) { rl.kafkaErrors.Add(1) },
	}, func(r record) {
		rl.recordsServed.Add(1)
		rl.lastRecordAt.Store(time.Now().UnixNano())
		if !rl.tenant.keepValue(r.Value) {
			sent[r.Partition] = r.Offset // passed over: the cursor moves on
			return
		}
		cur, _ := json.Marshal(map[string]any{"type": "cursor", "partition": r.Partition,
			"offset": strconv.FormatInt(r.Offset, 10)})
		if rc.enqueue([]relayFrame{{data: cur}, {binary: true, data: r.Value}}) {
			sent[r.Partition] = r.Offset
			if !caughtUp {
				total++
			}
		}
	})
	if err != nil && ctx.Err() == nil {
		rl.kafkaErrors.Add(1)
		rc.control(map[string]any{"type": "error", "message": "reading the topic: " + err.Error()})
	}
}
