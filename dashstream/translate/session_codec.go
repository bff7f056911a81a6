package translate

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// The saved sessions' encoding: a version byte, then protobuf wire fields,
// so a later version can add fields that this one skips:
//
//	sessions = version(1) { 1: session }
//	session  = 1: thread_id, 2: next_sequence, 3: state (JSON),
//	           4: flags (1 state sent, 2 resync, 4 has state),
//	           5: last_checkpoint_id, 6: diffs_since_checkpoint, 7: run
//	run      = 1: id, 2: flags (1 started, 2 ended, 4 has step, 8 cursor
//	           set, 16 cursor failed, 32 has state position), 3: step
//	           (zigzag), 4: cursor start, 5: node (repeated),
//	           6: max state position (zigzag), 7: max state time
//
// It is read back from disk, so it is decoded as untrusted input: bounded
// field sizes, every session checked, never a panic.

// sessionsEncodingVersion is the version byte marshalSessions writes.
const sessionsEncodingVersion byte = 1

// Bounds of one decoded session.
const (
	maxSavedThreadID   = 4096
	maxSavedCheckpoint = 64
	maxSavedNodes      = 256
)

// ErrCorruptSessions: saved sessions that cannot be decoded.
var ErrCorruptSessions = errors.New("translate: corrupt saved sessions")

const (
	fieldSession = 1

	fieldSavedThread     = 1
	fieldSavedNextSeq    = 2
	fieldSavedState      = 3
	fieldSavedFlags      = 4
	fieldSavedCheckpoint = 5
	fieldSavedDiffs      = 6
	fieldSavedRun        = 7

	fieldRunID       = 1
	fieldRunFlags    = 2
	fieldRunStep     = 3
	fieldRunStart    = 4
	fieldRunNode     = 5
	fieldRunStatePos = 6
	fieldRunStateTS  = 7

	runStarted     = 1
	runEnded       = 2
	runHasStep     = 4
	runHave        = 8
	runFailed      = 16
	runHasStatePos = 32

	flagStateSent = 1
	flagResync    = 2
	flagHasState  = 4
)

// marshalSessions encodes sessions in order until the next one would take
// the encoding past maxBytes (0 = no bound); it returns the encoding and
// how many sessions it holds.
func marshalSessions(sessions []savedSession, maxBytes int) ([]byte, int) {
	buf := []byte{sessionsEncodingVersion}
	var one []byte
	n := 0
	for i := range sessions {
		one = appendSavedSession(one[:0], &sessions[i])
		size := protowire.SizeTag(fieldSession) + protowire.SizeBytes(len(one))
		if maxBytes > 0 && len(buf)+size > maxBytes {
			break
		}
		buf = protowire.AppendTag(buf, fieldSession, protowire.BytesType)
		buf = protowire.AppendBytes(buf, one)
		n++
	}
	return buf, n
}

func appendSavedSession(b []byte, s *savedSession) []byte {
	b = protowire.AppendTag(b, fieldSavedThread, protowire.BytesType)
	b = protowire.AppendString(b, s.ThreadID)
	b = protowire.AppendTag(b, fieldSavedNextSeq, protowire.VarintType)
	b = protowire.AppendVarint(b, s.NextSequence)
	var flags uint64
	if s.StateSent {
		flags |= flagStateSent
	}
	if s.Resync {
		flags |= flagResync
	}
	if s.State != nil {
		flags |= flagHasState
		b = protowire.AppendTag(b, fieldSavedState, protowire.BytesType)
		b = protowire.AppendBytes(b, s.State)
	}
	b = protowire.AppendTag(b, fieldSavedFlags, protowire.VarintType)
	b = protowire.AppendVarint(b, flags)
	if len(s.LastCheckpoint) > 0 {
		b = protowire.AppendTag(b, fieldSavedCheckpoint, protowire.BytesType)
		b = protowire.AppendBytes(b, s.LastCheckpoint)
	}
	b = protowire.AppendTag(b, fieldSavedDiffs, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(max(s.DiffsSinceCheckpoint, 0)))
	var rb []byte
	for i := range s.Runs {
		rb = appendSavedRun(rb[:0], &s.Runs[i])
		b = protowire.AppendTag(b, fieldSavedRun, protowire.BytesType)
		b = protowire.AppendBytes(b, rb)
	}
	return b
}

