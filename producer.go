package dashstreamexporter // import "github.com/dashstream/dashstreamexporter"

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/IBM/sarama"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/kafka/configkafka"
	"go.uber.org/zap"

	"github.com/dashstream/dashstreamexporter/dashstream/translate"
	"github.com/dashstream/dashstreamexporter/internal/kafkasasl"
)

// newSaramaConfig maps the configkafka settings onto sarama (SPEC §5.1–5.2):
// acks all with the idempotent producer by default, the librdkafka-compatible
// CRC32 partitioner, Kafka compression per config and per-message results.
func newSaramaConfig(ctx context.Context, cfg *Config) (*sarama.Config, error) {
	version, err := cfg.saramaVersion()
	if err != nil {
		return nil, err
	}
	cc, p := cfg.ClientConfig, cfg.Producer

	sc := sarama.NewConfig()
	sc.Version = version
	sc.ClientID = cc.ClientID
	sc.RackID = cc.RackID
	if cc.DialTimeout > 0 {
		sc.Net.DialTimeout = cc.DialTimeout
	}
	sc.Metadata.Full = cc.Metadata.Full
	sc.Metadata.RefreshFrequency = cc.Metadata.RefreshInterval
	sc.Metadata.Retry.Max = cc.Metadata.Retry.Max
	sc.Metadata.Retry.Backoff = cc.Metadata.Retry.Backoff
	sc.Metadata.AllowAutoTopicCreation = p.AllowAutoTopicCreation

	sc.Producer.RequiredAcks = sarama.RequiredAcks(p.RequiredAcks)
	sc.Producer.Idempotent = p.RequiredAcks == configkafka.WaitForAll
	if sc.Producer.Idempotent {
		// sarama's idempotent producer keeps order only with one request
		// in flight per broker.
		sc.Net.MaxOpenRequests = 1
	} else if p.MaxInflightRequestsPerBroker > 0 {
		sc.Net.MaxOpenRequests = p.MaxInflightRequestsPerBroker
	}
	if sc.Producer.Compression, err = saramaCompression(p.Compression); err != nil {
		return nil, err
	}
	sc.Producer.CompressionLevel = sarama.CompressionLevelDefault
	if p.CompressionParams.Level != 0 {
		sc.Producer.CompressionLevel = int(p.CompressionParams.Level)
	}
	sc.Producer.MaxMessageBytes = p.MaxMessageBytes
	sc.Producer.Flush.MaxMessages = p.FlushMaxMessages
	sc.Producer.Flush.Frequency = p.Linger
	// How long one attempt rides out a leader election or a restarting broker
	// before the exporter's retry_on_failure takes over (partition_producer.go):
	// 10 tries, 100 ms doubling up to 1 s, about 7.5 s.
	sc.Producer.Retry.Max = producerRetries
	sc.Producer.Retry.BackoffFunc = producerBackoff
	sc.Producer.Return.Successes = true
	sc.Producer.Return.Errors = true
	sc.Producer.Partitioner = sarama.NewConsistentCRCHashPartitioner

	if cc.TLS != nil {
		tlsCfg, err := cc.TLS.LoadTLSConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		if tlsCfg != nil {
			sc.Net.TLS.Enable = true
			sc.Net.TLS.Config = tlsCfg
		}
	}
	if sasl := cc.Authentication.SASL; sasl != nil {
		if err := configureSASL(sc, sasl); err != nil {
			return nil, err
		}
	}
	if err := sc.Validate(); err != nil {
		return nil, fmt.Errorf("sarama configuration: %w", err)
	}
	return sc, nil
}

func saramaCompression(name string) (sarama.CompressionCodec, error) {
	switch name {
	case "", "none":
		return sarama.CompressionNone, nil
	case "gzip":
		return sarama.CompressionGZIP, nil
	case "snappy":
		return sarama.CompressionSnappy, nil
	case "lz4":
		return sarama.CompressionLZ4, nil
	case "zstd":
		return sarama.CompressionZSTD, nil
	}
	return sarama.CompressionNone, fmt.Errorf("producer.compression: %q is not supported", name)
}

func configureSASL(sc *sarama.Config, sasl *configkafka.SASLConfig) error {
	sc.Net.SASL.Enable = true
	sc.Net.SASL.User = sasl.Username
	sc.Net.SASL.Password = sasl.Password
	sc.Net.SASL.Handshake = true
	sc.Net.SASL.Version = sarama.SASLHandshakeV1
	if !sc.Version.IsAtLeast(sarama.V1_0_0_0) {
		sc.Net.SASL.Version = sarama.SASLHandshakeV0
	}
	switch sasl.Mechanism {
	case saslPlain:
		sc.Net.SASL.Mechanism = sarama.SASLTypePlaintext
	case saslSCRAMSHA256:
		sc.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA256
		sc.Net.SASL.SCRAMClientGeneratorFunc = kafkasasl.NewSHA256
	case saslSCRAMSHA512:
		sc.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA512
		sc.Net.SASL.SCRAMClientGeneratorFunc = kafkasasl.NewSHA512
	default:
		return fmt.Errorf("auth.sasl.mechanism: %q is not supported", sasl.Mechanism)
	}
	return nil
}

// kafkaProducer owns the sarama producer. It is created lazily so the
// exporter starts (and its persistent queue fills) while Kafka is down.
type kafkaProducer struct {
	brokers  []string
	conf     *sarama.Config
	readBack int64 // records read back per partition by a new producer (dedup.go)
	logger   *zap.Logger

	mu     sync.Mutex
	client sarama.Client
	sp     *partitionProducer
	tail   *kafkaTail // what this producer read back (dedup.go)
	closed bool

	// deduplicated counts records skipped because Kafka already had them.
	deduplicated atomic.Int64
}

