package sim

import (
	"image"
	"math"
	"math/rand/v2"
	"sort"

	"gocv.io/x/gocv"
)

// Renderer draws a World as seen from a View into Frame (BGR, 8 bits).
// It keeps its scratch images between frames, so one Renderer per
// goroutine renders any number of frames without allocating images.
type Renderer struct {
	W, H  int
	Frame gocv.Mat

	// The background (sky, ground, facades) is rendered at 1/bgScale of
	// the frame size and scaled up: facades are soft textures and this
	// quarters the cost of texture mapping. Objects are drawn at full size.
	bgScale           int
	bw, bh            int
	bg, bgTmp, bgMask gocv.Mat

	tmp, mask gocv.Mat
	hm        gocv.Mat // 3×3 homography, CV_64F
	sky       gocv.Mat // H×1 sky gradient
	noise     gocv.Mat // (H+pad)×(W+pad) noise around 128, sigma noiseSigma0
	blurTmp   gocv.Mat
	batch     polyBatch
	skyBuf    []byte

	// per-frame scratch
	fpoly [][]float64
	fbox  []image.Rectangle
	faces []drawFace
	order []int
	cam   []Vec3
	proj  []float64
}

type drawFace struct {
	depth float64
	pts   []float64
	col   [3]uint8
}

const (
	noisePad    = 64
	noiseSigma0 = 24.0
)

// NewRenderer returns a renderer for w×h frames. seed fixes its sensor
// noise pattern.
func NewRenderer(w, h int, seed uint64) *Renderer {
	bs := 1
	if w >= 640 && h >= 360 && w%2 == 0 && h%2 == 0 {
		bs = 2
	}
	bw, bh := w/bs, h/bs
	r := &Renderer{W: w, H: h, bgScale: bs, bw: bw, bh: bh,
		bg:      gocv.NewMatWithSize(bh, bw, gocv.MatTypeCV8UC3),
		bgTmp:   gocv.NewMatWithSize(bh, bw, gocv.MatTypeCV8UC3),
		bgMask:  gocv.NewMatWithSize(bh, bw, gocv.MatTypeCV8U),
		Frame:   gocv.NewMatWithSize(h, w, gocv.MatTypeCV8UC3),
		tmp:     gocv.NewMatWithSize(h, w, gocv.MatTypeCV8UC3),
		mask:    gocv.NewMatWithSize(h, w, gocv.MatTypeCV8U),
		hm:      gocv.NewMatWithSize(3, 3, gocv.MatTypeCV64F),
		blurTmp: gocv.NewMat(),
		skyBuf:  make([]byte, bh*3),
	}
	rng := rand.New(rand.NewPCG(seed, 0x9015e))
	nb := make([]byte, (h+noisePad)*(w+noisePad)*3)
	for i := range nb {
		nb[i] = uint8(clamp(128+noiseSigma0*rng.NormFloat64(), 0, 255))
	}
	r.noise, _ = gocv.NewMatFromBytes(h+noisePad, w+noisePad, gocv.MatTypeCV8UC3, nb) // keeps nb alive
	r.sky, _ = gocv.NewMatFromBytes(bh, 1, gocv.MatTypeCV8UC3, r.skyBuf)              // a view of skyBuf
	return r
}

// Close frees the renderer's images.
func (r *Renderer) Close() {
	for _, m := range []*gocv.Mat{&r.Frame, &r.tmp, &r.mask, &r.hm, &r.sky, &r.noise, &r.blurTmp, &r.bg, &r.bgTmp, &r.bgMask} {
		if m.Ptr() != nil {
			m.Close()
		}
	}
}

// Render draws w from v into r.Frame: sky, ground, facades far to near,
// then objects far to near, each clipped by the facades in front of it.
func (r *Renderer) Render(w *World, v *View) {
	bv := v.scaled(r.bgScale)
	r.drawSky(&w.Light, bv)
	r.drawGround(w, bv)
	r.drawFacades(w, v, bv)
	if r.bgScale == 1 {
		r.bg.CopyTo(&r.Frame)
	} else {
		gocv.Resize(r.bg, &r.Frame, image.Pt(r.W, r.H), 0, 0, gocv.InterpolationLinear)
	}
	r.drawObjects(w, v)
}

