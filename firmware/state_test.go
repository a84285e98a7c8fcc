package firmware

import (
	"context"
	"testing"
	"time"
)

func TestStateMachine(t *testing.T) {
	tests := []struct {
		from State
		e    Event
		to   State
		ok   bool
	}{
		{Idle, EventPress, Walking, true},
		{Idle, EventStart, Walking, true},
		{Idle, EventStop, Idle, false},
		{Idle, EventPause, Idle, false},
		{Walking, EventPress, Paused, true},
		{Walking, EventPause, Paused, true},
		{Walking, EventHold, Ended, true},
		{Walking, EventStop, Ended, true},
		{Walking, EventStart, Walking, false},
		{Paused, EventPress, Walking, true},
		{Paused, EventResume, Walking, true},
		{Paused, EventHold, Ended, true},
		{Paused, EventPause, Paused, false},
		{Ended, EventPress, Walking, true},
		{Ended, EventStop, Ended, false},
	}
	for _, tc := range tests {
		to, ok := tc.from.Next(tc.e)
		if to != tc.to || ok != tc.ok {
			t.Errorf("%v --%v--> %v, %v; want %v, %v", tc.from, tc.e, to, ok, tc.to, tc.ok)
		}
	}
	for _, s := range []State{Idle, Walking, Paused, Ended} {
		if p, err := ParseState(s.String()); err != nil || p != s {
			t.Errorf("ParseState(%q) = %v, %v", s, p, err)
		}
	}
	if _, err := ParseState("running"); err == nil {
		t.Error("ParseState accepted an unknown state")
	}
}

type closeCounter struct{ n *int }

func (c closeCounter) Close() error { *c.n++; return nil }

func TestSchedulerDropsOldest(t *testing.T) {
	s := NewScheduler(2)
	closed := 0
	for i := 0; i < 10; i++ {
		s.Offer(Frame{Seq: int64(i), Image: closeCounter{&closed}})
	}
	if s.Depth() != 2 || s.Dropped() != 8 || closed != 8 || s.Offered() != 10 {
		t.Fatalf("depth %d dropped %d closed %d offered %d; want 2, 8, 8, 10", s.Depth(), s.Dropped(), closed, s.Offered())
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	f, err := s.Take(ctx)
	if err != nil || f.Seq != 8 {
		t.Fatalf("Take = %d, %v; want the older of the two newest (8)", f.Seq, err)
	}
	f, _ = s.Take(ctx)
	if f.Seq != 9 {
		t.Fatalf("second Take = %d, want 9", f.Seq)
	}
	short, cancel2 := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel2()
	if _, err := s.Take(short); err == nil {
		t.Fatal("Take on an empty scheduler returned without a frame")
	}
	s.Offer(Frame{Seq: 11, Image: closeCounter{&closed}})
	s.Discard()
	if s.Depth() != 0 || closed != 9 {
		t.Errorf("Discard: depth %d closed %d", s.Depth(), closed)
	}
}

func TestFixClock(t *testing.T) {
	c := NewFixClock()
	base := time.Unix(0, 0).Add(1000 * time.Second) // an unsynchronised Pi thinks it is 1970
	if _, ok := c.UTC(base); ok {
		t.Fatal("clock synced without a fix")
	}
	utc := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	// Fixes arrive 80..300 ms after their epoch.
	for i, lat := range []time.Duration{300, 80, 150} {
		epoch := utc.Add(time.Duration(i) * time.Second)
		c.Observe(gnssFix(epoch), base.Add(time.Duration(i)*time.Second+lat*time.Millisecond))
	}
	got, ok := c.UTC(base.Add(10 * time.Second))
	want := utc.Add(10*time.Second - 80*time.Millisecond)
	if !ok || got.Sub(want).Abs() > time.Millisecond {
		t.Errorf("UTC = %v, %v; want %v", got, ok, want)
	}
}
