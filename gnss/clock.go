package gnss

import (
	"fmt"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// SyncSource says whether the system clock is synchronised to UTC (by NTP
// or anything else that disciplines the kernel clock).
type SyncSource interface {
	Synced() (bool, error)
}

// KernelSync asks the kernel (adjtimex) whether the system clock is
// synchronised, with the rule timedatectl uses for NTPSynchronized: the
// kernel's maximum error estimate is below 16 s. A Raspberry Pi boots with
// an unsynchronised clock (no RTC) until systemd-timesyncd, chrony or ntpd
// reaches a server.
type KernelSync struct{}

// maxErrorSynced is the kernel maximum error (µs) under which the clock
// counts as synchronised; the kernel reports 16 s when it is not.
const maxErrorSynced = 16000000

// Synced implements SyncSource.
func (KernelSync) Synced() (bool, error) {
	var tx unix.Timex
	state, err := unix.Adjtimex(&tx)
	if err != nil {
		return false, fmt.Errorf("reading kernel clock state (adjtimex): %w", err)
	}
	return state != unix.TIME_ERROR && int64(tx.Maxerror) < maxErrorSynced, nil
}

// Mono is a monotonic timestamp: time since the Clock was made, on a clock
// that never jumps, whatever NTP or GNSS do to the system clock.
type Mono time.Duration

// ClockOptions make a Clock; the zero value uses the system's clocks.
type ClockOptions struct {
	// Sync says whether the system clock is synchronised; nil means
	// KernelSync.
	Sync SyncSource
	// Wall reads the system clock (UTC only when synchronised); nil means
	// time.Now.
	Wall func() time.Time
	// Mono reads a monotonic clock from any origin; nil means the
	// monotonic reading of time.Now.
	Mono func() time.Duration
	// CheckEvery is how often Sync is asked at most; 0 means 1 s.
	CheckEvery time.Duration
}

// Clock knows UTC on a device without a real-time clock. Take timestamps
// with Now (monotonic, always available); Stamp converts them to UTC as
// soon as the clock knows UTC, from a synchronised system clock (NTP) or
// from GNSS time (ObserveFix). Timestamps taken before that are converted
// correctly afterwards, so a walk can start before UTC is known and no
// record is ever stamped with an unsynchronised clock.
//
// A Clock is safe for concurrent use.
type Clock struct {
	mu        sync.Mutex
	sync      SyncSource
	wall      func() time.Time
	mono      func() time.Duration
	origin    time.Duration // mono() at Mono zero
	every     time.Duration
	lastCheck Mono
	checked   bool
	base      time.Time // UTC at Mono zero, once known
	source    string    // "ntp", "gnss" or "" while unknown
	gnss      [gnssWindow]time.Time
	gnssN     int
	syncErr   error
	ready     chan struct{}
}

// gnssWindow is how many recent GNSS observations the Clock compares: the
// one that arrived with the least latency after its epoch wins.
const gnssWindow = 32

// Clock sources, as Source reports them.
const (
	SourceNTP  = "ntp"
	SourceGNSS = "gnss"
)

// NewClock returns a Clock; its Mono zero is now.
func NewClock(opts ClockOptions) *Clock {
	c := &Clock{sync: opts.Sync, wall: opts.Wall, mono: opts.Mono, every: opts.CheckEvery, ready: make(chan struct{})}
	if c.sync == nil {
		c.sync = KernelSync{}
	}
	if c.wall == nil {
		c.wall = time.Now
	}
	if c.mono == nil {
		start := time.Now()
		c.mono = func() time.Duration { return time.Since(start) }
	}
	if c.every <= 0 {
		c.every = time.Second
	}
	c.origin = c.mono()
	return c
}

// Now returns a monotonic timestamp for a record or an event.
func (c *Clock) Now() Mono {
	return Mono(c.mono() - c.origin)
}

// check asks the sync source, at most every CheckEvery; with the lock held.
func (c *Clock) check() {
	m := c.Now()
	if c.checked && m-c.lastCheck < Mono(c.every) {
		return
	}
	c.checked, c.lastCheck = true, m
	ok, err := c.sync.Synced()
	c.syncErr = err
	if err != nil || !ok {
		return
	}
	// The system clock is UTC now: UTC(m) = wall - m. (Round(0) drops
	// time.Now's monotonic reading: only the wall reading is UTC.)
	wall := c.wall().Round(0).UTC()
	c.set(wall.Add(-time.Duration(c.Now())), SourceNTP)
}

// set records UTC at Mono zero from its source, with the lock held.
func (c *Clock) set(base time.Time, source string) {
	first := c.source == ""
	c.base, c.source = base, source
	if first {
		close(c.ready)
	}
}

// ObserveFix gives the Clock GNSS time: f's UTC was true at monotonic time
// at (when the fix arrived; the receiver's output latency, typically under
// 0.5 s, is the error this adds; the least latency of the last 32 fixes
// counts). Only valid fixes with a time count, and
// only while the system clock is not synchronised: NTP is preferred.
func (c *Clock) ObserveFix(f Fix, at Mono) {
	if !f.Valid || f.Time.IsZero() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.check()
	if c.source == SourceNTP {
		return
	}
	// Each fix arrives some latency after its epoch, which makes its
	// estimate of UTC at Mono zero too early: keep the latest estimate of
	// the recent ones.
	c.gnss[c.gnssN%gnssWindow] = f.Time.UTC().Add(-time.Duration(at))
	c.gnssN++
	best := c.gnss[0]
	for _, b := range c.gnss[1:min(c.gnssN, gnssWindow)] {
		if b.After(best) {
			best = b
		}
	}
	c.set(best, SourceGNSS)
}

// Stamp returns the UTC time of monotonic timestamp m, and false while the
// Clock does not know UTC yet (then the time is zero: ask again later).
func (c *Clock) Stamp(m Mono) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.check()
	if c.source == "" {
		return time.Time{}, false
	}
	return c.base.Add(time.Duration(m)), true
}

// UTC returns the current UTC time, and false while it is unknown.
func (c *Clock) UTC() (time.Time, bool) {
	return c.Stamp(c.Now())
}

// Source says where UTC comes from: SourceNTP, SourceGNSS, or "" while
// unknown; err is the last error of the sync source (nil when fine).
func (c *Clock) Source() (source string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.check()
	return c.source, c.syncErr
}

// Ready is closed once UTC is known (for a "waiting for time" LED).
func (c *Clock) Ready() <-chan struct{} {
	return c.ready
}