func appendSavedRun(b []byte, r *savedRun) []byte {
	var flags uint64
	for _, f := range []struct {
		bit uint64
		on  bool
	}{{runStarted, r.Started}, {runEnded, r.Ended}, {runHasStep, r.Last.hasStep},
		{runHave, r.Last.have}, {runFailed, r.Last.failed}, {runHasStatePos, r.HasStatePos}} {
		if f.on {
			flags |= f.bit
		}
	}
	b = protowire.AppendTag(b, fieldRunID, protowire.BytesType)
	b = protowire.AppendString(b, r.ID)
	b = protowire.AppendTag(b, fieldRunFlags, protowire.VarintType)
	b = protowire.AppendVarint(b, flags)
	b = protowire.AppendTag(b, fieldRunStep, protowire.VarintType)
	b = protowire.AppendVarint(b, protowire.EncodeZigZag(r.Last.step))
	b = protowire.AppendTag(b, fieldRunStart, protowire.VarintType)
	b = protowire.AppendVarint(b, r.Last.start)
	for _, n := range r.Last.nodes {
		b = protowire.AppendTag(b, fieldRunNode, protowire.BytesType)
		b = protowire.AppendString(b, n)
	}
	b = protowire.AppendTag(b, fieldRunStatePos, protowire.VarintType)
	b = protowire.AppendVarint(b, protowire.EncodeZigZag(r.MaxStatePos))
	b = protowire.AppendTag(b, fieldRunStateTS, protowire.VarintType)
	return protowire.AppendVarint(b, r.MaxStateTime)
}

// parseSavedRun decodes one run; ok is false when it is not usable.
func parseSavedRun(b []byte) (r savedRun, ok bool, err error) {
	var flags uint64
	ok = true
	err = eachSavedField(b, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) {
		switch {
		case num == fieldRunID && typ == protowire.BytesType:
			ok = ok && len(v) <= maxSavedThreadID
			r.ID = string(v)
		case num == fieldRunNode && typ == protowire.BytesType:
			ok = ok && len(v) <= maxSavedThreadID && len(r.Last.nodes) < maxSavedNodes
			if len(r.Last.nodes) < maxSavedNodes {
				r.Last.nodes = append(r.Last.nodes, string(v))
			}
		case num == fieldRunFlags && typ == protowire.VarintType:
			flags = x
		case num == fieldRunStep && typ == protowire.VarintType:
			r.Last.step = protowire.DecodeZigZag(x)
		case num == fieldRunStart && typ == protowire.VarintType:
			r.Last.start = x
		case num == fieldRunStatePos && typ == protowire.VarintType:
			r.MaxStatePos = protowire.DecodeZigZag(x)
		case num == fieldRunStateTS && typ == protowire.VarintType:
			r.MaxStateTime = x
		}
	})
	r.Started, r.Ended = flags&runStarted != 0, flags&runEnded != 0
	r.Last.hasStep, r.Last.have, r.Last.failed = flags&runHasStep != 0, flags&runHave != 0, flags&runFailed != 0
	r.HasStatePos = flags&runHasStatePos != 0
	return r, ok && r.ID != "", err
}

// eachSavedField calls fn for each field of b: v for bytes fields, x for
// varints; other wire types are skipped.
func eachSavedField(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte, x uint64)) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("%w: %v", ErrCorruptSessions, protowire.ParseError(n))
		}
		b = b[n:]
		var m int
		switch typ {
		case protowire.BytesType:
			var v []byte
			v, m = protowire.ConsumeBytes(b)
			if m >= 0 {
				fn(num, typ, v, 0)
			}
		case protowire.VarintType:
			var x uint64
			x, m = protowire.ConsumeVarint(b)
			if m >= 0 {
				fn(num, typ, nil, x)
			}
		default:
			m = protowire.ConsumeFieldValue(num, typ, b)
		}
		if m < 0 {
			return fmt.Errorf("%w: %v", ErrCorruptSessions, protowire.ParseError(m))
		}
		b = b[m:]
	}
	return nil
}

