package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"
)

// testCert is a self-signed server certificate for 127.0.0.1 and localhost.
type testCert struct {
	certFile, keyFile string
	pool              *x509.CertPool
	spki              string // base64 SHA-256 of the public key, as Chromium's --ignore-certificate-errors-spki-list takes it
}

func selfSigned(t testing.TB, dir string) testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "dashstream serve test"},
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	c := testCert{certFile: filepath.Join(dir, "cert.pem"), keyFile: filepath.Join(dir, "key.pem"), pool: x509.NewCertPool()}
	require.NoError(t, os.WriteFile(c.certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644))
	require.NoError(t, os.WriteFile(c.keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600))
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	c.pool.AddCert(cert)
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	c.spki = base64.StdEncoding.EncodeToString(sum[:])
	return c
}

// syncBuffer is a bytes.Buffer for one writer and a polling reader.
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

// runningServe is `dashstream serve` run as the command runs, on its own
// goroutine.
type runningServe struct {
	base           string // scheme://host:port
	stdout, stderr *syncBuffer
}

var serveBase = regexp.MustCompile(`live view on (https?://[^/ ]+)/live/`)

// runServeCmd runs `dashstream serve ARGS` until the test ends and returns
// once it listens.
func runServeCmd(t testing.TB, args ...string) *runningServe {
	t.Helper()
	rs := &runningServe{stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- cli(ctx, append([]string{"serve"}, args...), env{stdout: rs.stdout, stderr: rs.stderr})
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if m := serveBase.FindStringSubmatch(rs.stdout.String()); m != nil {
			rs.base = m[1]
			return rs
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited with %d: %s", code, rs.stderr.String())
		default:
		}
		require.True(t, time.Now().Before(deadline), "serve did not start: %s", rs.stderr.String())
		time.Sleep(20 * time.Millisecond) // polling its output with a deadline
	}
}

