package detect

import (
	"fmt"
	"image"
	"math"
	"slices"
)

// box is an axis-aligned box in float pixels (x1, y1) - (x2, y2).
type box struct{ x1, y1, x2, y2 float32 }

func (b box) area() float32 {
	w, h := b.x2-b.x1, b.y2-b.y1
	if w <= 0 || h <= 0 {
		return 0
	}
	return w * h
}

func (b box) inter(o box) float32 {
	w := min(b.x2, o.x2) - max(b.x1, o.x1)
	h := min(b.y2, o.y2) - max(b.y1, o.y1)
	if w <= 0 || h <= 0 {
		return 0
	}
	return w * h
}

// iou is intersection over union.
func (b box) iou(o box) float32 {
	in := b.inter(o)
	if in == 0 {
		return 0
	}
	return in / (b.area() + o.area() - in)
}

// ioMin is intersection over the smaller box's area: 1 when one box lies
// inside the other.
func (b box) ioMin(o box) float32 {
	in := b.inter(o)
	if in == 0 {
		return 0
	}
	return in / min(b.area(), o.area())
}

func (b box) union(o box) box {
	return box{min(b.x1, o.x1), min(b.y1, o.y1), max(b.x2, o.x2), max(b.y2, o.y2)}
}

func (b box) rect() image.Rectangle {
	return image.Rect(int(math.Round(float64(b.x1))), int(math.Round(float64(b.y1))),
		int(math.Round(float64(b.x2))), int(math.Round(float64(b.y2))))
}

// cand is one candidate detection.
type cand struct {
	b     box
	score float32
	class int
	pass  int  // index of the tile (or full-frame pass) it came from
	cut   bool // touches an inner tile border: may be part of a larger object
}

// decoder turns raw model outputs into candidates. It keeps the label-type
// table so that ignore classes are dropped here and never leave the package.
type decoder struct {
	layout string
	nc     int
	ignore []bool // per class
}

func newDecoder(b *Bundle) decoder {
	d := decoder{layout: b.Layout, nc: len(b.Labels), ignore: make([]bool, len(b.Labels))}
	for i, l := range b.Labels {
		d.ignore[i] = b.Types[l] == TypeIgnore
	}
	return d
}

// checkShape verifies that a model output has the bundle's layout and class
// count, returning (batch, anchors).
func (d decoder) checkShape(shape []int) (batch, n int, err error) {
	switch d.layout {
	case LayoutYOLOv8:
		if len(shape) != 3 || shape[1] != 4+d.nc || shape[2] < 1 {
			return 0, 0, fmt.Errorf("model output has shape %v but layout %s with %d labels wants [batch, %d, N] (4 box rows + one score row per label)",
				shape, d.layout, d.nc, 4+d.nc)
		}
		return shape[0], shape[2], nil
	case LayoutYOLOv5:
		if len(shape) != 3 || shape[2] != 5+d.nc || shape[1] < 1 {
			return 0, 0, fmt.Errorf("model output has shape %v but layout %s with %d labels wants [batch, N, %d] (4 box columns, objectness, one score per label)",
				shape, d.layout, d.nc, 5+d.nc)
		}
		return shape[0], shape[1], nil
	}
	return 0, 0, fmt.Errorf("unknown layout %q", d.layout)
}

