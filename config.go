// Package dashstreamexporter is an OpenTelemetry Collector traces exporter
// that translates agent and graph spans into the DashStream v1 protocol and
// produces the records to Kafka with IBM/sarama through the collector's
// sending queue (batch, retry, optional persistent storage).
package dashstreamexporter // import "github.com/dashstream/dashstreamexporter"

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/kafka/configkafka"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/dashstream/dashstreamexporter/dashstream"
	"github.com/dashstream/dashstreamexporter/dashstream/translate"
)

// Defaults specific to this exporter (the rest come from configkafka,
// exporterhelper and translate.DefaultConfig).
const (
	defaultTopic    = translate.DefaultTopic
	defaultClientID = "otelcol-dashstream"
	// minMaxMessageBytes is the smallest producer.max_message_bytes that still
	// fits a minimal DashStream record (header, key, traceparent header and a
	// few event attributes) with Kafka's per-record overhead.
	minMaxMessageBytes = 1024
	// maxTopicLen is Kafka's limit on topic names.
	maxTopicLen = 249
)

// SASL mechanisms this exporter can configure sarama for.
const (
	saslPlain       = "PLAIN"
	saslSCRAMSHA256 = "SCRAM-SHA-256"
	saslSCRAMSHA512 = "SCRAM-SHA-512"
)

// reservedHeaders are set per record by the translation; static headers may
// not override them.
var reservedHeaders = []string{"traceparent", "tracestate"}

var topicNameRE = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)

var _ component.Config = (*Config)(nil)

