package hw

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

func TestPanelButtonAndLEDs(t *testing.T) {
	btn := &gpiotest.Pin{N: "GPIO17", Num: 17, EdgesChan: make(chan gpio.Level, 16)}
	leds := []*gpiotest.Pin{{N: "GPIO27"}, {N: "GPIO22"}, {N: "GPIO23"}, {N: "GPIO24"}}
	p := NewPanel(btn, leds[0], leds[1], leds[2], leds[3], slog.New(slog.NewTextHandler(io.Discard, nil)))
	p.LongPress = 300 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	time.Sleep(50 * time.Millisecond) // Run configures the button

	wait := func(want Press) {
		t.Helper()
		select {
		case got := <-p.Presses():
			if got != want {
				t.Fatalf("press = %v, want %v", got, want)
			}
		case <-time.After(3 * time.Second):
			t.Fatalf("no press delivered, want %v", want)
		}
	}
	// A bouncy short press: down, up, down within the debounce time, then up.
	btn.EdgesChan <- gpio.Low
	btn.EdgesChan <- gpio.High
	btn.EdgesChan <- gpio.Low
	time.Sleep(100 * time.Millisecond)
	btn.EdgesChan <- gpio.High
	wait(Short)
	// A long press.
	btn.EdgesChan <- gpio.Low
	time.Sleep(400 * time.Millisecond)
	btn.EdgesChan <- gpio.High
	wait(Long)
	// A glitch (down and up within the debounce window) is no press.
	btn.EdgesChan <- gpio.Low
	btn.EdgesChan <- gpio.High
	select {
	case got := <-p.Presses():
		t.Fatalf("glitch delivered a press %v", got)
	case <-time.After(200 * time.Millisecond):
	}

	// LEDs: steady on, off, and blinking.
	p.Set(LEDRecording, On)
	p.Set(LEDFix, Off)
	p.Set(LEDFault, FastBlink)
	time.Sleep(300 * time.Millisecond)
	if leds[0].Read() != gpio.High || leds[1].Read() != gpio.Low {
		t.Errorf("recording %v fix %v, want High, Low", leds[0].Read(), leds[1].Read())
	}
	seen := map[gpio.Level]bool{}
	for i := 0; i < 12; i++ {
		seen[leds[3].Read()] = true
		time.Sleep(60 * time.Millisecond)
	}
	if !seen[gpio.High] || !seen[gpio.Low] {
		t.Errorf("fault LED did not blink: saw %v", seen)
	}
	cancel()
	<-done
	if leds[0].Read() != gpio.Low {
		t.Error("LEDs not turned off at exit")
	}
}

func TestPanelWithoutGPIO(t *testing.T) {
	// On a machine without the named pins the panel logs and carries on.
	p := OpenPanel(PanelPins{Button: "GPIO_NOPE", Recording: "GPIO_NOPE2"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	p.Set(LEDRecording, On)
	if p.Pattern(LEDRecording) != On {
		t.Error("pattern not kept")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Presses():
		t.Fatal("press without a button")
	default:
	}
}

func TestLevelPatterns(t *testing.T) {
	for _, tc := range []struct {
		p     Pattern
		highs int // of 8 ticks (one second)
	}{{Off, 0}, {On, 8}, {SlowBlink, 4}, {FastBlink, 4}} {
		n := 0
		for i := 0; i < 8; i++ {
			if level(tc.p, i) == gpio.High {
				n++
			}
		}
		if n != tc.highs {
			t.Errorf("pattern %v: %d of 8 ticks high, want %d", tc.p, n, tc.highs)
		}
	}
}
