package main

// Adapters that plug the hardware, detection and GNSS packages into the
// firmware's small interfaces (firmware imports none of them).

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"gocv.io/x/gocv"

	"github.com/camaudit/camaudit/detect"
	"github.com/camaudit/camaudit/firmware"
	"github.com/camaudit/camaudit/gnss"
	"github.com/camaudit/camaudit/hw"
)

// hwCamera adapts hw.Camera to firmware.Camera.
type hwCamera struct{ c *hw.Camera }

func (h hwCamera) Read(ctx context.Context) (firmware.Frame, error) {
	f, err := h.c.Read(ctx)
	if err != nil {
		return firmware.Frame{}, err
	}
	m := f.Mat
	return firmware.Frame{Seq: f.Seq, Time: f.Time, Width: m.Cols(), Height: m.Rows(), Image: &m}, nil
}

// modelDetector adapts detect.Detector to firmware.Detector.
type modelDetector struct{ d *detect.Detector }

// verifiedDetector passes recorded detections through a bundle's verifier
// on the replayed frames: what the model run would have kept with the
// verifier on, without running the model again.
type verifiedDetector struct {
	rec firmware.Detector
	d   *detect.Detector
}

// Detect returns the recorded detections of the frame that the verifier keeps.
func (v verifiedDetector) Detect(f firmware.Frame) ([]firmware.Detection, error) {
	dets, err := v.rec.Detect(f)
	if err != nil || len(dets) == 0 {
		return dets, err
	}
	mat, err := frameMat(f)
	if err != nil {
		return nil, err
	}
	in := make([]detect.Detection, 0, len(dets))
	for _, d := range dets {
		in = append(in, detect.Detection{Type: d.Type, Label: d.Label, Score: d.Score, Box: d.Box})
	}
	kept, err := v.d.Verify(*mat, in)
	if err != nil {
		return nil, fmt.Errorf("frame %d: %w", f.Seq, err)
	}
	return firmwareDetections(kept), nil
}

func (m modelDetector) Detect(f firmware.Frame) ([]firmware.Detection, error) {
	mat, err := frameMat(f)
	if err != nil {
		return nil, err
	}
	dets, err := m.d.Detect(*mat)
	if err != nil {
		return nil, err
	}
	return firmwareDetections(dets), nil
}

// frameMat is the frame's pixels, as the hardware camera delivers them.
func frameMat(f firmware.Frame) (*gocv.Mat, error) {
	mat, ok := f.Image.(*gocv.Mat)
	if !ok || mat == nil {
		return nil, fmt.Errorf("frame %d has no image", f.Seq)
	}
	return mat, nil
}

// firmwareDetections converts the detect package's detections for the firmware.
func firmwareDetections(dets []detect.Detection) []firmware.Detection {
	out := make([]firmware.Detection, 0, len(dets))
	for _, d := range dets {
		out = append(out, firmware.Detection{Type: d.Type, Label: d.Label, Score: d.Score, Box: d.Box})
	}
	return out
}

// gnssClock adapts gnss.Clock (monotonic stamps, UTC from NTP or GNSS) to
// firmware.Clock and firmware.FixObserver, for local times taken with time.Now.
type gnssClock struct {
	c       *gnss.Clock
	refWall time.Time // time.Now() (with its monotonic reading) at refMono
	refMono gnss.Mono
}

func newGNSSClock() *gnssClock {
	c := gnss.NewClock(gnss.ClockOptions{})
	return &gnssClock{c: c, refWall: time.Now(), refMono: c.Now()}
}

func (g *gnssClock) mono(local time.Time) gnss.Mono {
	return g.refMono + gnss.Mono(local.Sub(g.refWall))
}

func (g *gnssClock) UTC(local time.Time) (time.Time, bool) { return g.c.Stamp(g.mono(local)) }

func (g *gnssClock) Observe(f gnss.Fix, local time.Time) { g.c.ObserveFix(f, g.mono(local)) }

// openGNSS opens a GNSS source spec: gpsd:HOST:PORT, serial:DEV[@BAUD] or
// nmea:FILE (read as fast as it goes; for tests and demos).
func openGNSS(ctx context.Context, spec string) (firmware.GNSS, io.Closer, error) {
	kind, arg, ok := strings.Cut(spec, ":")
	if !ok || arg == "" {
		return nil, nil, fmt.Errorf("GNSS source %q: want gpsd:HOST:PORT, serial:DEV[@BAUD] or nmea:FILE", spec)
	}
	switch kind {
	case "gpsd":
		g, err := gnss.DialGPSD(ctx, arg)
		if err != nil {
			return nil, nil, fmt.Errorf("GNSS source %q: %w", spec, err)
		}
		return g, g, nil
	case "serial":
		dev, baud, err := gnss.ParseSerial(arg)
		if err != nil {
			return nil, nil, err
		}
		port, err := gnss.OpenSerial(dev, baud)
		if err != nil {
			return nil, nil, fmt.Errorf("GNSS source %q: %w", spec, err)
		}
		s := gnss.NewStream(port, gnss.Options{})
		return s, s, nil
	case "nmea":
		f, err := os.Open(arg)
		if err != nil {
			return nil, nil, fmt.Errorf("GNSS source %q: %w", spec, err)
		}
		s := gnss.NewStream(f, gnss.Options{})
		return s, s, nil
	}
	return nil, nil, fmt.Errorf("GNSS source %q: unknown kind %q (want gpsd, serial or nmea)", spec, kind)
}

// hwPanel adapts hw.Panel to firmware.Panel.
type hwPanel struct {
	p       *hw.Panel
	presses chan firmware.Press
}

func newHWPanel(ctx context.Context, p *hw.Panel) *hwPanel {
	h := &hwPanel{p: p, presses: make(chan firmware.Press, 4)}
	go func() { _ = p.Run(ctx) }()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case pr := <-p.Presses():
				fp := firmware.ShortPress
				if pr == hw.Long {
					fp = firmware.LongPress
				}
				select {
				case h.presses <- fp:
				default:
				}
			}
		}
	}()
	return h
}

func (h *hwPanel) Presses() <-chan firmware.Press { return h.presses }

func (h *hwPanel) Set(l firmware.LED, p firmware.Pattern) { h.p.Set(int(l), hw.Pattern(p)) }

// openDetector opens the model bundle m.Dir (the default lookup when empty)
// with m's score threshold and tile scale overrides (0: the bundle's).
func openDetector(m firmware.ModelConfig) (*detect.Detector, error) {
	dir := m.Dir
	if dir == "" {
		d, err := detect.DefaultModelDir()
		if err != nil {
			return nil, err
		}
		dir = d
	}
	opts := detect.Options{Threshold: float32(m.Threshold), TileScale: m.TileScale}
	if m.Verify != nil {
		opts.Verify = detect.Off
		if *m.Verify {
			opts.Verify = detect.On
		}
	}
	d, err := detect.Open(dir, opts)
	if err != nil {
		return nil, err
	}
	return d, nil
}
