package dashstream

import (
	"errors"
	"fmt"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
)

// Record framing (SPEC §3 "Record value"): the first byte of a Kafka record
// value says how the DashStreamMessage that follows is stored.
const (
	// FrameNone is followed by the protobuf message as is.
	FrameNone byte = 0x00
	// FrameZstd is followed by exactly one zstd frame that declares its
	// content size and decompresses to the protobuf message.
	FrameZstd byte = 0x01
)

// MaxMessageBytes is the largest uncompressed protobuf message any DashStream
// consumer accepts (the Rust consumer rejects larger ones).
const MaxMessageBytes = 1 << 20

// DefaultCompressionThreshold is the protobuf size above which compression is
// attempted.
const DefaultCompressionThreshold = 512

// Errors returned (wrapped, with detail) by the codec. Callers tell them apart
// with errors.Is: a corrupt record is skipped, a too-large one is a size
// problem the producer must avoid.
var (
	ErrCorrupt        = errors.New("dashstream: corrupt record")
	ErrTooLarge       = errors.New("dashstream: message too large")
	ErrInvalidMessage = errors.New("dashstream: invalid message")
)

// maxZstdWindow bounds the history window a zstd frame may ask for; 8 MiB is
// what the zstd format recommends every decoder to support.
const maxZstdWindow = 8 << 20

// EncoderOptions configures an Encoder. The zero value disables compression;
// DefaultEncoderOptions gives what SPEC §3 prescribes.
type EncoderOptions struct {
	// Compression enables zstd frames for messages above the threshold.
	Compression bool
	// CompressionThreshold: only protobufs strictly larger than this many
	// bytes are compressed. 0 means DefaultCompressionThreshold.
	CompressionThreshold int
	// Level is the zstd encoder level; "" means DefaultZstdLevel.
	Level ZstdLevel
	// Window bounds how far back (in bytes) a zstd match may reach: 0 means
	// DefaultZstdWindow, else a power of two from MinZstdWindow to
	// MaxZstdWindow. Windows below the message size cost compression.
	Window int
}

// DefaultEncoderOptions returns compression on with a 512-byte threshold,
// DefaultZstdLevel and DefaultZstdWindow.
func DefaultEncoderOptions() EncoderOptions {
	return EncoderOptions{Compression: true, CompressionThreshold: DefaultCompressionThreshold,
		Level: DefaultZstdLevel, Window: DefaultZstdWindow}
}

// Validate reports the first invalid option.
func (o EncoderOptions) Validate() error {
	if o.CompressionThreshold < 0 {
		return fmt.Errorf("dashstream: compression threshold %d is negative", o.CompressionThreshold)
	}
	if err := o.Level.Validate(); err != nil {
		return fmt.Errorf("dashstream: %w", err)
	}
	if err := ValidateZstdWindow(o.Window); err != nil {
		return fmt.Errorf("dashstream: %w", err)
	}
	return nil
}

// Encoder turns messages into framed record values. It is safe for
// concurrent use on different messages.
type Encoder struct {
	compress  bool
	threshold int
	zenc      *zstd.Encoder
	marshal   proto.MarshalOptions
	// sized marshals right after a Size of the unchanged message.
	sized proto.MarshalOptions
	// pending recycles the protobuf of pending values once Finish has
	// made their record value (a new buffer either way).
	pending byteBufs
}

// NewEncoder validates the options and prepares the shared zstd encoder
// (newZstdEncoder says why one).
func NewEncoder(o EncoderOptions) (*Encoder, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.CompressionThreshold == 0 {
		o.CompressionThreshold = DefaultCompressionThreshold
	}
	e := &Encoder{
		compress:  o.Compression,
		threshold: o.CompressionThreshold,
		marshal:   proto.MarshalOptions{Deterministic: true},
		sized:     proto.MarshalOptions{Deterministic: true, UseCachedSize: true},
	}
	if o.Compression {
		zenc, err := newZstdEncoder(o.Level, o.Window)
		if err != nil {
			return nil, fmt.Errorf("dashstream: creating zstd encoder: %w", err)
		}
		e.zenc = zenc
	}
	return e, nil
}

