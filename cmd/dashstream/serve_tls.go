package main

import (
	"bytes"
	"crypto/tls"
	"flag"
	"fmt"
	"log"
	"os"
	"sync"
	"time"
)

// TLS for `dashstream serve`: HTTPS for the pages and the API, wss for the
// relay. (--tls-cert and --tls-key already name the Kafka client's
// certificate in every dashstream command, so the server's own take the
// --listen- prefix.) The certificate is read again when its files change,
// so a renewed one is picked up without a restart.

// certCheckInterval is how often the certificate files are looked at.
const certCheckInterval = 10 * time.Second

// listenTLSFlags are the server's certificate and key.
type listenTLSFlags struct {
	cert, key string
}

func (t *listenTLSFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&t.cert, "listen-tls-cert", "", "serve HTTPS (and wss on /ws) with this PEM certificate (chain); needs --listen-tls-key")
	fs.StringVar(&t.key, "listen-tls-key", "", "PEM private key of --listen-tls-cert")
}

func (t listenTLSFlags) enabled() bool { return t.cert != "" || t.key != "" }

// config loads the certificate; nil when TLS is off.
func (t listenTLSFlags) config(logf func(string, ...any)) (*tls.Config, error) {
	if !t.enabled() {
		return nil, nil
	}
	if t.cert == "" || t.key == "" {
		return nil, usageErrorf("--listen-tls-cert and --listen-tls-key go together (got cert %q, key %q)", t.cert, t.key)
	}
	cr := &certReloader{certFile: t.cert, keyFile: t.key, logf: logf}
	if err := cr.load(); err != nil {
		return nil, usageErrorf("%v", err)
	}
	// HTTP/1.1 only: browsers open websockets over HTTP/2 with extended
	// CONNECT, which the websocket library does not take.
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: cr.get, NextProtos: []string{"http/1.1"}}, nil
}

// certReloader serves the certificate and reloads it when its files change.
type certReloader struct {
	certFile, keyFile string
	logf              func(string, ...any)

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   [2]time.Time // modification times of the loaded files
	checked time.Time
}

func (c *certReloader) stamps() ([2]time.Time, error) {
	var s [2]time.Time
	for i, f := range []string{c.certFile, c.keyFile} {
		st, err := os.Stat(f)
		if err != nil {
			return s, err
		}
		s[i] = st.ModTime()
	}
	return s, nil
}

// load reads the files, with errors that say which flag is wrong.
func (c *certReloader) load() error {
	stamp, err := c.stamps()
	if err != nil {
		return fmt.Errorf("--listen-tls-cert/--listen-tls-key: %w", err)
	}
	certPEM, err := os.ReadFile(c.certFile)
	if err != nil {
		return fmt.Errorf("--listen-tls-cert: %w", err)
	}
	keyPEM, err := os.ReadFile(c.keyFile)
	if err != nil {
		return fmt.Errorf("--listen-tls-key: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("--listen-tls-cert %s with --listen-tls-key %s: %w", c.certFile, c.keyFile, err)
	}
	c.cert, c.stamp = &cert, stamp
	return nil
}

func (c *certReloader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := time.Now(); now.Sub(c.checked) >= certCheckInterval {
		c.checked = now
		if stamp, err := c.stamps(); err == nil && stamp != c.stamp {
			if err := c.load(); err != nil {
				c.logf("TLS certificate changed but does not load, keeping the old one: %v", err)
			} else {
				c.logf("TLS certificate reloaded from %s", c.certFile)
			}
		}
	}
	return c.cert, nil
}

// serverErrorLog is the HTTP server's error log: failed TLS handshakes (a
// plain-HTTP client, an untrusted certificate) are refusals, counted and
// logged as such; other lines go to the log as they are.
func (a *access) serverErrorLog() *log.Logger {
	return log.New(serverLogWriter{a}, "", 0)
}

type serverLogWriter struct{ a *access }

func (w serverLogWriter) Write(p []byte) (int, error) {
	line := string(bytes.TrimSpace(p))
	if bytes.Contains(p, []byte("TLS handshake error")) {
		w.a.refusal(refusedTLSHandshake, "%s", line)
	} else {
		w.a.logf("%s", line)
	}
	return len(p), nil
}
