package sim

import (
	"context"
	"os"
	"syscall"
	"testing"

	"gocv.io/x/gocv"
)

// BenchmarkWalkFrame renders street20 frames at 1280×720 (render, camera
// effects, truth and MJPEG encoding, as sim walk does) on one goroutine and
// reports frames/s and the projected time for the whole 2-minute walk.
func BenchmarkWalkFrame(b *testing.B) {
	sc, err := LoadScenario("testdata/street20.yaml")
	if err != nil {
		b.Fatal(err)
	}
	wk, err := NewWalk(sc, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer wk.Close()
	r := NewRenderer(sc.Device.Width, sc.Device.Height, 1)
	defer r.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		fi := (i * 37) % wk.Frames
		wk.RenderFrame(r, fi)
		buf, err := gocv.IMEncode(gocv.JPEGFileExt, r.Frame)
		if err != nil {
			b.Fatal(err)
		}
		buf.Close()
	}
	b.StopTimer()
	fps := float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(fps, "frames/s")
	b.ReportMetric(float64(wk.Frames)/fps, "s/walk")
}

// BenchmarkDataset renders, encodes and writes 640×640 dataset images on
// ONE core: one worker and one OpenCV thread. Reports images/s.
func BenchmarkDataset(b *testing.B) {
	prev := CVThreads()
	SetCVThreads(1)
	defer SetCVThreads(prev)
	out := b.TempDir()
	var bg *Backgrounds
	if _, err := os.Stat(sharedBackgrounds); err == nil {
		if bg, err = LoadBackgrounds(sharedBackgrounds, SplitAll, 0); err != nil {
			b.Fatal(err)
		}
		defer bg.Close()
	}
	opt, err := DatasetOptions{N: b.N, Seed: 1, ValFrac: 0.1, NegFrac: 0.3, Backgrounds: bg, Workers: 1}.check()
	if err != nil {
		b.Fatal(err)
	}
	kit := newDatasetKit(opt) // the texture bank is made once per run, not per image
	defer kit.close()
	b.ResetTimer()
	cpu0 := cpuSeconds()
	if _, err := generateDataset(context.Background(), out, kit); err != nil {
		b.Fatal(err)
	}
	cpu := cpuSeconds() - cpu0
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "images/s")
	// on a shared machine wall time includes waiting for a core; CPU time
	// (user+system of this process) is what one free core would need
	b.ReportMetric(float64(b.N)/cpu, "images/cpu-s")
}

// cpuSeconds returns the CPU time (user + system) this process has used.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// sharedBackgrounds is where the project's street photos live next to the
// repository (not copied into it).
const sharedBackgrounds = "../../shared/assets/backgrounds"

// BenchmarkWalk renders the whole street20 walk (2 min 11 s, 1280×720,
// 10 fps: 1307 frames) with sim walk's pipeline, all CPUs, MJPEG video and
// truth files included. Reports seconds per walk.
func BenchmarkWalk(b *testing.B) {
	sc, err := LoadScenario("testdata/street20.yaml")
	if err != nil {
		b.Fatal(err)
	}
	cpu0 := cpuSeconds()
	for i := 0; i < b.N; i++ {
		out := b.TempDir()
		meta, err := RunWalk(context.Background(), sc, nil, out, WalkOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if meta.Frames < 1200 {
			b.Fatalf("%d frames", meta.Frames)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/walk")
	b.ReportMetric((cpuSeconds()-cpu0)/float64(b.N), "cpu-s/walk")
}
