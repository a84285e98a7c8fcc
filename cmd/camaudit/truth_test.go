package main

import (
	"errors"
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// writeTruthFrames writes a frames.jsonl of n frames, each with two
// cameras: a dome moving right (and back to the left every 1000 frames)
// and a bullet standing still.
func writeTruthFrames(t *testing.T, n int) string {
	t.Helper()
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, `{"frame":%d,"time":"2026-05-04T14:00:00Z","boxes":[{"id":"cam-01","type":"dome","box":[%d,100,%d,112],"visible":1},{"id":"cam-02","type":"bullet","box":[600,200,624,210],"visible":0.9}]}`+"\n", i, 100+i%1000, 112+i%1000)
	}
	p := filepath.Join(t.TempDir(), "frames.jsonl")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTruthNoise(t *testing.T) {
	const n = 2000
	path := writeTruthFrames(t, n)
	clean, err := loadTruth(path, 0.3, 4, truthNoise{}, 1280, 720)
	if err != nil {
		t.Fatal(err)
	}
	if d := clean.frames[7]; len(d) != 2 || d[0].Box != image.Rect(107, 100, 119, 112) || d[0].Type != "dome" || d[1].Score != 0.9 {
		t.Fatalf("clean frame 7 = %+v", d)
	}
	noise := truthNoise{JitterPx: 2, Drop: 0.2, Flip: 0.1, False: 0.3, Seed: 5}
	a, err := loadTruth(path, 0.3, 4, noise, 1280, 720)
	if err != nil {
		t.Fatal(err)
	}
	b, err := loadTruth(path, 0.3, 4, noise, 1280, 720)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a.frames, b.frames) {
		t.Error("the same seed gave different detections")
	}
	noise.Seed = 6
	c, _ := loadTruth(path, 0.3, 4, noise, 1280, 720)
	if reflect.DeepEqual(a.frames, c.frames) {
		t.Error("another seed gave the same detections")
	}

	var kept, flipped, spurious, runs, missed int
	var jit []float64
	inBurst := false
	for i := int64(0); i < n; i++ {
		ids := a.ids[i]
		seen := false
		for k, d := range a.frames[i] {
			if !d.Box.In(image.Rect(0, 0, 1280, 720)) || d.Box.Empty() {
				t.Errorf("frame %d: box %v outside the frame", i, d.Box)
			}
			switch ids[k] {
			case "":
				spurious++
			case "cam-01":
				kept++
				seen = true
				if d.Type != "dome" {
					flipped++
					if d.Type != "ptz" {
						t.Errorf("a dome flipped to %s, want its look-alike ptz", d.Type)
					}
				}
				jit = append(jit, float64(d.Box.Min.X)-float64(100+i%1000))
			}
		}
		if !seen {
			missed++
			if !inBurst {
				runs++
			}
		}
		inBurst = !seen
	}
	drop := float64(missed) / n
	var ss float64
	for _, v := range jit {
		ss += v * v
	}
	sd := math.Sqrt(ss / float64(len(jit)))
	t.Logf("dome kept %d/%d (missed in %d runs), flipped %d, spurious %d, edge jitter sd %.2f px", kept, n, runs, flipped, spurious, sd)
	if math.Abs(drop-0.2) > 0.04 {
		t.Errorf("missed %.2f of the boxes, want 0.2", drop)
	}
	if burst := float64(missed) / float64(runs); burst < 1.8 || burst > 3.5 {
		t.Errorf("misses come in runs of %.1f frames, want about %.1f", burst, dropBurst)
	}
	if f := float64(flipped) / float64(kept); math.Abs(f-0.1) > 0.03 {
		t.Errorf("flipped %.2f of the boxes, want 0.1", f)
	}
	if f := float64(spurious) / n; math.Abs(f-0.3) > 0.05 {
		t.Errorf("%.2f spurious boxes per frame, want 0.3", f)
	}
	if sd < 1.5 || sd > 2.5 {
		t.Errorf("box edges jitter by %.2f px (sd), want 2", sd)
	}
}

func TestReplayTruthNoiseFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--truth", "f.jsonl", "--truth-drop", "1.5"}, "--truth-drop"},
		{[]string{"--truth", "f.jsonl", "--truth-jitter", "-1"}, "--truth-jitter"},
		{[]string{"--truth-flip", "0.1"}, "give --truth"},
		{[]string{"--tile-scale", "5"}, "--tile-scale 5 must be in [0, 4]"},
		{[]string{"--tile-scale", "-1"}, "--tile-scale"},
		{[]string{"--threshold", "1"}, "--threshold 1 must be in [0, 1)"},
	} {
		var out, errb strings.Builder
		err := cmdReplay(t.Context(), append([]string{"--video", "v.avi", "--nmea", "n.nmea"}, tc.args...), &out, &errb)
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("replay %v: err = %v, want a usage error about %s", tc.args, err, tc.want)
		}
	}
}
