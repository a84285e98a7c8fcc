package detect

import (
	"bufio"
	"errors"
	"image"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"gocv.io/x/gocv"
)

// The benchmarks run OpenCV on ONE thread (the Pi budget is per core) and
// report frames/s and the process's peak resident memory. Until the shipped
// model exists they use the yolov8 test bundle: a small YOLOv8-style net
// (C2f, SPPF, PAN, DFL; 8-64 channels, 320x320 input) with random weights.

// peakRSSMB reads the process's peak resident set size (VmHWM) in MiB.
func peakRSSMB(b *testing.B) float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		b.Fatalf("reading peak RSS: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			if err != nil {
				b.Fatalf("parsing VmHWM %q: %v", rest, err)
			}
			return kb / 1024
		}
	}
	b.Fatal("no VmHWM in /proc/self/status")
	return 0
}

// cpuTime is the CPU time (user + system) the process has used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// clock is where a benchmark's timed loop started, in wall and CPU time.
type clock struct {
	wall time.Time
	cpu  time.Duration
}

func startClock() clock { return clock{time.Now(), cpuTime()} }

// report adds frames/s (wall clock), cpu-frames/s (frames per second of CPU
// time: with OpenCV on one thread, the speed of one idle core, which a
// loaded machine does not distort as much) and the peak RSS.
func report(b *testing.B, c clock) {
	b.ReportMetric(float64(b.N)/time.Since(c.wall).Seconds(), "frames/s")
	if cpu := cpuTime() - c.cpu; cpu > 0 {
		b.ReportMetric(float64(b.N)/cpu.Seconds(), "cpu-frames/s")
	}
	b.ReportMetric(peakRSSMB(b), "peak-RSS-MB")
}

func benchDetector(b *testing.B, opts Options) *Detector {
	b.Helper()
	opts.Threads = 1
	d, err := Open("testdata/yolov8", opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close(); SetThreads(-1) })
	return d
}

// streetFrame is a textured test frame (the parity image tiled), so that the
// work does not depend on a blank input.
func streetFrame(b *testing.B, w, h int) gocv.Mat {
	b.Helper()
	src := gocv.IMRead("testdata/parity/input.png", gocv.IMReadColor)
	if src.Empty() {
		b.Fatal("cannot read testdata/parity/input.png")
	}
	defer src.Close()
	m := gocv.NewMat()
	gocv.Resize(src, &m, image.Pt(w, h), 0, 0, gocv.InterpolationLinear)
	return m
}

// BenchmarkForward is one forward pass at the model's input size.
func BenchmarkForward(b *testing.B) {
	d := benchDetector(b, Options{})
	in := d.Bundle().Input
	blob := make([]float32, 3*in.Width*in.Height)
	for i := range blob {
		blob[i] = float32(i%251) / 251
	}
	shape := [4]int{1, 3, in.Height, in.Width}
	if _, _, err := d.ForwardBlob(blob, shape); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := startClock()
	for i := 0; i < b.N; i++ {
		if _, _, err := d.ForwardBlob(blob, shape); err != nil {
			b.Fatal(err)
		}
	}
	report(b, start)
}

func benchDetect(b *testing.B, w, h int, opts Options) {
	d := benchDetector(b, opts)
	frame := streetFrame(b, w, h)
	defer frame.Close()
	if _, err := d.Detect(frame); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := startClock()
	for i := 0; i < b.N; i++ {
		if _, err := d.Detect(frame); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(d.Tiles(image.Pt(w, h)))), "inputs/frame")
	report(b, start)
}

// BenchmarkDetect720 is a full Detect of a 1280x720 frame with the default
// tiling (upper 65 % at full resolution + full-frame pass).
func BenchmarkDetect720(b *testing.B) { benchDetect(b, 1280, 720, Options{}) }

// BenchmarkDetect1080 is a full Detect of a 1920x1080 frame with the
// default tiling.
func BenchmarkDetect1080(b *testing.B) { benchDetect(b, 1920, 1080, Options{}) }

// BenchmarkDetect1080Scale2 tiles at half resolution (TileScale 2), no
// full-frame pass: what a model trained on 2x-downscaled tiles could use.
func BenchmarkDetect1080Scale2(b *testing.B) {
	benchDetect(b, 1920, 1080, Options{TileScale: 2, FullFrame: Off})
}

// BenchmarkGuardRedact redacts a whole 768x576 frame of vtest.avi (people
// walking).
func BenchmarkGuardRedact(b *testing.B) {
	SetThreads(1)
	b.Cleanup(func() { SetThreads(-1) })
	g, err := NewGuard(GuardOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer g.Close()
	frame := peopleSamples(b)["vtest.avi#0"]
	whole := image.Rect(0, 0, frame.Cols(), frame.Rows())
	b.ResetTimer()
	start := startClock()
	for i := 0; i < b.N; i++ {
		out, err := g.Redact(frame, whole)
		if err != nil {
			b.Fatal(err)
		}
		out.Close()
	}
	report(b, start)
}

// BenchmarkGuardCamera cuts and redacts an evidence crop around a camera
// box in a 1280x720 frame.
func BenchmarkGuardCamera(b *testing.B) {
	SetThreads(1)
	b.Cleanup(func() { SetThreads(-1) })
	g, err := NewGuard(GuardOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer g.Close()
	frame := streetFrame(b, 1280, 720)
	defer frame.Close()
	b.ResetTimer()
	start := startClock()
	for i := 0; i < b.N; i++ {
		out, _, err := g.RedactCamera(frame, image.Rect(600, 100, 640, 130))
		if err != nil && !errors.Is(err, ErrPersonOverlap) {
			b.Fatal(err)
		}
		out.Close()
	}
	report(b, start)
}
