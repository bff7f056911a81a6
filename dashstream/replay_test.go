package dashstream

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
)

// streamBuilder hand-builds a valid DashStream stream for one thread, the
// way a correct producer would, so tests can break one message at a time.
type streamBuilder struct {
	t      *testing.T
	thread string
	seq    uint64
	state  any
	lastCP []byte
	cps    int
}

func newStream(t *testing.T, thread string) *streamBuilder {
	return &streamBuilder{t: t, thread: thread, seq: 1_764_000_000_000_000}
}

func (b *streamBuilder) header(typ pb.MessageType) *pb.Header {
	b.seq++
	h := testHeader(typ, b.thread, b.seq)
	binary.BigEndian.PutUint32(h.MessageId[1:], uint32(len(b.thread)))
	copy(h.MessageId[5:8], b.thread)
	return h
}

func (b *streamBuilder) parse(s string) any {
	b.t.Helper()
	v, err := ParseJSON([]byte(s))
	if err != nil {
		b.t.Fatalf("test state %q: %v", s, err)
	}
	return v
}

// event builds an event; GRAPH_START with initial != "" carries it.
func (b *streamBuilder) event(et pb.EventType, node, initial string) *pb.DashStreamMessage {
	ev := &pb.Event{Header: b.header(pb.MessageType_MESSAGE_TYPE_EVENT), EventType: et, NodeId: node,
		Attributes: map[string]*pb.AttributeValue{}}
	if et == pb.EventType_EVENT_TYPE_GRAPH_START {
		ev.Attributes["graph_name"] = &pb.AttributeValue{Value: &pb.AttributeValue_StringValue{StringValue: "g"}}
		if initial != "" {
			ev.Attributes["initial_state_json"] = &pb.AttributeValue{Value: &pb.AttributeValue_StringValue{StringValue: initial}}
			b.state = b.parse(initial)
		} else {
			b.state = NewObject(0)
		}
	}
	return &pb.DashStreamMessage{Message: &pb.DashStreamMessage_Event{Event: ev}}
}

func (b *streamBuilder) graphStart(initial string) *pb.DashStreamMessage {
	return b.event(pb.EventType_EVENT_TYPE_GRAPH_START, "", initial)
}

// diff builds a patch StateDiff from the builder's state to next.
func (b *streamBuilder) diff(next string) *pb.DashStreamMessage {
	b.t.Helper()
	nv := b.parse(next)
	ops := Diff(b.state, nv).ToProto()
	b.state = nv
	hash := StateHash(nv)
	return &pb.DashStreamMessage{Message: &pb.DashStreamMessage_StateDiff{StateDiff: &pb.StateDiff{
		Header: b.header(pb.MessageType_MESSAGE_TYPE_STATE_DIFF), BaseCheckpointId: b.lastCP,
		Operations: ops, StateHash: hash[:],
	}}}
}

// fullState builds a full-state StateDiff.
func (b *streamBuilder) fullState(next string) *pb.DashStreamMessage {
	b.t.Helper()
	b.state = b.parse(next)
	hash := StateHash(b.state)
	return &pb.DashStreamMessage{Message: &pb.DashStreamMessage_StateDiff{StateDiff: &pb.StateDiff{
		Header: b.header(pb.MessageType_MESSAGE_TYPE_STATE_DIFF), BaseCheckpointId: b.lastCP,
		FullState: MarshalJSON(b.state), StateHash: hash[:],
	}}}
}

// checkpoint builds a Checkpoint of the builder's state.
func (b *streamBuilder) checkpoint() *pb.DashStreamMessage {
	b.cps++
	id := make([]byte, 16)
	id[0], id[15] = 0xc0, byte(b.cps)
	b.lastCP = id
	state := MarshalJSON(b.state)
	sum := sha256.Sum256(state)
	return &pb.DashStreamMessage{Message: &pb.DashStreamMessage_Checkpoint{Checkpoint: &pb.Checkpoint{
		Header: b.header(pb.MessageType_MESSAGE_TYPE_CHECKPOINT), CheckpointId: id, State: state,
		StateType: "application/json", Checksum: sum[:],
		Metadata: map[string]string{"reason": "interval", "run_id": "r1", "node_id": "n", "step": "2"},
	}}}
}