func newKafkaProducer(brokers []string, conf *sarama.Config, readBack int64, logger *zap.Logger) *kafkaProducer {
	return &kafkaProducer{brokers: brokers, conf: conf, readBack: readBack, logger: logger}
}

// connect creates the sarama producer if needed.
func (p *kafkaProducer) connect() (*partitionProducer, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errors.New("dashstream: producer closed")
	}
	if p.sp != nil {
		return p.sp, nil
	}
	client, err := sarama.NewClient(p.brokers, p.conf)
	if err != nil {
		return nil, fmt.Errorf("dashstream: connecting to Kafka brokers %v: %w", p.brokers, err)
	}
	sp, err := newPartitionProducer(client, p.conf)
	if err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("dashstream: creating Kafka producer: %w", err)
	}
	tail, err := newKafkaTail(p.readBack)
	if err != nil {
		_ = sp.Close()
		_ = client.Close()
		return nil, err
	}
	p.client, p.sp, p.tail = client, sp, tail
	return sp, nil
}

// preflight makes sure every topic's partitions have a reachable leader
// before anything is sent, so an attempt against a half-recovered cluster
// fails as a whole instead of failing early records and sending later ones
// (which would put a thread's records out of order).
func (p *kafkaProducer) preflight(recs []*translate.Record) error {
	p.mu.Lock()
	client := p.client
	p.mu.Unlock()
	if client == nil {
		return errors.New("dashstream: producer not connected")
	}
	topics := map[string]struct{}{}
	for _, r := range recs {
		topics[r.Topic] = struct{}{}
	}
	list := make([]string, 0, len(topics))
	for t := range topics {
		list = append(list, t)
	}
	// A topic Kafka does not know is not a reason to hold the other
	// topics back: its records fail one by one in the send. Other failures
	// are reported without their Kafka error code, so the attempt is
	// retried instead of its records being dropped as permanently rejected.
	if err := client.RefreshMetadata(list...); err != nil && !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
		return fmt.Errorf("dashstream: Kafka metadata: %v", err)
	}
	for _, t := range list {
		parts, err := client.Partitions(t)
		if errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
			continue
		}
		if err != nil {
			return fmt.Errorf("dashstream: partitions of %q: %v", t, err)
		}
		for _, part := range parts {
			if _, err := client.Leader(t, part); err != nil {
				return fmt.Errorf("dashstream: leader of %q/%d: %v", t, part, err)
			}
		}
	}
	return nil
}

// reset discards the producer after a failed attempt: the next attempt
// starts from a fresh client (fresh metadata, no open circuit breaker, a new
// idempotent producer id) and runs the preflight check first.
func (p *kafkaProducer) reset() {
	p.mu.Lock()
	sp, client := p.sp, p.client
	p.sp, p.client, p.tail = nil, nil, nil
	p.mu.Unlock()
	if sp != nil {
		if err := sp.Close(); err != nil {
			p.logger.Debug("Closing the Kafka producer after a failed attempt.", zap.Error(err))
		}
	}
	if client != nil && !client.Closed() {
		_ = client.Close()
	}
}

// send produces recs and returns each record's outcome (nil = acknowledged).
// It returns only once every record has an outcome, whatever ctx says: a
// record still in flight could be acknowledged later, and retrying it would
// duplicate it. sarama's own timeouts and retries bound the wait.
func (p *kafkaProducer) send(recs []*translate.Record) []error {
	outcomes := make([]error, len(recs))
	fail := func(err error) []error {
		for i := range outcomes {
			outcomes[i] = err
		}
		return outcomes
	}
	p.mu.Lock()
	fresh := p.sp == nil
	p.mu.Unlock()
	sp, err := p.connect()
	if err != nil {
		return fail(err)
	}
	if fresh {
		if err := p.preflight(recs); err != nil {
			p.reset()
			return fail(err)
		}
	}
	p.mu.Lock()
	client, tail := p.client, p.tail
	p.mu.Unlock()
	if client == nil || tail == nil {
		return fail(errors.New("dashstream: producer not connected"))
	}
	delivered, err := tail.delivered(client, recs)
	if err != nil {
		p.reset()
		return fail(err)
	}
	skipped := 0
	for _, d := range delivered {
		if d {
			skipped++ // outcome nil: Kafka has it
		}
	}
	if skipped > 0 {
		p.deduplicated.Add(int64(skipped))
		p.logger.Info("Skipped records Kafka already has (written before a restart or by an attempt whose outcome was lost).",
			zap.Int("skipped", skipped), zap.Int("records", len(recs)))
	}
	if skipped == len(recs) {
		return outcomes
	}
	if !sp.send(recs, delivered, outcomes) {
		// Closed by another send's reset (or shutdown) before this one
		// sent anything: nothing was sent, all of it is retried.
		for i := range outcomes {
			if !delivered[i] {
				outcomes[i] = errors.New("dashstream: Kafka producer was reset; retrying")
			}
		}
		return outcomes
	}
	retryable := false
	for _, err := range outcomes {
		if err != nil && !isPermanent(err, p.conf.Metadata.AllowAutoTopicCreation) {
			retryable = true
		}
	}
	if retryable {
		p.reset()
	}
	return outcomes
}

func (p *kafkaProducer) close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	if p.sp == nil {
		return nil
	}
	err := p.sp.Close()
	if p.client != nil && !p.client.Closed() {
		_ = p.client.Close()
	}
	p.sp, p.client = nil, nil
	if err != nil {
		return fmt.Errorf("dashstream: closing Kafka producer: %w", err)
	}
	return nil
}
