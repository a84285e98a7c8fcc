package detect

import (
	"image"
	"testing"
)

func TestSpan(t *testing.T) {
	tests := []struct {
		lo, hi, win, ov int
		want            []int
	}{
		{0, 300, 320, 64, []int{0}},
		{0, 320, 320, 64, []int{0}},
		{0, 576, 320, 64, []int{0, 256}},
		{0, 577, 320, 64, []int{0, 129, 257}},
		{0, 1920, 320, 64, []int{0, 229, 457, 686, 914, 1143, 1371, 1600}},
		{100, 500, 200, 0, []int{100, 300}},
		{100, 501, 200, 0, []int{100, 201, 301}},
	}
	for _, tc := range tests {
		got := span(tc.lo, tc.hi, tc.win, tc.ov)
		if len(got) != len(tc.want) {
			t.Errorf("span(%d,%d,%d,%d) = %v, want %v", tc.lo, tc.hi, tc.win, tc.ov, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("span(%d,%d,%d,%d) = %v, want %v", tc.lo, tc.hi, tc.win, tc.ov, got, tc.want)
				break
			}
		}
		// Every window inside the range, consecutive windows overlapping by >= ov.
		for i, s := range got {
			if s < tc.lo || min(s+tc.win, tc.hi) > tc.hi {
				t.Errorf("window %d at %d outside [%d,%d)", i, s, tc.lo, tc.hi)
			}
			if i > 0 && got[i-1]+tc.win-s < tc.ov {
				t.Errorf("windows %d and %d overlap by %d < %d", i-1, i, got[i-1]+tc.win-s, tc.ov)
			}
		}
		if last := got[len(got)-1]; min(last+tc.win, tc.hi) != tc.hi {
			t.Errorf("last window ends at %d, not %d", last+tc.win, tc.hi)
		}
	}
}

func TestLetterbox(t *testing.T) {
	in := Input{Width: 320, Height: 320}
	tests := []struct {
		w, h int
		want image.Rectangle
	}{
		{1920, 1080, image.Rect(0, 70, 320, 250)},
		{1080, 1920, image.Rect(70, 0, 250, 320)},
		{320, 320, image.Rect(0, 0, 320, 320)},
		{160, 80, image.Rect(0, 80, 320, 240)},
	}
	for _, tc := range tests {
		if got := letterbox(tc.w, tc.h, in); got != tc.want {
			t.Errorf("letterbox(%d,%d) = %v, want %v", tc.w, tc.h, got, tc.want)
		}
	}
	if got := letterbox(1920, 1080, Input{Width: 320, Height: 256}); got != image.Rect(0, 38, 320, 218) {
		t.Errorf("letterbox into 320x256 = %v", got)
	}
}

