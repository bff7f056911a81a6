package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"os"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Access control of `dashstream serve`. Every path but /health (and the
// login page itself) needs credentials once tokens are configured:
//
//   - API and CLI clients send a token as `Authorization: Bearer TOKEN`, or
//     as the password of HTTP basic authentication (any user name), so
//     `curl -u :TOKEN` works;
//   - a browser logs in once on /login with a token and gets a session
//     cookie (HttpOnly, SameSite=Strict, Secure over TLS). The cookie is
//     what makes the unmodified DashFlow UI work: its websocket cannot add
//     headers, but the browser sends the cookie with the upgrade request.
//
// Tokens come from a file (--auth-token-file) or the environment
// ($DASHSTREAM_SERVE_TOKEN), never from the command line, where other
// users of the machine can read them. They are compared as SHA-256 sums in
// constant time. Browsers' requests that change something (POST, PUT,
// DELETE) and websocket upgrades must come from a page of this server's own
// origin (or an --allow-origin pattern): with a cookie doing the
// authentication, a foreign page must not be able to ride on it.
//
// Every refusal is counted by reason (GET /health shows the counts under
// refused_requests) and logged, at most refusalLogBurst lines a minute.

// envServeToken names the environment variable holding one token.
const envServeToken = "DASHSTREAM_SERVE_TOKEN"

// minTokenBytes is the shortest token accepted: a token is the only secret,
// so it has to resist guessing on its own.
const minTokenBytes = 16

// sessionCookie is the browser session's cookie.
const sessionCookie = "dashstream_session"

// maxSessions bounds the live browser sessions; the ones closest to expiry
// go first.
const maxSessions = 10000

// Refusal reasons, the keys of /health's refused_requests.
const (
	refusedNoCredentials  = "no_credentials"
	refusedBadCredentials = "bad_credentials"
	refusedExpiredSession = "expired_session"
	refusedForeignOrigin  = "foreign_origin"
	refusedTLSHandshake   = "tls_handshake"
	refusedForeignHost    = "foreign_host"
)

var refusalReasons = []string{refusedNoCredentials, refusedBadCredentials, refusedExpiredSession,
	refusedForeignOrigin, refusedTLSHandshake, refusedForeignHost}

// refusalLogBurst is how many refusals are logged a minute; the rest are
// counted and summed up in the next line logged.
const refusalLogBurst = 20

// authFlags are serve's authentication settings.
type authFlags struct {
	tokenFile      string
	insecureNoAuth bool
	sessionTTL     time.Duration
}

func (a *authFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&a.tokenFile, "auth-token-file", "", "file of access tokens (one a line, 'NAME:TOKEN' or 'TOKEN', at least 16 characters; '#' comments); turns authentication on. $"+envServeToken+" adds one more")
	fs.BoolVar(&a.insecureNoAuth, "insecure-no-auth", false, "allow --allow-remote without authentication (anyone who reaches the address reads every state in the topic)")
	fs.DurationVar(&a.sessionTTL, "session-ttl", 12*time.Hour, "how long a browser login lasts")
}

// credential is one token, kept as its SHA-256 sum.
type credential struct {
	name string
	sum  [sha256.Size]byte
}

