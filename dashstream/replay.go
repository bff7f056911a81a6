package dashstream

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"unicode/utf8"

	"github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
)

// ProblemKind classifies what the Replayer found. Gap and Duplicate are
// notes: a stream may legitimately contain them (after a loss, or when
// at-least-once delivery repeats a record); callers decide what they mean.
type ProblemKind string

// The kinds of Problem a Replayer reports.
const (
	// ProblemGap: the sequence jumped forward (allowed across a loss or a
	// new session).
	ProblemGap ProblemKind = "gap"
	// ProblemDuplicate: the same message (sequence and message id) again;
	// it is not replayed a second time.
	ProblemDuplicate ProblemKind = "duplicate"
	// ProblemSequence: a zero, repeated or decreasing sequence.
	ProblemSequence ProblemKind = "sequence"
	// ProblemHeader: missing header, wrong type, schema version, message id,
	// thread id or timestamp unit.
	ProblemHeader ProblemKind = "header"
	// ProblemInitialState: a GRAPH_START initial_state_json that is not a
	// JSON string attribute holding valid JSON.
	ProblemInitialState ProblemKind = "initial_state"
	// ProblemFullState: a full_state that is not valid JSON, or comes with
	// operations.
	ProblemFullState ProblemKind = "full_state"
	// ProblemPatch: operations that cannot be decoded or applied.
	ProblemPatch ProblemKind = "patch"
	// ProblemUnknownBase: a patch arrived while the thread's state was
	// unknown (no GRAPH_START, full state or checkpoint yet, or a patch
	// failed before); reported once until the state is known again.
	ProblemUnknownBase ProblemKind = "unknown_base"
	// ProblemStateHash: state_hash missing, malformed or not the hash of the
	// replayed state.
	ProblemStateHash ProblemKind = "state_hash"
	// ProblemBaseCheckpoint: base_checkpoint_id is not the thread's last
	// checkpoint id.
	ProblemBaseCheckpoint ProblemKind = "base_checkpoint"
	// ProblemCheckpoint: a checkpoint with a bad id, checksum or state, or
	// whose state differs from the replayed one.
	ProblemCheckpoint ProblemKind = "checkpoint"
)

// IsNote reports whether the kind describes something a valid stream may
// contain rather than an inconsistency.
func (k ProblemKind) IsNote() bool { return k == ProblemGap || k == ProblemDuplicate }

// Problem is one finding of the Replayer.
type Problem struct {
	Thread   string
	Sequence uint64
	Kind     ProblemKind
	Detail   string
}

// Error makes a Problem usable as an error.
func (p Problem) Error() string {
	return fmt.Sprintf("thread %q sequence %d: %s: %s", p.Thread, p.Sequence, p.Kind, p.Detail)
}

// ThreadState is what the Replayer knows about one thread.
type ThreadState struct {
	ID string
	// State is the replayed state (the JSON value model); nil with
	// StateKnown false until a GRAPH_START, full state or checkpoint
	// establishes it. Share, do not mutate: Clone before changing it.
	State      any
	StateKnown bool
	// Sequence is the highest sequence seen.
	Sequence uint64
	// LastCheckpointID is the id of the last Checkpoint, which every later
	// StateDiff must name as its base.
	LastCheckpointID []byte
	// Counts. Diffs counts every StateDiff, FullStates those carrying
	// full_state; Unverified counts patches skipped for an unknown base.
	Messages, Events, Runs, Diffs, FullStates, Checkpoints, Gaps, Duplicates, Unverified int
	// ByType counts messages by header type.
	ByType map[dashstreampb.MessageType]int

	lastMessageID   []byte
	unknownReported bool
}

// maxStoredProblems bounds the memory a long verification run spends on
// findings; ProblemCounts stays exact beyond it.
const maxStoredProblems = 10000

// Replayer rebuilds every thread's state from a DashStream message stream,
// the way a consumer does, and checks each message against it (SPEC §3,
// §4.5, §4.6). Feed it messages in topic order per thread. It is safe for
// concurrent use, though concurrent callers decide the order.
type Replayer struct {
	mu       sync.Mutex
	threads  map[string]*ThreadState
	order    []string
	problems []Problem
	counts   map[ProblemKind]int
}

