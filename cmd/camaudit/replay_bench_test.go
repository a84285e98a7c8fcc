package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkReplay720p measures replay throughput (frames/s) and the peak
// resident memory of the replay process on a simulated 1280x720 walk
// (firmware/testdata/walk22-720p.yaml, its first 300 frames): with the
// simulator's truth boxes as the detector (decode + tracking + location +
// journal), and with the shipped model.
func BenchmarkReplay720p(b *testing.B) {
	frames := 300
	walk := b.TempDir()
	var out, errb bytes.Buffer
	if code := runMain([]string{"sim", "walk", "--scenario", "../../firmware/testdata/walk22-720p.yaml", "--out", walk,
		"--frames", fmt.Sprint(frames), "--quiet"}, &out, &errb); code != 0 {
		b.Fatalf("sim walk: %s%s", out.String(), errb.String())
	}
	base := []string{"replay", "--video", filepath.Join(walk, "walk.avi"), "--nmea", filepath.Join(walk, "track.nmea"), "--quiet"}
	bench := func(b *testing.B, frames int, extra ...string) {
		var peak int64
		start := time.Now()
		for i := 0; i < b.N; i++ {
			cmd := fwHelperCmd(append(append([]string(nil), base...), extra...)...)
			var o bytes.Buffer
			cmd.Stdout, cmd.Stderr = &o, &o
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			hwm := watchHWM(cmd.Process.Pid)
			err := cmd.Wait()
			if kb := hwm(); kb > peak {
				peak = kb
			}
			if err != nil {
				b.Fatalf("replay: %v\n%s", err, o.String())
			}
		}
		el := time.Since(start).Seconds()
		b.ReportMetric(float64(frames*b.N)/el, "frames/s")
		b.ReportMetric(float64(peak)/1024, "peak_RSS_MiB")
	}
	b.Run("truth", func(b *testing.B) { bench(b, frames, "--truth", filepath.Join(walk, "frames.jsonl")) })
	// The shipped bundle (committed beside the code; the default lookup
	// would not find it from this package's folder), at its default tile
	// scale and at 0.5, the setting for a device that keeps up.
	b.Run("model", func(b *testing.B) { bench(b, 60, "--model", shippedModel, "--max-frames", "60") })
	b.Run("model-ts0.5", func(b *testing.B) {
		bench(b, 60, "--model", shippedModel, "--max-frames", "60", "--tile-scale", "0.5")
	})
}

// watchHWM polls the resident-memory high-water mark (VmHWM) of process
// pid until it exits; the returned func gives the last reading in KiB.
// The child's rusage cannot say it: a child started by vfork-and-exec
// inherits its parent's peak RSS into ru_maxrss, and this benchmark's
// parent has rendered a walk.
func watchHWM(pid int) func() int64 {
	var last int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
			if err != nil {
				return
			}
			for _, line := range strings.Split(string(b), "\n") {
				if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
					if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil && kb > last {
						last = kb
					}
				}
			}
			if strings.Contains(string(b), "State:\tZ") {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	return func() int64 { <-done; return last }
}