// decode appends to dst the candidates of batch item bi of out whose score
// is at least thr, boxes in model-input pixels. It keeps at most limit
// candidates (the best ones) when limit > 0.
func (d decoder) decode(dst []cand, out output, bi int, thr float32, pass, limit int) ([]cand, error) {
	batch, n, err := d.checkShape(out.shape)
	if err != nil {
		return dst, err
	}
	if bi < 0 || bi >= batch {
		return dst, fmt.Errorf("batch item %d out of range [0, %d)", bi, batch)
	}
	start := len(dst)
	switch d.layout {
	case LayoutYOLOv8:
		rows := 4 + d.nc
		t := out.data[bi*rows*n : (bi+1)*rows*n]
		for j := 0; j < n; j++ {
			best, cls := float32(-1), -1
			for c := 0; c < d.nc; c++ {
				if s := t[(4+c)*n+j]; s > best {
					best, cls = s, c
				}
			}
			if best < thr || cls < 0 || d.ignore[cls] {
				continue
			}
			cx, cy, w, h := t[j], t[n+j], t[2*n+j], t[3*n+j]
			if !(w > 0 && h > 0) {
				continue
			}
			dst = append(dst, cand{b: box{cx - w/2, cy - h/2, cx + w/2, cy + h/2}, score: best, class: cls, pass: pass})
		}
	case LayoutYOLOv5:
		cols := 5 + d.nc
		t := out.data[bi*cols*n : (bi+1)*cols*n]
		for j := 0; j < n; j++ {
			r := t[j*cols : (j+1)*cols]
			obj := r[4]
			if obj < thr {
				continue
			}
			best, cls := float32(-1), -1
			for c := 0; c < d.nc; c++ {
				if s := r[5+c]; s > best {
					best, cls = s, c
				}
			}
			score := obj * best
			if score < thr || cls < 0 || d.ignore[cls] {
				continue
			}
			cx, cy, w, h := r[0], r[1], r[2], r[3]
			if !(w > 0 && h > 0) {
				continue
			}
			dst = append(dst, cand{b: box{cx - w/2, cy - h/2, cx + w/2, cy + h/2}, score: score, class: cls, pass: pass})
		}
	}
	if limit > 0 && len(dst)-start > limit {
		part := dst[start:]
		slices.SortFunc(part, byScore)
		dst = dst[:start+limit]
	}
	return dst, nil
}

// byScore orders candidates best first, whole boxes before cut ones of the
// same score.
func byScore(a, b cand) int {
	switch {
	case a.score > b.score:
		return -1
	case a.score < b.score:
		return 1
	case a.cut != b.cut:
		if b.cut {
			return -1
		}
		return 1
	}
	return 0
}

// nmsContain: a box lying at least this much (intersection over the smaller
// area) inside a better box of the same class is the same camera, however
// different their sizes: overlapping tiles frame a small camera differently
// (seen on a test walk's frames: a 17 px ALPR box inside a 25 px one from
// the next tile, IoU 0.45, both kept). Boxes of different classes are left
// alone: suppressing the less sure type lowered recall on a test walk.
const nmsContain = 0.8

// nms keeps the best-scoring boxes, dropping any box that a kept box
// suppresses (see suppresses). It reorders and truncates c in place, best
// first, and keeps at most limit boxes when limit > 0.
func nms(c []cand, iou float32, limit int) []cand {
	slices.SortStableFunc(c, byScore)
	kept := c[:0]
	for i := range c {
		ok := true
		for k := range kept {
			if suppresses(kept[k], c[i], iou) {
				ok = false
				break
			}
		}
		if ok {
			kept = append(kept, c[i])
			if limit > 0 && len(kept) == limit {
				break
			}
		}
	}
	return kept
}

// suppresses says whether kept box k stands for the same camera as the
// worse-scored box x: the same class, and IoU above iou or x mostly inside
// k or k inside x (nmsContain). A box cut by a tile border never suppresses
// a whole one from another tile (the cut box would win with the wrong
// extent; mergeCut joins what remains); within one tile both are guesses at
// the same view and the better wins.
func suppresses(k, x cand, iou float32) bool {
	if k.class != x.class || k.cut && !x.cut && k.pass != x.pass {
		return false
	}
	return k.b.iou(x.b) > iou || k.b.ioMin(x.b) >= nmsContain
}

// mergeCut joins boxes cut by a tile border with the boxes of the same class
// from another tile or pass that cover the same object: when at least one of
// two boxes is cut and most of the smaller one lies inside the other
// (intersection over the smaller area >= minIoMin), they become their union
// with the higher score. This repairs objects larger than the tile overlap,
// which no tile sees whole.
func mergeCut(c []cand, minIoMin float32) []cand {
	for {
		merged := false
		for i := 0; i < len(c) && !merged; i++ {
			for j := i + 1; j < len(c); j++ {
				a, b := c[i], c[j]
				if a.class != b.class || a.pass == b.pass || !(a.cut || b.cut) {
					continue
				}
				if a.b.ioMin(b.b) < minIoMin {
					continue
				}
				m := a
				if b.score > a.score {
					m = b
				}
				m.b = a.b.union(b.b)
				m.cut = a.cut && b.cut
				c[i] = m
				c = append(c[:j], c[j+1:]...)
				merged = true
				break
			}
		}
		if !merged {
			break
		}
	}
	slices.SortStableFunc(c, byScore)
	return c
}