// scaled returns v for an image s times smaller (pixel centres at integers).
func (v *View) scaled(s int) *View {
	if s == 1 {
		return v
	}
	c := *v
	f := float64(s)
	c.W, c.H = v.W/s, v.H/s
	c.F = v.F / f
	c.Cx = (v.Cx+0.5)/f - 0.5
	c.Cy = (v.Cy+0.5)/f - 0.5
	return &c
}

func (r *Renderer) drawSky(l *Light, v *View) {
	for y := 0; y < r.bh; y++ {
		ray := v.Ray(v.Cx, float64(y))
		t := clamp(math.Asin(clamp(ray.Z, -1, 1))/(math.Pi/2.2), 0, 1)
		t = math.Pow(t, 0.6)
		c := mix(l.SkyLow, l.SkyTop, t)
		r.skyBuf[3*y] = uint8(clamp(c[2]*255, 0, 255))
		r.skyBuf[3*y+1] = uint8(clamp(c[1]*255, 0, 255))
		r.skyBuf[3*y+2] = uint8(clamp(c[0]*255, 0, 255))
	}
	gocv.Repeat(r.sky, 1, r.bw, &r.bg)
}

// projectPoly turns a world polygon into pixel coordinates (x0,y0,x1,...)
// after clipping it at the near plane; it returns nil when nothing is in front.
func (r *Renderer) projectPoly(v *View, pts []Vec3, dst []float64) []float64 {
	r.cam = r.cam[:0]
	allIn := true
	for _, p := range pts {
		c := v.ToCam(p)
		if c.Z < v.Near {
			allIn = false
		}
		r.cam = append(r.cam, c)
	}
	cs := r.cam
	if !allIn {
		cs = clipNear(make([]Vec3, 0, len(pts)+2), r.cam, v.Near)
		if len(cs) < 3 {
			return nil
		}
	}
	// a guard band three frames wide: keeps pixel coordinates small
	gx := 3 * (float64(v.W)/2 + 2) / v.F
	gy := 3 * (float64(v.H)/2 + 2) / v.F
	for _, c := range cs {
		if math.Abs(c.X) > gx*c.Z || math.Abs(c.Y) > gy*c.Z {
			cs = clipPlane(cs, Vec3{1, 0, gx})
			cs = clipPlane(cs, Vec3{-1, 0, gx})
			cs = clipPlane(cs, Vec3{0, 1, gy})
			cs = clipPlane(cs, Vec3{0, -1, gy})
			if len(cs) < 3 {
				return nil
			}
			break
		}
	}
	for _, c := range cs {
		x, y := v.ProjectCam(c)
		dst = append(dst, x, y)
	}
	return dst
}

func polyBounds(pts []float64) image.Rectangle {
	x0, y0, x1, y1 := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	for i := 0; i+1 < len(pts); i += 2 {
		x0, x1 = math.Min(x0, pts[i]), math.Max(x1, pts[i])
		y0, y1 = math.Min(y0, pts[i+1]), math.Max(y1, pts[i+1])
	}
	c := func(v float64) int { return int(clamp(v, -1e7, 1e7)) }
	return image.Rect(c(math.Floor(x0))-1, c(math.Floor(y0))-1, c(math.Ceil(x1))+2, c(math.Ceil(y1))+2)
}

func (r *Renderer) bgr(c [3]float64) [3]uint8 {
	return [3]uint8{uint8(clamp(c[2]*255+0.5, 0, 255)), uint8(clamp(c[1]*255+0.5, 0, 255)), uint8(clamp(c[0]*255+0.5, 0, 255))}
}

