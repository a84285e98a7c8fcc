package firmware

import "fmt"

// State is where a walk is: the volunteer starts it, may pause it (a
// coffee, a private stretch of the route) and ends it.
type State int

// The walk states.
const (
	Idle    State = iota // no walk: nothing is recorded
	Walking              // frames are analysed and fixes recorded
	Paused               // the walk is open but nothing is recorded
	Ended                // the walk is over; its counts and coverage are queued
)

func (s State) String() string {
	switch s {
	case Idle:
		return "idle"
	case Walking:
		return "walking"
	case Paused:
		return "paused"
	case Ended:
		return "ended"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// ParseState is the inverse of State.String.
func ParseState(s string) (State, error) {
	for _, st := range []State{Idle, Walking, Paused, Ended} {
		if st.String() == s {
			return st, nil
		}
	}
	return Idle, fmt.Errorf("unknown walk state %q", s)
}

// Event is something that moves the walk state: a button press, a command
// from the CLI, a signal.
type Event int

// The events.
const (
	EventStart  Event = iota // start a walk (or resume a paused one)
	EventPause               // pause a walk
	EventResume              // resume a paused walk
	EventStop                // end the walk
	EventPress               // short button press: start, pause or resume
	EventHold                // long button press: end the walk
)

func (e Event) String() string {
	return [...]string{"start", "pause", "resume", "stop", "press", "hold"}[e]
}

// Next returns the state after event e, and whether e means anything in s.
// A short press starts a walk, pauses it and resumes it; a long press (or
// stop) ends it. After a walk has ended, a start begins a new one.
func (s State) Next(e Event) (State, bool) {
	switch s {
	case Idle, Ended:
		if e == EventStart || e == EventPress {
			return Walking, true
		}
	case Walking:
		switch e {
		case EventPause, EventPress:
			return Paused, true
		case EventStop, EventHold:
			return Ended, true
		}
	case Paused:
		switch e {
		case EventResume, EventStart, EventPress:
			return Walking, true
		case EventStop, EventHold:
			return Ended, true
		}
	}
	return s, false
}