func TestPlanCoversROI(t *testing.T) {
	in := Input{Width: 320, Height: 320}
	tests := []struct {
		name     string
		fw, fh   int
		cfg      tilingConfig
		tiles    int // including the full-frame pass
		fullLast bool
	}{
		{"1080p default", 1920, 1080, tilingConfig{roi: [4]float64{0, 0, 1, 0.65}, overlap: 0.2, scale: 1, tiles: true, fullFrame: true}, 8*3 + 1, true},
		{"720p default", 1280, 720, tilingConfig{roi: [4]float64{0, 0, 1, 0.65}, overlap: 0.2, scale: 1, tiles: true, fullFrame: true}, 5*2 + 1, true},
		{"1080p scale 2", 1920, 1080, tilingConfig{roi: [4]float64{0, 0, 1, 0.65}, overlap: 0.2, scale: 2, tiles: true, fullFrame: false}, 4 * 2, false},
		{"frame fits one tile", 320, 240, tilingConfig{roi: [4]float64{0, 0, 1, 1}, overlap: 0.2, scale: 1, tiles: true, fullFrame: true}, 1, false},
		{"full frame only", 1920, 1080, tilingConfig{roi: [4]float64{0, 0, 1, 1}, scale: 1, tiles: false, fullFrame: true}, 1, true},
	}
	for _, tc := range tests {
		p := makePlan(tc.fw, tc.fh, in, tc.cfg)
		if len(p.tiles) != tc.tiles {
			t.Errorf("%s: %d inputs, want %d", tc.name, len(p.tiles), tc.tiles)
		}
		frame := image.Rect(0, 0, tc.fw, tc.fh)
		n := len(p.tiles)
		if tc.fullLast {
			if p.tiles[n-1].src != frame {
				t.Errorf("%s: last input is %v, want the full frame", tc.name, p.tiles[n-1].src)
			}
			n--
		}
		if !tc.cfg.tiles {
			continue
		}
		roi := image.Rect(0, 0, tc.fw, int(tc.cfg.roi[3]*float64(tc.fh)+0.5))
		// Every ROI pixel row/column is inside some tile; every tile is in the ROI
		// with the model input's aspect at tile scale.
		for y := roi.Min.Y; y < roi.Max.Y; y += 7 {
			for x := roi.Min.X; x < roi.Max.X; x += 7 {
				in := false
				for _, tl := range p.tiles[:n] {
					if image.Pt(x, y).In(tl.src) {
						in = true
						break
					}
				}
				if !in {
					t.Fatalf("%s: pixel (%d,%d) of the ROI is in no tile", tc.name, x, y)
				}
			}
		}
		for _, tl := range p.tiles[:n] {
			if !tl.src.In(roi) {
				t.Errorf("%s: tile %v outside ROI %v", tc.name, tl.src, roi)
			}
			if float64(tl.src.Dx()) != float64(tl.dst.Dx())*tc.cfg.scale && tl.dst.Dx() == 320 {
				t.Errorf("%s: tile %v -> %v is not at scale %g", tc.name, tl.src, tl.dst, tc.cfg.scale)
			}
		}
	}
}

func TestTileToFrame(t *testing.T) {
	tests := []struct {
		name  string
		t     tile
		inner [4]bool
		in    box
		want  box
		cut   bool
	}{
		{"tile at scale 1", tile{src: image.Rect(640, 100, 960, 420), dst: image.Rect(0, 0, 320, 320)}, [4]bool{true, true, true, true},
			box{10, 20, 30, 40}, box{650, 120, 670, 140}, false},
		{"tile at scale 2", tile{src: image.Rect(100, 0, 740, 640), dst: image.Rect(0, 0, 320, 320)}, [4]bool{true, false, true, true},
			box{10, 20, 30, 40}, box{120, 40, 160, 80}, false},
		{"letterboxed full frame", tile{src: image.Rect(0, 0, 1920, 1080), dst: image.Rect(0, 70, 320, 250)}, [4]bool{},
			box{160, 160, 170, 175}, box{960, 540, 1020, 630}, false},
		{"touches inner left edge: cut", tile{src: image.Rect(640, 0, 960, 320), dst: image.Rect(0, 0, 320, 320)}, [4]bool{true, false, true, true},
			box{0.5, 20, 30, 40}, box{640.5, 20, 670, 40}, true},
		{"touches frame top edge: not cut", tile{src: image.Rect(640, 0, 960, 320), dst: image.Rect(0, 0, 320, 320)}, [4]bool{true, false, true, true},
			box{10, 0, 30, 40}, box{650, 0, 670, 40}, false},
		{"beyond the right edge: clipped and cut", tile{src: image.Rect(640, 0, 960, 320), dst: image.Rect(0, 0, 320, 320)}, [4]bool{true, false, true, true},
			box{300, 20, 330, 40}, box{940, 20, 960, 40}, true},
		{"narrow tile padded", tile{src: image.Rect(0, 200, 200, 300), dst: image.Rect(0, 0, 200, 100)}, [4]bool{false, true, false, true},
			box{50, 10, 60, 99}, box{50, 210, 60, 299}, true},
	}
	for _, tc := range tests {
		got, cut := tc.t.toFrame(tc.in, tc.inner)
		if got != tc.want || cut != tc.cut {
			t.Errorf("%s: toFrame(%v) = %v cut=%v, want %v cut=%v", tc.name, tc.in, got, cut, tc.want, tc.cut)
		}
	}
}
