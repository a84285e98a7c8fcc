package main

import (
	"bytes"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/camaudit/camaudit/detect"
)

// BenchmarkReplay720p measures replay throughput (frames/s) and the peak
// resident memory of the replay process on a simulated 1280x720 walk
// (firmware/testdata/walk22-720p.yaml, its first 300 frames): with the
// simulator's truth boxes as the detector (decode + tracking + location +
// journal), and with the default model when one is installed.
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
			if o, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("replay: %v\n%s", err, o)
			}
			if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && ru.Maxrss > peak {
				peak = ru.Maxrss
			}
		}
		el := time.Since(start).Seconds()
		b.ReportMetric(float64(frames*b.N)/el, "frames/s")
		b.ReportMetric(float64(peak)/1024, "peak_RSS_MiB")
	}
	b.Run("truth", func(b *testing.B) { bench(b, frames, "--truth", filepath.Join(walk, "frames.jsonl")) })
	if dir, err := detect.DefaultModelDir(); err == nil {
		b.Run("model", func(b *testing.B) { bench(b, 60, "--model", dir, "--max-frames", "60") })
	} else {
		b.Logf("no default model installed (%v): model replay not measured", err)
	}
}
