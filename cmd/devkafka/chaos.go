package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// chaos changes a running cluster the way a real one changes under an
// operator: partition leaders move, brokers leave and come back on their
// port, a leader refuses produce requests for a while (a slow election).
// SIGUSR1 moves every partition's leader; the HTTP endpoints (-control):
//
//	POST /leaders/shuffle                       every partition gets a random leader
//	POST /leaders/move?topic=T&partition=P&node=N
//	POST /brokers/remove?node=N                 partitions move to the others, its port closes
//	POST /brokers/add?node=N                    back on its first port
//	POST /faults/produce?count=8&error=NOT_LEADER_FOR_PARTITION[&topic=T][&partition=P][&node=N]
//	GET  /leaders                               {"topic": {"partition": node}}, brokers
type chaos struct {
	c      *kfake.Cluster
	topics []string
	log    io.Writer

	mu    sync.Mutex
	ports map[int32]int // each node's first port, for /brokers/add
}

func newChaos(c *kfake.Cluster, topics []string, log io.Writer) (*chaos, error) {
	ch := &chaos{c: c, topics: topics, log: log, ports: map[int32]int{}}
	for i, a := range c.ListenAddrs() {
		_, p, err := net.SplitHostPort(a)
		if err != nil {
			return nil, err
		}
		port, _ := strconv.Atoi(p)
		ch.ports[int32(i)] = port
	}
	return ch, nil
}

func (ch *chaos) logf(format string, args ...any) {
	fmt.Fprintf(ch.log, "devkafka: chaos: "+format+"\n", args...)
}

// shuffle gives every partition a new random leader.
func (ch *chaos) shuffle() {
	ch.c.ShufflePartitionLeaders()
	ch.logf("partition leaders shuffled")
}

func (ch *chaos) removeNode(node int32) error {
	if err := ch.c.RemoveNode(node); err != nil {
		return err
	}
	ch.logf("broker %d removed", node)
	return nil
}

func (ch *chaos) addNode(node int32) error {
	ch.mu.Lock()
	port, ok := ch.ports[node]
	ch.mu.Unlock()
	if !ok {
		return fmt.Errorf("node %d was never part of the cluster", node)
	}
	if _, _, err := ch.c.AddNode(node, port); err != nil {
		return err
	}
	ch.logf("broker %d back on port %d", node, port)
	return nil
}

// fault makes produce requests fail with err count times.
func (ch *chaos) fault(f kfake.Fault) {
	f.Keys = []kmsg.Key{kmsg.Produce}
	ch.c.Fault(f)
	ch.logf("the next %d produce requests (topic %q, partitions %v, nodes %v) fail with %s", f.Count, f.Topic, f.Partitions, f.Nodes, f.Err.Message)
}

// leaders maps topic → partition → leader node.
func (ch *chaos) leaders() map[string]map[string]int32 {
	out := map[string]map[string]int32{}
	for _, t := range ch.topics {
		m := map[string]int32{}
		for p := int32(0); ; p++ {
			n := ch.c.LeaderFor(t, p)
			if n < 0 {
				break
			}
			m[strconv.Itoa(int(p))] = n
		}
		out[t] = m
	}
	return out
}

func (ch *chaos) handler() http.Handler {
	mux := http.NewServeMux()
	post := func(path string, fn func(r *http.Request) error) {
		mux.HandleFunc("POST "+path, func(w http.ResponseWriter, r *http.Request) {
			if err := fn(r); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		})
	}
	post("/leaders/shuffle", func(*http.Request) error { ch.shuffle(); return nil })
	post("/leaders/move", func(r *http.Request) error {
		part, err1 := intParam(r, "partition", -1)
		node, err2 := intParam(r, "node", -1)
		if err := errors.Join(err1, err2); err != nil {
			return err
		}
		topic := r.URL.Query().Get("topic")
		if err := ch.c.MoveTopicPartition(topic, int32(part), int32(node)); err != nil {
			return err
		}
		ch.logf("%s/%d now led by broker %d", topic, part, node)
		return nil
	})
	post("/brokers/remove", func(r *http.Request) error {
		node, err := intParam(r, "node", -1)
		if err != nil {
			return err
		}
		return ch.removeNode(int32(node))
	})
	post("/brokers/add", func(r *http.Request) error {
		node, err := intParam(r, "node", -1)
		if err != nil {
			return err
		}
		return ch.addNode(int32(node))
	})
	post("/faults/produce", func(r *http.Request) error {
		count, err := intParam(r, "count", 1)
		if err != nil {
			return err
		}
		name := r.URL.Query().Get("error")
		if name == "" {
			name = kerr.NotLeaderForPartition.Message
		}
		code := codeOf(name)
		if code == -2 {
			return fmt.Errorf("error %q: not a Kafka error name", name)
		}
		kind := kerr.ErrorForCode(code)
		var ke *kerr.Error
		if !errors.As(kind, &ke) {
			return fmt.Errorf("error %q: not a Kafka error name", name)
		}
		f := kfake.Fault{Topic: r.URL.Query().Get("topic"), Err: ke, Count: count}
		if r.URL.Query().Has("partition") {
			p, err := intParam(r, "partition", 0)
			if err != nil {
				return err
			}
			f.Partitions = []int32{int32(p)}
		}
		if r.URL.Query().Has("node") {
			n, err := intParam(r, "node", 0)
			if err != nil {
				return err
			}
			f.Nodes = []int32{int32(n)}
		}
		ch.fault(f)
		return nil
	})
	mux.HandleFunc("GET /leaders", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"brokers": ch.c.ListenAddrs(), "leaders": ch.leaders()})
	})
	return mux
}

// codeOf finds the Kafka error code named name (e.g. NOT_LEADER_FOR_PARTITION).
func codeOf(name string) int16 {
	for code := int16(-1); code < 200; code++ {
		if err := kerr.ErrorForCode(code); err != nil {
			var ke *kerr.Error
			if errors.As(err, &ke) && ke.Message == name {
				return code
			}
		}
	}
	return -2 // no such name
}

func intParam(r *http.Request, name string, def int) (int, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		if def < 0 {
			return 0, fmt.Errorf("parameter %q is required", name)
		}
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("parameter %q: %q is not a non-negative integer", name, s)
	}
	return n, nil
}

// serve runs the chaos endpoints on addr until ctx is done.
func (ch *chaos) serve(ctx context.Context, addr string) (net.Addr, func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("-control %s: %w", addr, err)
	}
	srv := &http.Server{Handler: ch.handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	stop := func() {
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}
	go func() {
		<-ctx.Done()
		stop()
	}()
	return ln.Addr(), stop, nil
}

// initialAddrs are the brokers' addresses at start (tests).
func (ch *chaos) initialAddrs() []string {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	out := make([]string, 0, len(ch.ports))
	for n := range int32(len(ch.ports)) {
		out = append(out, net.JoinHostPort("127.0.0.1", strconv.Itoa(ch.ports[n])))
	}
	return out
}
