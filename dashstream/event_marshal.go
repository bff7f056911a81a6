package dashstream

import (
	"math"
	"slices"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
)

// Events are most of the stream, and the generic deterministic marshaller
// spends most of its time sorting the attribute map through reflection. This
// file writes the same bytes by hand for the Events it fully understands:
// Header, Event scalars and an attribute map of scalar, string and bytes
// values. Anything else (array or map attribute values, nil map values,
// unknown fields, invalid UTF-8, which proto reports as an error) is left to
// proto.MarshalOptions{Deterministic: true}; the equivalence tests in
// event_marshal_test.go hold the two to identical bytes.

// Wire types and field tags (field number << 3 | wire type) of the fields
// written here.
const (
	wireVarint  = 0
	wireFixed64 = 1
	wireBytes   = 2

	tagMsgEvent = 1<<3 | wireBytes // DashStreamMessage.event

	tagEvHeader   = 1<<3 | wireBytes
	tagEvType     = 2<<3 | wireVarint
	tagEvNodeID   = 3<<3 | wireBytes
	tagEvAttr     = 4<<3 | wireBytes
	tagEvDuration = 5<<3 | wireVarint
	tagEvLLMReqID = 6<<3 | wireBytes

	tagHdrMessageID   = 1<<3 | wireBytes
	tagHdrTimestamp   = 2<<3 | wireVarint
	tagHdrTenant      = 3<<3 | wireBytes
	tagHdrThread      = 4<<3 | wireBytes
	tagHdrSequence    = 5<<3 | wireVarint
	tagHdrType        = 6<<3 | wireVarint
	tagHdrParentID    = 7<<3 | wireBytes
	tagHdrCompression = 8<<3 | wireVarint
	tagHdrSchema      = 9<<3 | wireVarint

	tagMapKey   = 1<<3 | wireBytes
	tagMapValue = 2<<3 | wireBytes

	tagAttrString = 1<<3 | wireBytes
	tagAttrInt    = 2<<3 | wireVarint
	tagAttrFloat  = 3<<3 | wireFixed64
	tagAttrBool   = 4<<3 | wireVarint
	tagAttrBytes  = 5<<3 | wireBytes
)

// eventAttrsOnStack is how many attributes are sorted without a heap
// allocation; the translator's events carry at most seven.
const eventAttrsOnStack = 16

// attrEntry is one attribute map entry with its precomputed sizes.
type attrEntry struct {
	key   string
	val   *dashstreampb.AttributeValue
	vsize int // size of the AttributeValue message
	esize int // size of the map entry message (key + value)
}

