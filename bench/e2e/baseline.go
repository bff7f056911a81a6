package main

import (
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/dashstream/dashstreamexporter/bench/internal/workload"
	"github.com/dashstream/dashstreamexporter/dashstream"
	"github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
)

// fullStateBaseline is what sending the whole state at every node step
// would cost, computed from the same states the load generator sends.
type fullStateBaseline struct {
	// StateJSONPerStep is the mean size of the state JSON after a node.
	StateJSONPerStep float64 `json:"state_json_per_step"`
	// RecordPerStep is the mean Kafka size (key + traceparent header +
	// framed value) of a StateDiff carrying that state as full_state,
	// framed as SPEC §3 prescribes (zstd above 512 bytes when smaller).
	RecordPerStep float64 `json:"record_per_step"`
}

// traceparentLen is the size of the traceparent header every DashStream
// record carries: the name and a version-traceid-spanid-flags value.
const traceparentLen = len("traceparent") + len("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")

// computeBaseline encodes a full-state StateDiff for every step of every
// thread of one generation of w.
func computeBaseline(w workload.Config) (fullStateBaseline, error) {
	var b fullStateBaseline
	if w.Kind != workload.KindGraph {
		return b, nil
	}
	enc, err := dashstream.NewEncoder(dashstream.DefaultEncoderOptions())
	if err != nil {
		return b, err
	}
	now := time.Now().UnixMicro()
	var steps, jsonBytes, recordBytes int64
	for t := range w.Threads {
		_, after, err := w.States(t)
		if err != nil {
			return b, err
		}
		threadID := fmt.Sprintf("bench-%016x-%06d", uint64(now), t)
		for step, st := range after {
			id := uuid.New()
			hash := sha256.Sum256(st) // the size is what matters, not the canonical form
			msg := &dashstreampb.DashStreamMessage{Message: &dashstreampb.DashStreamMessage_StateDiff{StateDiff: &dashstreampb.StateDiff{
				Header: &dashstreampb.Header{
					MessageId:     id[:],
					TimestampUs:   now,
					ThreadId:      threadID,
					Sequence:      uint64(now) + uint64(step),
					Type:          dashstreampb.MessageType_MESSAGE_TYPE_STATE_DIFF,
					SchemaVersion: 1,
				},
				StateHash: hash[:],
				FullState: st,
			}}}
			framed, err := enc.Encode(msg)
			if err != nil {
				return b, fmt.Errorf("encoding full state of thread %d step %d: %w", t, step, err)
			}
			steps++
			jsonBytes += int64(len(st))
			recordBytes += int64(len(framed) + len(threadID) + traceparentLen)
		}
	}
	b.StateJSONPerStep = float64(jsonBytes) / float64(steps)
	b.RecordPerStep = float64(recordBytes) / float64(steps)
	return b, nil
}