// loadCredentials reads the token file and the environment; none at all
// means authentication is off.
func loadCredentials(file string, getenv func(string) string) ([]credential, []string, error) {
	var creds []credential
	var warnings []string
	seen := map[[sha256.Size]byte]string{}
	add := func(where, name, token string) error {
		if len(token) < minTokenBytes {
			return fmt.Errorf("%s: token %q is shorter than %d characters", where, name, minTokenBytes)
		}
		sum := sha256.Sum256([]byte(token))
		if other, dup := seen[sum]; dup {
			return fmt.Errorf("%s: token %q is the same as token %q", where, name, other)
		}
		seen[sum] = name
		creds = append(creds, credential{name: name, sum: sum})
		return nil
	}
	if file != "" {
		st, err := os.Stat(file)
		if err != nil {
			return nil, nil, usageErrorf("--auth-token-file: %v", err)
		}
		if st.Mode().Perm()&0o077 != 0 {
			warnings = append(warnings, fmt.Sprintf("--auth-token-file %s is readable by others (mode %v); chmod 600 it", file, st.Mode().Perm()))
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, nil, usageErrorf("--auth-token-file: %v", err)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		n, before := 0, len(creds)
		for sc.Scan() {
			n++
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			name, token, named := strings.Cut(line, ":")
			if !named {
				name, token = fmt.Sprintf("line-%d", n), line
			}
			name, token = strings.TrimSpace(name), strings.TrimSpace(token)
			if err := add(fmt.Sprintf("--auth-token-file %s line %d", file, n), name, token); err != nil {
				return nil, nil, usageErrorf("%v", err)
			}
		}
		if err := sc.Err(); err != nil {
			return nil, nil, usageErrorf("--auth-token-file %s: %v", file, err)
		}
		if len(creds) == before {
			return nil, nil, usageErrorf("--auth-token-file %s holds no token", file)
		}
	}
	if token := getenv(envServeToken); token != "" {
		if err := add("$"+envServeToken, "env", strings.TrimSpace(token)); err != nil {
			return nil, nil, usageErrorf("%v", err)
		}
	}
	return creds, warnings, nil
}

// session is one browser login.
type session struct {
	name    string
	expires time.Time
}

// access guards serve's routes: the origin check always, authentication
// when credentials are configured.
type access struct {
	creds   []credential // none: authentication is off
	ttl     time.Duration
	secure  bool // cookies over TLS only
	origins []string
	logf    func(string, ...any)
	now     func() time.Time

	mu       sync.Mutex
	sessions map[[sha256.Size]byte]session // by the SHA-256 of the cookie's value

	refused map[string]*atomic.Int64 // by reason; fixed at creation

	logMu      sync.Mutex
	logWindow  time.Time
	logged     int
	suppressed int
}

func newAccess(creds []credential, ttl time.Duration, secure bool, origins []string, logf func(string, ...any)) *access {
	a := &access{creds: creds, ttl: ttl, secure: secure, origins: origins, logf: logf, now: time.Now,
		sessions: map[[sha256.Size]byte]session{}, refused: map[string]*atomic.Int64{}}
	if a.ttl <= 0 {
		a.ttl = 12 * time.Hour
	}
	for _, r := range refusalReasons {
		a.refused[r] = new(atomic.Int64)
	}
	return a
}

// enabled reports whether credentials are required.
func (a *access) enabled() bool { return len(a.creds) > 0 }

// refusedCounts are the refusals so far, by reason.
func (a *access) refusedCounts() map[string]int64 {
	out := make(map[string]int64, len(a.refused))
	for r, n := range a.refused {
		out[r] = n.Load()
	}
	return out
}

// refusal counts and logs one refusal.
func (a *access) refusal(reason, format string, args ...any) {
	a.refused[reason].Add(1)
	a.logMu.Lock()
	defer a.logMu.Unlock()
	now := a.now()
	if now.Sub(a.logWindow) >= time.Minute {
		a.logWindow, a.logged = now, 0
	}
	if a.logged >= refusalLogBurst {
		a.suppressed++
		return
	}
	a.logged++
	msg := fmt.Sprintf(format, args...)
	if a.suppressed > 0 {
		msg += fmt.Sprintf(" (and %d earlier refusals not logged)", a.suppressed)
		a.suppressed = 0
	}
	a.logf("refused (%s): %s", reason, msg)
}

// check finds the credential a token matches, comparing every one in
// constant time.
func (a *access) check(token string) (string, bool) {
	sum := sha256.Sum256([]byte(token))
	name, found := "", 0
	for _, c := range a.creds {
		if subtle.ConstantTimeCompare(sum[:], c.sum[:]) == 1 {
			name, found = c.name, 1
		}
	}
	return name, found == 1
}

// authenticate returns who sent r, or why not: an Authorization header is
// taken when present (a wrong one is not rescued by a cookie), else the
// session cookie.
func (a *access) authenticate(r *http.Request) (who, reason string) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, rest, _ := strings.Cut(h, " ")
		var token string
		switch strings.ToLower(scheme) {
		case "bearer":
			token = strings.TrimSpace(rest)
		case "basic":
			_, pw, ok := r.BasicAuth()
			if !ok {
				return "", refusedBadCredentials
			}
			token = pw
		default:
			return "", refusedBadCredentials
		}
		if name, ok := a.check(token); ok {
			return name, ""
		}
		return "", refusedBadCredentials
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return "", refusedNoCredentials
	}
	key := sha256.Sum256([]byte(c.Value))
	a.mu.Lock()
	defer a.mu.Unlock()
	s, ok := a.sessions[key]
	if !ok || !a.now().Before(s.expires) {
		delete(a.sessions, key)
		return "", refusedExpiredSession
	}
	return s.name, ""
}