// marshalEventFast returns lead followed by the deterministic protobuf
// encoding of msg, in one allocation of exactly that size, when msg is an
// Event the fast path covers; ok is false when the caller must marshal it
// with proto instead. lead is only read (a frame marker, or nothing).
func marshalEventFast(lead []byte, msg *dashstreampb.DashStreamMessage) (out []byte, ok bool) {
	w, isEvent := msg.GetMessage().(*dashstreampb.DashStreamMessage_Event)
	if !isEvent || w.Event == nil || len(msg.ProtoReflect().GetUnknown()) != 0 {
		return nil, false
	}
	ev := w.Event
	if len(ev.ProtoReflect().GetUnknown()) != 0 {
		return nil, false
	}
	h := ev.Header
	hsize := 0
	if h != nil {
		var hok bool
		if hsize, hok = sizeHeader(h); !hok {
			return nil, false
		}
	}
	if !utf8.ValidString(ev.NodeId) || !utf8.ValidString(ev.LlmRequestId) {
		return nil, false
	}

	var stack [eventAttrsOnStack]attrEntry
	entries := stack[:0]
	if len(ev.Attributes) > eventAttrsOnStack {
		entries = make([]attrEntry, 0, len(ev.Attributes))
	}
	for k, v := range ev.Attributes {
		vs, vok := sizeAttrValue(v)
		if !vok || !utf8.ValidString(k) {
			return nil, false
		}
		es := 1 + protowire.SizeBytes(len(k)) + 1 + protowire.SizeBytes(vs)
		entries = append(entries, attrEntry{key: k, val: v, vsize: vs, esize: es})
	}
	slices.SortFunc(entries, func(x, y attrEntry) int { return strings.Compare(x.key, y.key) })

	esize := 0
	if h != nil {
		esize += 1 + protowire.SizeBytes(hsize)
	}
	if ev.EventType != 0 {
		esize += 1 + protowire.SizeVarint(uint64(int64(ev.EventType)))
	}
	if ev.NodeId != "" {
		esize += 1 + protowire.SizeBytes(len(ev.NodeId))
	}
	for i := range entries {
		esize += 1 + protowire.SizeBytes(entries[i].esize)
	}
	if ev.DurationUs != 0 {
		esize += 1 + protowire.SizeVarint(uint64(ev.DurationUs))
	}
	if ev.LlmRequestId != "" {
		esize += 1 + protowire.SizeBytes(len(ev.LlmRequestId))
	}
	total := 1 + protowire.SizeBytes(esize)

	b := make([]byte, len(lead), len(lead)+total)
	copy(b, lead)
	b = append(b, tagMsgEvent)
	b = protowire.AppendVarint(b, uint64(esize))
	if h != nil {
		b = append(b, tagEvHeader)
		b = protowire.AppendVarint(b, uint64(hsize))
		b = appendHeader(b, h)
	}
	if ev.EventType != 0 {
		b = append(b, tagEvType)
		b = protowire.AppendVarint(b, uint64(int64(ev.EventType)))
	}
	if ev.NodeId != "" {
		b = append(b, tagEvNodeID)
		b = protowire.AppendString(b, ev.NodeId)
	}
	for i := range entries {
		en := &entries[i]
		b = append(b, tagEvAttr)
		b = protowire.AppendVarint(b, uint64(en.esize))
		b = append(b, tagMapKey)
		b = protowire.AppendString(b, en.key)
		b = append(b, tagMapValue)
		b = protowire.AppendVarint(b, uint64(en.vsize))
		b = appendAttrValue(b, en.val)
	}
	if ev.DurationUs != 0 {
		b = append(b, tagEvDuration)
		b = protowire.AppendVarint(b, uint64(ev.DurationUs))
	}
	if ev.LlmRequestId != "" {
		b = append(b, tagEvLLMReqID)
		b = protowire.AppendString(b, ev.LlmRequestId)
	}
	return b, true
}

// sizeHeader returns the encoded size of h, or false when h needs the
// generic marshaller (unknown fields, invalid UTF-8).
func sizeHeader(h *dashstreampb.Header) (int, bool) {
	if len(h.ProtoReflect().GetUnknown()) != 0 || !utf8.ValidString(h.TenantId) || !utf8.ValidString(h.ThreadId) {
		return 0, false
	}
	n := 0
	if len(h.MessageId) != 0 {
		n += 1 + protowire.SizeBytes(len(h.MessageId))
	}
	if h.TimestampUs != 0 {
		n += 1 + protowire.SizeVarint(uint64(h.TimestampUs))
	}
	if h.TenantId != "" {
		n += 1 + protowire.SizeBytes(len(h.TenantId))
	}
	if h.ThreadId != "" {
		n += 1 + protowire.SizeBytes(len(h.ThreadId))
	}
	if h.Sequence != 0 {
		n += 1 + protowire.SizeVarint(h.Sequence)
	}
	if h.Type != 0 {
		n += 1 + protowire.SizeVarint(uint64(int64(h.Type)))
	}
	if len(h.ParentId) != 0 {
		n += 1 + protowire.SizeBytes(len(h.ParentId))
	}
	if h.Compression != 0 {
		n += 1 + protowire.SizeVarint(uint64(int64(h.Compression)))
	}
	if h.SchemaVersion != 0 {
		n += 1 + protowire.SizeVarint(uint64(h.SchemaVersion))
	}
	return n, true
}

