package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
)

// TestLiveViewInBrowser opens the live view in headless Chromium while a
// graph runs and checks what a user sees: the threads, the graph with its
// nodes and the conditional branch, and the state at the last message equal
// to the graph's own final state.
//
// On its own it serves kfake and produces a run itself, through `dashstream
// serve` as a team would share it: TLS (a self-signed certificate the
// browser is told to trust by its key) and a token, which the page logs in
// with on the login page (a wrong one first). scripts/e2e.sh
// runs it against the real thing instead — the demo through the collector
// into the dev Kafka, `dashstream serve` — with
// SERVE_BROWSER_URL (the server), SERVE_BROWSER_EXPECT (the demo's -expect
// file, {"thread": state}, read once it exists) and SERVE_BROWSER_NODES.
// SERVE_BROWSER_SCREENSHOT=FILE.png writes a screenshot of the last thread.
// SERVE_BROWSER_TOKEN logs in with a token, SERVE_BROWSER_SPKI trusts a
// certificate by its key (base64 SHA-256, as Chromium takes it).
// Without Chromium it skips, unless SERVE_BROWSER_REQUIRED=1.
func TestLiveViewInBrowser(t *testing.T) {
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

	url := os.Getenv("SERVE_BROWSER_URL")
	nodes := []string{"plan", "draft"}
	var expect func() (map[string]any, bool)
	token, spki := os.Getenv("SERVE_BROWSER_TOKEN"), os.Getenv("SERVE_BROWSER_SPKI")
	if url == "" {
		// As a team would share it: TLS and a token; the page logs in.
		token = testToken
		prod, base, cert := startSecureServe(t)
		url, spki = base, cert.spki
		final := map[string]any{}
		// The run is produced while the page is open, message by message.
		b := newStream(t, "browser-1", 1)
		msgs := b.run()
		msgs = append(msgs, b.event(dashstreampb.EventType_EVENT_TYPE_CONDITIONAL_BRANCH, "draft",
			map[string]*dashstreampb.AttributeValue{"from": str("draft"), "to": str("plan"), "condition": str("route"), "branch": str("plan")}))
		values := encode(t, msgs...)
		go func() {
			for _, v := range values {
				m := &sarama.ProducerMessage{Topic: defaultTopic, Key: sarama.StringEncoder("browser-1"), Value: sarama.ByteEncoder(v)}
				if _, _, err := prod.SendMessage(m); err != nil {
					return
				}
				time.Sleep(30 * time.Millisecond) // pacing the producer so the page sees the run live
			}
		}()
		require.NoError(t, json.Unmarshal([]byte(finalState), &final))
		expect = func() (map[string]any, bool) { return map[string]any{"browser-1": final}, true }
	} else {
		if n := os.Getenv("SERVE_BROWSER_NODES"); n != "" {
			nodes = strings.Split(n, ",")
		}
		path := os.Getenv("SERVE_BROWSER_EXPECT")
		expect = func() (map[string]any, bool) {
			b, err := os.ReadFile(path)
			if err != nil {
				return nil, false
			}
			var m map[string]any
			if json.Unmarshal(b, &m) != nil {
				return nil, false
			}
			return m, true
		}
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium),
		chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1600, 1000))
	if spki != "" {
		opts = append(opts, chromedp.Flag("ignore-certificate-errors-spki-list", spki))
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer acancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, tcancel := context.WithTimeout(ctx, 3*time.Minute)
	defer tcancel()
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(url+"/live/")))
	browserLogin(t, ctx, token, "/live/")

	// eval polls a page expression until check accepts its value (JSON).
	eval := func(what, expr string, out any, check func() bool) {
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

	want, ok := expect()
	if !ok {
		eval("the graph program's expected final states", "1", new(int), func() bool { want, ok = expect(); return ok })
	}
	for thread, state := range want {
		var listed bool
		eval("thread "+thread+" listed", fmt.Sprintf(`!!document.querySelector('#threads li[data-thread=%q]')`, thread), &listed,
			func() bool { return listed })
		// A click in the page: the list is re-rendered as records arrive,
		// so a node looked up beforehand may be gone by the time of a click.
		var selected bool
		eval("select "+thread, fmt.Sprintf(`(() => { const li = document.querySelector('#threads li[data-thread=%q]');
			if (li) li.click(); return document.getElementById('thread-title').textContent === %q; })()`, thread, thread),
			&selected, func() bool { return selected })
		var shown []string
		eval("nodes of "+thread, `[...document.querySelectorAll('#graph g.node')].map(g => g.dataset.node)`, &shown,
			func() bool {
				for _, n := range nodes {
					if !contains(shown, n) {
						return false
					}
				}
				return true
			})
		var conditional int
		eval("a conditional branch in "+thread, `document.querySelectorAll('#graph path.edge.conditional').length`, &conditional,
			func() bool { return conditional > 0 })
		var status string
		eval(thread+" completed", `document.getElementById('thread-status').textContent`, &status,
			func() bool { return status == "completed" })
		var stateText string
		eval("the state of "+thread+" at its last message", `document.getElementById('state').textContent`, &stateText,
			func() bool {
				var got any
				return json.Unmarshal([]byte(stateText), &got) == nil && reflect.DeepEqual(normalise(got), normalise(state))
			})
	}
	if path := os.Getenv("SERVE_BROWSER_SCREENSHOT"); path != "" {
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(path, png, 0o644))
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// normalise turns a decoded JSON value into one comparable with another
// decoding (numbers as float64, as encoding/json decodes them).
func normalise(v any) any {
	b, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}
