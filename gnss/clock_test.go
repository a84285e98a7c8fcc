package gnss

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeTime is a system clock under the test's control: wall is what the
// system clock says (wrong until "NTP" fixes it), elapsed the true time.
type fakeTime struct {
	mu      sync.Mutex
	boot    time.Time // what the unsynchronised clock said at boot
	elapsed time.Duration
	synced  bool
	err     error
	trueUTC time.Time // true UTC at boot
}

func (f *fakeTime) Mono() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.elapsed + time.Hour // any origin
}

func (f *fakeTime) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.synced {
		return f.trueUTC.Add(f.elapsed)
	}
	return f.boot.Add(f.elapsed)
}

func (f *fakeTime) Synced() (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.synced, f.err
}

func (f *fakeTime) advance(d time.Duration) {
	f.mu.Lock()
	f.elapsed += d
	f.mu.Unlock()
}

// TestClockGNSS: a walk starts with the clock unsynchronised (the Pi thinks
// it is 1970); records are stamped once GNSS time arrives, correctly.
func TestClockGNSS(t *testing.T) {
	trueBoot := time.Date(2026, 9, 12, 7, 30, 0, 0, time.UTC)
	ft := &fakeTime{boot: time.Unix(0, 0).UTC(), trueUTC: trueBoot}
	c := NewClock(ClockOptions{Sync: ft, Wall: ft.Now, Mono: ft.Mono})

	// Three records while UTC is unknown.
	var records []Mono
	for i := 0; i < 3; i++ {
		ft.advance(10 * time.Second)
		records = append(records, c.Now())
		if ts, ok := c.Stamp(records[i]); ok || !ts.IsZero() {
			t.Fatalf("record %d stamped %v before UTC was known", i, ts)
		}
	}
	if src, _ := c.Source(); src != "" {
		t.Fatalf("source %q before sync", src)
	}
	select {
	case <-c.Ready():
		t.Fatal("Ready before sync")
	default:
	}
	// An invalid fix (no fix, or no date) teaches nothing.
	ft.advance(5 * time.Second)
	c.ObserveFix(Fix{Time: trueBoot.Add(35 * time.Second)}, c.Now())
	c.ObserveFix(Fix{Valid: true}, c.Now())
	if _, ok := c.UTC(); ok {
		t.Fatal("invalid fixes made the clock known")
	}
	// The first valid fix: receiver time is true UTC at this moment.
	ft.advance(5 * time.Second)
	c.ObserveFix(Fix{Valid: true, Time: trueBoot.Add(40 * time.Second)}, c.Now())
	<-c.Ready()
	if src, err := c.Source(); src != SourceGNSS || err != nil {
		t.Fatalf("source %q %v", src, err)
	}
	for i, m := range records {
		ts, ok := c.Stamp(m)
		want := trueBoot.Add(time.Duration(i+1) * 10 * time.Second)
		if !ok || !ts.Equal(want) {
			t.Errorf("record %d: %v %v, want %v", i, ts, ok, want)
		}
	}
	// A later fix that arrived 700 ms late does not spoil the estimate.
	ft.advance(1700 * time.Millisecond)
	c.ObserveFix(Fix{Valid: true, Time: trueBoot.Add(41 * time.Second)}, c.Now())
	ft.advance(time.Minute - 1700*time.Millisecond)
	if now, ok := c.UTC(); !ok || !now.Equal(trueBoot.Add(100*time.Second)) {
		t.Fatalf("UTC %v", now)
	}

	// NTP arrives later and steps the system clock: NTP wins, and the
	// stamps stay right (the monotonic clock never jumped).
	ft.mu.Lock()
	ft.synced = true
	ft.mu.Unlock()
	ft.advance(2 * time.Second)
	if src, _ := c.Source(); src != SourceNTP {
		t.Fatalf("source %q after NTP sync", src)
	}
	c.ObserveFix(Fix{Valid: true, Time: trueBoot.Add(time.Hour)}, c.Now()) // a wrong GNSS time is ignored under NTP
	if ts, ok := c.Stamp(records[0]); !ok || !ts.Equal(trueBoot.Add(10*time.Second)) {
		t.Fatalf("record 0 after NTP: %v", ts)
	}
}

// TestClockNTP: with the system clock synchronised from the start, stamps
// are the system time.
func TestClockNTP(t *testing.T) {
	trueBoot := time.Date(2026, 9, 12, 7, 30, 0, 0, time.UTC)
	ft := &fakeTime{trueUTC: trueBoot, synced: true}
	c := NewClock(ClockOptions{Sync: ft, Wall: ft.Now, Mono: ft.Mono})
	ft.advance(3 * time.Second)
	m := c.Now()
	if ts, ok := c.Stamp(m); !ok || !ts.Equal(trueBoot.Add(3*time.Second)) {
		t.Fatalf("stamp %v %v", ts, ok)
	}
	if src, _ := c.Source(); src != SourceNTP {
		t.Fatalf("source %q", src)
	}
}

// TestClockSyncError: a failing sync source leaves UTC unknown and says why.
func TestClockSyncError(t *testing.T) {
	ft := &fakeTime{synced: true, err: errors.New("adjtimex: operation not permitted")}
	c := NewClock(ClockOptions{Sync: ft, Wall: ft.Now, Mono: ft.Mono})
	if _, ok := c.UTC(); ok {
		t.Fatal("UTC known despite sync error")
	}
	if _, err := c.Source(); err == nil || !strings.Contains(err.Error(), "adjtimex") {
		t.Fatalf("Source error %v", err)
	}
}

// TestKernelSync reads the real kernel state: it must answer without error.
func TestKernelSync(t *testing.T) {
	ok, err := KernelSync{}.Synced()
	if err != nil {
		t.Fatalf("KernelSync: %v", err)
	}
	t.Logf("system clock synchronised: %v", ok)
	c := NewClock(ClockOptions{})
	if _, ok2 := c.UTC(); ok2 != ok {
		t.Fatalf("Clock says known=%v, kernel says synced=%v", ok2, ok)
	}
}
