package dashstream

import (
	"fmt"
	"strings"

	"github.com/klauspost/compress/zstd"
)

// ZstdLevel names a zstd encoder level of the record framing (SPEC §3:
// "Level and window: chosen by measurement of CPU against bytes,
// configurable"). The names are klauspost/compress's; every level writes
// standard frames that any decoder reads (fzstd in the DashFlow UI, libzstd
// in the Rust consumer, ours).
type ZstdLevel string

// The supported levels, fastest first. Roughly libzstd's levels 1, 3, 7 and
// 11; what they cost and save on DashStream messages is in
// docs/BENCHMARKS.md ("Frame compression").
const (
	// ZstdFastest: one 256 KiB hash table (32 Ki entries).
	ZstdFastest ZstdLevel = "fastest"
	// ZstdDefault: the fastest level's table plus a 1 MiB long-match table.
	ZstdDefault ZstdLevel = "default"
	// ZstdBetter: a 64 KiB short and a 4 MiB long-match chain table.
	ZstdBetter ZstdLevel = "better"
	// ZstdBest: an exhaustive search; many times slower than the others.
	ZstdBest ZstdLevel = "best"
)

// DefaultZstdLevel is the level used when none is configured. Measured on
// the benchmark's states, the span fixtures' messages and long chat states
// (docs/BENCHMARKS.md, "Frame compression"), the fastest level writes
// frames 2–6 % larger than the default level at 0.5–0.75× its CPU per
// frame (0.47× with cold caches): its one 256 KiB table stays in a core's
// cache where the default level's extra 1 MiB long-match table does not.
// better and best cost 1.7–10× the default level's CPU for at most 5 %.
const DefaultZstdLevel = ZstdFastest

// DefaultZstdWindow is the match window used when none is configured: the
// largest message (MaxMessageBytes), so no match is ever cut short, while
// the encoder's history buffer for messages above one block (128 KiB) is
// 2 MiB rather than the 16 MiB the library's own 8 MiB window allocates.
const DefaultZstdWindow = MaxMessageBytes

// Bounds of a configured window: the smallest zstd allows, and the largest
// any useful setting needs (a message is at most MaxMessageBytes).
const (
	MinZstdWindow = zstd.MinWindowSize
	MaxZstdWindow = MaxMessageBytes
)

// ZstdLevels lists the supported levels, fastest first.
func ZstdLevels() []ZstdLevel {
	return []ZstdLevel{ZstdFastest, ZstdDefault, ZstdBetter, ZstdBest}
}

// ParseZstdLevel accepts a level's name in any case; "" is DefaultZstdLevel.
func ParseZstdLevel(s string) (ZstdLevel, error) {
	if s == "" {
		return DefaultZstdLevel, nil
	}
	l := ZstdLevel(strings.ToLower(strings.TrimSpace(s)))
	if _, err := l.encoderLevel(); err != nil {
		return "", err
	}
	return l, nil
}

// Validate reports whether l is "" (the default) or a supported level's
// name, exactly as spelled by the constants.
func (l ZstdLevel) Validate() error {
	_, err := l.encoderLevel()
	return err
}

// encoderLevel maps l to klauspost/compress's level; "" is the default.
func (l ZstdLevel) encoderLevel() (zstd.EncoderLevel, error) {
	switch l {
	case "":
		return DefaultZstdLevel.encoderLevel()
	case ZstdFastest:
		return zstd.SpeedFastest, nil
	case ZstdDefault:
		return zstd.SpeedDefault, nil
	case ZstdBetter:
		return zstd.SpeedBetterCompression, nil
	case ZstdBest:
		return zstd.SpeedBestCompression, nil
	}
	names := make([]string, 0, 4)
	for _, k := range ZstdLevels() {
		names = append(names, string(k))
	}
	return 0, fmt.Errorf("unknown zstd level %q (supported: %s)", string(l), strings.Join(names, ", "))
}

// ValidateZstdWindow checks a configured window size in bytes: 0 (the
// default) or a power of two from MinZstdWindow to MaxZstdWindow.
func ValidateZstdWindow(n int) error {
	switch {
	case n == 0:
		return nil
	case n < MinZstdWindow || n > MaxZstdWindow:
		return fmt.Errorf("zstd window %d is outside %d..%d bytes", n, MinZstdWindow, MaxZstdWindow)
	case n&(n-1) != 0:
		return fmt.Errorf("zstd window %d is not a power of two", n)
	}
	return nil
}

// newZstdEncoder builds the encoder of a record framing: single-shot frames
// (EncodeAll) that declare their content size, as the DashFlow UI requires,
// with a checksum, at the given level and window.
//
// Single-segment frames carry no window descriptor: a decoder's window is
// the frame's content size, at most MaxMessageBytes, whatever window the
// encoder used. The window only bounds how far back a match may reach
// (and with it the block size, at most 128 KiB) and sizes the history
// buffer of messages larger than one block.
//
// One encoder state, not one per CPU or per session: each holds its match
// tables (256 KiB at the fastest level, 1.25 MiB at the default one), and
// frames are cheap only while those stay in cache — alternating states do
// not fit a core's L2 (docs/BENCHMARKS.md, "one shared encoder against one
// per thread"). Callers wait for each other only while compressing.
func newZstdEncoder(level ZstdLevel, window int) (*zstd.Encoder, error) {
	lvl, err := level.encoderLevel()
	if err != nil {
		return nil, err
	}
	if err := ValidateZstdWindow(window); err != nil {
		return nil, err
	}
	if window == 0 {
		window = DefaultZstdWindow
	}
	return zstd.NewWriter(nil,
		zstd.WithEncoderLevel(lvl),
		zstd.WithWindowSize(window),
		zstd.WithZeroFrames(true),
		zstd.WithSingleSegment(true),
		zstd.WithEncoderCRC(true),
		zstd.WithEncoderConcurrency(1),
		// Huffman-code the literals of a block in which no match was
		// found; the library does so from the better level up only. The
		// fastest level's match search skips ahead ever faster through
		// input without matches, so on some messages of 0.5–1 KiB
		// (an error with a stack trace behind a binary header) it finds
		// none and the frame came out larger than the message: 763 bytes
		// for 749, 600 with this, 504 at the default level. Blocks with
		// matches are unchanged.
		zstd.WithAllLitEntropyCompression(true),
	)
}