// newSession starts a browser session and returns its cookie value.
func (a *access) newSession(name string) (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("session id: %w", err)
	}
	id := base64.RawURLEncoding.EncodeToString(b[:])
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.sessions) >= maxSessions {
		for k, s := range a.sessions {
			if !now.Before(s.expires) {
				delete(a.sessions, k)
			}
		}
		for len(a.sessions) >= maxSessions {
			var oldest [sha256.Size]byte
			var at time.Time
			for k, s := range a.sessions {
				if at.IsZero() || s.expires.Before(at) {
					oldest, at = k, s.expires
				}
			}
			delete(a.sessions, oldest)
		}
	}
	a.sessions[sha256.Sum256([]byte(id))] = session{name: name, expires: now.Add(a.ttl)}
	return id, nil
}

// endSession forgets the session of r's cookie.
func (a *access) endSession(r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		a.mu.Lock()
		delete(a.sessions, sha256.Sum256([]byte(c.Value)))
		a.mu.Unlock()
	}
}

func (a *access) cookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: sessionCookie, Value: value, Path: "/", MaxAge: maxAge, HttpOnly: true,
		Secure: a.secure, SameSite: http.SameSiteStrictMode}
}

// checkOrigin accepts a request without an Origin header (not sent by a
// browser page), or one whose Origin is this server's own host or matches
// an --allow-origin pattern (path.Match, on the host, or on scheme://host
// when the pattern has a scheme) — the rule the websocket library applies.
func checkOrigin(r *http.Request, patterns []string) error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return fmt.Errorf("request Origin %q is not a URL with a host", origin)
	}
	if strings.EqualFold(u.Host, r.Host) {
		return nil
	}
	for _, p := range patterns {
		target := u.Host
		if strings.Contains(p, "://") {
			target = u.Scheme + "://" + u.Host
		}
		if ok, _ := path.Match(strings.ToLower(p), strings.ToLower(target)); ok {
			return nil
		}
	}
	return fmt.Errorf("request Origin %q is neither this server (%s) nor an --allow-origin pattern", origin, r.Host)
}

// needsOrigin reports whether a request must pass the origin check: it
// changes something, or opens a websocket.
func needsOrigin(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
	}
	return true
}