// NewReplayer returns an empty replayer.
func NewReplayer() *Replayer {
	return &Replayer{threads: map[string]*ThreadState{}, counts: map[ProblemKind]int{}}
}

// Thread returns a snapshot of a thread's replay, or nil when the thread
// has not been seen. State is shared with the replayer.
func (r *Replayer) Thread(id string) *ThreadState {
	r.mu.Lock()
	defer r.mu.Unlock()
	ts, ok := r.threads[id]
	if !ok {
		return nil
	}
	c := *ts
	c.LastCheckpointID = slices.Clone(ts.LastCheckpointID)
	c.ByType = make(map[dashstreampb.MessageType]int, len(ts.ByType))
	for k, v := range ts.ByType {
		c.ByType[k] = v
	}
	return &c
}

// Forget drops everything the Replayer holds about a thread (a long-running
// consumer bounding its memory); a later message of the thread starts it
// again as a thread never seen.
func (r *Replayer) Forget(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.threads[id]; !ok {
		return
	}
	delete(r.threads, id)
	if i := slices.Index(r.order, id); i >= 0 {
		r.order = slices.Delete(r.order, i, i+1)
	}
}

// Threads returns the thread ids in the order they first appeared.
func (r *Replayer) Threads() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.order)
}

// Problems returns the findings so far, notes included, in the order found
// (at most the first 10,000; see ProblemCounts).
func (r *Replayer) Problems() []Problem {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.problems)
}

// ProblemCounts returns how many findings of each kind there were.
func (r *Replayer) ProblemCounts() map[ProblemKind]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := make(map[ProblemKind]int, len(r.counts))
	for k, v := range r.counts {
		c[k] = v
	}
	return c
}

// Apply replays one message. It returns the inconsistencies this message
// showed (joined; each is a Problem), or nil when there were only notes or
// none; the replay continues either way.
func (r *Replayer) Apply(msg *dashstreampb.DashStreamMessage) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	a := applyCtx{r: r}
	a.apply(msg)
	return errors.Join(a.errs...)
}

// applyCtx carries one Apply call's thread and findings.
type applyCtx struct {
	r    *Replayer
	ts   *ThreadState
	th   string
	seq  uint64
	errs []error
}

func (a *applyCtx) report(kind ProblemKind, format string, args ...any) {
	p := Problem{Thread: a.th, Sequence: a.seq, Kind: kind, Detail: fmt.Sprintf(format, args...)}
	a.r.counts[kind]++
	if len(a.r.problems) < maxStoredProblems {
		a.r.problems = append(a.r.problems, p)
	}
	if !kind.IsNote() {
		a.errs = append(a.errs, p)
	}
}

// Timestamps outside 2000–2200 in microseconds are almost surely in the
// wrong unit (nanoseconds or milliseconds).
const (
	minTimestampUs = 946_684_800_000_000
	maxTimestampUs = 7_258_118_400_000_000
)

const maxThreadIDChars = 256

func (a *applyCtx) apply(msg *dashstreampb.DashStreamMessage) {
	typ := MessageTypeOf(msg)
	h := HeaderOf(msg)
	if h == nil {
		if typ == dashstreampb.MessageType_MESSAGE_TYPE_UNSPECIFIED {
			a.report(ProblemHeader, "message carries nothing")
		} else {
			a.report(ProblemHeader, "%s without header", typ)
		}
		return
	}
	a.th, a.seq = h.GetThreadId(), h.GetSequence()
	a.ts = a.r.thread(a.th)
	ts := a.ts

	a.checkHeader(h, typ)
	if a.checkSequence(h) {
		return // a duplicate is not replayed twice
	}
	ts.Messages++
	ts.ByType[typ]++

	switch p := msg.GetMessage().(type) {
	case *dashstreampb.DashStreamMessage_Event:
		a.event(p.Event)
	case *dashstreampb.DashStreamMessage_EventBatch:
		for _, ev := range p.EventBatch.GetEvents() {
			a.event(ev)
		}
	case *dashstreampb.DashStreamMessage_StateDiff:
		a.stateDiff(p.StateDiff)
	case *dashstreampb.DashStreamMessage_Checkpoint:
		a.checkpoint(p.Checkpoint)
	}
}

