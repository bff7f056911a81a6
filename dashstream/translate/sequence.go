package translate

import (
	"sync/atomic"
	"time"
)

// sequenceClock seeds per-thread sequence counters (SPEC §4.6). A new
// session starts at max(now in µs, highest sequence ever issued + 1), so a
// session evicted and recreated — or a thread that moves here — never
// reuses or goes below a sequence issued before, even when sessions issue
// more than one sequence per microsecond.
type sequenceClock struct {
	now       func() time.Time
	highWater atomic.Uint64
}

// start returns the first sequence of a new session.
func (c *sequenceClock) start() uint64 {
	s := uint64(c.now().UnixMicro())
	if hw := c.highWater.Load() + 1; hw > s {
		s = hw
	}
	if s == 0 {
		s = 1
	}
	return s
}

// issued records that seq was handed out.
func (c *sequenceClock) issued(seq uint64) {
	for {
		hw := c.highWater.Load()
		if seq <= hw || c.highWater.CompareAndSwap(hw, seq) {
			return
		}
	}
}