// Config is the exporter's configuration. Kafka client keys are contrib's
// configkafka ones, so they match the contrib kafka exporter.
type Config struct {
	TimeoutSettings  exporterhelper.TimeoutConfig                             `mapstructure:",squash"`
	QueueBatchConfig configoptional.Optional[exporterhelper.QueueBatchConfig] `mapstructure:"sending_queue"`
	BackOffConfig    configretry.BackOffConfig                                `mapstructure:"retry_on_failure"`
	ClientConfig     configkafka.ClientConfig                                 `mapstructure:",squash"`
	Producer         configkafka.ProducerConfig                               `mapstructure:"producer"`

	// Topic receives the records unless a per-request topic applies.
	Topic string `mapstructure:"topic"`
	// TopicFromAttribute names a resource attribute whose value, when it is a
	// valid topic name, is used as the topic for that resource's records.
	TopicFromAttribute string `mapstructure:"topic_from_attribute"`
	// TopicFromMetadataKey names a client metadata key (receivers need
	// include_metadata: true) whose first value is used as the topic. It wins
	// over TopicFromAttribute.
	TopicFromMetadataKey string `mapstructure:"topic_from_metadata_key"`
	// Headers are static record headers added to every record.
	Headers map[string]string `mapstructure:"headers"`

	// Conventions are tried in this order to classify a span.
	Conventions []string `mapstructure:"conventions"`
	// ThreadAttribute names a span or resource attribute holding the thread id
	// when the convention gives none.
	ThreadAttribute string `mapstructure:"thread_attribute"`
	// TenantID is the static Header.tenant_id; TenantAttribute names a resource
	// attribute that overrides it when present.
	TenantID        string `mapstructure:"tenant_id"`
	TenantAttribute string `mapstructure:"tenant_attribute"`
	// CheckpointInterval: a Checkpoint after every N StateDiffs per thread (0 = off).
	CheckpointInterval int                    `mapstructure:"checkpoint_interval"`
	State              StateConfig            `mapstructure:"state"`
	Redaction          RedactionConfig        `mapstructure:"redaction"`
	Session            SessionConfig          `mapstructure:"session"`
	AttributeMaxBytes  int                    `mapstructure:"attribute_max_bytes"`
	FrameCompression   FrameCompressionConfig `mapstructure:"frame_compression"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// StateConfig bounds the states that are diffed.
type StateConfig struct {
	// MaxBytes: states whose JSON is larger are not diffed (counted); the next
	// state that fits is sent as a full state.
	MaxBytes int `mapstructure:"max_bytes"`

	_ struct{}
}

// RedactionConfig says which values are replaced by "[REDACTED]".
type RedactionConfig struct {
	Enabled bool `mapstructure:"enabled"`
	// Keys: object and attribute keys whose values are secrets
	// (case-insensitive substring match). Setting it replaces the defaults.
	Keys []string `mapstructure:"keys"`
	// Patterns: regular expressions (RE2) matching credential-looking strings.
	// Setting it replaces the defaults.
	Patterns []string `mapstructure:"patterns"`

	_ struct{}
}

// SessionConfig bounds the per-thread translation sessions kept in memory.
type SessionConfig struct {
	MaxThreads  int           `mapstructure:"max_threads"`
	IdleTimeout time.Duration `mapstructure:"idle_timeout"`
	// RunTimeout ends a run whose own span has not arrived after this long
	// without any span of it, with GRAPH_ERROR (reason run_timeout).
	// 0 = never. Default 1h: agents wait for people and slow tools.
	RunTimeout time.Duration `mapstructure:"run_timeout"`
	// StateMemoryBytes bounds the estimated memory of all sessions' states;
	// beyond it the least recently used idle sessions are evicted (their
	// threads resume with a full state). 0 = no bound.
	StateMemoryBytes int64 `mapstructure:"state_memory_bytes"`

	_ struct{}
}

// FrameCompressionConfig is the DashStream record framing's zstd compression
// (SPEC §3). It is distinct from producer.compression, Kafka's batch
// compression, which defaults to none because frames are already compressed.
type FrameCompressionConfig struct {
	Enabled bool `mapstructure:"enabled"`
	// Threshold: only messages whose protobuf is larger are compressed.
	Threshold int `mapstructure:"threshold"`
	// Level is the zstd level: fastest (the default, measured best CPU per
	// byte saved in docs/BENCHMARKS.md), default, better or best.
	Level string `mapstructure:"level"`
	// Window bounds how far back a zstd match reaches, in bytes: a power
	// of two from 1024 to 1048576 (the default, the largest message).
	Window int `mapstructure:"window"`

	_ struct{}
}

// Default batching of the sending queue, in records (sizer items).
const (
	defaultBatchFlushTimeout = 5 * time.Millisecond
	defaultBatchMinRecords   = 2000
	defaultBatchMaxRecords   = 10000
)

func createDefaultConfig() component.Config {
	tc := translate.DefaultConfig()

	producer := configkafka.NewDefaultProducerConfig()
	producer.RequiredAcks = configkafka.WaitForAll
	producer.Compression = "none"
	producer.MaxMessageBytes = tc.MaxRecordBytes
	// The sending queue batches records into requests, each sent by its one
	// consumer: a linger would hold every request for its full length and
	// cap throughput at one request per linger (docs/BENCHMARKS.md).
	producer.Linger = 0

	client := configkafka.NewDefaultClientConfig()
	client.ClientID = defaultClientID

	queue := exporterhelper.NewDefaultQueueConfig()
	// One request in flight keeps every thread's records in order (SPEC §5.3).
	queue.NumConsumers = 1
	// Merging queued requests makes the requests large enough to keep Kafka
	// busy while each one is in flight; a short flush timeout bounds the
	// latency it adds when traffic is light: under light traffic every
	// request waits it out (5 ms measured 5 ms lower median latency than
	// 10 ms at 2,000 spans/s and the same CPU at 2,000, 10,000 spans/s and
	// saturation, docs/BENCHMARKS.md).
	batch := exporterhelper.NewDefaultBatchConfig()
	batch.FlushTimeout = defaultBatchFlushTimeout
	batch.MinSize = defaultBatchMinRecords
	batch.MaxSize = defaultBatchMaxRecords
	queue.Batch = configoptional.Some(batch)

	return &Config{
		TimeoutSettings:    exporterhelper.NewDefaultTimeoutConfig(),
		QueueBatchConfig:   configoptional.Some(queue),
		BackOffConfig:      configretry.NewDefaultBackOffConfig(),
		ClientConfig:       client,
		Producer:           producer,
		Topic:              defaultTopic,
		Conventions:        tc.Conventions,
		CheckpointInterval: tc.CheckpointInterval,
		State:              StateConfig{MaxBytes: tc.StateMaxBytes},
		Redaction: RedactionConfig{
			Enabled:  tc.Redaction.Enabled,
			Keys:     tc.Redaction.Keys,
			Patterns: tc.Redaction.Patterns,
		},
		Session:           SessionConfig{MaxThreads: tc.MaxThreads, IdleTimeout: tc.IdleTimeout, RunTimeout: tc.RunTimeout, StateMemoryBytes: tc.StateMemoryBytes},
		AttributeMaxBytes: tc.AttributeMaxBytes,
		FrameCompression: FrameCompressionConfig{Enabled: tc.Compression, Threshold: tc.CompressionThreshold,
			Level: string(tc.CompressionLevel), Window: tc.CompressionWindow},
	}
}

// Validate rejects every combination sarama or the translation cannot run
// with; each error names its configuration key. (Contrib's configkafka types
// and exporterhelper's configs validate their own fields as well.)
func (c *Config) Validate() error {
	var errs []error
	add := func(err error) { errs = append(errs, err) }

	version, err := c.saramaVersion()
	if err != nil {
		add(err)
	}
	if sasl := c.ClientConfig.Authentication.SASL; sasl != nil {
		switch sasl.Mechanism {
		case saslPlain, saslSCRAMSHA256, saslSCRAMSHA512:
			if sasl.Username == "" {
				add(fmt.Errorf("auth.sasl.username: required for mechanism %s", sasl.Mechanism))
			}
			if sasl.Password == "" {
				add(fmt.Errorf("auth.sasl.password: required for mechanism %s", sasl.Mechanism))
			}
		default:
			add(fmt.Errorf("auth.sasl.mechanism: %q is not supported by this exporter (supported: %s, %s, %s)",
				sasl.Mechanism, saslPlain, saslSCRAMSHA256, saslSCRAMSHA512))
		}
	}
	if c.ClientConfig.Authentication.Kerberos != nil {
		add(errors.New("auth.kerberos: not supported by this exporter; use auth.sasl with PLAIN or SCRAM"))
	}

	p := c.Producer
	if p.MaxMessageBytes < minMaxMessageBytes {
		add(fmt.Errorf("producer.max_message_bytes: %d is smaller than a minimal DashStream record (at least %d)",
			p.MaxMessageBytes, minMaxMessageBytes))
	}
	if p.MaxMessageBytes >= int(sarama.MaxRequestSize) {
		add(fmt.Errorf("producer.max_message_bytes: %d must be smaller than sarama's request limit %d",
			p.MaxMessageBytes, sarama.MaxRequestSize))
	}
	if err := p.RequiredAcks.Validate(); err != nil {
		add(fmt.Errorf("producer.required_acks: %w", err))
	}
	if p.RequiredAcks == configkafka.WaitForAll && err == nil && !version.IsAtLeast(sarama.V0_11_0_0) {
		add(fmt.Errorf("protocol_version: %s is too old for the idempotent producer used with required_acks all (needs 0.11.0 or later)",
			c.ClientConfig.ProtocolVersion))
	}
	if p.Compression == "zstd" && err == nil && !version.IsAtLeast(sarama.V2_1_0_0) {
		add(fmt.Errorf("producer.compression: zstd needs protocol_version 2.1.0 or later, got %s", c.ClientConfig.ProtocolVersion))
	}
	if p.Linger < 0 {
		add(fmt.Errorf("producer.linger: %s is negative", p.Linger))
	}

	add(validateTopic("topic", c.Topic))
	for name := range c.Headers {
		if strings.TrimSpace(name) == "" {
			add(errors.New("headers: empty header name"))
			continue
		}
		for _, r := range reservedHeaders {
			if strings.EqualFold(name, r) {
				add(fmt.Errorf("headers: %q is set per record from the source span and cannot be static", name))
			}
		}
	}
	if c.TenantAttribute != "" && strings.TrimSpace(c.TenantAttribute) == "" {
		add(errors.New("tenant_attribute: blank attribute name"))
	}
	if c.FrameCompression.Threshold < 0 {
		add(fmt.Errorf("frame_compression.threshold: %d is negative", c.FrameCompression.Threshold))
	}
	if _, err := dashstream.ParseZstdLevel(c.FrameCompression.Level); err != nil {
		add(fmt.Errorf("frame_compression.level: %w", err))
	}
	if err := dashstream.ValidateZstdWindow(c.FrameCompression.Window); err != nil {
		add(fmt.Errorf("frame_compression.window: %w", err))
	}
	if c.State.MaxBytes < 0 {
		add(fmt.Errorf("state.max_bytes: %d is negative", c.State.MaxBytes))
	}
	if c.AttributeMaxBytes < 0 {
		add(fmt.Errorf("attribute_max_bytes: %d is negative", c.AttributeMaxBytes))
	}
	if c.Session.MaxThreads < 0 {
		add(fmt.Errorf("session.max_threads: %d is negative", c.Session.MaxThreads))
	}
	if c.TimeoutSettings.Timeout < 0 {
		add(fmt.Errorf("timeout: %s is negative", c.TimeoutSettings.Timeout))
	}

	// The translation validates its own settings (conventions, regexes,
	// sizes). Fields this function already checked under their own keys are
	// replaced by valid values so one mistake gives one message.
	tc := c.translateConfig(nil)
	if tc.CompressionThreshold < 0 {
		tc.CompressionThreshold = 0
	}
	if tc.CompressionLevel.Validate() != nil {
		tc.CompressionLevel = ""
	}
	if dashstream.ValidateZstdWindow(tc.CompressionWindow) != nil {
		tc.CompressionWindow = 0
	}
	tc.StaticHeaders = nil
	if err := tc.Validate(); err != nil {
		add(err)
	}
	return errors.Join(errs...)
}

// saramaVersion parses protocol_version the way sarama will use it; empty
// means sarama's default.
func (c *Config) saramaVersion() (sarama.KafkaVersion, error) {
	if c.ClientConfig.ProtocolVersion == "" {
		return sarama.DefaultVersion, nil
	}
	v, err := sarama.ParseKafkaVersion(c.ClientConfig.ProtocolVersion)
	if err != nil {
		return v, fmt.Errorf("protocol_version: sarama cannot use %q: %w", c.ClientConfig.ProtocolVersion, err)
	}
	if !v.IsAtLeast(sarama.MinVersion) {
		return v, fmt.Errorf("protocol_version: %q is older than sarama's oldest supported version %s",
			c.ClientConfig.ProtocolVersion, sarama.MinVersion)
	}
	return v, nil
}

func validateTopic(key, topic string) error {
	switch {
	case topic == "":
		return fmt.Errorf("%s: must not be empty", key)
	case len(topic) > maxTopicLen:
		return fmt.Errorf("%s: %d characters, Kafka allows at most %d", key, len(topic), maxTopicLen)
	case topic == "." || topic == "..":
		return fmt.Errorf("%s: %q is not a valid Kafka topic name", key, topic)
	case !topicNameRE.MatchString(topic):
		return fmt.Errorf("%s: %q is not a valid Kafka topic name (letters, digits, '.', '_', '-')", key, topic)
	}
	return nil
}

// recordReserve is the part of producer.max_message_bytes the translation
// leaves for what Kafka counts besides the value: the key (thread id, at most
// 256 characters), the traceparent/tracestate and static headers and the
// record overhead. The exporter checks the exact size before enqueueing.
func recordReserve(headers map[string]string) int {
	n := 1024
	for k, v := range headers {
		n += len(k) + len(v) + 2*binary.MaxVarintLen32
	}
	return n
}

// validTopic reports whether a topic taken from data can be used.
func validTopic(topic string) bool { return validateTopic("", topic) == nil }

// topicResolver picks the topic of a resource's records at translation time.
type topicResolver = func(ctx context.Context, res pcommon.Resource) string

// translateConfig maps the exporter's keys onto the translation's settings.
func (c *Config) translateConfig(resolveTopic topicResolver) translate.Config {
	tc := translate.Config{
		Conventions:        append([]string(nil), c.Conventions...),
		ThreadAttribute:    c.ThreadAttribute,
		TenantID:           c.TenantID,
		TenantAttribute:    c.TenantAttribute,
		CheckpointInterval: c.CheckpointInterval,
		StateMaxBytes:      c.State.MaxBytes,
		AttributeMaxBytes:  c.AttributeMaxBytes,
		Redaction: translate.RedactionConfig{
			Enabled:  c.Redaction.Enabled,
			Keys:     append([]string(nil), c.Redaction.Keys...),
			Patterns: append([]string(nil), c.Redaction.Patterns...),
		},
		MaxThreads:           c.Session.MaxThreads,
		IdleTimeout:          c.Session.IdleTimeout,
		RunTimeout:           c.Session.RunTimeout,
		StateMemoryBytes:     c.Session.StateMemoryBytes,
		Compression:          c.FrameCompression.Enabled,
		CompressionThreshold: c.FrameCompression.Threshold,
		CompressionLevel:     frameCompressionLevel(c.FrameCompression.Level),
		CompressionWindow:    c.FrameCompression.Window,
		MaxRecordBytes:       max(c.Producer.MaxMessageBytes-recordReserve(c.Headers), minMaxMessageBytes),
		Topic:                c.Topic,
		ResolveTopic:         resolveTopic,
	}
	if len(c.Headers) > 0 {
		tc.StaticHeaders = make(map[string]string, len(c.Headers))
		for k, v := range c.Headers {
			tc.StaticHeaders[k] = v
		}
	}
	return tc
}

// frameCompressionLevel is frame_compression.level as the translation
// spells it (any case accepted); an unknown name is passed on as written,
// for the translation's validation to name.
func frameCompressionLevel(name string) dashstream.ZstdLevel {
	if l, err := dashstream.ParseZstdLevel(name); err == nil {
		return l
	}
	return dashstream.ZstdLevel(name)
}
