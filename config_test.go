package dashstreamexporter

import (
	"hash/crc32"
	"path/filepath"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/kafka/configkafka"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/dashstream/dashstreamexporter/dashstream"
	"github.com/dashstream/dashstreamexporter/dashstream/translate"
	"github.com/dashstream/dashstreamexporter/internal/metadata"
)

func loadConfig(t *testing.T, name string) (*Config, error) {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	id := component.NewID(metadata.Type)
	if name != "" {
		id = component.NewIDWithName(metadata.Type, name)
	}
	sub, err := cm.Sub(id.String())
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg, confmap.Validate(cfg)
}

func TestLoadConfig(t *testing.T) {
	tdef := translate.DefaultConfig()
	defaultQueue := exporterhelper.NewDefaultQueueConfig()
	defaultQueue.NumConsumers = 1
	defaultBatch := exporterhelper.NewDefaultBatchConfig()
	defaultBatch.FlushTimeout = 5 * time.Millisecond
	defaultBatch.MinSize = 2000
	defaultBatch.MaxSize = 10000
	defaultQueue.Batch = configoptional.Some(defaultBatch)

	defaults := func() *Config {
		c := createDefaultConfig().(*Config)
		return c
	}

	storageID := component.MustNewIDWithName("file_storage", "dashstream")
	fullQueue := exporterhelper.NewDefaultQueueConfig()
	fullQueue.NumConsumers = 1
	fullQueue.QueueSize = 5000
	fullQueue.Sizer = exporterhelper.RequestSizerTypeItems
	fullQueue.BlockOnOverflow = true
	fullQueue.StorageID = &storageID
	batch := exporterhelper.NewDefaultBatchConfig()
	batch.FlushTimeout = 100 * time.Millisecond
	batch.Sizer = exporterhelper.RequestSizerTypeBytes
	batch.MinSize = 65536
	batch.MaxSize = 1048576
	fullQueue.Batch = configoptional.Some(batch)

	tests := []struct {
		name string
		want *Config
	}{
		{
			name: "",
			want: &Config{
				TimeoutSettings:  exporterhelper.NewDefaultTimeoutConfig(),
				QueueBatchConfig: configoptional.Some(defaultQueue),
				BackOffConfig:    configretry.NewDefaultBackOffConfig(),
				ClientConfig: configkafka.ClientConfig{
					Brokers:         []string{"localhost:9092"},
					ClientID:        "otelcol-dashstream",
					Metadata:        configkafka.NewDefaultMetadataConfig(),
					UseLeaderEpoch:  true,
					ConnIdleTimeout: 9 * time.Minute,
					DialTimeout:     10 * time.Second,
				},
				Producer: configkafka.ProducerConfig{
					MaxMessageBytes:              1_000_000,
					MaxBrokerWriteBytes:          100 << 20,
					RequiredAcks:                 configkafka.WaitForAll,
					Compression:                  "none",
					FlushMaxMessages:             10000,
					MaxInflightRequestsPerBroker: 1,
					AllowAutoTopicCreation:       true,
					Linger:                       0,
				},
				Topic:              "dashstream-events",
				Conventions:        []string{"dashstream", "openinference", "openllmetry", "langfuse", "gen_ai", "dashflow"},
				CheckpointInterval: 20,
				State:              StateConfig{MaxBytes: 1 << 20},
				Redaction:          RedactionConfig{Enabled: true, Keys: tdef.Redaction.Keys, Patterns: tdef.Redaction.Patterns},
				Session:            SessionConfig{MaxThreads: tdef.MaxThreads, IdleTimeout: tdef.IdleTimeout, RunTimeout: time.Hour, StateMemoryBytes: 512 << 20},
				AttributeMaxBytes:  64 << 10,
				FrameCompression:   FrameCompressionConfig{Enabled: true, Threshold: 512, Level: "fastest", Window: 1 << 20},
			},
		},
		{
			name: "full",
			want: func() *Config {
				c := defaults()
				c.ClientConfig = configkafka.ClientConfig{
					Brokers:         []string{"kafka-1:9092", "kafka-2:9092"},
					ProtocolVersion: "3.6.0",
					ClientID:        "my-collector",
					RackID:          "rack-a",
					ConnIdleTimeout: 5 * time.Minute,
					DialTimeout:     3 * time.Second,
					UseLeaderEpoch:  true,
					Metadata: configkafka.MetadataConfig{
						Full:            false,
						RefreshInterval: time.Minute,
						Retry:           configkafka.MetadataRetryConfig{Max: 5, Backoff: 100 * time.Millisecond},
					},
					Authentication: configkafka.AuthenticationConfig{
						SASL: &configkafka.SASLConfig{Mechanism: "SCRAM-SHA-512", Username: "alice", Password: "s3cret"},
					},
					TLS: &configtls.ClientConfig{Config: configtls.Config{CAFile: "/etc/ssl/kafka-ca.pem"}},
				}
				c.Producer.MaxMessageBytes = 2_000_000
				c.Producer.Compression = "lz4"
				c.Producer.FlushMaxMessages = 500
				c.Producer.Linger = 5 * time.Millisecond
				c.Producer.AllowAutoTopicCreation = false
				c.TimeoutSettings.Timeout = 10 * time.Second
				c.BackOffConfig.InitialInterval = time.Second
				c.BackOffConfig.MaxInterval = 10 * time.Second
				c.BackOffConfig.MaxElapsedTime = 2 * time.Minute
				c.QueueBatchConfig = configoptional.Some(fullQueue)
				c.Topic = "agents"
				c.TopicFromAttribute = "dashstream.topic"
				c.TopicFromMetadataKey = "x-topic"
				c.Headers = map[string]string{"source": "otelcol"}
				c.Conventions = []string{"openinference", "dashstream"}
				c.ThreadAttribute = "session.id"
				c.TenantID = "acme"
				c.TenantAttribute = "tenant"
				c.CheckpointInterval = 50
				c.State.MaxBytes = 524288
				c.Redaction = RedactionConfig{Enabled: true, Keys: []string{"api_key", "cookie"}, Patterns: []string{`ghp_[A-Za-z0-9]{36}`}}
				c.Session = SessionConfig{MaxThreads: 500, IdleTimeout: 10 * time.Minute, RunTimeout: 4 * time.Hour, StateMemoryBytes: 64 << 20}
				c.AttributeMaxBytes = 4096
				c.FrameCompression = FrameCompressionConfig{Enabled: false, Threshold: 1024, Level: "Better", Window: 65536}
				return c
			}(),
		},
		{
			name: "plain_acks_one",
			want: func() *Config {
				c := defaults()
				c.ClientConfig.Authentication.SASL = &configkafka.SASLConfig{Mechanism: "PLAIN", Username: "bob", Password: "pw"}
				c.Producer.RequiredAcks = configkafka.WaitForLocal
				c.QueueBatchConfig = configoptional.None[exporterhelper.QueueBatchConfig]()
				c.Redaction.Enabled = false
				c.CheckpointInterval = 0
				return c
			}(),
		},
	}
	for _, tt := range tests {
		t.Run("config_"+tt.name, func(t *testing.T) {
			got, err := loadConfig(t, tt.name)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

// TestLoadConfigQueueDisabled checks the disabled queue explicitly: the
// full-struct comparison above treats a disabled Optional by value.
func TestLoadConfigQueueDisabled(t *testing.T) {
	got, err := loadConfig(t, "plain_acks_one")
	require.NoError(t, err)
	assert.False(t, got.QueueBatchConfig.HasValue())
}

func TestLoadConfigErrors(t *testing.T) {
	tests := []struct {
		name    string
		wantErr []string
	}{
		{"bad_protocol_version", []string{"protocol_version", "banana"}},
		{"old_protocol_version", []string{"protocol_version", "idempotent producer"}},
		{"sasl_unsupported", []string{"auth.sasl.mechanism", "OAUTHBEARER", "not supported"}},
		{"scram_without_password", []string{"auth.sasl.password", "SCRAM-SHA-256"}},
		{"kerberos", []string{"auth.kerberos", "not supported"}},
		{"tiny_max_message_bytes", []string{"producer.max_message_bytes", "100", "minimal"}},
		{"negative_sizes", []string{"state.max_bytes", "attribute_max_bytes", "session.max_threads", "session.state_memory_bytes", "frame_compression.threshold"}},
		{"bad_conventions", []string{"conventions", "zipkin"}},
		{"bad_regex", []string{"redaction.patterns[0]"}},
		{"bad_frame_compression_level", []string{"frame_compression.level", `"level9"`, "fastest, default, better, best"}},
		{"bad_frame_compression_window", []string{"frame_compression.window", "3000", "power of two"}},
		{"big_frame_compression_window", []string{"frame_compression.window", "8388608", "outside 1024..1048576"}},
		{"bad_topic", []string{"topic", "has space"}},
		{"reserved_header", []string{"headers", "traceparent"}},
		{"bad_acks", []string{"required_acks"}},
		{"zstd_old_version", []string{"producer.compression", "zstd", "2.1.0"}},
		{"inflight_with_acks_all", []string{"max_inflight_requests_per_broker"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadConfig(t, tt.name)
			require.Error(t, err)
			for _, want := range tt.wantErr {
				assert.Contains(t, err.Error(), want)
			}
		})
	}
}

func TestTranslateConfigMapping(t *testing.T) {
	cfg, err := loadConfig(t, "full")
	require.NoError(t, err)
	tc := cfg.translateConfig(nil)
	assert.Equal(t, []string{"openinference", "dashstream"}, tc.Conventions)
	assert.Equal(t, "session.id", tc.ThreadAttribute)
	assert.Equal(t, "acme", tc.TenantID)
	assert.Equal(t, "tenant", tc.TenantAttribute)
	assert.Equal(t, 50, tc.CheckpointInterval)
	assert.Equal(t, 524288, tc.StateMaxBytes)
	assert.Equal(t, 4096, tc.AttributeMaxBytes)
	assert.Equal(t, translate.RedactionConfig{Enabled: true, Keys: []string{"api_key", "cookie"}, Patterns: []string{`ghp_[A-Za-z0-9]{36}`}}, tc.Redaction)
	assert.Equal(t, 500, tc.MaxThreads)
	assert.Equal(t, 10*time.Minute, tc.IdleTimeout)
	assert.Equal(t, 4*time.Hour, tc.RunTimeout)
	assert.Equal(t, int64(64<<20), tc.StateMemoryBytes)
	assert.False(t, tc.Compression)
	assert.Equal(t, 1024, tc.CompressionThreshold)
	assert.Equal(t, dashstream.ZstdBetter, tc.CompressionLevel, "level names are accepted in any case")
	assert.Equal(t, 65536, tc.CompressionWindow)
	assert.Equal(t, "agents", tc.Topic)
	assert.Equal(t, map[string]string{"source": "otelcol"}, tc.StaticHeaders)
	// The translation's record limit leaves room for key, headers and overhead.
	assert.Equal(t, 2_000_000-recordReserve(cfg.Headers), tc.MaxRecordBytes)
	assert.Less(t, tc.MaxRecordBytes, cfg.Producer.MaxMessageBytes)
	require.NoError(t, tc.Validate())
}

func TestSaramaConfig(t *testing.T) {
	tests := []struct {
		name  string
		check func(t *testing.T, sc *sarama.Config)
	}{
		{"", func(t *testing.T, sc *sarama.Config) {
			assert.Equal(t, sarama.WaitForAll, sc.Producer.RequiredAcks)
			assert.True(t, sc.Producer.Idempotent)
			assert.Equal(t, 1, sc.Net.MaxOpenRequests)
			assert.Equal(t, sarama.CompressionNone, sc.Producer.Compression)
			assert.True(t, sc.Producer.Return.Successes)
			assert.Equal(t, 1_000_000, sc.Producer.MaxMessageBytes)
			assert.Equal(t, "otelcol-dashstream", sc.ClientID)
			assert.False(t, sc.Net.SASL.Enable)
			assert.False(t, sc.Net.TLS.Enable)
			// CRC32 partitioner compatible with librdkafka's consistent
			// partitioner: partition = crc32(key) mod partitions.
			p := sc.Producer.Partitioner("t")
			assert.True(t, p.RequiresConsistency())
			for _, key := range []string{"thread-1", "support-thread-7", "ünïcode"} {
				got, err := p.Partition(&sarama.ProducerMessage{Key: sarama.StringEncoder(key)}, 12)
				require.NoError(t, err)
				assert.Equal(t, int32(crc32.ChecksumIEEE([]byte(key))%12), got, key)
			}
		}},
		{"plain_acks_one", func(t *testing.T, sc *sarama.Config) {
			assert.Equal(t, sarama.WaitForLocal, sc.Producer.RequiredAcks)
			assert.False(t, sc.Producer.Idempotent)
			assert.True(t, sc.Net.SASL.Enable)
			assert.Equal(t, sarama.SASLMechanism(sarama.SASLTypePlaintext), sc.Net.SASL.Mechanism)
			assert.Equal(t, "bob", sc.Net.SASL.User)
		}},
	}
	for _, tt := range tests {
		t.Run("sarama_"+tt.name, func(t *testing.T) {
			cfg, err := loadConfig(t, tt.name)
			require.NoError(t, err)
			sc, err := newSaramaConfig(t.Context(), cfg)
			require.NoError(t, err)
			tt.check(t, sc)
		})
	}
}

func TestSaramaConfigSCRAM(t *testing.T) {
	cfg, err := loadConfig(t, "full")
	require.NoError(t, err)
	cfg.ClientConfig.TLS = nil // the CA file does not exist here
	sc, err := newSaramaConfig(t.Context(), cfg)
	require.NoError(t, err)
	assert.Equal(t, sarama.SASLMechanism(sarama.SASLTypeSCRAMSHA512), sc.Net.SASL.Mechanism)
	assert.Equal(t, sarama.CompressionLZ4, sc.Producer.Compression)
	assert.Equal(t, sarama.V3_6_0_0, sc.Version)
	assert.False(t, sc.Metadata.AllowAutoTopicCreation)
	assert.Equal(t, 5*time.Millisecond, sc.Producer.Flush.Frequency)
	require.NotNil(t, sc.Net.SASL.SCRAMClientGeneratorFunc)
	c := sc.Net.SASL.SCRAMClientGeneratorFunc()
	require.NoError(t, c.Begin("alice", "s3cret", ""))
	first, err := c.Step("")
	require.NoError(t, err)
	assert.Contains(t, first, "n=alice")
	assert.False(t, c.Done())
}

func TestSaramaConfigTLSMissingCA(t *testing.T) {
	cfg, err := loadConfig(t, "full")
	require.NoError(t, err)
	_, err = newSaramaConfig(t.Context(), cfg)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "tls")
}
