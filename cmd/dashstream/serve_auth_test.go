package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"
)

const (
	testToken  = "s3cret-token-of-team-a-0123456789"
	otherToken = "another-token-for-the-ci-0123456"
)

// logRecorder collects a server's log lines.
type logRecorder struct {
	mu    sync.Mutex
	lines []string
}

func (l *logRecorder) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *logRecorder) has(substr string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.lines {
		if strings.Contains(s, substr) {
			return true
		}
	}
	return false
}

// startAuthServe serves with the test tokens (and the DashFlow UI stand-in
// of uiDir when not empty).
func startAuthServe(t *testing.T, uiDir string, origins ...string) (*serveHarness, *logRecorder) {
	t.Helper()
	creds, _, err := loadCredentials(writeTemp(t, "tokens", "alice:"+testToken+"\n# ci\nci:"+otherToken+"\n"), func(string) string { return "" })
	require.NoError(t, err)
	logs := &logRecorder{}
	h := startServe(t, 0, func(s *server) {
		s.flags.uiDir = uiDir
		s.access = newAccess(creds, time.Hour, false, origins, logs.logf)
		s.relay.origins = origins
	})
	return h, logs
}

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

// noRedirect is a client that shows redirects instead of following them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func do(t *testing.T, c *http.Client, method, u string, header http.Header, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	require.NoError(t, err)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	if resp.Header.Get("Content-Type") == "text/event-stream" {
		return resp, "" // a stream that does not end
	}
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

// concrete turns a route pattern into a method and a path that reaches it.
func concrete(pattern string) (string, string) {
	method, p, _ := strings.Cut(pattern, " ")
	p = strings.ReplaceAll(p, "{$}", "")
	p = strings.ReplaceAll(p, "{graph}", "g")
	if strings.HasPrefix(p, "/live/api/thread") || strings.HasPrefix(p, "/live/api/state") {
		p += "?id=secret-thread&index=-1"
	}
	return method, p
}

// TestServeAuthEveryRoute walks every registered route (with the DashFlow
// UI served too) and a few unregistered paths: without credentials only
// /health answers; with a token every one does.
func TestServeAuthEveryRoute(t *testing.T) {
	ui := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(ui, "index.html"), []byte("<title>DashFlow UI</title>"), 0o644))
	h, logs := startAuthServe(t, ui)
	h.produceRun(t, "secret-thread", 1)
	routes := h.srv.routeTable()
	require.GreaterOrEqual(t, len(routes), 13)
	paths := [][2]string{{"GET", "/nowhere"}, {"GET", "/live/../version"}, {"POST", "/live/api/threads"}, {"GET", "/logout"}}
	for _, r := range routes {
		m, p := concrete(r.pattern)
		paths = append(paths, [2]string{m, p})
	}
	walked := 0
	for _, mp := range paths {
		method, p := mp[0], mp[1]
		// As an API client: 401 with a challenge, nothing of the topic.
		resp, body := do(t, noRedirect, method, h.http.URL+p, nil, `{"schema_id":"x"}`)
		if p == "/health" {
			require.Equal(t, http.StatusOK, resp.StatusCode)
			continue
		}
		walked++
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "%s %s answered without credentials: %s", method, p, body)
		require.Equal(t, `Bearer realm="dashstream serve"`, resp.Header.Get("WWW-Authenticate"))
		require.NotContains(t, body, "secret-thread")
		require.NotContains(t, body, "DashFlow UI")
		// As a browser navigating: sent to the login page.
		if method == http.MethodGet {
			resp, _ = do(t, noRedirect, method, h.http.URL+p, http.Header{"Accept": {"text/html"}, "Sec-Fetch-Mode": {"navigate"}}, "")
			require.Equal(t, http.StatusSeeOther, resp.StatusCode, "%s %s", method, p)
			loc, err := url.Parse(resp.Header.Get("Location"))
			require.NoError(t, err)
			require.Equal(t, "/login", loc.Path)
			require.Equal(t, p, loc.Query().Get("next"))
		}
		// With a wrong token: 401 too.
		resp, _ = do(t, noRedirect, method, h.http.URL+p, http.Header{"Authorization": {"Bearer " + otherToken + "x"}}, "")
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "%s %s with a wrong token", method, p)
	}
	require.Greater(t, walked, 12)
	// The websocket upgrade without credentials: 401 before any upgrade.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(h.http.URL, "http")+"/ws", nil)
	require.Error(t, err)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	// With a token each registered route answers as it does without
	// authentication (the fixed paths here are not 401, 403 nor 404).
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, body := do(t, noRedirect, "GET", h.http.URL+"/live/api/threads", http.Header{"Authorization": {"Bearer " + testToken}}, "")
		if strings.Contains(body, "secret-thread") {
			break
		}
		require.True(t, time.Now().Before(deadline), "the thread never appeared: %s", body)
		time.Sleep(50 * time.Millisecond) // polling the model with a deadline
	}
	for _, r := range routes {
		method, p := concrete(r.pattern)
		if p == "/ws" {
			continue
		}
		resp, body := do(t, noRedirect, method, h.http.URL+p, http.Header{"Authorization": {"Bearer " + testToken}}, `{"schema_id":"x"}`)
		require.NotContains(t, []int{401, 403, 404}, resp.StatusCode, "%s %s: %s", method, p, body)
	}
	counts := h.srv.access.refusedCounts()
	require.Greater(t, counts[refusedNoCredentials], int64(walked))
	require.GreaterOrEqual(t, counts[refusedBadCredentials], int64(walked))
	require.True(t, logs.has("refused (no_credentials): GET /nowhere"))
	require.True(t, logs.has("refused (bad_credentials): GET /nowhere"))
}

