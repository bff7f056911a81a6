package translate

import (
	crand "crypto/rand"
	"encoding/binary"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"
)

// idGen makes UUID v7 message and checkpoint ids (RFC 9562: 48-bit Unix
// milliseconds, then random bits) for one Translate call. Its randomness is
// a ChaCha8 stream seeded from crypto/rand once per call, instead of one
// getrandom system call per id: ids must be unique, not secret. Ids are
// carved out of shared blocks (at most 4 KiB) to save an allocation per id.
type idGen struct {
	rng   *rand.ChaCha8
	ms    uint64
	block []byte
}

// newIDGen prepares ids for a call expected to need about n of them.
func newIDGen(now time.Time, n int) *idGen {
	var seed [32]byte
	if _, err := crand.Read(seed[:]); err != nil {
		// crypto/rand does not fail on supported platforms; fall back to a
		// seed that is still unique per call.
		u := uuid.New()
		copy(seed[:], u[:])
		binary.LittleEndian.PutUint64(seed[16:], uint64(now.UnixNano()))
	}
	n = min(max(n, 4), 256)
	return &idGen{rng: rand.NewChaCha8(seed), ms: uint64(now.UnixMilli()), block: make([]byte, 16*n)}
}

// seededIDGen is an idGen whose ids follow from seed (tests compare
// records byte for byte).
func seededIDGen(now time.Time, seed [32]byte) *idGen {
	return &idGen{rng: rand.NewChaCha8(seed), ms: uint64(now.UnixMilli()), block: make([]byte, 16*256)}
}

// next returns a fresh 16-byte UUID v7.
func (g *idGen) next() []byte {
	if len(g.block) < 16 {
		g.block = make([]byte, 16*256)
	}
	id := g.block[:16:16]
	g.block = g.block[16:]
	binary.BigEndian.PutUint64(id[8:], g.rng.Uint64())
	r := g.rng.Uint64()
	binary.BigEndian.PutUint16(id[6:], uint16(r))
	id[0] = byte(g.ms >> 40)
	id[1] = byte(g.ms >> 32)
	id[2] = byte(g.ms >> 24)
	id[3] = byte(g.ms >> 16)
	id[4] = byte(g.ms >> 8)
	id[5] = byte(g.ms)
	id[6] = id[6]&0x0f | 0x70 // version 7
	id[8] = id[8]&0x3f | 0x80 // RFC 9562 variant
	return id
}