// refused reads /health's refusal count for a reason.
func refusedOn(t *testing.T, c *http.Client, base, reason string) int64 {
	t.Helper()
	resp, body := do(t, c, "GET", base+"/health", nil, "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var h struct {
		Refused map[string]int64 `json:"refused_requests"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &h))
	return h.Refused[reason]
}

// TestServeTLSEndToEnd runs serve with a self-signed certificate and
// tokens, as an operator would, and uses every way in over TLS: the API
// with a bearer token, the browser login (a Secure cookie) and the relay
// over wss. A plain-HTTP client and a client that does not trust the
// certificate are refused, counted and logged.
func TestServeTLSEndToEnd(t *testing.T) {
	t.Setenv(envServeToken, "")
	kafkaAddr := startKafka(t)
	k := kafkaFlags{brokers: kafkaAddr, topic: defaultTopic, protocolVersion: "2.1.0", dialTimeout: 5 * time.Second}
	produce(t, producer(t, &k), defaultTopic, newStream(t, "tls-thread", 1).run()...)
	cert := selfSigned(t, t.TempDir())
	tokens := writeTemp(t, "tokens", "ops:"+testToken+"\n")
	rs := runServeCmd(t, "--brokers", kafkaAddr, "--listen", "127.0.0.1:0", "--listen-tls-cert", cert.certFile,
		"--listen-tls-key", cert.keyFile, "--auth-token-file", tokens)
	require.True(t, strings.HasPrefix(rs.base, "https://"), rs.base)
	require.Contains(t, rs.stdout.String(), "authentication on (1 token(s)); browsers log in at "+rs.base+"/login")

	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: cert.pool}}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, CheckRedirect: noRedirect.CheckRedirect}
	bearer := http.Header{"Authorization": {"Bearer " + testToken}}

	resp, _ := do(t, client, "GET", rs.base+"/live/api/threads", nil, "")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, body := do(t, client, "GET", rs.base+"/live/api/threads", bearer, "")
		if strings.Contains(body, `"tls-thread"`) && strings.Contains(body, `"completed"`) {
			break
		}
		require.True(t, time.Now().Before(deadline), "the thread never appeared: %s", body)
		time.Sleep(50 * time.Millisecond) // polling the API with a deadline
	}
	require.Equal(t, "HTTP/1.1", resp.Proto)
	require.NotNil(t, resp.TLS)

	// The browser login over TLS sets a Secure cookie.
	form := url.Values{"token": {testToken}, "next": {"/live/"}}.Encode()
	resp, _ = do(t, client, "POST", rs.base+"/login", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, form)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Len(t, resp.Cookies(), 1)
	require.True(t, resp.Cookies()[0].Secure)
	require.True(t, resp.Cookies()[0].HttpOnly)
	require.Equal(t, http.SameSiteStrictMode, resp.Cookies()[0].SameSite)

	// The relay over wss, with the cookie as a browser sends it.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	wss := "wss" + strings.TrimPrefix(rs.base, "https") + "/ws"
	cookie := http.Header{"Cookie": {resp.Cookies()[0].Name + "=" + resp.Cookies()[0].Value}, "Origin": {rs.base}}
	ws, _, err := websocket.Dial(ctx, wss, &websocket.DialOptions{HTTPClient: client, HTTPHeader: cookie})
	require.NoError(t, err)
	ws.SetReadLimit(8 << 20)
	wc := &wsClient{t: t, c: ws}
	wc.send(map[string]any{"type": "resume", "from": "earliest"})
	recs, _ := wc.until("replay_complete")
	require.Len(t, recs, 10)
	ws.CloseNow()
	// Without credentials the wss upgrade is refused.
	_, resp, err = websocket.Dial(ctx, wss, &websocket.DialOptions{HTTPClient: client})
	require.Error(t, err)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	// Plain HTTP on the TLS port, and a client that does not trust the
	// certificate: refused in the handshake, counted, logged.
	plain := "http" + strings.TrimPrefix(rs.base, "https")
	resp, body := do(t, http.DefaultClient, "GET", plain+"/live/api/threads", bearer, "")
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, body, "HTTP request to an HTTPS server")
	_, err = http.Get(rs.base + "/health")
	require.ErrorContains(t, err, "certificate signed by unknown authority")
	deadline = time.Now().Add(10 * time.Second)
	for refusedOn(t, client, rs.base, refusedTLSHandshake) < 2 {
		require.True(t, time.Now().Before(deadline), "handshake refusals not counted: %s", rs.stderr.String())
		time.Sleep(20 * time.Millisecond) // the server logs a failed handshake after the client saw it
	}
	log := rs.stderr.String()
	require.Contains(t, log, "refused (tls_handshake): http: TLS handshake error")
	require.Contains(t, log, "client sent an HTTP request to an HTTPS server")
	require.Contains(t, log, "refused (no_credentials): GET /ws")
}

// TestServeStartupRefusals: what serve refuses to start with, and how it
// says so.
func TestServeStartupRefusals(t *testing.T) {
	t.Setenv(envServeToken, "")
	dir := t.TempDir()
	cert := selfSigned(t, dir)
	other := selfSigned(t, t.TempDir())
	tokens := writeTemp(t, "tokens", testToken+"\n")
	for name, tc := range map[string]struct {
		args []string
		env  string
		want string
	}{
		"remote without auth":      {args: []string{"--listen", "0.0.0.0:0", "--allow-remote"}, want: "--allow-remote without authentication: give tokens with --auth-token-file or $DASHSTREAM_SERVE_TOKEN (or add --insecure-no-auth"},
		"no auth but tokens":       {args: []string{"--insecure-no-auth", "--auth-token-file", tokens}, want: "--insecure-no-auth contradicts the tokens given"},
		"no auth but env token":    {args: []string{"--insecure-no-auth"}, env: testToken, want: "--insecure-no-auth contradicts"},
		"missing certificate":      {args: []string{"--listen-tls-cert", filepath.Join(dir, "nope.pem"), "--listen-tls-key", cert.keyFile}, want: "--listen-tls-cert/--listen-tls-key: stat " + filepath.Join(dir, "nope.pem") + ": no such file or directory"},
		"missing key":              {args: []string{"--listen-tls-cert", cert.certFile, "--listen-tls-key", filepath.Join(dir, "nokey.pem")}, want: "nokey.pem: no such file or directory"},
		"certificate without key":  {args: []string{"--listen-tls-cert", cert.certFile}, want: "--listen-tls-cert and --listen-tls-key go together"},
		"key of another cert":      {args: []string{"--listen-tls-cert", cert.certFile, "--listen-tls-key", other.keyFile}, want: "private key does not match public key"},
		"not a certificate":        {args: []string{"--listen-tls-cert", tokens, "--listen-tls-key", cert.keyFile}, want: "failed to find any PEM data in certificate input"},
		"short token in the file":  {args: []string{"--auth-token-file", writeTemp(t, "short", "abc\n")}, want: "shorter than 16 characters"},
		"tokens on a missing file": {args: []string{"--auth-token-file", filepath.Join(dir, "none")}, want: "--auth-token-file: stat"},
	} {
		t.Setenv(envServeToken, tc.env)
		var out, errOut bytes.Buffer
		code := cli(context.Background(), append([]string{"serve", "--brokers", "127.0.0.1:1"}, tc.args...), env{stdout: &out, stderr: &errOut})
		require.Equal(t, exitUsage, code, "%s: %s", name, errOut.String())
		require.Contains(t, errOut.String(), tc.want, name)
	}
	// --insecure-no-auth says it on purpose; it starts.
	t.Setenv(envServeToken, "")
	rs := runServeCmd(t, "--brokers", startKafka(t), "--listen", "127.0.0.1:0", "--allow-remote", "--insecure-no-auth")
	resp, _ := do(t, http.DefaultClient, "GET", rs.base+"/live/api/threads", nil, "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

// TestServeCertificateReload: a renewed certificate is served without a
// restart; a broken one is logged and the old one kept.
func TestServeCertificateReload(t *testing.T) {
	dir := t.TempDir()
	first := selfSigned(t, dir)
	logs := &logRecorder{}
	cr := &certReloader{certFile: first.certFile, keyFile: first.keyFile, logf: logs.logf}
	require.NoError(t, cr.load())
	c1, err := cr.get(nil)
	require.NoError(t, err)

	second := selfSigned(t, t.TempDir())
	for _, f := range [][2]string{{second.certFile, first.certFile}, {second.keyFile, first.keyFile}} {
		b, err := os.ReadFile(f[0])
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(f[1], b, 0o600))
		later := time.Now().Add(time.Minute)
		require.NoError(t, os.Chtimes(f[1], later, later))
	}
	c, err := cr.get(nil)
	require.NoError(t, err)
	require.Same(t, c1, c, "looked at no more often than certCheckInterval")
	cr.checked = time.Time{}
	c2, err := cr.get(nil)
	require.NoError(t, err)
	require.NotEqual(t, c1.Certificate[0], c2.Certificate[0])
	require.True(t, logs.has("TLS certificate reloaded"))

	require.NoError(t, os.WriteFile(first.keyFile, []byte("garbage"), 0o600))
	later := time.Now().Add(2 * time.Minute)
	require.NoError(t, os.Chtimes(first.keyFile, later, later))
	cr.checked = time.Time{}
	c3, err := cr.get(nil)
	require.NoError(t, err)
	require.Same(t, c2, c3)
	require.True(t, logs.has("TLS certificate changed but does not load, keeping the old one"))
}
