package firmware

// LED names one of the panel's lights.
type LED int

// The panel's LEDs.
const (
	LEDRecording LED = iota // on while walking, slow blink while paused
	LEDFix                  // on with a GNSS fix, slow blink while waiting for GNSS time or fix
	LEDUplink               // on while connected, slow blink while messages wait, off without a broker
	LEDFault                // fast blink on a fault (camera, journal, detector)
)

func (l LED) String() string { return [...]string{"recording", "fix", "uplink", "fault"}[l] }

// Pattern is how an LED shows its state.
type Pattern int

// The LED patterns.
const (
	Off       Pattern = iota
	On                // steady
	SlowBlink         // 1 Hz
	FastBlink         // 4 Hz
)

func (p Pattern) String() string { return [...]string{"off", "on", "slow", "fast"}[p] }

// Press is a debounced button press.
type Press int

// The kinds of press.
const (
	ShortPress Press = iota // start, pause, resume
	LongPress               // end the walk
)

// Panel is the device's button and LEDs. Implementations where no GPIO
// exists log once and carry on: Presses never fires and Set does nothing.
type Panel interface {
	Presses() <-chan Press
	Set(l LED, p Pattern)
}

// NoPanel is a panel without hardware.
type NoPanel struct{}

// Presses returns nil: a nil channel never fires.
func (NoPanel) Presses() <-chan Press { return nil }

// Set does nothing.
func (NoPanel) Set(LED, Pattern) {}
