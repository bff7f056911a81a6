package workload

// LoadResult is what the load generator prints (one JSON object) when it
// ends; the harness reads it.
type LoadResult struct {
	Workload      Config  `json:"workload"`
	Rate          float64 `json:"rate"`
	Concurrency   int     `json:"concurrency"`
	StartUnixNano int64   `json:"start_unix_nano"`
	EndUnixNano   int64   `json:"end_unix_nano"`
	// Seconds is the wall time from the first request to the last answer.
	Seconds float64 `json:"seconds"`

	RequestsOK     int64 `json:"requests_ok"`
	RequestsFailed int64 `json:"requests_failed"`
	SpansOK        int64 `json:"spans_ok"`
	NodeSpansOK    int64 `json:"node_spans_ok"`
	SpansFailed    int64 `json:"spans_failed"`
	// SpansRejected counts spans an accepted request reported as rejected
	// (OTLP partial success).
	SpansRejected int64 `json:"spans_rejected"`
	// RunsCompleted counts runs whose every request was accepted.
	RunsCompleted int64 `json:"runs_completed"`
	// SpansGenerated is what a generator that cannot see acceptance
	// (telemetrygen) says it produced.
	SpansGenerated int64  `json:"spans_generated,omitempty"`
	BytesSent      int64  `json:"bytes_sent"`
	FirstError     string `json:"first_error,omitempty"`

	// RPCp50Ms and RPCp99Ms are the export call round trips.
	RPCp50Ms float64 `json:"rpc_p50_ms"`
	RPCp99Ms float64 `json:"rpc_p99_ms"`

	// The generator's own resource use (getrusage of its process).
	CPUUserSeconds   float64 `json:"cpu_user_seconds"`
	CPUSystemSeconds float64 `json:"cpu_system_seconds"`
	MaxRSSKiB        int64   `json:"max_rss_kib"`
}

// CPUPerMillionSpans is the generator's CPU-seconds per million accepted spans.
func (r LoadResult) CPUPerMillionSpans() float64 {
	if r.SpansOK == 0 {
		return 0
	}
	return (r.CPUUserSeconds + r.CPUSystemSeconds) / float64(r.SpansOK) * 1e6
}
