package dashstream

import (
	"slices"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
)

// StateDiffs and Checkpoints are the other messages of every node span.
// proto's deterministic marshaller sizes and writes them through
// reflection, and sorts a Checkpoint's metadata map through reflection
// (allocating for every key and value). This file writes the same bytes
// by hand, as event_marshal.go does for Events, for the messages it fully
// understands; anything else (unknown fields, a nil operation, invalid
// UTF-8, which proto reports as an error, compression info) is left to
// proto. state_marshal_test.go holds the two to identical bytes.

// Field tags of the messages written here.
const (
	tagMsgStateDiff  = 2<<3 | wireBytes // DashStreamMessage.state_diff
	tagMsgCheckpoint = 5<<3 | wireBytes // DashStreamMessage.checkpoint

	tagSDHeader    = 1<<3 | wireBytes
	tagSDBase      = 2<<3 | wireBytes
	tagSDOperation = 3<<3 | wireBytes
	tagSDHash      = 4<<3 | wireBytes
	tagSDFull      = 5<<3 | wireBytes

	tagOpOp       = 1<<3 | wireVarint
	tagOpPath     = 2<<3 | wireBytes
	tagOpValue    = 3<<3 | wireBytes
	tagOpFrom     = 4<<3 | wireBytes
	tagOpEncoding = 5<<3 | wireVarint

	tagCPHeader   = 1<<3 | wireBytes
	tagCPID       = 2<<3 | wireBytes
	tagCPState    = 3<<3 | wireBytes
	tagCPType     = 4<<3 | wireBytes
	tagCPChecksum = 5<<3 | wireBytes
	tagCPURI      = 6<<3 | wireBytes
	tagCPMetadata = 8<<3 | wireBytes
)

// metaOnStack is how many metadata entries are sorted without a heap
// allocation; the translator's checkpoints carry four.
const metaOnStack = 8

// metaEntry is one metadata map entry with its entry message size.
type metaEntry struct {
	key, val string
	esize    int
}

// sizeStateFast returns the deterministic encoding's size of a StateDiff
// or Checkpoint message the hand-written encoder covers; ok is false for
// any other message (the caller uses proto).
func sizeStateFast(msg *dashstreampb.DashStreamMessage) (n int, ok bool) {
	var inner int
	switch m := msg.GetMessage().(type) {
	case *dashstreampb.DashStreamMessage_StateDiff:
		inner, ok = sizeStateDiff(m.StateDiff)
	case *dashstreampb.DashStreamMessage_Checkpoint:
		var stack [metaOnStack]metaEntry
		inner, _, ok = sizeCheckpoint(m.Checkpoint, stack[:0])
	}
	if !ok || len(msg.ProtoReflect().GetUnknown()) != 0 {
		return 0, false
	}
	return 1 + protowire.SizeBytes(inner), true
}

// appendStateFast appends the deterministic encoding of msg to b; ok is
// false (b unchanged) when sizeStateFast does not cover msg.
func appendStateFast(b []byte, msg *dashstreampb.DashStreamMessage) (out []byte, ok bool) {
	if len(msg.ProtoReflect().GetUnknown()) != 0 {
		return b, false
	}
	switch m := msg.GetMessage().(type) {
	case *dashstreampb.DashStreamMessage_StateDiff:
		inner, ok := sizeStateDiff(m.StateDiff)
		if !ok {
			return b, false
		}
		b = slices.Grow(b, 1+protowire.SizeBytes(inner))
		b = append(b, tagMsgStateDiff)
		b = protowire.AppendVarint(b, uint64(inner))
		return appendStateDiff(b, m.StateDiff), true
	case *dashstreampb.DashStreamMessage_Checkpoint:
		var stack [metaOnStack]metaEntry
		inner, meta, ok := sizeCheckpoint(m.Checkpoint, stack[:0])
		if !ok {
			return b, false
		}
		b = slices.Grow(b, 1+protowire.SizeBytes(inner))
		b = append(b, tagMsgCheckpoint)
		b = protowire.AppendVarint(b, uint64(inner))
		return appendCheckpoint(b, m.Checkpoint, meta), true
	}
	return b, false
}

// sizeBytesField is the size of a bytes or string field written when
// non-empty (proto3 without presence).
func sizeBytesField(n int) int {
	if n == 0 {
		return 0
	}
	return 1 + protowire.SizeBytes(n)
}

func sizeStateDiff(sd *dashstreampb.StateDiff) (int, bool) {
	if sd == nil || len(sd.ProtoReflect().GetUnknown()) != 0 {
		return 0, false
	}
	n := 0
	if sd.Header != nil {
		hs, ok := sizeHeader(sd.Header)
		if !ok {
			return 0, false
		}
		n += 1 + protowire.SizeBytes(hs)
	}
	n += sizeBytesField(len(sd.BaseCheckpointId))
	for _, op := range sd.Operations {
		os, ok := sizeDiffOp(op)
		if !ok {
			return 0, false
		}
		n += 1 + protowire.SizeBytes(os)
	}
	n += sizeBytesField(len(sd.StateHash))
	n += sizeBytesField(len(sd.FullState))
	return n, true
}

