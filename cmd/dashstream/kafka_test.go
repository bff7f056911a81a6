package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/dashstream/dashstreamexporter/dashstream"
	"github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
)

// These tests run the subcommands in-process against kfake over TCP with
// the real sarama client; records are produced the way the exporter does
// (key = thread id, librdkafka-compatible CRC32 partitioner).

func startKafka(t testing.TB, opts ...kfake.Opt) string {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(3, defaultTopic)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}

// producer returns a sync producer built from the CLI's own connection
// flags, so the TLS/SASL test covers both sides with one configuration.
func producer(t testing.TB, k *kafkaFlags) sarama.SyncProducer {
	t.Helper()
	cfg, err := k.saramaConfig()
	require.NoError(t, err)
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Partitioner = sarama.NewConsistentCRCHashPartitioner
	p, err := sarama.NewSyncProducer(k.brokerList(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func produce(t *testing.T, p sarama.SyncProducer, topic string, msgs ...*dashstreampb.DashStreamMessage) {
	t.Helper()
	vals := encode(t, msgs...)
	batch := make([]*sarama.ProducerMessage, len(msgs))
	for i, v := range vals {
		key := threadOf(msgs[i])
		batch[i] = &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(key), Value: sarama.ByteEncoder(v)}
	}
	require.NoError(t, p.SendMessages(batch))
}

func threadOf(m *dashstreampb.DashStreamMessage) string {
	switch p := m.GetMessage().(type) {
	case *dashstreampb.DashStreamMessage_Event:
		return p.Event.GetHeader().GetThreadId()
	case *dashstreampb.DashStreamMessage_StateDiff:
		return p.StateDiff.GetHeader().GetThreadId()
	case *dashstreampb.DashStreamMessage_Checkpoint:
		return p.Checkpoint.GetHeader().GetThreadId()
	}
	return ""
}

// runCLI runs one command line and returns its exit status and output.
func runCLI(ctx context.Context, args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := cli(ctx, args, env{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut})
	return code, out.String(), errOut.String()
}

const finalState = `{"messages":["hi","draft"],"counter":2}`

func writeExpect(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "expect.json")
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

func TestKafkaVerifyAndTail(t *testing.T) {
	addr := startKafka(t)
	p := producer(t, &kafkaFlags{brokers: addr, topic: defaultTopic, protocolVersion: "2.1.0", dialTimeout: 5 * time.Second})
	produce(t, p, defaultTopic, newStream(t, "demo-1", 1_000).run()...)
	produce(t, p, defaultTopic, newStream(t, "demo-2", 5_000).run()...)
	produce(t, p, defaultTopic, newStream(t, "other", 9_000).run()...)
	ctx := context.Background()
	b := []string{"--brokers", addr}

	t.Run("verify all", func(t *testing.T) {
		code, out, errOut := runCLI(ctx, append([]string{"verify"}, b...)...)
		require.Equal(t, exitOK, code, out+errOut)
		require.Contains(t, out, "30 record(s) read")
		require.Contains(t, out, "OK: 3 thread(s), 30 message(s), no inconsistencies")
		require.NotContains(t, out, "\x1b[", "no colour in a pipe")
	})

	t.Run("verify expectations with thread filter", func(t *testing.T) {
		expect := writeExpect(t, `{"demo-1":`+finalState+`,"demo-2":`+finalState+`}`)
		code, out, errOut := runCLI(ctx, append([]string{"verify", "--thread", "demo-*", "--expect", expect,
			"--expect-threads", "2"}, b...)...)
		require.Equal(t, exitOK, code, out+errOut)
		require.Contains(t, out, "demo-1: match")
		require.Contains(t, out, "demo-2: match")
		require.Contains(t, out, "10 of other threads skipped")
	})

	t.Run("verify expectation not reached times out", func(t *testing.T) {
		expect := writeExpect(t, `{"demo-1":{"counter":3}}`)
		code, out, _ := runCLI(ctx, append([]string{"verify", "--expect", expect, "--wait", "1s"}, b...)...)
		require.Equal(t, exitInconsistent, code)
		require.Contains(t, out, "gave up waiting")
		require.Contains(t, out, "demo-1: differs from expected")
	})

	t.Run("tail to the end", func(t *testing.T) {
		code, out, errOut := runCLI(ctx, append([]string{"tail", "--from-beginning", "--follow=false", "--thread", "demo-2"}, b...)...)
		require.Equal(t, exitOK, code, errOut)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		require.Len(t, lines, 10)
		require.Contains(t, lines[0], "demo-2")
		require.Contains(t, lines[0], "seq=5000  graph_start")
		require.Contains(t, lines[2], "state_diff")
		require.Contains(t, errOut, "10 message(s) of 1 thread(s)")
	})

	t.Run("tail records", func(t *testing.T) {
		code, out, errOut := runCLI(ctx, append([]string{"tail", "--from-beginning", "--follow=false", "--thread", "demo-1", "--records"}, b...)...)
		require.Equal(t, exitOK, code, errOut)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		require.Len(t, lines, 10)
		dec, err := dashstream.NewDecoder(dashstream.DecoderOptions{})
		require.NoError(t, err)
		for _, l := range lines {
			var rl recordLine
			require.NoError(t, json.Unmarshal([]byte(l), &rl), l)
			require.Equal(t, "demo-1", rl.Key)
			msg, err := dec.Decode(rl.Value)
			require.NoError(t, err, "the value is the raw record")
			var fromJSON dashstreampb.DashStreamMessage
			require.NoError(t, protojson.Unmarshal(rl.Message, &fromJSON))
			require.True(t, proto.Equal(msg, &fromJSON), "message is the value decoded")
		}
	})

	t.Run("tail stops after max", func(t *testing.T) {
		code, out, _ := runCLI(ctx, append([]string{"tail", "--from-beginning", "--max", "4"}, b...)...)
		require.Equal(t, exitOK, code)
		require.Len(t, strings.Split(strings.TrimSpace(out), "\n"), 4)
	})

	t.Run("terminal: progress on stderr, colour on stdout unless NO_COLOR", func(t *testing.T) {
		var out, errOut bytes.Buffer
		e := env{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, stdoutTTY: true, stderrTTY: true}
		require.Equal(t, exitOK, cli(ctx, append([]string{"verify"}, b...), e))
		require.Contains(t, errOut.String(), "\r\x1b[K", "progress line cleared at the end")
		require.Contains(t, out.String(), sgrGreen)

		out.Reset()
		e.noColor = "1"
		require.Equal(t, exitOK, cli(ctx, append([]string{"tail", "--from-beginning", "--max", "2"}, b...), e))
		require.NotContains(t, out.String(), "\x1b[")
	})

	t.Run("unknown topic", func(t *testing.T) {
		code, _, errOut := runCLI(ctx, append([]string{"verify", "--topic", "nope"}, b...)...)
		require.Equal(t, exitInconsistent, code)
		require.Contains(t, errOut, "topic not found")
	})
}

func TestKafkaVerifyReportsCorruption(t *testing.T) {
	addr := startKafka(t)
	p := producer(t, &kafkaFlags{brokers: addr, topic: defaultTopic, protocolVersion: "2.1.0", dialTimeout: 5 * time.Second})
	msgs := newStream(t, "broken", 1).run()
	msgs[6].GetStateDiff().StateHash[3] ^= 0x10
	produce(t, p, defaultTopic, msgs...)
	_, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: defaultTopic, Key: sarama.StringEncoder("broken"),
		Value: sarama.ByteEncoder([]byte{0x01, 0x28, 0xb5, 0x2f, 0xfd, 0x00})})
	require.NoError(t, err)

	code, out, errOut := runCLI(context.Background(), "verify", "--brokers", addr)
	require.Equal(t, exitInconsistent, code, errOut)
	require.Contains(t, out, "thread broken seq 7: state_hash")
	require.Contains(t, out, ": decode: 6-byte record")
	require.Contains(t, out, "INCONSISTENT: 2 problem(s)")

	code, out, _ = runCLI(context.Background(), "tail", "--brokers", addr, "--from-beginning", "--follow=false")
	require.Equal(t, exitOK, code)
	require.Contains(t, out, "undecodable record (6 bytes)")
}