// validStream is one thread with two runs exercising every state path.
func validStream(b *streamBuilder) []*pb.DashStreamMessage {
	return []*pb.DashStreamMessage{
		b.graphStart(`{"messages":[],"count":0}`),
		b.event(pb.EventType_EVENT_TYPE_NODE_START, "agent", ""),
		b.diff(`{"messages":["hi"],"count":1}`),
		b.event(pb.EventType_EVENT_TYPE_NODE_END, "agent", ""),
		b.diff(`{"messages":["hi","there"],"count":2,"big":12345678901234567890123}`),
		b.checkpoint(),
		b.diff(`{"messages":["hi","there","again"],"count":3,"big":12345678901234567890123}`),
		b.fullState(`{"reset":true,"text":"<&>\u2028"}`),
		b.diff(`{"reset":false}`),
		b.event(pb.EventType_EVENT_TYPE_GRAPH_END, "", ""),
		b.graphStart(""),
		b.diff(`{"fresh":[1,2,{"a":null}]}`),
		b.checkpoint(),
		b.diff(`{"fresh":[1,2,{"a":null}],"done":true}`),
	}
}

func replayAll(t *testing.T, r *Replayer, msgs []*pb.DashStreamMessage) []error {
	t.Helper()
	var errs []error
	for _, m := range msgs {
		if err := r.Apply(m); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

func TestReplayValidStream(t *testing.T) {
	b := newStream(t, "thread-ok")
	msgs := validStream(b)
	r := NewReplayer()
	if errs := replayAll(t, r, msgs); len(errs) > 0 {
		t.Fatalf("valid stream: %v", errs)
	}
	if ps := r.Problems(); len(ps) != 0 {
		t.Fatalf("valid stream problems: %v", ps)
	}
	ts := r.Thread("thread-ok")
	if ts == nil {
		t.Fatal("thread not tracked")
	}
	if !ts.StateKnown || !Equal(ts.State, b.state) {
		t.Fatalf("replayed state %s, want %s", MarshalJSON(ts.State), MarshalJSON(b.state))
	}
	want := ThreadState{Messages: len(msgs), Events: 5, Runs: 2, Diffs: 7, FullStates: 1, Checkpoints: 2, Sequence: b.seq}
	got := ThreadState{Messages: ts.Messages, Events: ts.Events, Runs: ts.Runs, Diffs: ts.Diffs,
		FullStates: ts.FullStates, Checkpoints: ts.Checkpoints, Sequence: ts.Sequence}
	if !equalCounts(got, want) {
		t.Fatalf("counts %+v, want %+v", got, want)
	}
	if string(ts.LastCheckpointID) != string(b.lastCP) {
		t.Fatalf("last checkpoint %x, want %x", ts.LastCheckpointID, b.lastCP)
	}
	if ts.ByType[pb.MessageType_MESSAGE_TYPE_STATE_DIFF] != 7 || ts.ByType[pb.MessageType_MESSAGE_TYPE_EVENT] != 5 {
		t.Fatalf("by type %v", ts.ByType)
	}
}

func equalCounts(a, b ThreadState) bool {
	return a.Messages == b.Messages && a.Events == b.Events && a.Runs == b.Runs && a.Diffs == b.Diffs &&
		a.FullStates == b.FullStates && a.Checkpoints == b.Checkpoints && a.Sequence == b.Sequence
}

// TestReplayEncodedStream runs a valid stream through the codec first, as
// the CLI and the Kafka tests do.
func TestReplayEncodedStream(t *testing.T) {
	enc := mustEncoder(t, EncoderOptions{Compression: true, CompressionThreshold: 40})
	dec := mustDecoder(t, DecoderOptions{})
	r := NewReplayer()
	zstdFrames := 0
	b := newStream(t, "wire")
	msgs := validStream(b)
	long := strings.Repeat("a long repeated sentence ", 40)
	msgs = append(msgs, b.diff(`{"long":"`+long+`"}`), b.checkpoint(), b.fullState(`{"long":"`+long+`!"}`))
	for _, m := range msgs {
		rec, err := enc.Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		if rec[0] == FrameZstd {
			zstdFrames++
		}
		got, err := dec.Decode(rec)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Apply(got); err != nil {
			t.Fatal(err)
		}
	}
	if zstdFrames == 0 {
		t.Fatal("no message was compressed; the test does not cover zstd frames")
	}
	if ps := r.Problems(); len(ps) != 0 {
		t.Fatalf("problems: %v", ps)
	}
}

func attr(s string) *pb.AttributeValue {
	return &pb.AttributeValue{Value: &pb.AttributeValue_StringValue{StringValue: s}}
}

func TestReplayProblems(t *testing.T) {
	type result struct {
		kinds   []ProblemKind // all findings, in order
		errored int           // how many Apply calls returned an error
	}
	tests := []struct {
		name  string
		build func(b *streamBuilder) []*pb.DashStreamMessage
		want  result
		check func(t *testing.T, ts *ThreadState)
	}{
		{
			name: "gap is a note",
			build: func(b *streamBuilder) []*pb.DashStreamMessage {
				s := b.graphStart(`{"a":1}`)
				b.seq += 5
				return []*pb.DashStreamMessage{s, b.diff(`{"a":2}`)}
			},
			want:  result{kinds: []ProblemKind{ProblemGap}},
			check: func(t *testing.T, ts *ThreadState) { wantInt(t, "gaps", ts.Gaps, 1) },
		},
		{
			name: "duplicate is a note and not replayed twice",
			build: func(b *streamBuilder) []*pb.DashStreamMessage {
				s := b.graphStart(`{"list":[]}`)
				d := b.diff(`{"list":[1]}`)
				return []*pb.DashStreamMessage{s, d, d, b.diff(`{"list":[1,2]}`)}
			},
			want: result{kinds: []ProblemKind{ProblemDuplicate}},
			check: func(t *testing.T, ts *ThreadState) {
				wantInt(t, "duplicates", ts.Duplicates, 1)
				wantInt(t, "messages", ts.Messages, 3)
			},
		},
		{
			name: "sequence zero",
			build: func(b *streamBuilder) []*pb.DashStreamMessage {
				s := b.graphStart("")
				HeaderOf(s).Sequence = 0
				return []*pb.DashStreamMessage{s}
			},
			want: result{kinds: []ProblemKind{ProblemSequence}, errored: 1},
		},
		{
			name: "sequence goes backwards",
			build: func(b *streamBuilder) []*pb.DashStreamMessage {
				s := b.graphStart("")
				e1 := b.event(pb.EventType_EVENT_TYPE_NODE_START, "n", "")
				e2 := b.event(pb.EventType_EVENT_TYPE_NODE_END, "n", "")
				return []*pb.DashStreamMessage{s, e2, e1}
			},
			want: result{kinds: []ProblemKind{ProblemGap, ProblemSequence}, errored: 1},
		},
		{
			name: "same sequence, other message",
			build: func(b *streamBuilder) []*pb.DashStreamMessage {
				s := b.graphStart("")
				e := b.event(pb.EventType_EVENT_TYPE_NODE_START, "n", "")
				HeaderOf(e).Sequence = HeaderOf(s).Sequence
				return []*pb.DashStreamMessage{s, e}
			},
			want: result{kinds: []ProblemKind{ProblemSequence}, errored: 1},
		},
		{
			name: "header type does not match",
			build: func(b *streamBuilder) []*pb.DashStreamMessage {
				s := b.graphStart("")
				HeaderOf(s).Type = pb.MessageType_MESSAGE_TYPE_STATE_DIFF
				return []*pb.DashStreamMessage{s}
			},
			want: result{kinds: []ProblemKind{ProblemHeader}, errored: 1},
		},
		{
			name: "schema version, message id, timestamp in nanoseconds",
			build: func(b *streamBuilder) []*pb.DashStreamMessage {
				s := b.graphStart("")
				h := HeaderOf(s)
				h.SchemaVersion, h.MessageId, h.TimestampUs = 0, h.MessageId[:8], 1_764_000_000_000_000_000
				return []*pb.DashStreamMessage{s}
			},
			want: result{kinds: []ProblemKind{ProblemHeader, ProblemHeader, ProblemHeader}, errored: 1},
		},
		{
			name: "empty and overlong thread ids",
			build: func(b *streamBuilder) []*pb.DashStreamMessage {
				s1 := b.graphStart("")
				HeaderOf(s1).ThreadId = ""
				s2 := b.graphStart("")
				HeaderOf(s2).ThreadId = strings.Repeat("é", 257)
				s3 := b.graphStart("")
				HeaderOf(s3).ThreadId = strings.Repeat("é", 256) // at the limit: fine
				return []*pb.DashStreamMessage{s1, s2, s3}
			},
			want: result{kinds: []ProblemKind{ProblemHeader, ProblemHeader}, errored: 2},
		},
		{
			name: "message without header or oneof",
			build: func(b *streamBuilder) []*pb.DashStreamMessage {
				return []*pb.DashStreamMessage{{}, {Message: &pb.DashStreamMessage_StateDiff{StateDiff: &pb.StateDiff{}}}}
			},
			want: result{kinds: []ProblemKind{ProblemHeader, ProblemHeader}, errored: 2},
		},
		{
			name: "initial state is not JSON",
			build: func(b *streamBuilder) []*pb.DashStreamMessage {
				s := b.graphStart(`{"a":1}`)
				s.GetEvent().Attributes["initial_state_json"] = attr(`{"a":`)
				return []*pb.DashStreamMessage{s, b.diff(`{"a":2}`)}
			},
			want:  result{kinds: []ProblemKind{ProblemInitialState, ProblemUnknownBase}, errored: 2},
			check: func(t *testing.T, ts *ThreadState) { wantInt(t, "unverified", ts.Unverified, 1) },
		},
		{
			name: "initial state is not a string attribute",
			build: func(b *streamBuilder) []*pb.DashStreamMessage {
				s := b.graphStart(`{"a":1}`)
				s.GetEvent().Attributes["initial_state_json"] = &pb.AttributeValue{Value: &pb.AttributeValue_IntValue{IntValue: 1}}
				return []*pb.DashStreamMessage{s}
			},
			want: result{kinds: []ProblemKind{ProblemInitialState}, errored: 1},
		},
		{
			name: "GRAPH_START replaces the state even mid-run",
			build: func(b *streamBuilder) []*pb.DashStreamMessage {
				return []*pb.DashStreamMessage{
					b.graphStart(`{"a":1}`), b.diff(`{"a":2,"b":[1]}`),
					b.graphStart(`{"z":true}`), b.diff(`{"z":false}`),
				}
			},
			check: func(t *testing.T, ts *ThreadState) {
				if got := string(MarshalJSON(ts.State)); got != `{"z":false}` {
					t.Errorf("state %s", got)
				}
			},
		},
		{
			name: "GRAPH_START inside an event batch",
			build: func(b *streamBuilder) []*pb.DashStreamMessage {
				s := b.graphStart(`{"a":1}`)
				d := b.diff(`{"a":2}`)
				b.state = b.parse(`{"from":"batch"}`)
				batch := &pb.DashStreamMessage{Message: &pb.DashStreamMessage_EventBatch{EventBatch: &pb.EventBatch{
					Header: b.header(pb.MessageType_MESSAGE_TYPE_EVENT_BATCH),
					Events: []*pb.Event{{EventType: pb.EventType_EVENT_TYPE_GRAPH_START,
						Attributes: map[string]*pb.AttributeValue{"initial_state_json": attr(`{"from":"batch"}`)}}},
				}}}
				return []*pb.DashStreamMessage{s, d, batch, b.diff(`{"from":"batch","n":1}`)}
			},
			check: func(t *testing.T, ts *ThreadState) { wantInt(t, "runs", ts.Runs, 2) },
		},
		{
			name: "full state is not JSON",
			build: func(b *streamBuilder) []*pb.DashStreamMessage {
				s := b.graphStart(`{"a":1}`)
				f := b.fullState(`{"a":2}`)
				f.GetStateDiff().FullState = []byte(`{"a":2`)
				return []*pb.DashStreamMessage{s, f, b.diff(`{"a":3}`)}
			},
			want: result{kinds: []ProblemKind{ProblemFullState, ProblemUnknownBase}, errored: 2},
		},
		{
			name: "full state with operations",
			build: func(b *streamBuilder) []*pb.DashStreamMessage {
				s := b.graphStart(`{"a":1}`)
				f := b.fullState(`{"a":2}`)
				f.GetStateDiff().Operations = []*pb.DiffOperation{{Op: pb.DiffOperation_OP_TYPE_REMOVE.Enum(), Path: proto.String("/a"), Encoding: pb.DiffOperation_VALUE_ENCODING_JSON.Enum()}}
				return []*pb.DashStreamMessage{s, f}
			},
			want: result{kinds: []ProblemKind{ProblemFullState}, errored: 1},
		},
		{
			name: "patch fails, later patches are unverified until a full state",
			build: func(b *streamBuilder) []*pb.DashStreamMessage {
				s := b.graphStart(`{"a":1}`)
				d := b.diff(`{"a":2}`)
				d.GetStateDiff().Operations = []*pb.DiffOperation{{Op: pb.DiffOperation_OP_TYPE_REMOVE.Enum(), Path: proto.String("/missing"), Encoding: pb.DiffOperation_VALUE_ENCODING_JSON.Enum()}}
				return []*pb.DashStreamMessage{s, d, b.diff(`{"a":3}`), b.diff(`{"a":4}`), b.fullState(`{"b":1}`), b.diff(`{"b":2}`)}
			},
			want: result{kinds: []ProblemKind{ProblemPatch}, errored: 1},
			check: func(t *testing.T, ts *ThreadState) {
				wantInt(t, "unverified", ts.Unverified, 2)
				if !ts.StateKnown || string(MarshalJSON(ts.State)) != `{"b":2}` {
					t.Errorf("not resynced: known=%v state=%s", ts.StateKnown, MarshalJSON(ts.State))
				}
			},
		},
		{
			name: "patch value is not JSON",
			build: func(b *streamBuilder) []*pb.DashStreamMessage {
				s := b.graphStart(`{"a":1}`)
				d := b.diff(`{"a":2}`)
				d.GetStateDiff().Operations[0].Value = []byte(`{`)
				return []*pb.DashStreamMessage{s, d}
			},
			want: result{kinds: []ProblemKind{ProblemPatch}, errored: 1},
		},
		{
			name: "patch before any state",
			build: func(b *streamBuilder) []*pb.DashStreamMessage {
				b.state = b.parse(`{"a":1}`)
				return []*pb.DashStreamMessage{b.diff(`{"a":2}`), b.diff(`{"a":3}`)}
			},
			want:  result{kinds: []ProblemKind{ProblemUnknownBase}, errored: 1},
			check: func(t *testing.T, ts *ThreadState) { wantInt(t, "unverified", ts.Unverified, 2) },
		},
		{
			name: "wrong state hash",
			build: func(b *streamBuilder) []*pb.DashStreamMessage {
				s := b.graphStart(`{"a":1}`)
				d := b.diff(`{"a":2}`)
				d.GetStateDiff().StateHash[0] ^= 1
				return []*pb.DashStreamMessage{s, d}
			},
			want: result{kinds: []ProblemKind{ProblemStateHash}, errored: 1},
		},
		{
			name: "missing and short state hashes",
			build: func(b *streamBuilder) []*pb.DashStreamMessage {
				s := b.graphStart(`{"a":1}`)
				d1 := b.diff(`{"a":2}`)
				d1.GetStateDiff().StateHash = nil
				d2 := b.fullState(`{"a":3}`)
				d2.GetStateDiff().StateHash = d2.GetStateDiff().StateHash[:31]
				return []*pb.DashStreamMessage{s, d1, d2}
			},
			want: result{kinds: []ProblemKind{ProblemStateHash, ProblemStateHash}, errored: 2},
		},
		{
			name: "hash not checked when the UI skips verification",
			build: func(b *streamBuilder) []*pb.DashStreamMessage {
				s := b.graphStart(`{"a":1}`)
				d := b.diff(`{"a":9007199254740993}`)
				d.GetStateDiff().StateHash[0] ^= 1
				return []*pb.DashStreamMessage{s, d}
			},
		},
		{
			name: "base checkpoint missing after a checkpoint",
			build: func(b *streamBuilder) []*pb.DashStreamMessage {
				s := b.graphStart(`{"a":1}`)
				c := b.checkpoint()
				d := b.diff(`{"a":2}`)
				d.GetStateDiff().BaseCheckpointId = nil
				return []*pb.DashStreamMessage{s, c, d}
			},
			want: result{kinds: []ProblemKind{ProblemBaseCheckpoint}, errored: 1},
		},
		{
			name: "base checkpoint set before any checkpoint",
			build: func(b *streamBuilder) []*pb.DashStreamMessage {
				s := b.graphStart(`{"a":1}`)
				d := b.diff(`{"a":2}`)
				d.GetStateDiff().BaseCheckpointId = make([]byte, 16)
				return []*pb.DashStreamMessage{s, d}
			},
			want: result{kinds: []ProblemKind{ProblemBaseCheckpoint}, errored: 1},
		},
		{
			name: "thread continues on another instance: full state with no base restarts the chain",
			build: func(b *streamBuilder) []*pb.DashStreamMessage {
				s := b.graphStart(`{"a":1}`)
				d1 := b.diff(`{"a":2}`)
				c := b.checkpoint()
				// The new instance never saw checkpoint c: its first state
				// message is a full snapshot without a base, after a gap.
				b.seq += 1000
				b.lastCP = nil
				f := b.fullState(`{"a":3}`)
				d2 := b.diff(`{"a":4}`)
				return []*pb.DashStreamMessage{s, d1, c, f, d2}
			},
			want: result{kinds: []ProblemKind{ProblemGap}},
		},
		{
			name: "patch after a base-less full state still naming the old checkpoint",
			build: func(b *streamBuilder) []*pb.DashStreamMessage {
				s := b.graphStart(`{"a":1}`)
				c := b.checkpoint()
				old := b.lastCP
				b.lastCP = nil
				f := b.fullState(`{"a":3}`)
				b.lastCP = old
				d := b.diff(`{"a":4}`)
				return []*pb.DashStreamMessage{s, c, f, d}
			},
			want: result{kinds: []ProblemKind{ProblemBaseCheckpoint}, errored: 1},
		},
		{
			name: "checkpoint checksum wrong",
			build: func(b *streamBuilder) []*pb.DashStreamMessage {
				s := b.graphStart(`{"a":1}`)
				c := b.checkpoint()
				c.GetCheckpoint().Checksum[3] ^= 1
				return []*pb.DashStreamMessage{s, c, b.diff(`{"a":2}`)}
			},
			want: result{kinds: []ProblemKind{ProblemCheckpoint}, errored: 1},
		},
		{
			name: "checkpoint state differs from the replayed state",
			build: func(b *streamBuilder) []*pb.DashStreamMessage {
				s := b.graphStart(`{"a":1}`)
				b.state = b.parse(`{"a":"other"}`)
				c := b.checkpoint()
				b.state = b.parse(`{"a":1}`)
				return []*pb.DashStreamMessage{s, c}
			},
			want: result{kinds: []ProblemKind{ProblemCheckpoint}, errored: 1},
		},
		{
			name: "checkpoint state equal in another member order",
			build: func(b *streamBuilder) []*pb.DashStreamMessage {
				s := b.graphStart(`{"a":1,"b":[true]}`)
				b.state = b.parse(`{"b":[true],"a":1.0}`)
				return []*pb.DashStreamMessage{s, b.checkpoint()}
			},
		},
		{
			name: "checkpoint state not JSON, bad id and state type",
			build: func(b *streamBuilder) []*pb.DashStreamMessage {
				s := b.graphStart(`{"a":1}`)
				c := b.checkpoint()
				cp := c.GetCheckpoint()
				cp.State = []byte("not json")
				sum := sha256.Sum256(cp.State)
				cp.Checksum, cp.CheckpointId, cp.StateType = sum[:], cp.CheckpointId[:4], "text/plain"
				return []*pb.DashStreamMessage{s, c}
			},
			want: result{kinds: []ProblemKind{ProblemCheckpoint, ProblemCheckpoint, ProblemCheckpoint}, errored: 1},
		},
		{
			name: "compressed checkpoint state cannot be verified",
			build: func(b *streamBuilder) []*pb.DashStreamMessage {
				s := b.graphStart(`{"a":1}`)
				c := b.checkpoint()
				c.GetCheckpoint().CompressionInfo = &pb.CompressionInfo{Type: pb.CompressionType_COMPRESSION_ZSTD}
				return []*pb.DashStreamMessage{s, c, b.diff(`{"a":2}`)}
			},
			want: result{kinds: []ProblemKind{ProblemCheckpoint}, errored: 1},
		},
		{
			name: "checkpoint establishes an unknown state",
			build: func(b *streamBuilder) []*pb.DashStreamMessage {
				b.state = b.parse(`{"resumed":true}`)
				return []*pb.DashStreamMessage{b.checkpoint(), b.diff(`{"resumed":true,"n":1}`)}
			},
			check: func(t *testing.T, ts *ThreadState) {
				if got := string(MarshalJSON(ts.State)); got != `{"resumed":true,"n":1}` {
					t.Errorf("state %s", got)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newStream(t, "t1")
			msgs := tt.build(b)
			r := NewReplayer()
			errs := replayAll(t, r, msgs)
			var kinds []ProblemKind
			for _, p := range r.Problems() {
				kinds = append(kinds, p.Kind)
			}
			if !slices.Equal(kinds, tt.want.kinds) || len(errs) != tt.want.errored {
				t.Fatalf("kinds %v with %d failed Apply calls, want %v with %d\nproblems: %v\nerrors: %v",
					kinds, len(errs), tt.want.kinds, tt.want.errored, r.Problems(), errs)
			}
			for _, err := range errs {
				var p Problem
				if !errors.As(err, &p) || p.Kind.IsNote() {
					t.Errorf("Apply error %v is not an inconsistency Problem", err)
				}
			}
			if tt.check != nil {
				th := r.Thread("t1")
				if th == nil {
					t.Fatal("thread t1 not tracked")
				}
				tt.check(t, th)
			}
		})
	}
}

func wantInt(t *testing.T, what string, got, want int) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %d, want %d", what, got, want)
	}
}

func TestReplayThreadsAreIndependent(t *testing.T) {
	a, b := newStream(t, "alpha"), newStream(t, "beta")
	b.seq = 5 // beta's sequences are far below alpha's: no cross-thread ordering
	msgs := []*pb.DashStreamMessage{
		a.graphStart(`{"who":"a"}`), b.graphStart(`{"who":"b"}`),
		b.diff(`{"who":"b","n":1}`), a.checkpoint(), a.diff(`{"who":"a","n":1}`), b.checkpoint(),
	}
	r := NewReplayer()
	if errs := replayAll(t, r, msgs); len(errs) != 0 {
		t.Fatal(errs)
	}
	if got := r.Threads(); !slices.Equal(got, []string{"alpha", "beta"}) {
		t.Fatalf("threads %v", got)
	}
	if r.Thread("gamma") != nil {
		t.Fatal("unknown thread returned state")
	}
	ta, tb := r.Thread("alpha"), r.Thread("beta")
	if string(MarshalJSON(ta.State)) != `{"who":"a","n":1}` || string(MarshalJSON(tb.State)) != `{"who":"b","n":1}` {
		t.Fatalf("states %s / %s", MarshalJSON(ta.State), MarshalJSON(tb.State))
	}
	// Snapshots are copies: changing one does not change the replayer.
	ta.LastCheckpointID[0] ^= 0xff
	ta.ByType[pb.MessageType_MESSAGE_TYPE_EVENT] = 99
	again := r.Thread("alpha")
	if again.LastCheckpointID[0] != 0xc0 || again.ByType[pb.MessageType_MESSAGE_TYPE_EVENT] != 1 {
		t.Fatal("Thread returned shared bookkeeping")
	}
}

func TestReplayProblemStorageIsBounded(t *testing.T) {
	r := NewReplayer()
	b := newStream(t, "noisy")
	msg := b.graphStart("")
	HeaderOf(msg).Sequence = 0
	const n = maxStoredProblems + 5
	for range n {
		if err := r.Apply(msg); err == nil {
			t.Fatal("sequence 0 accepted")
		}
	}
	if got := len(r.Problems()); got != maxStoredProblems {
		t.Fatalf("stored %d problems", got)
	}
	if got := r.ProblemCounts()[ProblemSequence]; got != n {
		t.Fatalf("counted %d sequence problems, want %d", got, n)
	}
}

func TestReplayConcurrentApply(t *testing.T) {
	r := NewReplayer()
	streams := make([][]*pb.DashStreamMessage, 4)
	for i := range streams {
		streams[i] = validStream(newStream(t, "c"+string(rune('a'+i))))
	}
	errs := make(chan error, len(streams))
	for _, s := range streams {
		go func() {
			for _, m := range s {
				if err := r.Apply(proto.Clone(m).(*pb.DashStreamMessage)); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range streams {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := len(r.Threads()); got != len(streams) {
		t.Fatalf("%d threads", got)
	}
	if ps := r.Problems(); len(ps) != 0 {
		t.Fatal(ps)
	}
}
