package firmware

import (
	"sync"
	"time"

	"github.com/camaudit/camaudit/gnss"
	"github.com/camaudit/camaudit/wire"
)

// FixClock learns UTC from GNSS fixes: each fix pairs the receiver's UTC
// with the local (monotonic) time it arrived. The offset with the least
// delivery latency over the recent fixes wins. Until a fix with a
// plausible time arrives it reports no UTC, and records wait.
type FixClock struct {
	mu      sync.Mutex
	offsets []time.Duration // recent UTC-minus-local offsets, newest last
	base    time.Time       // local reference (monotonic) for offsets
}

// NewFixClock returns a clock that knows no UTC yet.
func NewFixClock() *FixClock { return &FixClock{} }

// Observe records a fix received at local time local.
func (c *FixClock) Observe(f gnss.Fix, local time.Time) {
	if f.Time.IsZero() || f.Time.Before(wire.Earliest) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.base.IsZero() {
		c.base = local
	}
	// Offset such that UTC = base + (local - base) + off.
	off := f.Time.Sub(c.base) - local.Sub(c.base)
	c.offsets = append(c.offsets, off)
	if len(c.offsets) > 60 {
		c.offsets = c.offsets[1:]
	}
}

// UTC converts a local time to UTC, if known.
func (c *FixClock) UTC(local time.Time) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.offsets) == 0 {
		return time.Time{}, false
	}
	best := c.offsets[0]
	for _, o := range c.offsets[1:] {
		if o > best { // smallest latency = largest offset
			best = o
		}
	}
	return c.base.Add(local.Sub(c.base)).Add(best).UTC().Round(0), true
}

// Synced reports whether UTC is known.
func (c *FixClock) Synced() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.offsets) > 0
}
