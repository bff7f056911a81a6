package main

import (
	"context"
	"crypto/tls"
	"embed"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"

	"github.com/dashstream/dashstreamexporter/dashstream"
)

// `dashstream serve` shows the topic in a browser: a live view of every
// thread built into the binary (web/), and the DashFlow UI's websocket
// relay protocol on /ws so the unmodified DashFlow observability UI can be
// served from the same origin (--ui-dir) and pointed at our stream.

//go:embed web
var webFiles embed.FS

// sseInterval is the most often the live view's event stream says
// "changed": changes in between are coalesced.
const sseInterval = 250 * time.Millisecond

// serveFlags are serve's settings.
type serveFlags struct {
	kafka       kafkaFlags
	listen      string
	allowRemote bool
	uiDir       string
	origins     stringList
	limits      liveLimits
	maxClients  int
	auth        authFlags
	tls         listenTLSFlags
	tenant      string
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return fmt.Sprint(*s) }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func (f *serveFlags) register(fs *flag.FlagSet) {
	f.kafka.register(fs)
	f.limits = defaultLiveLimits()
	fs.StringVar(&f.listen, "listen", "127.0.0.1:8080", "address to serve on")
	fs.BoolVar(&f.allowRemote, "allow-remote", false, "allow --listen on a non-loopback address (needs authentication: --auth-token-file or $"+envServeToken+", or --insecure-no-auth)")
	fs.StringVar(&f.uiDir, "ui-dir", "", "serve the built DashFlow observability UI (its dist/ directory) at / ; it talks to this server's /ws")
	fs.Var(&f.origins, "allow-origin", "also accept websocket connections from pages of this origin host pattern (e.g. 'ui.example.com'); repeatable")
	fs.IntVar(&f.limits.threads, "max-threads", f.limits.threads, "threads the live view keeps (the least recently updated go first)")
	fs.IntVar(&f.limits.history, "max-history", f.limits.history, "messages of history the live view keeps per thread")
	fs.Int64Var(&f.limits.stateBytes, "max-state-bytes", f.limits.stateBytes, "bytes of state snapshots the live view keeps in all, for time travel")
	fs.IntVar(&f.maxClients, "max-clients", 64, "websocket clients served at once (each reads Kafka on its own)")
	fs.StringVar(&f.tenant, "tenant", "", "show only the messages whose Header.tenant_id is this tenant, on the live view and the relay")
	f.auth.register(fs)
	f.tls.register(fs)
}

// checkListen refuses a non-loopback address unless allowed.
func checkListen(addr string, allowRemote bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return usageErrorf("--listen %q: %v", addr, err)
	}
	if !allowRemote && !loopbackHost(host) {
		return usageErrorf("--listen %q is not a loopback address: the view shows every state in the topic; add --allow-remote to serve it anyway", addr)
	}
	return nil
}

func runServe(ctx context.Context, args []string, e env) error {
	fset := flag.NewFlagSet("dashstream serve", flag.ContinueOnError)
	fset.SetOutput(e.stderr)
	var f serveFlags
	f.register(fset)
	pos, err := parseArgs(fset, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected arguments %q", pos)
	}
	if err := checkListen(f.listen, f.allowRemote); err != nil {
		return err
	}
	if f.uiDir != "" {
		if _, err := os.Stat(f.uiDir + "/index.html"); err != nil {
			return usageErrorf("--ui-dir %q: no index.html (point it at the UI's built dist/ directory)", f.uiDir)
		}
	}
	if f.limits.threads < 1 || f.limits.history < 1 || f.limits.stateBytes < 0 {
		return usageErrorf("--max-threads and --max-history must be at least 1, --max-state-bytes not negative")
	}
	logf := func(format string, args ...any) {
		fmt.Fprintf(e.stderr, "dashstream serve: "+format+"\n", args...)
	}
	sec, err := f.security(os.Getenv, logf)
	if err != nil {
		return err
	}
	client, err := connect(&f.kafka)
	if err != nil {
		return err
	}
	defer client.Close()

	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", f.listen, err)
	}
	srv := newServer(client, f, logf)
	srv.setTenant(sec.tenant)
	srv.access = newAccess(sec.creds, f.auth.sessionTTL, sec.tls != nil, f.origins, logf)
	scheme := "http"
	if sec.tls != nil {
		ln, scheme = tls.NewListener(ln, sec.tls), "https"
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go srv.follow(ctx)

	hs := &http.Server{Handler: srv.handler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: srv.access.serverErrorLog()}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	base := scheme + "://" + ln.Addr().String()
	fmt.Fprintf(e.stdout, "dashstream serve: live view on %s/live/ (topic %s on %s)\n", base, f.kafka.topic, f.kafka.brokers)
	if f.uiDir != "" {
		fmt.Fprintf(e.stdout, "dashstream serve: DashFlow UI on %s/ (relay on %s/ws)\n", base, base)
	}
	if len(sec.creds) > 0 {
		fmt.Fprintf(e.stdout, "dashstream serve: authentication on (%d token(s)); browsers log in at %s/login\n", len(sec.creds), base)
	}
	if f.tenant != "" {
		fmt.Fprintf(e.stdout, "dashstream serve: tenant %q only\n", f.tenant)
	}
	select {
	case <-ctx.Done():
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	}
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	_ = hs.Shutdown(sctx)
	return nil
}