// TestServeAuthSchemes: bearer, basic and the browser's session cookie.
func TestServeAuthSchemes(t *testing.T) {
	h, logs := startAuthServe(t, "")
	h.produceRun(t, "thread-1", 1)
	api := h.http.URL + "/live/api/threads"

	resp, _ := do(t, noRedirect, "GET", api, http.Header{"Authorization": {"Bearer " + testToken}}, "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp, _ = do(t, noRedirect, "GET", api, http.Header{"Authorization": {"bearer " + otherToken}}, "")
	require.Equal(t, http.StatusOK, resp.StatusCode, "the scheme is case-insensitive")
	req, _ := http.NewRequest("GET", api, nil)
	req.SetBasicAuth("", testToken)
	resp, _ = do(t, noRedirect, "GET", api, req.Header, "")
	require.Equal(t, http.StatusOK, resp.StatusCode, "basic with the token as password")
	req.SetBasicAuth(testToken, "")
	resp, body := do(t, noRedirect, "GET", api, req.Header, "")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "the token goes in the password")
	require.Contains(t, body, "invalid credentials")
	resp, _ = do(t, noRedirect, "GET", api, http.Header{"Authorization": {"Token " + testToken}}, "")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "an unknown scheme")

	// The login page answers without credentials but shows nothing else.
	resp, body = do(t, noRedirect, "GET", h.http.URL+"/login?next=/live/", nil, "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, `name="token"`)
	require.Contains(t, body, `value="/live/"`)
	require.NotContains(t, body, "thread-1")

	// A wrong token at the login: 401, counted, logged, no cookie.
	before := h.srv.access.refusedCounts()[refusedBadCredentials]
	form := url.Values{"token": {"wrong-token-but-long-enough"}, "next": {"/live/"}}.Encode()
	formHeader := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Origin": {h.http.URL}}
	resp, body = do(t, noRedirect, "POST", h.http.URL+"/login", formHeader, form)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Contains(t, body, "Wrong token.")
	require.Empty(t, resp.Cookies())
	require.Equal(t, before+1, h.srv.access.refusedCounts()[refusedBadCredentials])
	require.True(t, logs.has("login from"))

	// The right token: a session cookie, HttpOnly, SameSite=Strict (not
	// Secure without TLS), and back to where the browser was going.
	form = url.Values{"token": {testToken}, "next": {"/live/"}}.Encode()
	resp, _ = do(t, noRedirect, "POST", h.http.URL+"/login", formHeader, form)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/live/", resp.Header.Get("Location"))
	require.Len(t, resp.Cookies(), 1)
	c := resp.Cookies()[0]
	require.Equal(t, sessionCookie, c.Name)
	require.True(t, c.HttpOnly)
	require.Equal(t, http.SameSiteStrictMode, c.SameSite)
	require.False(t, c.Secure)
	require.Equal(t, "/", c.Path)
	require.True(t, logs.has(`login: "alice"`))

	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	u, _ := url.Parse(h.http.URL)
	jar.SetCookies(u, []*http.Cookie{c})
	browser := &http.Client{Jar: jar, CheckRedirect: noRedirect.CheckRedirect}
	resp, body = do(t, browser, "GET", api, nil, "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, `"threads"`)

	// The relay with the cookie alone, as the DashFlow UI's websocket.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(h.http.URL, "http")+"/ws",
		&websocket.DialOptions{HTTPClient: browser, HTTPHeader: http.Header{"Origin": {h.http.URL}}})
	require.NoError(t, err)
	wc := &wsClient{t: t, c: ws}
	ws.SetReadLimit(8 << 20)
	wc.send(map[string]any{"type": "resume", "from": "earliest"})
	recs, _ := wc.until("replay_complete")
	require.Len(t, recs, 10)
	ws.CloseNow()

	// Log out: the cookie no longer works.
	resp, _ = do(t, browser, "POST", h.http.URL+"/logout", http.Header{"Origin": {h.http.URL}}, "")
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	req, _ = http.NewRequest("GET", api, nil)
	req.AddCookie(c)
	resp, body = do(t, noRedirect, "GET", api, req.Header, "")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Contains(t, body, "session expired or unknown")
	require.Positive(t, h.srv.access.refusedCounts()[refusedExpiredSession])

	// A login never sends the browser to another site.
	for next, want := range map[string]string{"//evil.example/": "/", "https://evil.example/": "/", "/\\evil.example": "/", "/live/?x=1": "/live/?x=1"} {
		form = url.Values{"token": {testToken}, "next": {next}}.Encode()
		resp, _ = do(t, noRedirect, "POST", h.http.URL+"/login", formHeader, form)
		require.Equal(t, want, resp.Header.Get("Location"), "next %q", next)
	}
}