func appendStateDiff(b []byte, sd *dashstreampb.StateDiff) []byte {
	b = appendHeaderField(b, tagSDHeader, sd.Header)
	b = appendBytesField(b, tagSDBase, sd.BaseCheckpointId)
	for _, op := range sd.Operations {
		os, _ := sizeDiffOp(op)
		b = append(b, tagSDOperation)
		b = protowire.AppendVarint(b, uint64(os))
		b = appendDiffOp(b, op)
	}
	b = appendBytesField(b, tagSDHash, sd.StateHash)
	return appendBytesField(b, tagSDFull, sd.FullState)
}

// sizeDiffOp: the optional fields are written whenever set, even to their
// zero value (SPEC: op and encoding are always on the wire).
func sizeDiffOp(op *dashstreampb.DiffOperation) (int, bool) {
	if op == nil || len(op.ProtoReflect().GetUnknown()) != 0 {
		return 0, false
	}
	n := 0
	if op.Op != nil {
		n += 1 + protowire.SizeVarint(uint64(int64(*op.Op)))
	}
	if op.Path != nil {
		if !utf8.ValidString(*op.Path) {
			return 0, false
		}
		n += 1 + protowire.SizeBytes(len(*op.Path))
	}
	n += sizeBytesField(len(op.Value))
	if op.From != nil {
		if !utf8.ValidString(*op.From) {
			return 0, false
		}
		n += 1 + protowire.SizeBytes(len(*op.From))
	}
	if op.Encoding != nil {
		n += 1 + protowire.SizeVarint(uint64(int64(*op.Encoding)))
	}
	return n, true
}

func appendDiffOp(b []byte, op *dashstreampb.DiffOperation) []byte {
	if op.Op != nil {
		b = append(b, tagOpOp)
		b = protowire.AppendVarint(b, uint64(int64(*op.Op)))
	}
	if op.Path != nil {
		b = append(b, tagOpPath)
		b = protowire.AppendString(b, *op.Path)
	}
	b = appendBytesField(b, tagOpValue, op.Value)
	if op.From != nil {
		b = append(b, tagOpFrom)
		b = protowire.AppendString(b, *op.From)
	}
	if op.Encoding != nil {
		b = append(b, tagOpEncoding)
		b = protowire.AppendVarint(b, uint64(int64(*op.Encoding)))
	}
	return b
}

// sizeCheckpoint also returns the metadata entries sorted by key (the
// deterministic order), appended to meta.
func sizeCheckpoint(cp *dashstreampb.Checkpoint, meta []metaEntry) (int, []metaEntry, bool) {
	if cp == nil || cp.CompressionInfo != nil || len(cp.ProtoReflect().GetUnknown()) != 0 ||
		!utf8.ValidString(cp.StateType) || !utf8.ValidString(cp.StorageUri) {
		return 0, nil, false
	}
	n := 0
	if cp.Header != nil {
		hs, ok := sizeHeader(cp.Header)
		if !ok {
			return 0, nil, false
		}
		n += 1 + protowire.SizeBytes(hs)
	}
	n += sizeBytesField(len(cp.CheckpointId))
	n += sizeBytesField(len(cp.State))
	n += sizeBytesField(len(cp.StateType))
	n += sizeBytesField(len(cp.Checksum))
	n += sizeBytesField(len(cp.StorageUri))
	for k, v := range cp.Metadata {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return 0, nil, false
		}
		// Map entries write key and value even when empty.
		es := 1 + protowire.SizeBytes(len(k)) + 1 + protowire.SizeBytes(len(v))
		meta = append(meta, metaEntry{key: k, val: v, esize: es})
		n += 1 + protowire.SizeBytes(es)
	}
	slices.SortFunc(meta, func(x, y metaEntry) int { return strings.Compare(x.key, y.key) })
	return n, meta, true
}

func appendCheckpoint(b []byte, cp *dashstreampb.Checkpoint, meta []metaEntry) []byte {
	b = appendHeaderField(b, tagCPHeader, cp.Header)
	b = appendBytesField(b, tagCPID, cp.CheckpointId)
	b = appendBytesField(b, tagCPState, cp.State)
	if cp.StateType != "" {
		b = append(b, tagCPType)
		b = protowire.AppendString(b, cp.StateType)
	}
	b = appendBytesField(b, tagCPChecksum, cp.Checksum)
	if cp.StorageUri != "" {
		b = append(b, tagCPURI)
		b = protowire.AppendString(b, cp.StorageUri)
	}
	for i := range meta {
		m := &meta[i]
		b = append(b, tagCPMetadata)
		b = protowire.AppendVarint(b, uint64(m.esize))
		b = append(b, tagMapKey)
		b = protowire.AppendString(b, m.key)
		b = append(b, tagMapValue)
		b = protowire.AppendString(b, m.val)
	}
	return b
}

// appendBytesField writes a proto3 bytes field when it is not empty.
func appendBytesField(b []byte, tag byte, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	b = append(b, tag)
	return protowire.AppendBytes(b, v)
}

// appendHeaderField appends h as the message field tag (nothing when nil),
// the Header of a StateDiff or a Checkpoint.
func appendHeaderField(b []byte, tag byte, h *dashstreampb.Header) []byte {
	if h == nil {
		return b
	}
	hs, _ := sizeHeader(h)
	b = append(b, tag)
	b = protowire.AppendVarint(b, uint64(hs))
	return appendHeader(b, h)
}