// TestConsumeWaitsForExpectedState: verify keeps reading past the end until
// the expected state arrives (the collector may still be delivering).
func TestConsumeWaitsForExpectedState(t *testing.T) {
	addr := startKafka(t)
	k := &kafkaFlags{brokers: addr, topic: defaultTopic, protocolVersion: "2.1.0", dialTimeout: 5 * time.Second}
	p := producer(t, k)
	msgs := newStream(t, "late", 1).run()
	produce(t, p, defaultTopic, msgs[:4]...)

	v, err := newVerifier(nil)
	require.NoError(t, err)
	expect := map[string]any{}
	e, err := loadExpectations(writeExpect(t, `{"late":`+finalState+`}`))
	require.NoError(t, err)
	expect["late"] = e["late"]

	client, err := connect(k)
	require.NoError(t, err)
	defer client.Close()
	var once sync.Once
	var produced sync.WaitGroup
	produced.Add(1)
	res, err := consumeTopic(context.Background(), client, defaultTopic, consumeOptions{
		FromBeginning: true, Until: func() bool { return v.expectationsMet(expect) }, Wait: 30 * time.Second,
	}, func(r record) {
		v.add(r)
		// Only once the first part has been read does the rest get sent.
		if v.records == 4 {
			once.Do(func() {
				go func() { defer produced.Done(); produce(t, p, defaultTopic, msgs[4:]...) }()
			})
		}
	})
	produced.Wait()
	require.NoError(t, err)
	require.False(t, res.TimedOut)
	require.EqualValues(t, 4, res.Backlog, "the end at the start")
	require.EqualValues(t, len(msgs), v.records)
	require.True(t, v.expectationsMet(expect))
}