func (r *Renderer) drawGround(w *World, v *View) {
	up := Vec3{0, 0, 1}
	for _, g := range w.ground {
		pts := r.projectPoly(v, g.pts, nil)
		if pts == nil {
			continue
		}
		r.batch.add(pts, r.bgr(w.Light.shade(g.col, up, up, 0, 0)))
	}
	r.batch.draw(&r.bg, true)
}

// drawFacades draws the facades far to near into the background (view bv)
// and keeps their outlines in frame pixels (view v) for occluding objects.
func (r *Renderer) drawFacades(w *World, v, bv *View) {
	frame := image.Rect(0, 0, r.W, r.H)
	bframe := image.Rect(0, 0, r.bw, r.bh)
	r.fpoly = r.fpoly[:0]
	r.fbox = r.fbox[:0]
	r.order = r.order[:0]
	dist := make([]float64, len(w.Facades))
	for i, f := range w.Facades {
		r.fpoly = append(r.fpoly, nil)
		r.fbox = append(r.fbox, image.Rectangle{})
		if v.Eye.Sub(f.O).Dot(f.N) <= 0 {
			continue // seen from behind
		}
		corners := []Vec3{f.O, f.O.Add(f.U.Scale(f.W)), f.O.Add(f.U.Scale(f.W)).Add(Vec3{0, 0, f.H}), f.O.Add(Vec3{0, 0, f.H})}
		pts := r.projectPoly(v, corners, nil)
		if pts == nil {
			continue
		}
		bb := polyBounds(pts).Intersect(frame)
		if bb.Empty() {
			continue
		}
		r.fpoly[i], r.fbox[i] = pts, bb
		// distance from the eye to the nearest point of the wall's base line
		e := v.Eye
		e.Z = 0
		dist[i] = segDist(e, f.O, f.O.Add(f.U.Scale(f.W)))
		r.order = append(r.order, i)
	}
	sort.SliceStable(r.order, func(a, b int) bool { return dist[r.order[a]] > dist[r.order[b]] })
	for _, i := range r.order {
		f := w.Facades[i]
		pts := r.fpoly[i]
		if bv != v {
			corners := []Vec3{f.O, f.O.Add(f.U.Scale(f.W)), f.O.Add(f.U.Scale(f.W)).Add(Vec3{0, 0, f.H}), f.O.Add(Vec3{0, 0, f.H})}
			pts = r.projectPoly(bv, corners, nil)
			if pts == nil {
				continue
			}
		}
		bb := polyBounds(pts).Intersect(bframe)
		if !bb.Empty() {
			r.drawFacade(bv, f, pts, bb)
		}
	}
}