// Encode marshals msg deterministically and frames it. When it compresses it
// sets the header's compression to ZSTD before marshaling; otherwise it sets
// it to NONE, so on return the header always matches the frame chosen.
// Encode mutates msg's header, so one message must not be encoded from two
// goroutines at once.
func (e *Encoder) Encode(msg *dashstreampb.DashStreamMessage) ([]byte, error) {
	v, err := e.EncodeLater(msg)
	if err != nil || v.zstd == nil {
		return v.ready, err
	}
	out := e.Finish(v)
	if out[0] == FrameNone {
		HeaderOf(msg).Compression = dashstreampb.CompressionType_COMPRESSION_NONE
	}
	return out, nil
}

// Value is an encoded message: either its framed record value, or, when
// EncodeLater left the compression for later, its protobuf marshaled with
// Header.compression = ZSTD. Finish turns either into the record value.
type Value struct {
	ready []byte // the framed value, when nothing is pending
	zstd  []byte // the protobuf to compress, when pending
	plain []byte // the plain frame when it was already built (else derived)
	size  int    // the plain frame's size: the pending value's largest size
}

// Pending reports whether the compression is still to be tried.
func (v Value) Pending() bool { return v.zstd != nil }

// MaxSize is the size of the record value, or for a pending one the size
// it has at most (its plain frame's).
func (v Value) MaxSize() int {
	if v.zstd != nil {
		return v.size
	}
	return len(v.ready)
}

// EncodeLater is Encode for a caller that encodes many messages and
// compresses them afterwards, one after another: zstd's match tables
// (256 KiB at the fastest level, 1.25 MiB at the default one) stay in the
// CPU's cache between frames instead of being evicted by the work done
// between messages, which makes a frame cheaper (at the default level
// several times). A message that is not to be compressed comes back
// framed. msg's header is left as marshaled: ZSTD for a pending value,
// even if Finish later sends it plain.
func (e *Encoder) EncodeLater(msg *dashstreampb.DashStreamMessage) (Value, error) {
	h := HeaderOf(msg)
	if h == nil {
		if MessageTypeOf(msg) == dashstreampb.MessageType_MESSAGE_TYPE_UNSPECIFIED {
			return Value{}, fmt.Errorf("%w: no message set", ErrInvalidMessage)
		}
		return Value{}, fmt.Errorf("%w: %s without header", ErrInvalidMessage, MessageTypeOf(msg))
	}

	h.Compression = dashstreampb.CompressionType_COMPRESSION_NONE
	if _, event := msg.GetMessage().(*dashstreampb.DashStreamMessage_Event); !event && e.compress {
		return e.encodeSized(msg, h)
	}
	plain, err := e.marshalFrame([]byte{FrameNone}, msg)
	if err != nil {
		return Value{}, fmt.Errorf("dashstream: marshaling %s: %w", MessageTypeOf(msg), err)
	}
	if n := len(plain) - 1; n > MaxMessageBytes {
		return Value{}, fmt.Errorf("%w: %s is %d bytes, limit %d", ErrTooLarge, MessageTypeOf(msg), n, MaxMessageBytes)
	}
	if !e.compress || len(plain)-1 <= e.threshold {
		return Value{ready: plain}, nil
	}

	h.Compression = dashstreampb.CompressionType_COMPRESSION_ZSTD
	pb, err := e.marshalFrame(nil, msg)
	if err != nil {
		h.Compression = dashstreampb.CompressionType_COMPRESSION_NONE
		return Value{}, fmt.Errorf("dashstream: marshaling %s: %w", MessageTypeOf(msg), err)
	}
	if len(pb) > MaxMessageBytes {
		// The compression field made it two bytes too big: send it plain.
		h.Compression = dashstreampb.CompressionType_COMPRESSION_NONE
		return Value{ready: plain}, nil
	}
	return Value{zstd: pb, plain: plain, size: len(plain)}, nil
}