func (r *Replayer) thread(id string) *ThreadState {
	ts, ok := r.threads[id]
	if !ok {
		ts = &ThreadState{ID: id, ByType: map[dashstreampb.MessageType]int{}}
		r.threads[id] = ts
		r.order = append(r.order, id)
	}
	return ts
}

func (a *applyCtx) checkHeader(h *dashstreampb.Header, typ dashstreampb.MessageType) {
	if h.GetType() != typ {
		a.report(ProblemHeader, "header type %s but message is %s", h.GetType(), typ)
	}
	if v := h.GetSchemaVersion(); v != 1 {
		a.report(ProblemHeader, "schema_version %d, want 1", v)
	}
	if n := len(h.GetMessageId()); n != 16 {
		a.report(ProblemHeader, "message_id is %d bytes, want 16", n)
	}
	switch n := utf8.RuneCountInString(a.th); {
	case n == 0:
		a.report(ProblemHeader, "empty thread_id")
	case n > maxThreadIDChars:
		a.report(ProblemHeader, "thread_id has %d characters, limit %d", n, maxThreadIDChars)
	case !utf8.ValidString(a.th):
		a.report(ProblemHeader, "thread_id is not valid UTF-8")
	}
	if t := h.GetTimestampUs(); t < minTimestampUs || t > maxTimestampUs {
		a.report(ProblemHeader, "timestamp_us %d is not microseconds between 2000 and 2200", t)
	}
}

// checkSequence reports sequence findings and whether the message is a
// duplicate of the previous one.
func (a *applyCtx) checkSequence(h *dashstreampb.Header) (duplicate bool) {
	ts, seq := a.ts, h.GetSequence()
	switch {
	case seq == 0:
		a.report(ProblemSequence, "sequence 0 is never used")
	case ts.Messages == 0:
		// The first message of a thread may start anywhere.
	case seq == ts.Sequence && bytes.Equal(h.GetMessageId(), ts.lastMessageID) && len(ts.lastMessageID) > 0:
		ts.Duplicates++
		a.report(ProblemDuplicate, "message %s repeated", hex.EncodeToString(ts.lastMessageID))
		return true
	case seq <= ts.Sequence:
		a.report(ProblemSequence, "sequence %d after %d", seq, ts.Sequence)
	case seq > ts.Sequence+1:
		ts.Gaps++
		a.report(ProblemGap, "expected %d, %d missing", ts.Sequence+1, seq-ts.Sequence-1)
	}
	ts.Sequence = max(ts.Sequence, seq)
	ts.lastMessageID = slices.Clone(h.GetMessageId())
	return false
}

// event replaces the state at GRAPH_START, as consumers do.
func (a *applyCtx) event(ev *dashstreampb.Event) {
	a.ts.Events++
	if ev.GetEventType() != dashstreampb.EventType_EVENT_TYPE_GRAPH_START {
		return
	}
	a.ts.Runs++
	attr, ok := ev.GetAttributes()["initial_state_json"]
	if !ok {
		a.setState(NewObject(0))
		return
	}
	s, isString := attr.GetValue().(*dashstreampb.AttributeValue_StringValue)
	if !isString {
		a.report(ProblemInitialState, "initial_state_json is not a string attribute")
		a.loseState()
		return
	}
	v, err := ParseJSONString(s.StringValue, ParseOptions{})
	if err != nil {
		a.report(ProblemInitialState, "initial_state_json: %v", err)
		a.loseState()
		return
	}
	a.setState(v)
}

func (a *applyCtx) setState(v any) {
	a.ts.State, a.ts.StateKnown, a.ts.unknownReported = v, true, false
}

func (a *applyCtx) loseState() {
	a.ts.State, a.ts.StateKnown = nil, false
}

