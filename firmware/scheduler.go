package firmware

import (
	"context"
	"sync"
	"sync/atomic"
)

// Scheduler hands frames from the camera to the detector without ever
// queueing without bound: it holds at most Cap frames, and when the
// detector falls behind, the oldest waiting frame is dropped (and counted)
// so that the newest is analysed. The pipeline stays real-time.
type Scheduler struct {
	capacity int
	mu       sync.Mutex
	q        []Frame
	ready    chan struct{}
	dropped  atomic.Int64
	offered  atomic.Int64
}

// NewScheduler returns a scheduler holding at most capacity frames (1 or 2
// is right for a camera; values below 1 mean 1).
func NewScheduler(capacity int) *Scheduler {
	if capacity < 1 {
		capacity = 1
	}
	return &Scheduler{capacity: capacity, ready: make(chan struct{}, 1)}
}

// Offer adds a frame, dropping (and releasing) the oldest waiting one when full.
func (s *Scheduler) Offer(f Frame) {
	s.offered.Add(1)
	s.mu.Lock()
	if len(s.q) >= s.capacity {
		old := s.q[0]
		s.q = append(s.q[:0], s.q[1:]...)
		s.dropped.Add(1)
		old.Close()
	}
	s.q = append(s.q, f)
	s.mu.Unlock()
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// Take waits for the oldest waiting frame.
func (s *Scheduler) Take(ctx context.Context) (Frame, error) {
	for {
		s.mu.Lock()
		if len(s.q) > 0 {
			f := s.q[0]
			s.q = append(s.q[:0], s.q[1:]...)
			s.mu.Unlock()
			return f, nil
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return Frame{}, ctx.Err()
		case <-s.ready:
		}
	}
}

// Ready is signalled when a frame may be waiting (use with TryTake).
func (s *Scheduler) Ready() <-chan struct{} { return s.ready }

// TryTake returns the oldest waiting frame, if any.
func (s *Scheduler) TryTake() (Frame, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.q) == 0 {
		return Frame{}, false
	}
	f := s.q[0]
	s.q = append(s.q[:0], s.q[1:]...)
	return f, true
}

// Discard drops every waiting frame (the walk is paused), counting them.
func (s *Scheduler) Discard() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.q {
		f.Close()
	}
	s.q = s.q[:0]
}

// Depth returns the number of frames waiting.
func (s *Scheduler) Depth() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.q)
}

// Dropped returns how many frames were dropped to stay real-time.
func (s *Scheduler) Dropped() int64 { return s.dropped.Load() }

// Offered returns how many frames the camera delivered.
func (s *Scheduler) Offered() int64 { return s.offered.Load() }