// encodeSized is EncodeLater for messages that may be large (state diffs,
// checkpoints): the plain size decides first, so a message that is to be
// compressed is marshaled once (with the ZSTD header); should compressing
// not pay, Finish derives the plain frame from those bytes.
func (e *Encoder) encodeSized(msg *dashstreampb.DashStreamMessage, h *dashstreampb.Header) (Value, error) {
	n, fast := sizeStateFast(msg)
	if !fast {
		n = e.marshal.Size(msg)
	}
	if n > MaxMessageBytes {
		return Value{}, fmt.Errorf("%w: %s is %d bytes, limit %d", ErrTooLarge, MessageTypeOf(msg), n, MaxMessageBytes)
	}
	if n <= e.threshold {
		// Unchanged since Size: its cached sizes hold.
		out, err := e.marshalSized(append(make([]byte, 0, n+1), FrameNone), msg, fast)
		if err != nil {
			return Value{}, fmt.Errorf("dashstream: marshaling %s: %w", MessageTypeOf(msg), err)
		}
		return Value{ready: out}, nil
	}
	h.Compression = dashstreampb.CompressionType_COMPRESSION_ZSTD
	pb, err := e.marshalChanged(e.pending.take(n+4), msg, fast)
	if err != nil {
		h.Compression = dashstreampb.CompressionType_COMPRESSION_NONE
		return Value{}, fmt.Errorf("dashstream: marshaling %s: %w", MessageTypeOf(msg), err)
	}
	if len(pb) > MaxMessageBytes {
		e.pending.put(pb)
		// The compression field made it two bytes too big: send it plain.
		h.Compression = dashstreampb.CompressionType_COMPRESSION_NONE
		out, err := e.marshalChanged(append(make([]byte, 0, n+1), FrameNone), msg, fast)
		if err != nil {
			return Value{}, fmt.Errorf("dashstream: marshaling %s: %w", MessageTypeOf(msg), err)
		}
		return Value{ready: out}, nil
	}
	return Value{zstd: pb, size: n + 1}, nil
}

// marshalSized appends msg's deterministic encoding right after it was
// sized: by sizeStateFast, which covers it (fast), else by proto, whose
// cached sizes hold.
func (e *Encoder) marshalSized(b []byte, msg *dashstreampb.DashStreamMessage, fast bool) ([]byte, error) {
	if fast {
		return e.marshalChanged(b, msg, true)
	}
	return e.sized.MarshalAppend(b, msg)
}

// marshalChanged is marshalSized for a message changed since it was
// sized (its header's compression).
func (e *Encoder) marshalChanged(b []byte, msg *dashstreampb.DashStreamMessage, fast bool) ([]byte, error) {
	if fast {
		if out, ok := appendStateFast(b, msg); ok {
			return out, nil
		}
	}
	return e.marshal.MarshalAppend(b, msg)
}

// Finish returns v's record value: for a pending value the zstd frame when
// it is smaller than the plain frame, else the plain frame. It is safe for
// concurrent use. It consumes v: a pending value's memory is reused, so
// each Value is finished once.
func (e *Encoder) Finish(v Value) []byte {
	if v.zstd == nil {
		return v.ready
	}
	out := e.finishPending(v)
	// The record value never shares the pending protobuf.
	e.pending.put(v.zstd)
	return out
}

func (e *Encoder) finishPending(v Value) []byte {
	framed := e.zenc.EncodeAll(v.zstd, append(make([]byte, 0, v.size), FrameZstd))
	if len(framed) < v.size {
		return framed
	}
	if v.plain != nil {
		return v.plain
	}
	if plain, ok := withoutZstdFlag(append(make([]byte, 0, v.size), FrameNone), v.zstd); ok {
		return plain
	}
	// Not reached for what EncodeLater marshals; the frame is valid anyway.
	return framed
}