// server is serve's state: the live model, the relay and the HTTP routes.
type server struct {
	flags    serveFlags
	model    *liveModel
	relay    *relay
	expected expectedSchemas
	access   *access
	logf     func(string, ...any)
}

func newServer(client sarama.Client, f serveFlags, logf func(string, ...any)) *server {
	return &server{
		flags: f,
		model: newLiveModel(f.limits),
		relay: &relay{client: client, topic: f.kafka.topic, origins: f.origins, started: time.Now(), logf: logf, maxClients: f.maxClients,
			dial: func() (sarama.Client, error) { return connect(&f.kafka) }},
		access: newAccess(nil, 0, false, f.origins, logf),
		logf:   logf,
	}
}

// follow feeds the live model from the beginning of the topic until ctx
// ends, waiting for the topic to exist and starting over on read errors.
func (s *server) follow(ctx context.Context) {
	dec, err := dashstream.NewDecoder(dashstream.DecoderOptions{})
	if err != nil {
		s.logf("decoder: %v", err)
		return
	}
	next := map[int32]int64{}
	for ctx.Err() == nil {
		if _, err := s.relay.partitions(ctx); err != nil {
			return
		}
		_, err := consumeTopic(ctx, s.relay.client, s.relay.topic, consumeOptions{
			FromBeginning: true, Start: next, Follow: true,
			OnError: func(err error) {
				s.relay.kafkaErrors.Add(1)
				s.logf("reading %s: %v", s.relay.topic, err)
			},
		}, func(r record) {
			if r.closed {
				return
			}
			next[r.Partition] = r.Offset + 1
			s.relay.lastRecordAt.Store(time.Now().UnixNano())
			s.model.add(dec, r.Value)
		})
		if err != nil && ctx.Err() == nil {
			s.relay.kafkaErrors.Add(1)
			s.logf("reading %s: %v (retrying)", s.relay.topic, err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

// loopbackHost reports whether a request's Host names this machine: with a
// loopback listener, any other Host is a page of another site whose name
// was rebound to 127.0.0.1 (DNS rebinding), which must not read the view.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (s *server) handler() http.Handler {
	mux := s.access.wrap(s.routes())
	if s.flags.allowRemote {
		return mux
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !loopbackHost(r.Host) {
			s.access.refusal(refusedForeignHost, "%s %s from %s: Host %q is not a loopback name", r.Method, r.URL.Path, r.RemoteAddr, r.Host)
			http.Error(w, "dashstream serve answers loopback host names only (start it with --allow-remote to serve others)", http.StatusForbidden)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// route is one registered pattern and its handler.
type route struct {
	pattern string
	h       http.Handler
}

// routeTable is every route serve registers (the access test walks it).
func (s *server) routeTable() []route {
	web, _ := fs.Sub(webFiles, "web")
	root := route{"GET /{$}", http.RedirectHandler("/live/", http.StatusFound)}
	if s.flags.uiDir != "" {
		root = route{"GET /", http.FileServer(http.Dir(s.flags.uiDir))}
	}
	return []route{
		{"GET /live/", http.StripPrefix("/live/", http.FileServerFS(web))},
		{"GET /live/api/threads", http.HandlerFunc(s.apiThreads)},
		{"GET /live/api/thread", http.HandlerFunc(s.apiThread)},
		{"GET /live/api/state", http.HandlerFunc(s.apiState)},
		{"GET /live/events", http.HandlerFunc(s.events)},
		{"GET /ws", http.HandlerFunc(s.relay.serveWS)},
		{"GET /health", http.HandlerFunc(s.health)},
		{"GET /version", http.HandlerFunc(s.version)},
		{"GET /api/expected-schema", http.HandlerFunc(s.expected.list)},
		{"GET /api/expected-schema/{graph}", http.HandlerFunc(s.expected.get)},
		{"PUT /api/expected-schema/{graph}", http.HandlerFunc(s.expected.set)},
		{"DELETE /api/expected-schema/{graph}", http.HandlerFunc(s.expected.remove)},
		root,
	}
}

func (s *server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	for _, r := range s.routeTable() {
		mux.Handle(r.pattern, r.h)
	}
	return mux
}

// setTenant makes the live view and the relay show one tenant only.
func (s *server) setTenant(t tenantFilter) {
	s.model.tenant = t
	s.relay.tenant = t
}

func writeJSON(w http.ResponseWriter, v any) { writeJSONStatus(w, http.StatusOK, v) }

func writeJSONStatus(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *server) apiThreads(w http.ResponseWriter, _ *http.Request) {
	list, version, records, bad := s.model.threadList()
	writeJSON(w, map[string]any{"threads": list, "version": version, "records": records, "undecodable": bad,
		"topic": s.flags.kafka.topic, "tenant": s.flags.tenant})
}

func (s *server) apiThread(w http.ResponseWriter, r *http.Request) {
	v, ok := s.model.thread(r.URL.Query().Get("id"))
	if !ok {
		http.Error(w, "no such thread", http.StatusNotFound)
		return
	}
	writeJSON(w, v)
}

func (s *server) apiState(w http.ResponseWriter, r *http.Request) {
	index, err := strconv.Atoi(r.URL.Query().Get("index"))
	if err != nil {
		index = -1
	}
	v, ok := s.model.stateAt(r.URL.Query().Get("id"), index)
	if !ok {
		http.Error(w, "no such thread or message", http.StatusNotFound)
		return
	}
	writeJSON(w, v)
}

// events is the live view's server-sent event stream: "change" with the
// model's version whenever it changed, at most every sseInterval. A client
// whose connection does not take a write within 10 s is dropped; it holds
// nothing on the server beyond this loop.
func (s *server) events(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	var sent uint64
	tick := time.NewTicker(sseInterval)
	defer tick.Stop()
	keepalive := time.NewTicker(15 * time.Second)
	defer keepalive.Stop()
	write := func(text string) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := fmt.Fprint(w, text); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write("retry: 1000\n\n") {
		return
	}
	for {
		if version := s.model.currentVersion(); version != sent {
			if !write("event: change\ndata: " + strconv.FormatUint(version, 10) + "\n\n") {
				return
			}
			sent = version
		}
		select {
		case <-r.Context().Done():
			return
		case <-keepalive.C:
			if !write(": keepalive\n\n") {
				return
			}
		case <-s.model.wait():
			select {
			case <-r.Context().Done():
				return
			case <-tick.C:
			}
		}
	}
}

// health answers the DashFlow UI's health poll (its HealthResponse).
func (s *server) health(w http.ResponseWriter, _ *http.Request) {
	rl := s.relay
	_, _, records, bad := s.model.threadList()
	var ago any
	if t := rl.lastRecordAt.Load(); t > 0 {
		ago = time.Since(time.Unix(0, t)).Seconds()
	}
	kafka := "connected"
	if len(rl.client.Brokers()) == 0 || rl.client.Closed() {
		kafka = "disconnected"
	}
	status := "healthy"
	if kafka != "connected" {
		status = "degraded"
	}
	writeJSON(w, map[string]any{
		"status": status,
		"metrics": map[string]any{
			"kafka_messages_received":        records,
			"kafka_errors":                   rl.kafkaErrors.Load(),
			"infrastructure_errors":          rl.kafkaErrors.Load(),
			"connected_clients":              rl.clients.Load(),
			"uptime_seconds":                 int64(time.Since(rl.started).Seconds()),
			"last_kafka_message_ago_seconds": ago,
			"dropped_messages":               rl.dropped.Load(),
			"decode_errors":                  bad,
			"send_failed":                    rl.sendFailed.Load(),
			"send_timeout":                   rl.sendTimeouts.Load(),
		},
		"kafka_status":     kafka,
		"websocket_status": "ok",
		"refused_requests": s.access.refusedCounts(),
	})
}

// version answers the DashFlow UI's version query (its VersionInfo).
func (s *server) version(w http.ResponseWriter, _ *http.Request) {
	sha, date := "unknown", "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, st := range bi.Settings {
			switch st.Key {
			case "vcs.revision":
				sha = st.Value
			case "vcs.time":
				date = st.Value
			}
		}
	}
	writeJSON(w, map[string]any{
		"git_sha":             sha,
		"build_date":          date,
		"schema_version":      1,
		"component":           "dashstream serve",
		"kafka_topic":         s.flags.kafka.topic,
		"max_payload_bytes":   dashstream.MaxMessageBytes,
		"decode_error_policy": "skip",
	})
}