// TestServeSessionExpiry: a session ends after its time to live.
func TestServeSessionExpiry(t *testing.T) {
	a := newAccess([]credential{}, time.Minute, true, nil, t.Logf)
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	a.now = func() time.Time { return now }
	creds, _, err := loadCredentials("", func(string) string { return testToken })
	require.NoError(t, err)
	a.creds = creds
	id, err := a.newSession("env")
	require.NoError(t, err)
	req, _ := http.NewRequest("GET", "/live/", nil)
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: id})
	who, reason := a.authenticate(req)
	require.Equal(t, "env", who)
	require.Empty(t, reason)
	require.True(t, a.cookie(id, 60).Secure, "Secure over TLS")
	now = now.Add(time.Minute)
	_, reason = a.authenticate(req)
	require.Equal(t, refusedExpiredSession, reason)
}

// TestServeForeignOrigin: a page of another site can neither open the
// relay nor change anything, with or without authentication; each refusal
// is counted and logged, and says what to do.
func TestServeForeignOrigin(t *testing.T) {
	for _, auth := range []bool{false, true} {
		t.Run(fmt.Sprintf("auth=%v", auth), func(t *testing.T) {
			var h *serveHarness
			logs := &logRecorder{}
			if auth {
				h, logs = startAuthServe(t, "", "ui.example.com")
			} else {
				h = startServe(t, 0, func(s *server) {
					s.access = newAccess(nil, 0, false, []string{"ui.example.com"}, logs.logf)
					s.relay.origins = []string{"ui.example.com"}
				})
			}
			hdr := func(origin string) http.Header {
				x := http.Header{"Authorization": {"Bearer " + testToken}}
				if origin != "" {
					x.Set("Origin", origin)
				}
				return x
			}
			ws := "ws" + strings.TrimPrefix(h.http.URL, "http") + "/ws"
			dial := func(origin string) (int, error) {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				c, resp, err := websocket.Dial(ctx, ws, &websocket.DialOptions{HTTPHeader: hdr(origin)})
				if err == nil {
					c.CloseNow()
					return http.StatusSwitchingProtocols, nil
				}
				return resp.StatusCode, err
			}
			code, err := dial("http://evil.example")
			require.Error(t, err)
			require.Equal(t, http.StatusForbidden, code)
			code, _ = dial("null")
			require.Equal(t, http.StatusForbidden, code)
			code, err = dial("https://ui.example.com")
			require.NoError(t, err, "an --allow-origin pattern")
			require.Equal(t, http.StatusSwitchingProtocols, code)
			code, err = dial(h.http.URL)
			require.NoError(t, err, "the server's own origin")
			require.Equal(t, http.StatusSwitchingProtocols, code)

			resp, body := do(t, noRedirect, "PUT", h.http.URL+"/api/expected-schema/g", hdr("http://evil.example"), `{"schema_id":"x"}`)
			require.Equal(t, http.StatusForbidden, resp.StatusCode)
			require.Contains(t, body, "--allow-origin")
			resp, body = do(t, noRedirect, "GET", h.http.URL+"/api/expected-schema/g", hdr(""), "")
			require.Equal(t, http.StatusOK, resp.StatusCode)
			require.NotContains(t, body, `"x"`)
			if auth {
				form := url.Values{"token": {testToken}}.Encode()
				resp, _ = do(t, noRedirect, "POST", h.http.URL+"/login",
					http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Origin": {"http://evil.example"}}, form)
				require.Equal(t, http.StatusForbidden, resp.StatusCode, "a login from another site's page")
				require.Empty(t, resp.Cookies())
			}
			n := int64(3)
			if auth {
				n = 4
			}
			require.Equal(t, n, h.srv.access.refusedCounts()[refusedForeignOrigin])
			require.True(t, logs.has(`refused (foreign_origin): GET /ws from`))
			require.True(t, logs.has(`request Origin "http://evil.example" is neither this server`))
			// /health shows the counts.
			resp, body = do(t, noRedirect, "GET", h.http.URL+"/health", nil, "")
			require.Equal(t, http.StatusOK, resp.StatusCode)
			require.Contains(t, body, fmt.Sprintf(`"foreign_origin":%d`, n))
		})
	}
}

func TestLoadCredentials(t *testing.T) {
	none := func(string) string { return "" }
	creds, warn, err := loadCredentials(writeTemp(t, "t", "# team tokens\n\nalice:"+testToken+"\n"+otherToken+"\n"), none)
	require.NoError(t, err)
	require.Empty(t, warn)
	require.Len(t, creds, 2)
	require.Equal(t, "alice", creds[0].name)
	require.Equal(t, "line-4", creds[1].name)

	creds, _, err = loadCredentials("", func(k string) string {
		if k == envServeToken {
			return testToken
		}
		return ""
	})
	require.NoError(t, err)
	require.Len(t, creds, 1)
	a := newAccess(creds, 0, false, nil, t.Logf)
	name, ok := a.check(testToken)
	require.True(t, ok)
	require.Equal(t, "env", name)
	_, ok = a.check(testToken[:len(testToken)-1])
	require.False(t, ok)

	creds, _, err = loadCredentials("", none)
	require.NoError(t, err)
	require.Empty(t, creds, "no tokens: authentication off")

	loose := writeTemp(t, "loose", testToken+"\n")
	require.NoError(t, os.Chmod(loose, 0o644))
	_, warn, err = loadCredentials(loose, none)
	require.NoError(t, err)
	require.Len(t, warn, 1)
	require.Contains(t, warn[0], "readable by others")

	for name, tc := range map[string]struct{ file, env, want string }{
		"missing file": {file: filepath.Join(t.TempDir(), "nope"), want: "no such file"},
		"empty file":   {file: writeTemp(t, "e", "# nothing\n"), want: "holds no token"},
		"short token":  {file: writeTemp(t, "s", "bob:short\n"), want: `line 1: token "bob" is shorter than 16`},
		"duplicate":    {file: writeTemp(t, "d", "a:"+testToken+"\nb:"+testToken+"\n"), want: `token "b" is the same as token "a"`},
		"short env":    {env: "tooshort", want: "$DASHSTREAM_SERVE_TOKEN: token \"env\" is shorter"},
	} {
		_, _, err := loadCredentials(tc.file, func(string) string { return tc.env })
		require.ErrorContains(t, err, tc.want, name)
	}
}

// TestServeRefusalLogIsBounded: a flood of refusals is counted in full but
// logs at most refusalLogBurst lines a minute.
func TestServeRefusalLogIsBounded(t *testing.T) {
	logs := &logRecorder{}
	a := newAccess(nil, 0, false, nil, logs.logf)
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	a.now = func() time.Time { return now }
	for range 1000 {
		a.refusal(refusedBadCredentials, "x")
	}
	require.EqualValues(t, 1000, a.refusedCounts()[refusedBadCredentials])
	require.Len(t, logs.lines, refusalLogBurst)
	now = now.Add(time.Minute)
	a.refusal(refusedBadCredentials, "y")
	require.Len(t, logs.lines, refusalLogBurst+1)
	require.Contains(t, logs.lines[refusalLogBurst], "and 980 earlier refusals not logged")
}
