package sim

import (
	"image"
	"image/color"
	"math"
	"math/rand/v2"

	"gocv.io/x/gocv"
)

// rgb converts an albedo in 0..1 to a drawing colour.
func rgb(c [3]float64) color.RGBA {
	return color.RGBA{uint8(clamp(c[0], 0, 1)*255 + 0.5), uint8(clamp(c[1], 0, 1)*255 + 0.5), uint8(clamp(c[2], 0, 1)*255 + 0.5), 255}
}

func mix(a, b [3]float64, t float64) [3]float64 {
	return [3]float64{a[0] + (b[0]-a[0])*t, a[1] + (b[1]-a[1])*t, a[2] + (b[2]-a[2])*t}
}

func scaleCol(a [3]float64, s float64) [3]float64 {
	return [3]float64{a[0] * s, a[1] * s, a[2] * s}
}

// texPainter draws in metres onto a facade texture (origin top-left, y down).
type texPainter struct {
	m       *gocv.Mat
	ppm     float64
	w, h    float64 // metres
	batch   polyBatch
	noBatch bool
}

func (p *texPainter) rect(x0, y0, x1, y1 float64, c [3]float64) {
	pts := []float64{x0 * p.ppm, y0 * p.ppm, x1 * p.ppm, y0 * p.ppm, x1 * p.ppm, y1 * p.ppm, x0 * p.ppm, y1 * p.ppm}
	col := rgb(c)
	p.batch.add(pts, [3]uint8{col.B, col.G, col.R})
}

func (p *texPainter) flush() { p.batch.draw(p.m, true) }

// grime multiplies the texture by smooth random variation (dirt, weathering)
// of relative amplitude amp, generated from rng (OpenCV's RNG is not used:
// it is per-thread and would break determinism).
func grime(rng *rand.Rand, m *gocv.Mat, amp float64, cells int) {
	gw, gh := cells, max(cells*m.Rows()/max(m.Cols(), 1), 2)
	buf := make([]byte, gw*gh)
	for i := range buf {
		buf[i] = uint8(clamp(128+amp*127*(2*rng.Float64()-1), 0, 255))
	}
	small, _ := gocv.NewMatFromBytes(gh, gw, gocv.MatTypeCV8U, buf)
	defer small.Close()
	big := gocv.NewMat()
	defer big.Close()
	gocv.Resize(small, &big, image.Pt(m.Cols(), m.Rows()), 0, 0, gocv.InterpolationCubic)
	big3 := gocv.NewMat()
	defer big3.Close()
	gocv.CvtColor(big, &big3, gocv.ColorGrayToBGR)
	gocv.MultiplyWithParams(*m, big3, m, 1.0/128, -1)
}

