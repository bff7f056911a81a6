package translate

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/dashstream/dashstreamexporter/dashstream"
)

// Defaults of SPEC §3–§4.
const (
	DefaultCheckpointInterval = 20
	DefaultStateMaxBytes      = 1 << 20
	DefaultAttributeMaxBytes  = 64 << 10
	DefaultMaxThreads         = 10000
	DefaultIdleTimeout        = 30 * time.Minute
	// DefaultRunTimeout: a run whose own span has not arrived is ended
	// after this long without any span of it. An hour: agents wait for
	// people (approvals, answers) and slow tools (research, builds, batch
	// jobs) for minutes to tens of minutes with no span ending meanwhile,
	// and a run ended too early loses its later spans; a dead run shows as
	// open for at most an hour.
	DefaultRunTimeout = time.Hour
	// DefaultStateMemoryBytes bounds the sessions' states in memory.
	DefaultStateMemoryBytes = 512 << 20
	// DefaultMaxRecordBytes is sarama's default Producer.MaxMessageBytes.
	DefaultMaxRecordBytes = 1_000_000
	DefaultTopic          = "dashstream-events"

	// minRecordBytes is the smallest record limit that still fits a typical
	// event (header plus a few attributes); below it nothing useful fits.
	minRecordBytes = 1024
	// maxThreadIDLen: longer thread ids are replaced by a hash form (SPEC §3).
	maxThreadIDLen = 256
)

// defaultRedactedKeys are the key names whose values are secrets.
func defaultRedactedKeys() []string {
	return []string{"api_key", "apikey", "token", "secret", "password", "authorization"}
}

// defaultRedactedPatterns match credential-looking strings: bearer tokens,
// OpenAI-style sk- keys and JWTs.
func defaultRedactedPatterns() []string {
	return []string{
		`(?i)\bbearer\s+[A-Za-z0-9\-._~+/]{8,}=*`,
		`\bsk-[A-Za-z0-9_\-]{16,}`,
		`\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}`,
	}
}

// DefaultConfig returns the settings SPEC §3–§4 prescribe.
func DefaultConfig() Config {
	return Config{
		Conventions: []string{
			ConventionDashStream, ConventionOpenInference, ConventionOpenLLMetry,
			ConventionLangfuse, ConventionGenAI, ConventionDashFlow,
		},
		CheckpointInterval: DefaultCheckpointInterval,
		StateMaxBytes:      DefaultStateMaxBytes,
		AttributeMaxBytes:  DefaultAttributeMaxBytes,
		Redaction: RedactionConfig{
			Enabled:  true,
			Keys:     defaultRedactedKeys(),
			Patterns: defaultRedactedPatterns(),
		},
		MaxThreads:           DefaultMaxThreads,
		IdleTimeout:          DefaultIdleTimeout,
		RunTimeout:           DefaultRunTimeout,
		StateMemoryBytes:     DefaultStateMemoryBytes,
		Compression:          true,
		CompressionThreshold: dashstream.DefaultCompressionThreshold,
		CompressionLevel:     dashstream.DefaultZstdLevel,
		CompressionWindow:    dashstream.DefaultZstdWindow,
		MaxRecordBytes:       DefaultMaxRecordBytes,
		Topic:                DefaultTopic,
	}
}

// Validate reports every invalid setting, each error naming its key.
func (c Config) Validate() error {
	var errs []error
	if len(c.Conventions) == 0 {
		errs = append(errs, errors.New("conventions: at least one convention is required"))
	}
	seen := map[string]bool{}
	for _, name := range c.Conventions {
		if _, ok := classifierConstructors()[name]; !ok {
			if isKnownConvention(name) {
				errs = append(errs, fmt.Errorf("conventions: convention %q is not available in this build", name))
			} else {
				errs = append(errs, fmt.Errorf("conventions: unknown convention %q (known: %s)", name, strings.Join(knownConventions(), ", ")))
			}
			continue
		}
		if seen[name] {
			errs = append(errs, fmt.Errorf("conventions: convention %q listed twice", name))
		}
		seen[name] = true
	}
	if c.CheckpointInterval < 0 {
		errs = append(errs, fmt.Errorf("checkpoint_interval: %d is negative", c.CheckpointInterval))
	}
	if c.StateMaxBytes <= 0 {
		errs = append(errs, fmt.Errorf("state.max_bytes: %d must be positive", c.StateMaxBytes))
	}
	if c.AttributeMaxBytes <= 0 {
		errs = append(errs, fmt.Errorf("attribute_max_bytes: %d must be positive", c.AttributeMaxBytes))
	}
	if c.MaxThreads <= 0 {
		errs = append(errs, fmt.Errorf("session.max_threads: %d must be positive", c.MaxThreads))
	}
	if c.IdleTimeout < 0 {
		errs = append(errs, fmt.Errorf("session.idle_timeout: %s is negative", c.IdleTimeout))
	}
	if c.RunTimeout < 0 {
		errs = append(errs, fmt.Errorf("session.run_timeout: %s is negative", c.RunTimeout))
	}
	if c.StateMemoryBytes < 0 {
		errs = append(errs, fmt.Errorf("session.state_memory_bytes: %d is negative", c.StateMemoryBytes))
	}
	if c.CompressionThreshold < 0 {
		errs = append(errs, fmt.Errorf("compression_threshold: %d is negative", c.CompressionThreshold))
	}
	if err := c.CompressionLevel.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("compression_level: %w", err))
	}
	if err := dashstream.ValidateZstdWindow(c.CompressionWindow); err != nil {
		errs = append(errs, fmt.Errorf("compression_window: %w", err))
	}
	if c.MaxRecordBytes < minRecordBytes {
		errs = append(errs, fmt.Errorf("max_record_bytes: %d is too small for a minimal record (at least %d)", c.MaxRecordBytes, minRecordBytes))
	}
	if c.Topic == "" && c.ResolveTopic == nil {
		errs = append(errs, errors.New("topic: must not be empty"))
	}
	if c.Redaction.Enabled {
		for i, k := range c.Redaction.Keys {
			if strings.TrimSpace(k) == "" {
				errs = append(errs, fmt.Errorf("redaction.keys[%d]: empty key", i))
			}
		}
		for i, p := range c.Redaction.Patterns {
			if _, err := regexp.Compile(p); err != nil {
				errs = append(errs, fmt.Errorf("redaction.patterns[%d]: %w", i, err))
			}
		}
	}
	for k := range c.StaticHeaders {
		if k == "" {
			errs = append(errs, errors.New("static_headers: empty header name"))
		}
	}
	return errors.Join(errs...)
}

func isKnownConvention(name string) bool {
	for _, n := range knownConventions() {
		if n == name {
			return true
		}
	}
	return false
}

func knownConventions() []string {
	return []string{ConventionDashStream, ConventionOpenInference, ConventionOpenLLMetry, ConventionLangfuse, ConventionGenAI, ConventionDashFlow}
}