func (a *applyCtx) stateDiff(sd *dashstreampb.StateDiff) {
	ts := a.ts
	ts.Diffs++
	full := len(sd.GetFullState()) > 0
	switch {
	case full:
		// A full state is self-contained: it restarts the checkpoint chain
		// from whatever base its producer declares. That is how a thread
		// resyncs after a loss and how it continues on another collector
		// instance (SPEC §8), whose session never saw the old checkpoints.
		ts.LastCheckpointID = bytes.Clone(sd.GetBaseCheckpointId())
	case !bytes.Equal(sd.GetBaseCheckpointId(), ts.LastCheckpointID):
		a.report(ProblemBaseCheckpoint, "base_checkpoint_id %s, last checkpoint %s",
			idString(sd.GetBaseCheckpointId()), idString(ts.LastCheckpointID))
	}
	switch {
	case full:
		ts.FullStates++
		if len(sd.GetOperations()) > 0 {
			a.report(ProblemFullState, "full_state together with %d operations", len(sd.GetOperations()))
		}
		v, err := ParseJSON(sd.GetFullState())
		if err != nil {
			a.report(ProblemFullState, "full_state: %v", err)
			a.loseState()
			return
		}
		a.setState(v)
	case !ts.StateKnown:
		ts.Unverified++
		if !ts.unknownReported {
			ts.unknownReported = true
			a.report(ProblemUnknownBase, "patch of %d operations with no known state", len(sd.GetOperations()))
		}
		return
	default:
		p, err := PatchFromProto(sd.GetOperations())
		if err == nil {
			var next any
			if next, err = Apply(ts.State, p); err == nil {
				a.setState(next)
			}
		}
		if err != nil {
			a.report(ProblemPatch, "%v", err)
			ts.unknownReported = true // this report stands for the desync
			a.loseState()
			return
		}
	}
	a.checkHash(sd.GetStateHash())
}

func (a *applyCtx) checkHash(got []byte) {
	if len(got) != sha256.Size {
		a.report(ProblemStateHash, "state_hash is %d bytes, want %d", len(got), sha256.Size)
		return
	}
	if UISkipsVerification(a.ts.State) {
		return
	}
	if want := StateHash(a.ts.State); !bytes.Equal(got, want[:]) {
		a.report(ProblemStateHash, "state_hash %s, replayed state hashes to %s",
			hex.EncodeToString(got), hex.EncodeToString(want[:]))
	}
}

func (a *applyCtx) checkpoint(cp *dashstreampb.Checkpoint) {
	ts := a.ts
	ts.Checkpoints++
	id := cp.GetCheckpointId()
	if len(id) != 16 {
		a.report(ProblemCheckpoint, "checkpoint_id is %d bytes, want 16", len(id))
	}
	// Later diffs reference this checkpoint whatever its flaws.
	ts.LastCheckpointID = slices.Clone(id)

	if ci := cp.GetCompressionInfo(); ci.GetType() != dashstreampb.CompressionType_COMPRESSION_NONE {
		a.report(ProblemCheckpoint, "state compressed with %s cannot be verified", ci.GetType())
		return
	}
	if st := cp.GetStateType(); st != "application/json" {
		a.report(ProblemCheckpoint, "state_type %q, want application/json", st)
	}
	if sum := sha256.Sum256(cp.GetState()); !bytes.Equal(cp.GetChecksum(), sum[:]) {
		a.report(ProblemCheckpoint, "checksum %s, state hashes to %s",
			hex.EncodeToString(cp.GetChecksum()), hex.EncodeToString(sum[:]))
	}
	v, err := ParseJSON(cp.GetState())
	if err != nil {
		a.report(ProblemCheckpoint, "state: %v", err)
		return
	}
	if !ts.StateKnown {
		a.setState(v) // a consumer can resume from a checkpoint
		return
	}
	if !Equal(v, ts.State) {
		a.report(ProblemCheckpoint, "state differs from the replayed state")
	}
}

func idString(id []byte) string {
	if len(id) == 0 {
		return "(none)"
	}
	return hex.EncodeToString(id)
}
