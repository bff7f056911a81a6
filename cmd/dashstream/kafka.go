package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/IBM/sarama"

	"github.com/dashstream/dashstreamexporter/internal/kafkasasl"
)

// SASL mechanisms the CLI supports (the same set as the exporter).
const (
	saslPlain     = "PLAIN"
	saslSCRAM256  = "SCRAM-SHA-256"
	saslSCRAM512  = "SCRAM-SHA-512"
	defaultTopic  = "dashstream-events"
	defaultBroker = "127.0.0.1:9092"
)

// kafkaFlags are the connection settings every Kafka-reading subcommand takes.
type kafkaFlags struct {
	brokers         string
	topic           string
	tls             bool
	tlsCA           string
	tlsCert         string
	tlsKey          string
	tlsInsecure     bool
	tlsServerName   string
	saslMechanism   string
	saslUsername    string
	saslPassword    string
	protocolVersion string
	clientID        string
	dialTimeout     time.Duration
}

func (k *kafkaFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&k.brokers, "brokers", defaultBroker, "comma-separated Kafka bootstrap brokers")
	fs.StringVar(&k.topic, "topic", defaultTopic, "topic to read")
	fs.BoolVar(&k.tls, "tls", false, "connect with TLS (implied by the other --tls-* flags)")
	fs.StringVar(&k.tlsCA, "tls-ca", "", "PEM file of CA certificates to trust (default: the system pool)")
	fs.StringVar(&k.tlsCert, "tls-cert", "", "PEM client certificate for mutual TLS")
	fs.StringVar(&k.tlsKey, "tls-key", "", "PEM private key of --tls-cert")
	fs.BoolVar(&k.tlsInsecure, "tls-insecure-skip-verify", false, "do not verify the brokers' certificates (testing only)")
	fs.StringVar(&k.tlsServerName, "tls-server-name", "", "server name to verify instead of the broker host")
	fs.StringVar(&k.saslMechanism, "sasl-mechanism", "", "SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (default: no SASL)")
	fs.StringVar(&k.saslUsername, "sasl-username", "", "SASL user name")
	fs.StringVar(&k.saslPassword, "sasl-password", "", "SASL password (default: $DASHSTREAM_SASL_PASSWORD)")
	fs.StringVar(&k.protocolVersion, "protocol-version", "2.1.0", "Kafka protocol version to speak")
	fs.StringVar(&k.clientID, "client-id", "dashstream-cli", "Kafka client id")
	fs.DurationVar(&k.dialTimeout, "dial-timeout", 10*time.Second, "timeout of each broker connection attempt")
}

func (k *kafkaFlags) brokerList() []string {
	var out []string
	for _, b := range strings.Split(k.brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// saramaConfig builds a consumer configuration. It never creates topics: a
// reader that auto-created a mistyped topic would hide the mistake.
func (k *kafkaFlags) saramaConfig() (*sarama.Config, error) {
	if len(k.brokerList()) == 0 {
		return nil, errors.New("--brokers is empty")
	}
	if strings.TrimSpace(k.topic) == "" {
		return nil, errors.New("--topic is empty")
	}
	version, err := sarama.ParseKafkaVersion(k.protocolVersion)
	if err != nil {
		return nil, fmt.Errorf("--protocol-version: %w", err)
	}
	c := sarama.NewConfig()
	c.Version = version
	c.ClientID = k.clientID
	c.Net.DialTimeout = k.dialTimeout
	c.Metadata.AllowAutoTopicCreation = false
	c.Metadata.Retry.Max = 2
	c.Consumer.Return.Errors = true
	c.Consumer.MaxWaitTime = 250 * time.Millisecond
	c.Consumer.Offsets.Initial = sarama.OffsetOldest

	if k.tls || k.tlsCA != "" || k.tlsCert != "" || k.tlsKey != "" || k.tlsInsecure || k.tlsServerName != "" {
		tc, err := k.tlsConfig()
		if err != nil {
			return nil, err
		}
		c.Net.TLS.Enable = true
		c.Net.TLS.Config = tc
	}
	if err := k.configureSASL(c); err != nil {
		return nil, err
	}
	return c, nil
}

func (k *kafkaFlags) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: k.tlsServerName}
	// The flag exists for test brokers with self-signed certificates.
	tc.InsecureSkipVerify = k.tlsInsecure //nolint:gosec // opt-in by flag
	if k.tlsCA != "" {
		pem, err := os.ReadFile(k.tlsCA)
		if err != nil {
			return nil, fmt.Errorf("--tls-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls-ca %s: no PEM certificate found", k.tlsCA)
		}
		tc.RootCAs = pool
	}
	if (k.tlsCert == "") != (k.tlsKey == "") {
		return nil, errors.New("--tls-cert and --tls-key go together")
	}
	if k.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(k.tlsCert, k.tlsKey)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

func (k *kafkaFlags) configureSASL(c *sarama.Config) error {
	mech := strings.ToUpper(strings.TrimSpace(k.saslMechanism))
	if mech == "" {
		if k.saslUsername != "" {
			return errors.New("--sasl-username needs --sasl-mechanism")
		}
		return nil
	}
	password := k.saslPassword
	if password == "" {
		password = os.Getenv("DASHSTREAM_SASL_PASSWORD")
	}
	if k.saslUsername == "" || password == "" {
		return fmt.Errorf("--sasl-mechanism %s needs --sasl-username and --sasl-password", mech)
	}
	c.Net.SASL.Enable = true
	c.Net.SASL.Handshake = true
	c.Net.SASL.User = k.saslUsername
	c.Net.SASL.Password = password
	switch mech {
	case saslPlain:
		c.Net.SASL.Mechanism = sarama.SASLTypePlaintext
	case saslSCRAM256:
		c.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA256
		c.Net.SASL.SCRAMClientGeneratorFunc = kafkasasl.NewSHA256
	case saslSCRAM512:
		c.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA512
		c.Net.SASL.SCRAMClientGeneratorFunc = kafkasasl.NewSHA512
	default:
		return fmt.Errorf("--sasl-mechanism %q: want %s, %s or %s", k.saslMechanism, saslPlain, saslSCRAM256, saslSCRAM512)
	}
	return nil
}
