// Package translate turns OpenTelemetry spans into ordered per-thread
// DashStream record streams: it classifies spans by convention, resolves
// threads and runs, orders each thread's messages, keeps per-thread sessions
// (last state, sequences, checkpoints) and encodes ready-to-send records.
// It knows nothing of Kafka or of the collector's queue.
package translate

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/dashstream/dashstreamexporter/dashstream"
	"github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
)

// Convention names, in the default order they are tried.
const (
	ConventionDashStream    = "dashstream"
	ConventionOpenInference = "openinference"
	ConventionOpenLLMetry   = "openllmetry"
	ConventionLangfuse      = "langfuse"
	ConventionGenAI         = "gen_ai"
	ConventionDashFlow      = "dashflow"
)

// Config holds every translation setting (SPEC §3, §4).
type Config struct {
	// Conventions are tried in this order; the first that recognises a span wins.
	Conventions []string
	// ThreadAttribute names a span or resource attribute holding the thread id
	// when the convention gives none.
	ThreadAttribute string
	// TenantID is the static tenant; TenantAttribute, when set and present on
	// the resource, overrides it.
	TenantID        string
	TenantAttribute string
	// CheckpointInterval: a Checkpoint after every N StateDiffs per thread; 0 = off.
	CheckpointInterval int
	// StateMaxBytes: states whose JSON is larger are not diffed (counted).
	StateMaxBytes int
	// AttributeMaxBytes truncates attribute values (a `truncated` attribute is set).
	AttributeMaxBytes int
	// Redaction of secrets in states and attributes.
	Redaction RedactionConfig
	// MaxThreads bounds the sessions kept (LRU); IdleTimeout evicts idle ones.
	MaxThreads  int
	IdleTimeout time.Duration
	// RunTimeout ends a run whose own span has not arrived after this long
	// without any span of it (GRAPH_ERROR, reason run_timeout); 0 = never.
	// A session with an open run is not evicted for idleness before it.
	RunTimeout time.Duration
	// StateMemoryBytes bounds the memory of all sessions' last states
	// (estimated); beyond it the least recently used sessions not in use are
	// evicted (their threads resume with a full state). 0 = no bound.
	StateMemoryBytes int64
	// Compression of record frames: on/off, the size threshold in bytes,
	// the zstd level ("" = dashstream.DefaultZstdLevel) and match window in
	// bytes (0 = dashstream.DefaultZstdWindow).
	Compression          bool
	CompressionThreshold int
	CompressionLevel     dashstream.ZstdLevel
	CompressionWindow    int
	// MaxRecordBytes is the largest framed record Kafka accepts
	// (producer.max_message_bytes); larger records are dropped and counted,
	// and the thread resyncs with a full state.
	MaxRecordBytes int
	// Topic is the default topic; ResolveTopic, when set, may override it
	// per resource or per request (client metadata lives in ctx).
	Topic        string
	ResolveTopic func(ctx context.Context, res pcommon.Resource) string
	// StaticHeaders are added to every record.
	StaticHeaders map[string]string
}

// RedactionConfig says what is replaced by "[REDACTED]".
type RedactionConfig struct {
	Enabled bool
	// Keys: object keys / attribute keys (case-insensitive substring match)
	// whose values are secrets.
	Keys []string
	// Patterns: regular expressions matching credential-looking strings.
	Patterns []string
}

// Header is one Kafka record header.
type Header struct {
	Key   string
	Value []byte
}

// Record is one ready-to-send Kafka record: translated, encoded and framed
// exactly once. Retries resend these same bytes.
type Record struct {
	Topic   string
	Key     []byte // thread id
	Value   []byte // framed DashStreamMessage
	Headers []Header

	// Descriptive fields for telemetry and logs; not sent.
	ThreadID string
	Sequence uint64
	Type     dashstreampb.MessageType
}

// Stats counts what one Translate call did, for the exporter's telemetry.
type Stats struct {
	Spans           int
	SpansIgnored    map[string]int64 // by reason: "unrecognised", "malformed", ...
	RecordsByType   map[dashstreampb.MessageType]int64
	BytesByType     map[dashstreampb.MessageType]int64
	StateDiffsPatch int64
	StateDiffsFull  int64
	Checkpoints     int64
	Redactions      int64
	OversizeDrops   int64
	BadInput        map[string]int64 // by reason: "state_not_json", "state_too_large", ...
	Truncations     int64
	// RunsTimedOut: runs ended by RunTimeout (their own span never came).
	RunsTimedOut int64
}