// wrap puts the origin check and, when on, authentication in front of next.
// Without credentials only /health (the DashFlow UI's health poll, counts
// only) and /login answer.
func (a *access) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if needsOrigin(r) {
			if err := checkOrigin(r, a.origins); err != nil {
				a.refusal(refusedForeignOrigin, "%s %s from %s: %v", r.Method, r.URL.Path, r.RemoteAddr, err)
				http.Error(w, "forbidden: "+err.Error()+" (start dashstream serve with --allow-origin to accept it)", http.StatusForbidden)
				return
			}
		}
		if !a.enabled() || r.URL.Path == "/health" {
			next.ServeHTTP(w, r)
			return
		}
		switch r.URL.Path {
		case "/login":
			a.login(w, r)
			return
		case "/logout":
			if r.Method == http.MethodPost {
				a.logout(w, r)
				return
			}
		}
		if _, reason := a.authenticate(r); reason != "" {
			a.refuse(w, r, reason)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// refuse answers a request without valid credentials: a browser navigating
// to a page goes to the login page, anything else gets 401.
func (a *access) refuse(w http.ResponseWriter, r *http.Request, reason string) {
	a.refusal(reason, "%s %s from %s", r.Method, r.URL.Path, r.RemoteAddr)
	if reason == refusedExpiredSession {
		http.SetCookie(w, a.cookie("", -1))
	}
	if r.Method == http.MethodGet && !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") &&
		(r.Header.Get("Sec-Fetch-Mode") == "navigate" || strings.Contains(r.Header.Get("Accept"), "text/html")) {
		http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="dashstream serve"`)
	w.Header().Set("Cache-Control", "no-store")
	msg := "authentication required: send 'Authorization: Bearer TOKEN' (or HTTP basic with the token as password), or log in at /login"
	switch reason {
	case refusedBadCredentials:
		msg = "invalid credentials: the token is not one of --auth-token-file's or $" + envServeToken
	case refusedExpiredSession:
		msg = "session expired or unknown (the server restarted?): log in again at /login"
	}
	http.Error(w, msg, http.StatusUnauthorized)
}

// safeNext is where a login goes on: a path of this server, never another
// site ("//host" or "/\host" would leave it).
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>dashstream serve: log in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:system-ui,sans-serif;background:#f6f7f9;display:flex;justify-content:center;padding-top:12vh;margin:0}
form{background:#fff;border:1px solid #d8dce2;border-radius:8px;padding:24px 28px;min-width:320px}
h1{font-size:18px;margin:0 0 16px}label{display:block;font-size:13px;color:#444;margin-bottom:6px}
input[type=password]{width:100%;box-sizing:border-box;padding:8px;font-size:14px;border:1px solid #bbb;border-radius:4px}
button{margin-top:14px;padding:8px 16px;font-size:14px}.error{color:#b00020;font-size:13px;margin:0 0 12px}
</style></head><body>
<form method="post" action="/login" id="login">
<h1>dashstream serve</h1>
{{if .Error}}<p class="error" id="login-error">{{.Error}}</p>{{end}}
<label for="token">Access token</label>
<input type="password" id="token" name="token" autocomplete="current-password" autofocus required>
<input type="hidden" name="next" value="{{.Next}}">
<button type="submit" id="login-submit">Log in</button>
</form></body></html>
`))

// login shows the login form (GET) or checks a token from it (POST) and
// starts a session.
func (a *access) login(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	show := func(code int, next, msg string) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(code)
		_ = loginPage.Execute(w, struct{ Next, Error string }{safeNext(next), msg})
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		show(http.StatusOK, r.URL.Query().Get("next"), "")
	case http.MethodPost:
		r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
		if err := r.ParseForm(); err != nil {
			show(http.StatusBadRequest, "/", "malformed form")
			return
		}
		next := r.PostForm.Get("next")
		name, ok := a.check(r.PostForm.Get("token"))
		if !ok {
			a.refusal(refusedBadCredentials, "login from %s with a wrong token", r.RemoteAddr)
			show(http.StatusUnauthorized, next, "Wrong token.")
			return
		}
		id, err := a.newSession(name)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		a.logf("login: %q from %s", name, r.RemoteAddr)
		http.SetCookie(w, a.cookie(id, int(a.ttl/time.Second)))
		http.Redirect(w, r, safeNext(next), http.StatusSeeOther)
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// logout ends the browser's session.
func (a *access) logout(w http.ResponseWriter, r *http.Request) {
	a.endSession(r)
	http.SetCookie(w, a.cookie("", -1))
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// errNoAuth is returned when --allow-remote would serve without
// authentication.
var errNoAuth = errors.New("--allow-remote without authentication: give tokens with --auth-token-file or $" + envServeToken +
	" (or add --insecure-no-auth to serve every state in the topic to anyone who reaches the address)")

// serveSecurity is what serve's access flags resolve to.
type serveSecurity struct {
	creds  []credential // none: no authentication
	tls    *tls.Config  // nil: plain HTTP
	tenant tenantFilter
}

// security checks serve's access flags together and loads what they name,
// failing with what to fix.
func (f *serveFlags) security(getenv func(string) string, logf func(string, ...any)) (serveSecurity, error) {
	var sec serveSecurity
	creds, warnings, err := loadCredentials(f.auth.tokenFile, getenv)
	if err != nil {
		return sec, err
	}
	switch {
	case len(creds) > 0 && f.auth.insecureNoAuth:
		return sec, usageErrorf("--insecure-no-auth contradicts the tokens given (--auth-token-file or $%s)", envServeToken)
	case f.allowRemote && len(creds) == 0 && !f.auth.insecureNoAuth:
		return sec, usageError{errNoAuth}
	}
	for _, w := range warnings {
		logf("warning: %s", w)
	}
	if sec.tls, err = f.tls.config(logf); err != nil {
		return sec, err
	}
	if sec.tenant, err = newTenantFilter(f.tenant); err != nil {
		return sec, err
	}
	if len(creds) > 0 && sec.tls == nil && f.allowRemote {
		logf("warning: without --listen-tls-cert, tokens and session cookies cross the network in clear text")
	}
	sec.creds = creds
	return sec, nil
}