func TestKafkaTLSAndSCRAM(t *testing.T) {
	dir := t.TempDir()
	serverCert, caFile := selfSignedCert(t, dir)
	addr := startKafka(t, kfake.TLS(&tls.Config{Certificates: []tls.Certificate{serverCert}, MinVersion: tls.VersionTLS12}),
		kfake.EnableSASL(), kfake.Superuser(saslSCRAM512, "alice", "s3cret"))
	k := &kafkaFlags{brokers: addr, topic: defaultTopic, protocolVersion: "2.1.0", dialTimeout: 5 * time.Second,
		tlsCA: caFile, saslMechanism: saslSCRAM512, saslUsername: "alice", saslPassword: "s3cret"}
	produce(t, producer(t, k), defaultTopic, newStream(t, "secure", 1).run()...)

	auth := []string{"--brokers", addr, "--tls-ca", caFile, "--sasl-mechanism", "SCRAM-SHA-512", "--sasl-username", "alice"}
	t.Setenv("DASHSTREAM_SASL_PASSWORD", "s3cret")
	code, out, errOut := runCLI(context.Background(), append([]string{"verify"}, auth...)...)
	require.Equal(t, exitOK, code, out+errOut)
	require.Contains(t, out, "OK: 1 thread(s), 10 message(s)")

	code, _, errOut = runCLI(context.Background(), append([]string{"verify", "--sasl-password", "wrong", "--dial-timeout", "2s"}, auth...)...)
	require.Equal(t, exitInconsistent, code)
	require.Contains(t, errOut, "connect to")

	code, _, errOut = runCLI(context.Background(), "verify", "--brokers", addr, "--dial-timeout", "2s")
	require.Equal(t, exitInconsistent, code, "plaintext against a TLS listener fails")
	require.Contains(t, errOut, "connect to")
}

// selfSignedCert makes a certificate for 127.0.0.1 and writes it as the CA
// file clients trust.
func selfSignedCert(t *testing.T, dir string) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kfake"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	require.NoError(t, err)
	caFile := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(caFile, certPEM, 0o600))
	return cert, caFile
}