// withoutZstdFlag appends to dst the deterministic encoding of the message
// pb holds with Header.compression unset, pb being a DashStreamMessage
// marshaled deterministically with compression = ZSTD. Deterministic
// marshaling writes fields in number order, and every message type has its
// Header as field 1, so the flag is the two bytes 0x40 0x01 among the
// header's fields; removing them shortens the header and the message
// around it. false when pb is not shaped that way.
func withoutZstdFlag(dst, pb []byte) ([]byte, bool) {
	num, typ, n := protowire.ConsumeTag(pb)
	if n < 0 || typ != protowire.BytesType {
		return nil, false
	}
	inner, m := protowire.ConsumeBytes(pb[n:])
	if m < 0 || n+m != len(pb) {
		return nil, false
	}
	hnum, htyp, k := protowire.ConsumeTag(inner)
	if k < 0 || hnum != 1 || htyp != protowire.BytesType {
		return nil, false
	}
	hdr, hl := protowire.ConsumeBytes(inner[k:])
	if hl < 0 {
		return nil, false
	}
	rest := inner[k+hl:]
	flag := -1
	for i := 0; i < len(hdr); {
		fnum, ftyp, tl := protowire.ConsumeTag(hdr[i:])
		if tl < 0 {
			return nil, false
		}
		vl := protowire.ConsumeFieldValue(fnum, ftyp, hdr[i+tl:])
		if vl < 0 {
			return nil, false
		}
		if fnum == headerCompressionField {
			if ftyp != protowire.VarintType || tl != 1 || vl != 1 ||
				hdr[i+1] != byte(dashstreampb.CompressionType_COMPRESSION_ZSTD) {
				return nil, false
			}
			flag = i
			break
		}
		i += tl + vl
	}
	if flag < 0 {
		return nil, false
	}
	hdrLen := len(hdr) - 2
	dst = protowire.AppendTag(dst, num, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(k+protowire.SizeBytes(hdrLen)+len(rest)))
	dst = protowire.AppendTag(dst, 1, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(hdrLen))
	dst = append(dst, hdr[:flag]...)
	dst = append(dst, hdr[flag+2:]...)
	return append(dst, rest...), true
}

// headerCompressionField is Header.compression's field number.
const headerCompressionField = 8

// marshalFrame returns lead (a frame marker or nothing) followed by msg's
// deterministic protobuf encoding: the hand-written Event, StateDiff and
// Checkpoint encoders when they cover msg (same bytes, a fraction of the
// cost), else proto's deterministic marshaller.
func (e *Encoder) marshalFrame(lead []byte, msg *dashstreampb.DashStreamMessage) ([]byte, error) {
	if out, ok := marshalEventFast(lead, msg); ok {
		return out, nil
	}
	if n, ok := sizeStateFast(msg); ok {
		if out, ok := appendStateFast(append(make([]byte, 0, len(lead)+n), lead...), msg); ok {
			return out, nil
		}
	}
	return e.marshal.MarshalAppend(append([]byte(nil), lead...), msg)
}

// DecoderOptions configures a Decoder.
type DecoderOptions struct {
	// MaxMessageBytes bounds the uncompressed protobuf accepted;
	// 0 means MaxMessageBytes (1 MiB).
	MaxMessageBytes int
}

// Decoder parses record values of any framing. It is safe for concurrent use.
type Decoder struct {
	max  int
	zdec *zstd.Decoder
}

// NewDecoder prepares a decoder whose memory use per record is bounded by
// the message limit, whatever the input claims.
func NewDecoder(o DecoderOptions) (*Decoder, error) {
	if o.MaxMessageBytes < 0 {
		return nil, fmt.Errorf("dashstream: max message bytes %d is negative", o.MaxMessageBytes)
	}
	if o.MaxMessageBytes == 0 {
		o.MaxMessageBytes = MaxMessageBytes
	}
	zdec, err := zstd.NewReader(nil,
		zstd.WithDecoderMaxMemory(uint64(o.MaxMessageBytes)),
		zstd.WithDecoderMaxWindow(maxZstdWindow),
		zstd.WithDecodeAllCapLimit(true),
	)
	if err != nil {
		return nil, fmt.Errorf("dashstream: creating zstd decoder: %w", err)
	}
	return &Decoder{max: o.MaxMessageBytes, zdec: zdec}, nil
}