// unmarshalSessions decodes what marshalSessions wrote. A frame that does
// not decode fails the whole (ErrCorruptSessions); a session that decodes
// but is not usable (no thread, sequence 0, oversized fields, a state that
// is not a JSON object) is left out and counted in skipped. The returned
// sessions never alias data.
func unmarshalSessions(data []byte, maxStateBytes int) (out []savedSession, skipped int, err error) {
	if len(data) == 0 {
		return nil, 0, fmt.Errorf("%w: empty", ErrCorruptSessions)
	}
	if data[0] != sessionsEncodingVersion {
		return nil, 0, fmt.Errorf("%w: unknown version %d", ErrCorruptSessions, data[0])
	}
	b := data[1:]
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, 0, fmt.Errorf("%w: %v", ErrCorruptSessions, protowire.ParseError(n))
		}
		b = b[n:]
		if num == fieldSession && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return nil, 0, fmt.Errorf("%w: %v", ErrCorruptSessions, protowire.ParseError(m))
			}
			b = b[m:]
			s, ok, err := parseSavedSession(v, maxStateBytes)
			if err != nil {
				return nil, 0, err
			}
			if ok {
				out = append(out, s)
			} else {
				skipped++
			}
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return nil, 0, fmt.Errorf("%w: %v", ErrCorruptSessions, protowire.ParseError(m))
		}
		b = b[m:]
	}
	return out, skipped, nil
}

// parseSavedSession decodes one session; ok is false when it decodes but is
// not usable.
func parseSavedSession(b []byte, maxStateBytes int) (s savedSession, ok bool, err error) {
	var flags uint64
	var state []byte
	usable := true
	var runErr error
	err = eachSavedField(b, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) {
		switch {
		case num == fieldSavedThread && typ == protowire.BytesType:
			usable = usable && len(v) <= maxSavedThreadID
			s.ThreadID = string(v)
		case num == fieldSavedState && typ == protowire.BytesType:
			state = v
		case num == fieldSavedCheckpoint && typ == protowire.BytesType:
			usable = usable && len(v) <= maxSavedCheckpoint
			s.LastCheckpoint = append([]byte(nil), v...)
		case num == fieldSavedRun && typ == protowire.BytesType:
			r, rok, err := parseSavedRun(v)
			if err != nil {
				runErr = err
				return
			}
			usable = usable && rok && len(s.Runs) < maxRunsPerSession
			if rok && len(s.Runs) < maxRunsPerSession {
				s.Runs = append(s.Runs, r)
			}
		case num == fieldSavedNextSeq && typ == protowire.VarintType:
			s.NextSequence = x
		case num == fieldSavedFlags && typ == protowire.VarintType:
			flags = x
		case num == fieldSavedDiffs && typ == protowire.VarintType:
			usable = usable && x <= 1<<30
			s.DiffsSinceCheckpoint = int(min(x, 1<<30))
		}
	})
	if err == nil {
		err = runErr
	}
	if err != nil {
		return s, false, err
	}
	s.StateSent = flags&flagStateSent != 0
	s.Resync = flags&flagResync != 0
	if flags&flagHasState != 0 {
		if len(state) > maxStateBytes || !jsonObjectText(state) {
			usable = false
		}
		s.State = append([]byte{}, state...)
	}
	if s.ThreadID == "" || s.NextSequence == 0 {
		usable = false
	}
	return s, usable, nil
}

// jsonObjectText reports whether b looks like a JSON object (full parsing
// happens when the state is rebuilt; one that fails then is unknown).
func jsonObjectText(b []byte) bool {
	i, j := 0, len(b)-1
	for i <= j && isSpace(b[i]) {
		i++
	}
	for j >= i && isSpace(b[j]) {
		j--
	}
	return j > i && b[i] == '{' && b[j] == '}'
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