// drawFacade maps f's texture onto its outline pts (bounds bb) in the background.
func (r *Renderer) drawFacade(v *View, f *Facade, pts []float64, bb image.Rectangle) {
	// choose a mip level from the depth range of the visible part
	zmin, zmax := math.Inf(1), 0.0
	for _, c := range []Vec3{f.O, f.O.Add(f.U.Scale(f.W)), f.O.Add(Vec3{0, 0, f.H}), f.O.Add(f.U.Scale(f.W)).Add(Vec3{0, 0, f.H})} {
		z := v.ToCam(c).Z
		zmin, zmax = math.Min(zmin, z), math.Max(zmax, z)
	}
	zmin = math.Max(zmin, 1)
	zmax = clamp(zmax, zmin, 300)
	zmid := math.Sqrt(zmin * zmax)
	level := 0
	if ratio := f.ppm * zmid / v.F; ratio > 1 {
		level = int(math.Log2(ratio))
	}
	level = min(level, len(f.tex)-1)
	tex := f.tex[level]
	sx := float64(tex.Cols()) / f.W // texels per metre along U
	sy := float64(tex.Rows()) / f.H
	top := f.O.Add(Vec3{0, 0, f.H})
	x0, y0 := float64(bb.Min.X), float64(bb.Min.Y)
	col := func(m Vec3) (float64, float64, float64) {
		cx, cy, cz := m.Dot(v.Right), m.Dot(v.Down), m.Dot(v.Fwd)
		return v.F*cx + (v.Cx-x0)*cz, v.F*cy + (v.Cy-y0)*cz, cz
	}
	a0, a1, a2 := col(f.U.Scale(1 / sx))
	b0, b1, b2 := col(Vec3{0, 0, -1 / sy})
	c0, c1, c2 := col(top.Sub(v.Eye))
	// OpenCV maps source (texture) pixel centres; shift by half a texel
	c0, c1, c2 = c0+0.5*(a0+b0), c1+0.5*(a1+b1), c2+0.5*(a2+b2)
	h := [9]float64{a0, b0, c0, a1, b1, c1, a2, b2, c2}
	for i, val := range h {
		r.hm.SetDoubleAt(i/3, i%3, val)
	}
	dst := r.bgTmp.Region(bb)
	defer dst.Close()
	interp := gocv.InterpolationLinear
	if level > 0 {
		interp = gocv.InterpolationNearestNeighbor // minified: the mip level already filtered it
	}
	gocv.WarpPerspectiveWithParams(tex, &dst, r.hm, bb.Size(), interp, gocv.BorderReplicate, rgb([3]float64{}))
	m := r.bgMask.Region(bb)
	defer m.Close()
	m.SetTo(gocv.NewScalar(0, 0, 0, 0))
	off := make([]float64, len(pts))
	for i := 0; i < len(pts); i += 2 {
		off[i], off[i+1] = pts[i]-x0, pts[i+1]-y0
	}
	r.batch.add(off, [3]uint8{255, 255, 255})
	r.batch.draw(&m, false)
	fr := r.bg.Region(bb)
	defer fr.Close()
	dst.CopyToWithMask(&fr, m)
}

func (r *Renderer) drawObjects(w *World, v *View) {
	type item struct {
		o *Object
		d float64
	}
	var items []item
	frame := image.Rect(0, 0, r.W, r.H)
	for _, o := range w.Objects {
		c := v.ToCam(o.centre)
		if c.Z < -o.radius {
			continue
		}
		if c.Z > v.Near {
			x, y := v.ProjectCam(c)
			pr := v.F*o.radius/c.Z + 2
			if x+pr < 0 || x-pr > float64(r.W) || y+pr < 0 || y-pr > float64(r.H) {
				continue
			}
			if pr < 0.6 {
				continue // below a pixel
			}
		}
		items = append(items, item{o, o.sortDist(v.Eye)})
	}
	sort.SliceStable(items, func(a, b int) bool { return items[a].d > items[b].d })
	for _, it := range items {
		r.drawObject(w, v, it.o, frame)
	}
}

// collectFaces projects and shades the faces of o's mesh, far to near.
func (r *Renderer) collectFaces(l *Light, v *View, o *Object, m *Mesh) {
	r.faces = r.faces[:0]
	var world [16]Vec3
	for fi := range m.Faces {
		f := &m.Faces[fi]
		pts := world[:0]
		var c Vec3
		for _, p := range f.Pts {
			q := o.Pos.Add(o.Rot.Apply(p))
			pts = append(pts, q)
			c = c.Add(q)
		}
		c = c.Scale(1 / float64(len(pts)))
		n := o.Rot.Apply(f.Normal)
		toEye := v.Eye.Sub(c)
		if n.Dot(toEye) <= 0 {
			if !f.TwoSided {
				continue
			}
			n = n.Scale(-1)
		}
		xy := r.projectPoly(v, pts, nil)
		if xy == nil {
			continue
		}
		col := l.shade(f.Color, n, toEye.Norm(), f.Spec, f.Emit)
		r.faces = append(r.faces, drawFace{depth: v.ToCam(c).Z, pts: xy, col: r.bgr(col)})
	}
	sort.SliceStable(r.faces, func(a, b int) bool { return r.faces[a].depth > r.faces[b].depth })
}

