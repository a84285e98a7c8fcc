package hw

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/host/v3"
)

// Press is a debounced button press.
type Press int

// The kinds of press.
const (
	Short Press = iota // released before LongPress
	Long               // held at least LongPress
)

// Pattern is how an LED shows its state.
type Pattern int

// The LED patterns (the same order as firmware.Pattern).
const (
	Off Pattern = iota
	On
	SlowBlink // 1 Hz
	FastBlink // 4 Hz
)

// The LEDs, by index (the same order as firmware.LED).
const (
	LEDRecording = iota
	LEDFix
	LEDUplink
	LEDFault
	numLEDs
)

// PanelPins names the GPIO pins of the panel ("" = not fitted).
type PanelPins struct {
	Button                        string
	Recording, Fix, Uplink, Fault string
}

// Panel is the device's button (to ground, with the internal pull-up) and
// four LEDs (active high) on GPIO pins via periph.io. Where no GPIO exists
// (a laptop, a container) it logs once and carries on: no presses arrive
// and LED changes are ignored.
type Panel struct {
	// Debounce is how long the button level must be stable.
	Debounce time.Duration
	// LongPress is how long a press must last to be Long.
	LongPress time.Duration

	button  gpio.PinIO
	leds    [numLEDs]gpio.PinOut
	presses chan Press
	log     *slog.Logger

	mu       sync.Mutex
	patterns [numLEDs]Pattern
	problem  string // why GPIO is unavailable, "" when all pins were found
}

// Problem says why some or all of the panel is unavailable ("" when every
// configured pin was found): what selftest reports.
func (p *Panel) Problem() string { return p.problem }

// OpenPanel initialises periph.io and looks the pins up by name. Missing
// GPIO is not an error: the panel works without it and says so once.
func OpenPanel(pins PanelPins, log *slog.Logger) *Panel {
	if log == nil {
		log = slog.Default()
	}
	p := newPanel(log)
	if _, err := host.Init(); err != nil {
		log.Warn("no GPIO on this machine; running without button and LEDs", "err", err)
		p.problem = "no GPIO: " + err.Error()
		return p
	}
	var missing []string
	look := func(name string) gpio.PinIO {
		if name == "" {
			return nil
		}
		pin := gpioreg.ByName(name)
		if pin == nil {
			missing = append(missing, name)
		}
		return pin
	}
	p.button = look(pins.Button)
	for i, n := range []string{pins.Recording, pins.Fix, pins.Uplink, pins.Fault} {
		if pin := look(n); pin != nil {
			p.leds[i] = pin
		}
	}
	if len(missing) > 0 {
		log.Warn("GPIO pins not found; running without them (button and LEDs may be unavailable)", "pins", missing)
		p.problem = fmt.Sprintf("GPIO pins not found: %v", missing)
	}
	return p
}

// NewPanel returns a panel on given pins (nil: not fitted); tests pass
// periph's gpiotest pins.
func NewPanel(button gpio.PinIO, recording, fix, uplink, fault gpio.PinOut, log *slog.Logger) *Panel {
	if log == nil {
		log = slog.Default()
	}
	p := newPanel(log)
	p.button = button
	p.leds = [numLEDs]gpio.PinOut{recording, fix, uplink, fault}
	return p
}

func newPanel(log *slog.Logger) *Panel {
	return &Panel{Debounce: 30 * time.Millisecond, LongPress: 1500 * time.Millisecond,
		presses: make(chan Press, 8), log: log}
}

// Presses delivers debounced presses (never, without a button).
func (p *Panel) Presses() <-chan Press { return p.presses }

// Set sets an LED's pattern; out-of-range LEDs are ignored.
func (p *Panel) Set(led int, pat Pattern) {
	if led < 0 || led >= numLEDs {
		return
	}
	p.mu.Lock()
	p.patterns[led] = pat
	p.mu.Unlock()
}

// Pattern returns an LED's current pattern.
func (p *Panel) Pattern(led int) Pattern {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.patterns[led]
}

// Run watches the button and drives the LEDs until ctx ends, then turns
// the LEDs off.
func (p *Panel) Run(ctx context.Context) error {
	if p.button != nil {
		if err := p.button.In(gpio.PullUp, gpio.BothEdges); err != nil {
			p.log.Warn("button pin unusable; running without it", "pin", p.button, "err", err)
		} else {
			go p.watch(ctx)
		}
	}
	tick := time.NewTicker(125 * time.Millisecond)
	defer tick.Stop()
	for n := 0; ; n++ {
		p.mu.Lock()
		pats := p.patterns
		p.mu.Unlock()
		for i, pin := range p.leds {
			if pin == nil {
				continue
			}
			if err := pin.Out(level(pats[i], n)); err != nil {
				p.log.Warn("LED pin failed", "pin", pin, "err", err)
				p.leds[i] = nil
			}
		}
		select {
		case <-ctx.Done():
			for _, pin := range p.leds {
				if pin != nil {
					_ = pin.Out(gpio.Low)
				}
			}
			return nil
		case <-tick.C:
		}
	}
}

// level returns an LED's level at tick n (8 ticks a second).
func level(p Pattern, n int) gpio.Level {
	switch p {
	case On:
		return gpio.High
	case SlowBlink:
		return n%8 < 4
	case FastBlink:
		return n%2 == 0
	}
	return gpio.Low
}

// watch turns edges into debounced presses. The button pulls the pin low.
func (p *Panel) watch(ctx context.Context) {
	stable := p.button.Read()
	var down time.Time
	for ctx.Err() == nil {
		if !p.button.WaitForEdge(200 * time.Millisecond) {
			continue
		}
		// Let the contacts settle: swallow edges until quiet for Debounce.
		for p.button.WaitForEdge(p.Debounce) {
		}
		l := p.button.Read()
		if l == stable {
			continue // a bounce that came back
		}
		stable = l
		if l == gpio.Low {
			down = time.Now()
			continue
		}
		if down.IsZero() {
			continue
		}
		kind := Short
		if time.Since(down) >= p.LongPress {
			kind = Long
		}
		down = time.Time{}
		select {
		case p.presses <- kind:
		default:
			p.log.Debug("button press dropped: nobody listening")
		}
	}
}

// String describes the panel's pins.
func (p *Panel) String() string {
	return fmt.Sprintf("panel(button=%v, leds=%v)", p.button, p.leds)
}
