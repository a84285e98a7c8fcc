package detect

import (
	"image"
	"math"
)

// plan is the list of model inputs one frame size needs: the tiles of the
// region of interest at tile scale, then optionally the whole frame
// letterboxed. It is computed once per frame size and reused.
type plan struct {
	frame image.Point
	tiles []tile
	// inner[i] holds, for tile i, which of its edges lie inside the frame
	// (left, top, right, bottom): a box touching such an edge may be cut.
	inner [][4]bool
}

// letterbox fits a w x h source into the model input keeping its aspect
// ratio, centred, as Ultralytics does; it returns the destination rectangle.
func letterbox(w, h int, in Input) image.Rectangle {
	s := math.Min(float64(in.Width)/float64(w), float64(in.Height)/float64(h))
	nw := max(1, int(math.Round(float64(w)*s)))
	nh := max(1, int(math.Round(float64(h)*s)))
	x0, y0 := (in.Width-nw)/2, (in.Height-nh)/2
	return image.Rect(x0, y0, x0+nw, y0+nh)
}

// span splits [lo, hi) into windows of size win overlapping by at least ov,
// spread evenly, the first at lo and the last ending at hi. A range no
// longer than win is one window.
func span(lo, hi, win, ov int) []int {
	n := hi - lo
	if n <= win {
		return []int{lo}
	}
	step := win - ov
	if step < 1 {
		step = 1
	}
	k := int(math.Ceil(float64(n-win)/float64(step))) + 1
	starts := make([]int, k)
	for i := range starts {
		starts[i] = lo + int(math.Round(float64(i)*float64(n-win)/float64(k-1)))
	}
	return starts
}

// makePlan lays out the model inputs for a frame of size fw x fh.
func makePlan(fw, fh int, in Input, cfg tilingConfig) plan {
	p := plan{frame: image.Pt(fw, fh)}
	full := image.Rect(0, 0, fw, fh)
	if cfg.tiles {
		roi := image.Rect(
			int(math.Round(cfg.roi[0]*float64(fw))), int(math.Round(cfg.roi[1]*float64(fh))),
			int(math.Round(cfg.roi[2]*float64(fw))), int(math.Round(cfg.roi[3]*float64(fh)))).Intersect(full)
		if roi.Empty() {
			roi = full
		}
		tw := max(1, int(math.Round(float64(in.Width)*cfg.scale)))
		th := max(1, int(math.Round(float64(in.Height)*cfg.scale)))
		ovx := int(math.Round(cfg.overlap * float64(tw)))
		ovy := int(math.Round(cfg.overlap * float64(th)))
		for _, y := range span(roi.Min.Y, roi.Max.Y, th, ovy) {
			for _, x := range span(roi.Min.X, roi.Max.X, tw, ovx) {
				src := image.Rect(x, y, min(x+tw, roi.Max.X), min(y+th, roi.Max.Y))
				// Same scale in every tile; a tile smaller than the input
				// (narrow ROI) sits at the top left of the padded canvas.
				dw := min(in.Width, max(1, int(math.Round(float64(src.Dx())/cfg.scale))))
				dh := min(in.Height, max(1, int(math.Round(float64(src.Dy())/cfg.scale))))
				p.tiles = append(p.tiles, tile{src: src, dst: image.Rect(0, 0, dw, dh)})
				p.inner = append(p.inner, [4]bool{src.Min.X > 0, src.Min.Y > 0, src.Max.X < fw, src.Max.Y < fh})
			}
		}
		// One tile holding the whole frame already sees every object at
		// least as large as a downscaled full-frame pass would.
		if len(p.tiles) == 1 && p.tiles[0].src == full {
			return p
		}
	}
	if cfg.fullFrame || len(p.tiles) == 0 {
		p.tiles = append(p.tiles, tile{src: full, dst: letterbox(fw, fh, in)})
		p.inner = append(p.inner, [4]bool{})
	}
	return p
}

// toFrame maps a box from model-input pixels of tile t to frame pixels,
// clipped to the tile's source. It reports whether the box touches (within
// 1.5 model pixels) an edge of the tile that lies inside the frame.
func (t tile) toFrame(b box, inner [4]bool) (box, bool) {
	sx := float32(t.src.Dx()) / float32(t.dst.Dx())
	sy := float32(t.src.Dy()) / float32(t.dst.Dy())
	const edge = 1.5
	cut := (inner[0] && b.x1 <= float32(t.dst.Min.X)+edge) ||
		(inner[1] && b.y1 <= float32(t.dst.Min.Y)+edge) ||
		(inner[2] && b.x2 >= float32(t.dst.Max.X)-edge) ||
		(inner[3] && b.y2 >= float32(t.dst.Max.Y)-edge)
	f := box{
		x1: float32(t.src.Min.X) + (b.x1-float32(t.dst.Min.X))*sx,
		y1: float32(t.src.Min.Y) + (b.y1-float32(t.dst.Min.Y))*sy,
		x2: float32(t.src.Min.X) + (b.x2-float32(t.dst.Min.X))*sx,
		y2: float32(t.src.Min.Y) + (b.y2-float32(t.dst.Min.Y))*sy,
	}
	f.x1 = max(f.x1, float32(t.src.Min.X))
	f.y1 = max(f.y1, float32(t.src.Min.Y))
	f.x2 = min(f.x2, float32(t.src.Max.X))
	f.y2 = min(f.y2, float32(t.src.Max.Y))
	return f, cut
}