func (r *Renderer) drawObject(w *World, v *View, o *Object, frame image.Rectangle) {
	m := o.hi
	if c := v.ToCam(o.centre); c.Z > v.Near && v.F*o.radius/c.Z < 25 {
		m = o.lo
	}
	r.collectFaces(&w.Light, v, o, m)
	if len(r.faces) == 0 {
		return
	}
	bb := image.Rectangle{}
	for _, f := range r.faces {
		bb = bb.Union(polyBounds(f.pts))
	}
	bb = bb.Intersect(frame)
	if bb.Empty() {
		return
	}
	// facades between the eye and the object hide part of it
	var occ []int
	for i, f := range w.Facades {
		if r.fpoly[i] == nil || !r.fbox[i].Overlaps(bb) {
			continue
		}
		if o.centre.Sub(f.O).Dot(f.N) < -0.02 {
			occ = append(occ, i)
		}
	}
	if len(occ) == 0 {
		for _, f := range r.faces {
			r.batch.add(f.pts, f.col)
		}
		r.batch.draw(&r.Frame, true)
		return
	}
	x0, y0 := float64(bb.Min.X), float64(bb.Min.Y)
	fr := r.Frame.Region(bb)
	defer fr.Close()
	t := r.tmp.Region(bb)
	defer t.Close()
	fr.CopyTo(&t)
	for _, f := range r.faces {
		r.batch.add(offset(f.pts, x0, y0), f.col)
	}
	r.batch.draw(&t, true)
	mk := r.mask.Region(bb)
	defer mk.Close()
	mk.SetTo(gocv.NewScalar(255, 0, 0, 0))
	for _, i := range occ {
		r.batch.add(offset(r.fpoly[i], x0, y0), [3]uint8{0, 0, 0})
	}
	r.batch.draw(&mk, false)
	t.CopyToWithMask(&fr, mk)
}

func offset(pts []float64, x0, y0 float64) []float64 {
	out := make([]float64, len(pts))
	for i := 0; i < len(pts); i += 2 {
		out[i], out[i+1] = pts[i]-x0, pts[i+1]-y0
	}
	return out
}

// PostFX are the camera effects applied after rendering.
type PostFX struct {
	Gain   float64 // exposure multiplier (1 = none)
	Bias   float64 // added after the gain, in grey levels
	BlurX  float64 // horizontal motion blur length in pixels
	BlurY  float64 // vertical motion blur length in pixels
	Soft   float64 // Gaussian lens softness sigma in pixels (0 = none)
	Noise  float64 // sensor noise sigma in grey levels
	NoiseX int     // noise pattern offset (vary per frame)
	NoiseY int
}

// Post applies fx to r.Frame in place.
func (r *Renderer) Post(fx PostFX) {
	bx, by := int(math.Round(fx.BlurX)), int(math.Round(fx.BlurY))
	if bx >= 2 || by >= 2 {
		gocv.Blur(r.Frame, &r.Frame, image.Pt(max(bx, 1), max(by, 1)))
	}
	if fx.Soft > 0.3 {
		gocv.GaussianBlur(r.Frame, &r.Frame, image.Pt(0, 0), fx.Soft, fx.Soft, gocv.BorderReflect101)
	}
	if fx.Gain != 0 && (fx.Gain != 1 || fx.Bias != 0) {
		r.Frame.ConvertToWithParams(&r.Frame, gocv.MatTypeCV8UC3, float32(fx.Gain), float32(fx.Bias))
	}
	if fx.Noise > 0.2 {
		ox, oy := fx.NoiseX%noisePad, fx.NoiseY%noisePad
		if ox < 0 {
			ox += noisePad
		}
		if oy < 0 {
			oy += noisePad
		}
		n := r.noise.Region(image.Rect(ox, oy, ox+r.W, oy+r.H))
		defer n.Close()
		k := fx.Noise / noiseSigma0
		gocv.AddWeighted(r.Frame, 1, n, k, -128*k, &r.Frame)
	}
}
