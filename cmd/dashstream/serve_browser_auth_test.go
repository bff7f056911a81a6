package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/dashstream/dashstreamexporter/dashstream"
	"github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
)

// startSecureServe runs `dashstream serve` as a team would share it: TLS
// with a self-signed certificate and a token file (plus args), over kfake.
func startSecureServe(t *testing.T, args ...string) (sarama.SyncProducer, string, testCert) {
	t.Helper()
	t.Setenv(envServeToken, "")
	kafkaAddr := startKafka(t)
	k := kafkaFlags{brokers: kafkaAddr, topic: defaultTopic, protocolVersion: "2.1.0", dialTimeout: 5 * time.Second}
	prod := producer(t, &k)
	cert := selfSigned(t, t.TempDir())
	rs := runServeCmd(t, append([]string{"--brokers", kafkaAddr, "--listen", "127.0.0.1:0", "--listen-tls-cert", cert.certFile,
		"--listen-tls-key", cert.keyFile, "--auth-token-file", writeTemp(t, "tokens", "browser:"+testToken+"\n")}, args...)...)
	return prod, rs.base, cert
}

// pageEval polls a page expression until check accepts its value (JSON).
func pageEval(t *testing.T, ctx context.Context, what, expr string, out any, check func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		raw, err := chromedp.Run(ctx, chromedp.Evaluate[json.RawMessage]("JSON.stringify("+expr+")"))
		if err == nil {
			var text string
			if err = json.Unmarshal(raw, &text); err == nil {
				err = json.Unmarshal([]byte(text), out)
			}
		}
		if err == nil && check() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: gave up (last value %v, err %v)", what, reflect.ValueOf(out).Elem(), err)
		}
		time.Sleep(100 * time.Millisecond) // polling the page with a deadline
	}
}

// browserLogin logs the page in on the login page the server sent it to
// (a wrong token first, which must be refused), and waits until it is back
// on want. With no token it checks nothing.
func browserLogin(t *testing.T, ctx context.Context, token, want string) {
	t.Helper()
	if token == "" {
		return
	}
	var path string
	pageEval(t, ctx, "the login page", `document.getElementById('token') ? location.pathname : ''`, &path,
		func() bool { return path == "/login" })
	var shown string
	submit(t, ctx, "not-the-token-0123456789")
	pageEval(t, ctx, "a wrong token refused", `(document.getElementById('login-error') || {}).textContent || ''`, &shown,
		func() bool { return shown == "Wrong token." })
	submit(t, ctx, token)
	pageEval(t, ctx, "back on "+want+" after the login", `location.pathname`, &path, func() bool { return path == want })
	var cookies string
	pageEval(t, ctx, "cookies the page can read", `document.cookie`, &cookies, func() bool { return true })
	require.NotContains(t, cookies, sessionCookie, "the session cookie is HttpOnly")
}

// submit types a token into the login form and submits it, as a user does.
func submit(t *testing.T, ctx context.Context, token string) {
	t.Helper()
	b, _ := json.Marshal(token)
	_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { document.getElementById('token').value = `+string(b)+
		`; document.getElementById('login').requestSubmit(); return true; })()`))
	require.NoError(t, err)
}

// chromiumOrSkip returns Chromium's path, or skips (fails with
// SERVE_BROWSER_REQUIRED=1) when it is missing.
func chromiumOrSkip(t *testing.T) string {
	t.Helper()
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := exec.LookPath(chromium); err != nil {
		if os.Getenv("SERVE_BROWSER_REQUIRED") == "1" {
			t.Fatalf("SERVE_BROWSER_REQUIRED=1 but %s is missing (apt-get install chromium)", chromium)
		}
		t.Skipf("%s is missing (apt-get install chromium)", chromium)
	}
	return chromium
}

// TestDashFlowUIInBrowser opens the unmodified DashFlow observability UI,
// served by `dashstream serve --ui-dir` with TLS and a token, in headless
// Chromium: the browser logs in, the UI connects its websocket (wss, the
// session cookie its only credential) and applies a run produced while it
// watches, with no run marked corrupted.
//
// Opt-in: DASHFLOW_UI_DIST names the UI's built dist/ (dashflow/
// observability-ui of a DashFlow checkout, `npm ci && npx vite build`); the
// UI is not part of this repository nor of CI.
func TestDashFlowUIInBrowser(t *testing.T) {
	dist := os.Getenv("DASHFLOW_UI_DIST")
	if dist == "" {
		t.Skip("set DASHFLOW_UI_DIST to the DashFlow observability UI's built dist/ directory")
	}
	chromium := chromiumOrSkip(t)
	prod, base, cert := startSecureServe(t, "--ui-dir", dist)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium),
		chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1600, 1000),
		chromedp.Flag("ignore-certificate-errors-spki-list", cert.spki))
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer acancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, tcancel := context.WithTimeout(ctx, 3*time.Minute)
	defer tcancel()
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(base+"/")))
	browserLogin(t, ctx, testToken, "/")

	var connected bool
	pageEval(t, ctx, "the UI connected", `document.body.innerText.includes('Connected')`, &connected,
		func() bool { return connected })
	// The UI asks the relay for new records only: the run is produced once
	// its websocket is a client.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: cert.pool}}}
	deadline := time.Now().Add(30 * time.Second)
	for relayClients(t, client, base) < 1 {
		require.True(t, time.Now().Before(deadline), "the UI's websocket never became a relay client")
		time.Sleep(100 * time.Millisecond) // polling /health with a deadline
	}
	// The UI counts the messages it applied to a run's state: all but the
	// checkpoints. Its resume ("latest") may reach the relay after a run
	// produced right after it connected: a run goes out every 10 s until
	// one is applied whole.
	applied := regexp.MustCompile(`(\d[\d,]*) applied`)
	var text string
	deadline = time.Now().Add(90 * time.Second)
	for i := 1; ; i++ {
		thread := fmt.Sprintf("ui-browser-%d", i)
		msgs := newStream(t, thread, 1).run()
		stateful := 0
		for _, m := range msgs {
			if dashstream.MessageTypeOf(m) != dashstreampb.MessageType_MESSAGE_TYPE_CHECKPOINT {
				stateful++
			}
		}
		for _, v := range encode(t, msgs...) {
			_, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: defaultTopic, Key: sarama.StringEncoder(thread), Value: sarama.ByteEncoder(v)})
			require.NoError(t, err)
		}
		n, until := 0, time.Now().Add(10*time.Second)
		for n < stateful && time.Now().Before(until) {
			raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
			if err == nil {
				text = raw
				if m := applied.FindStringSubmatch(text); m != nil {
					n, _ = strconv.Atoi(strings.ReplaceAll(m[1], ",", ""))
				}
			}
			time.Sleep(200 * time.Millisecond) // polling the page with a deadline
		}
		if n >= stateful {
			break
		}
		require.True(t, time.Now().Before(deadline), "the UI applied no whole run (%d messages applied)", n)
	}
	require.NotRegexp(t, `(?i)corrupt|needs resync`, text)
	if path := os.Getenv("SERVE_BROWSER_SCREENSHOT"); path != "" {
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(path, png, 0o644))
	}
	t.Logf("the DashFlow UI over TLS with a login: %s", applied.FindString(text))
}

// relayClients reads /health's connected_clients.
func relayClients(t *testing.T, c *http.Client, base string) int {
	t.Helper()
	resp, body := do(t, c, "GET", base+"/health", nil, "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var h struct {
		Metrics struct {
			Clients int `json:"connected_clients"`
		} `json:"metrics"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &h), fmt.Sprint(body))
	return h.Metrics.Clients
}
