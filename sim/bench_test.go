package sim

import (
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