// Decode parses one record value: a 0x00 or 0x01 frame, or a legacy
// unframed protobuf (first byte a length-delimited tag of fields 1–9).
// Errors wrap ErrCorrupt or ErrTooLarge.
func (d *Decoder) Decode(value []byte) (*dashstreampb.DashStreamMessage, error) {
	if len(value) == 0 {
		return nil, fmt.Errorf("%w: empty record", ErrCorrupt)
	}
	var pb []byte
	switch b := value[0]; {
	case b == FrameNone:
		pb = value[1:]
	case b == FrameZstd:
		var err error
		if pb, err = d.decompress(value[1:]); err != nil {
			return nil, err
		}
	case isLegacyTag(b):
		pb = value
	default:
		return nil, fmt.Errorf("%w: unknown frame marker 0x%02x", ErrCorrupt, b)
	}
	if len(pb) > d.max {
		return nil, fmt.Errorf("%w: message is %d bytes, limit %d", ErrTooLarge, len(pb), d.max)
	}
	msg := &dashstreampb.DashStreamMessage{}
	if err := proto.Unmarshal(pb, msg); err != nil {
		return nil, fmt.Errorf("%w: protobuf: %v", ErrCorrupt, err)
	}
	if msg.GetMessage() == nil {
		return nil, fmt.Errorf("%w: no message set", ErrCorrupt)
	}
	return msg, nil
}

// decompress checks the zstd frame header before decoding anything, so a
// frame claiming a huge size costs nothing, and decodes into a buffer whose
// capacity is the declared size, so a frame that lies cannot grow it.
func (d *Decoder) decompress(frame []byte) ([]byte, error) {
	var zh zstd.Header
	if err := zh.Decode(frame); err != nil {
		return nil, fmt.Errorf("%w: zstd frame header: %v", ErrCorrupt, err)
	}
	switch {
	case zh.Skippable:
		return nil, fmt.Errorf("%w: skippable zstd frame", ErrCorrupt)
	case zh.DictionaryID != 0:
		return nil, fmt.Errorf("%w: zstd frame needs dictionary %d", ErrCorrupt, zh.DictionaryID)
	case !zh.HasFCS:
		return nil, fmt.Errorf("%w: zstd frame does not declare its content size", ErrCorrupt)
	case zh.FrameContentSize > uint64(d.max):
		return nil, fmt.Errorf("%w: zstd frame declares %d bytes, limit %d", ErrTooLarge, zh.FrameContentSize, d.max)
	}
	want := int(zh.FrameContentSize)
	out, err := d.zdec.DecodeAll(frame, make([]byte, 0, want))
	if err != nil {
		if errors.Is(err, zstd.ErrDecoderSizeExceeded) || errors.Is(err, zstd.ErrFrameSizeExceeded) {
			// A frame that lies about its size is corrupt; decoding stopped
			// at the declared size, so it cost no more than an honest one.
			return nil, fmt.Errorf("%w: zstd frame decodes beyond its declared %d bytes", ErrCorrupt, want)
		}
		return nil, fmt.Errorf("%w: zstd: %v", ErrCorrupt, err)
	}
	if len(out) != want {
		return nil, fmt.Errorf("%w: zstd frame declared %d bytes, produced %d", ErrCorrupt, want, len(out))
	}
	return out, nil
}

// isLegacyTag reports whether b is the tag byte of a length-delimited field
// 1–9 of DashStreamMessage, i.e. the start of an unframed record written
// before framing existed.
func isLegacyTag(b byte) bool {
	return b&0x07 == 2 && b>>3 >= 1 && b>>3 <= 9
}