// facadeTexture paints a building front of w×h metres in style at ppm
// pixels per metre. lit is the share of windows lit from inside (dusk).
func facadeTexture(rng *rand.Rand, style string, w, h, ppm float64, lit float64) gocv.Mat {
	cols, rows := max(int(w*ppm+0.5), 8), max(int(h*ppm+0.5), 8)
	var base [3]float64
	switch style {
	case "brick":
		base = jitterColor(rng, [3]float64{0.55, 0.3, 0.22}, 0.2)
	case "plaster":
		base = [][3]float64{{0.85, 0.8, 0.68}, {0.78, 0.72, 0.6}, {0.9, 0.88, 0.84}, {0.7, 0.75, 0.78}, {0.82, 0.65, 0.5}, {0.72, 0.78, 0.66}}[rng.IntN(6)]
		base = jitterColor(rng, base, 0.08)
	case "concrete":
		base = jitterColor(rng, [3]float64{0.6, 0.6, 0.58}, 0.15)
	case "glass":
		base = jitterColor(rng, [3]float64{0.35, 0.42, 0.48}, 0.15)
	default: // shop: upper floors plaster or brick
		if rng.IntN(2) == 0 {
			base = jitterColor(rng, [3]float64{0.55, 0.3, 0.22}, 0.2)
		} else {
			base = jitterColor(rng, [3]float64{0.82, 0.77, 0.66}, 0.12)
		}
	}
	brick := style == "brick" || (style == "shop" && base[0] > base[1]*1.4)
	fill := base
	if brick {
		fill = jitterColor(rng, [3]float64{0.62, 0.6, 0.55}, 0.1) // mortar
	}
	m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(fill[2]*255, fill[1]*255, fill[0]*255, 0), rows, cols, gocv.MatTypeCV8UC3)
	p := &texPainter{m: &m, ppm: ppm, w: w, h: h}

	if brick {
		// brick courses: alternate shades per course and per brick
		bw, bh := 0.225, 0.075
		for y, row := 0.0, 0; y < h; y, row = y+bh, row+1 {
			off := 0.0
			if row%2 == 1 {
				off = bw / 2
			}
			for x := -off; x < w; x += bw {
				c := jitterColor(rng, base, 0.12)
				p.rect(x+0.005, y+0.005, x+bw-0.005, y+bh-0.005, c)
			}
		}
		p.flush()
	}
	if style == "glass" {
		// curtain wall: mullion grid, panels reflecting sky and street
		pw := 1.2 + 0.6*rng.Float64()
		ph := 3.0 + 0.6*rng.Float64()
		mull := jitterColor(rng, [3]float64{0.2, 0.2, 0.22}, 0.4)
		p.rect(0, 0, w, h, mull)
		for y := 0.0; y < h; y += ph {
			for x := 0.0; x < w; x += pw {
				t := clamp(1-y/h, 0, 1)
				c := mix(base, [3]float64{0.62, 0.7, 0.78}, 0.5*t*rng.Float64())
				c = jitterColor(rng, c, 0.08)
				if rng.Float64() < lit*0.6 {
					c = [3]float64{0.95, 0.85, 0.55}
				}
				p.rect(x+0.04, y+0.04, x+pw-0.04, y+ph-0.04, c)
			}
		}
		p.flush()
		grime(rng, &m, 0.05, 6)
		return m
	}
	// floors and window bays
	floorH := 3.0 + 0.6*rng.Float64()
	bay := 2.4 + 1.4*rng.Float64()
	winW := bay * (0.35 + 0.25*rng.Float64())
	winH := floorH * (0.4 + 0.2*rng.Float64())
	frame := [][3]float64{{0.92, 0.92, 0.9}, {0.25, 0.2, 0.15}, {0.15, 0.15, 0.15}, {0.6, 0.6, 0.58}}[rng.IntN(4)]
	nb := max(int(w/bay), 1)
	bay = w / float64(nb)
	ground := 0.0 // height of the ground floor band in metres from the bottom
	if style == "shop" {
		ground = 3.6 + 0.8*rng.Float64()
		sign := [][3]float64{{0.7, 0.1, 0.1}, {0.1, 0.2, 0.5}, {0.1, 0.4, 0.2}, {0.9, 0.7, 0.1}, {0.15, 0.15, 0.15}, {0.9, 0.9, 0.9}}[rng.IntN(6)]
		top := h - ground
		p.rect(0, top, w, h, jitterColor(rng, [3]float64{0.3, 0.3, 0.3}, 0.5))
		p.rect(0, top, w, top+0.8, sign)
		// shop windows and door, dark glass with a reflection gradient
		x := 0.3
		for x < w-1.0 {
			ww := math.Min(2+3*rng.Float64(), w-x-0.3)
			g := jitterColor(rng, [3]float64{0.12, 0.14, 0.16}, 0.5)
			if rng.Float64() < lit {
				g = [3]float64{0.9, 0.8, 0.6}
			}
			p.rect(x, top+1.0, x+ww, h-0.05, g)
			p.rect(x, top+1.0, x+ww, top+1.4, mix(g, [3]float64{0.6, 0.65, 0.7}, 0.4))
			x += ww + 0.3 + rng.Float64()*0.8
		}
		p.flush()
		// sign lettering: a few blocky glyphs
		if rng.Float64() < 0.8 {
			txt := []rune{}
			for i := 0; i < 3+rng.IntN(6); i++ {
				txt = append(txt, rune('A'+rng.IntN(26)))
			}
			sc := 0.5 * ppm / 22
			gocv.PutTextWithParams(&m, string(txt), image.Pt(int(0.6*ppm), int((top+0.65)*ppm)), gocv.FontHersheySimplex, sc,
				rgb(mix(sign, [3]float64{1, 1, 1}, 0.85)), max(int(sc*2), 1), gocv.LineAA, false)
		}
	} else {
		// ground floor door(s)
		for i := 0; i < nb; i++ {
			if rng.Float64() < 0.25 {
				x := float64(i)*bay + bay/2
				p.rect(x-0.55, h-2.3, x+0.55, h, jitterColor(rng, [3]float64{0.25, 0.18, 0.12}, 0.5))
			}
		}
		ground = floorH
	}
	// upper floors
	band := style == "plaster" || style == "concrete" || rng.Float64() < 0.3
	for fy := h - ground; fy > 0.8; fy -= floorH {
		wy0 := fy - floorH + (floorH-winH)*0.55
		if band {
			p.rect(0, fy-0.12, w, fy+0.05, scaleCol(base, 0.85))
		}
		for i := 0; i < nb; i++ {
			x0 := float64(i)*bay + (bay-winW)/2
			if wy0 < 0.2 {
				continue
			}
			p.rect(x0-0.08, wy0-0.08, x0+winW+0.08, wy0+winH+0.12, frame)
			g := jitterColor(rng, [3]float64{0.1, 0.12, 0.15}, 0.5)
			if rng.Float64() < 0.3 {
				g = mix(g, [3]float64{0.55, 0.6, 0.68}, 0.5) // sky reflection
			}
			if rng.Float64() < lit {
				g = jitterColor(rng, [3]float64{0.95, 0.8, 0.5}, 0.1)
			}
			p.rect(x0, wy0, x0+winW, wy0+winH, g)
			// glazing bars
			p.rect(x0+winW/2-0.03, wy0, x0+winW/2+0.03, wy0+winH, frame)
			p.rect(x0-0.12, wy0+winH+0.06, x0+winW+0.12, wy0+winH+0.14, scaleCol(base, 0.8)) // sill
		}
	}
	if style == "concrete" {
		for x := 0.0; x < w; x += 1.5 + 1.5*rng.Float64() {
			p.rect(x, 0, x+0.02, h, scaleCol(base, 0.85))
		}
	}
	// roof edge
	p.rect(0, 0, w, 0.25, scaleCol(base, 0.7))
	p.flush()
	grime(rng, &m, 0.12, 8)
	return m
}
