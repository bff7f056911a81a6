package main

import (
	"crypto/sha256"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/dashstream/dashstreamexporter/dashstream"
	"github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
)

// streamBuilder makes a valid DashStream stream for one thread, the way the
// exporter writes it, so tests can also break it on purpose.
type streamBuilder struct {
	t        testing.TB
	thread   string
	seq      uint64
	ts       int64
	state    any
	lastCkpt []byte
}

func newStream(t testing.TB, thread string, firstSeq uint64) *streamBuilder {
	t.Helper()
	return &streamBuilder{t: t, thread: thread, seq: firstSeq - 1,
		ts: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC).UnixMicro()}
}

func (b *streamBuilder) header(typ dashstreampb.MessageType) *dashstreampb.Header {
	b.seq++
	b.ts += 1000
	id := uuid.Must(uuid.NewV7())
	return &dashstreampb.Header{MessageId: id[:], TimestampUs: b.ts, ThreadId: b.thread, Sequence: b.seq,
		Type: typ, SchemaVersion: 1}
}

func str(s string) *dashstreampb.AttributeValue {
	return &dashstreampb.AttributeValue{Value: &dashstreampb.AttributeValue_StringValue{StringValue: s}}
}

func num(n int64) *dashstreampb.AttributeValue {
	return &dashstreampb.AttributeValue{Value: &dashstreampb.AttributeValue_IntValue{IntValue: n}}
}

func flt(f float64) *dashstreampb.AttributeValue {
	return &dashstreampb.AttributeValue{Value: &dashstreampb.AttributeValue_FloatValue{FloatValue: f}}
}

func (b *streamBuilder) event(t dashstreampb.EventType, node string, attrs map[string]*dashstreampb.AttributeValue) *dashstreampb.DashStreamMessage {
	return &dashstreampb.DashStreamMessage{Message: &dashstreampb.DashStreamMessage_Event{Event: &dashstreampb.Event{
		Header: b.header(dashstreampb.MessageType_MESSAGE_TYPE_EVENT), EventType: t, NodeId: node, Attributes: attrs}}}
}

// graphStart replaces the thread's state with initial, as consumers do.
func (b *streamBuilder) graphStart(initial string) *dashstreampb.DashStreamMessage {
	v, err := dashstream.ParseJSON([]byte(initial))
	require.NoError(b.t, err)
	b.state = v
	return b.event(dashstreampb.EventType_EVENT_TYPE_GRAPH_START, "", map[string]*dashstreampb.AttributeValue{
		"graph_name": str("g"), "run_id": str("run-1"), "initial_state_json": str(initial)})
}

// diffTo moves the state to next with a JSON Patch and its state hash.
func (b *streamBuilder) diffTo(next string) *dashstreampb.DashStreamMessage {
	v, err := dashstream.ParseJSON([]byte(next))
	require.NoError(b.t, err)
	p := dashstream.Diff(b.state, v)
	b.state = v
	h := dashstream.StateHash(v)
	return &dashstreampb.DashStreamMessage{Message: &dashstreampb.DashStreamMessage_StateDiff{StateDiff: &dashstreampb.StateDiff{
		Header: b.header(dashstreampb.MessageType_MESSAGE_TYPE_STATE_DIFF), BaseCheckpointId: b.lastCkpt,
		Operations: p.ToProto(), StateHash: h[:]}}}
}

// fullState sends next as a full snapshot.
func (b *streamBuilder) fullState(next string) *dashstreampb.DashStreamMessage {
	v, err := dashstream.ParseJSON([]byte(next))
	require.NoError(b.t, err)
	b.state = v
	h := dashstream.StateHash(v)
	return &dashstreampb.DashStreamMessage{Message: &dashstreampb.DashStreamMessage_StateDiff{StateDiff: &dashstreampb.StateDiff{
		Header: b.header(dashstreampb.MessageType_MESSAGE_TYPE_STATE_DIFF), BaseCheckpointId: b.lastCkpt,
		FullState: []byte(next), StateHash: h[:]}}}
}

func (b *streamBuilder) checkpoint() *dashstreampb.DashStreamMessage {
	state := dashstream.MarshalJSON(b.state)
	sum := sha256.Sum256(state)
	id := uuid.Must(uuid.NewV7())
	b.lastCkpt = id[:]
	return &dashstreampb.DashStreamMessage{Message: &dashstreampb.DashStreamMessage_Checkpoint{Checkpoint: &dashstreampb.Checkpoint{
		Header: b.header(dashstreampb.MessageType_MESSAGE_TYPE_CHECKPOINT), CheckpointId: id[:], State: state,
		StateType: "application/json", Checksum: sum[:],
		Metadata: map[string]string{"run_id": "run-1", "node_id": "review", "step": "4", "reason": "interval"}}}}
}

// run returns a whole valid run: start, two nodes with diffs, a checkpoint
// and the end; the final state is {"messages":["hi","draft"],"counter":2}.
func (b *streamBuilder) run() []*dashstreampb.DashStreamMessage {
	return []*dashstreampb.DashStreamMessage{
		b.graphStart(`{"messages":["hi"],"counter":0}`),
		b.event(dashstreampb.EventType_EVENT_TYPE_NODE_START, "plan", map[string]*dashstreampb.AttributeValue{"step": num(1)}),
		b.diffTo(`{"messages":["hi"],"counter":1}`),
		b.event(dashstreampb.EventType_EVENT_TYPE_NODE_END, "plan", map[string]*dashstreampb.AttributeValue{"duration_us": flt(1500)}),
		b.event(dashstreampb.EventType_EVENT_TYPE_EDGE_TRAVERSAL, "plan", map[string]*dashstreampb.AttributeValue{"from": str("plan"), "to": str("draft")}),
		b.event(dashstreampb.EventType_EVENT_TYPE_NODE_START, "draft", map[string]*dashstreampb.AttributeValue{"step": num(2)}),
		b.diffTo(`{"messages":["hi","draft"],"counter":2}`),
		b.checkpoint(),
		b.event(dashstreampb.EventType_EVENT_TYPE_NODE_END, "draft", map[string]*dashstreampb.AttributeValue{"duration_us": flt(2500)}),
		b.event(dashstreampb.EventType_EVENT_TYPE_GRAPH_END, "", nil),
	}
}

// encode frames messages as the exporter does (zstd above 512 bytes).
func encode(t testing.TB, msgs ...*dashstreampb.DashStreamMessage) [][]byte {
	t.Helper()
	enc, err := dashstream.NewEncoder(dashstream.DefaultEncoderOptions())
	require.NoError(t, err)
	out := make([][]byte, 0, len(msgs))
	for _, m := range msgs {
		v, err := enc.Encode(m)
		require.NoError(t, err)
		out = append(out, v)
	}
	return out
}

func writeFile(path string, b []byte) error { return os.WriteFile(path, b, 0o600) }