// appendHeader writes the fields sizeHeader counted, in field order.
func appendHeader(b []byte, h *dashstreampb.Header) []byte {
	if len(h.MessageId) != 0 {
		b = append(b, tagHdrMessageID)
		b = protowire.AppendBytes(b, h.MessageId)
	}
	if h.TimestampUs != 0 {
		b = append(b, tagHdrTimestamp)
		b = protowire.AppendVarint(b, uint64(h.TimestampUs))
	}
	if h.TenantId != "" {
		b = append(b, tagHdrTenant)
		b = protowire.AppendString(b, h.TenantId)
	}
	if h.ThreadId != "" {
		b = append(b, tagHdrThread)
		b = protowire.AppendString(b, h.ThreadId)
	}
	if h.Sequence != 0 {
		b = append(b, tagHdrSequence)
		b = protowire.AppendVarint(b, h.Sequence)
	}
	if h.Type != 0 {
		b = append(b, tagHdrType)
		b = protowire.AppendVarint(b, uint64(int64(h.Type)))
	}
	if len(h.ParentId) != 0 {
		b = append(b, tagHdrParentID)
		b = protowire.AppendBytes(b, h.ParentId)
	}
	if h.Compression != 0 {
		b = append(b, tagHdrCompression)
		b = protowire.AppendVarint(b, uint64(int64(h.Compression)))
	}
	if h.SchemaVersion != 0 {
		b = append(b, tagHdrSchema)
		b = protowire.AppendVarint(b, uint64(h.SchemaVersion))
	}
	return b
}

// sizeAttrValue returns the encoded size of v, or false when v needs the
// generic marshaller. A set oneof member is encoded even when zero; an
// unset oneof is an empty message.
func sizeAttrValue(v *dashstreampb.AttributeValue) (int, bool) {
	if v == nil || len(v.ProtoReflect().GetUnknown()) != 0 {
		return 0, false
	}
	switch x := v.Value.(type) {
	case nil:
		return 0, true
	case *dashstreampb.AttributeValue_StringValue:
		if !utf8.ValidString(x.StringValue) {
			return 0, false
		}
		return 1 + protowire.SizeBytes(len(x.StringValue)), true
	case *dashstreampb.AttributeValue_IntValue:
		return 1 + protowire.SizeVarint(uint64(x.IntValue)), true
	case *dashstreampb.AttributeValue_FloatValue:
		return 1 + 8, true
	case *dashstreampb.AttributeValue_BoolValue:
		return 1 + 1, true
	case *dashstreampb.AttributeValue_BytesValue:
		return 1 + protowire.SizeBytes(len(x.BytesValue)), true
	default:
		return 0, false
	}
}

// appendAttrValue writes a value sizeAttrValue accepted.
func appendAttrValue(b []byte, v *dashstreampb.AttributeValue) []byte {
	switch x := v.Value.(type) {
	case *dashstreampb.AttributeValue_StringValue:
		b = append(b, tagAttrString)
		b = protowire.AppendString(b, x.StringValue)
	case *dashstreampb.AttributeValue_IntValue:
		b = append(b, tagAttrInt)
		b = protowire.AppendVarint(b, uint64(x.IntValue))
	case *dashstreampb.AttributeValue_FloatValue:
		b = append(b, tagAttrFloat)
		b = protowire.AppendFixed64(b, math.Float64bits(x.FloatValue))
	case *dashstreampb.AttributeValue_BoolValue:
		b = append(b, tagAttrBool)
		b = protowire.AppendVarint(b, protowire.EncodeBool(x.BoolValue))
	case *dashstreampb.AttributeValue_BytesValue:
		b = append(b, tagAttrBytes)
		b = protowire.AppendBytes(b, x.BytesValue)
	}
	return b
}
