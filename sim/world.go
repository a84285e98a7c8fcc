package sim

import (
	"fmt"
	"image"
	"math"
	"math/rand/v2"

	"github.com/camaudit/camaudit/geo"
	"gocv.io/x/gocv"
)

// Light is the illumination of a scene.
type Light struct {
	Sun      Vec3       // unit vector towards the sun
	SunI     float64    // direct sunlight intensity
	SunCol   [3]float64 // sunlight colour
	Ambient  float64    // sky light intensity
	SkyCol   [3]float64 // sky light colour
	SkyTop   [3]float64 // sky colour at the zenith
	SkyLow   [3]float64 // sky colour at the horizon
	Ground   [3]float64 // pavement albedo
	Lit      float64    // share of windows lit from inside
	Dusk     bool
	Exposure float64 // global gain
}

// newLight returns the light for a lighting kind and sun position.
func newLight(kind string, azDeg, elDeg float64) Light {
	az, el := rad(azDeg), rad(elDeg)
	sun := Vec3{math.Sin(az) * math.Cos(el), math.Cos(az) * math.Cos(el), math.Sin(el)}
	l := Light{Sun: sun, SunCol: [3]float64{1, 0.97, 0.9}, SkyCol: [3]float64{0.85, 0.9, 1}, Ground: [3]float64{0.52, 0.5, 0.47}, Exposure: 1}
	switch kind {
	case "overcast":
		l.SunI, l.Ambient = 0.2, 0.85
		l.SkyTop, l.SkyLow = [3]float64{0.7, 0.72, 0.75}, [3]float64{0.86, 0.87, 0.88}
		l.SkyCol = [3]float64{0.95, 0.96, 1}
	case "dusk":
		l.SunI, l.Ambient = 0.25, 0.4
		l.SunCol = [3]float64{1, 0.6, 0.35}
		l.SkyTop, l.SkyLow = [3]float64{0.12, 0.16, 0.35}, [3]float64{0.85, 0.55, 0.4}
		l.SkyCol = [3]float64{0.6, 0.62, 0.85}
		l.Lit, l.Dusk = 0.35, true
	default: // sun
		l.SunI, l.Ambient = 0.75, 0.5
		l.SkyTop, l.SkyLow = [3]float64{0.3, 0.5, 0.82}, [3]float64{0.72, 0.8, 0.9}
	}
	return l
}

// shade returns the colour of a surface with albedo c and world normal n,
// seen from direction toEye (unit, surface to eye).
func (l *Light) shade(c [3]float64, n, toEye Vec3, spec, emit float64) [3]float64 {
	ndl := math.Max(0, n.Dot(l.Sun))
	amb := l.Ambient * (0.78 + 0.22*n.Z)
	var out [3]float64
	h := l.Sun.Add(toEye).Norm()
	sp := 0.0
	if spec > 0 {
		sp = spec * (l.SunI*math.Pow(math.Max(0, n.Dot(h)), 20) + 0.25*l.Ambient*math.Max(0, n.Z))
	}
	for i := 0; i < 3; i++ {
		out[i] = c[i]*(amb*l.SkyCol[i]+ndl*l.SunI*l.SunCol[i]) + sp*l.SunCol[i] + emit*[3]float64{1, 0.93, 0.75}[i]
	}
	return out
}

// Facade is a textured vertical rectangle: a building front or side wall.
// O is its bottom-left corner seen from outside, U the unit direction to
// its bottom-right corner, N the outward normal.
type Facade struct {
	O, U, N Vec3
	W, H    float64
	tex     []gocv.Mat // mip levels, level 0 at ppm pixels per metre
	ppm     float64
	street  int // index of the street, -1 for side walls
	side    int // +1 left, -1 right
}

// OBox is an oriented box used for occlusion tests.
type OBox struct {
	C    Vec3
	Axes [3]Vec3
	Half [3]float64
}

// Object is a mesh placed in the world: a camera, pole, lamp, canopy or distractor.
type Object struct {
	Kind   string
	Pos    Vec3
	Rot    Mat3
	hi, lo *Mesh
	centre Vec3 // world bounding-sphere centre
	radius float64
	occ    []OBox
	Camera *Camera // set for surveillance cameras
	// axis, when set, is a vertical segment (pole) used for depth sorting
	// instead of the bounding-sphere centre: a pole's nearest point decides
	// whether it is in front of what hangs on it.
	axis *[2]Vec3
}

// sortDist is the key used to order objects far to near: the horizontal
// distance from eye (things in a street are spread out horizontally, and a
// camera on an arm must sort against its pole at its own height), with
// the 3-D distance breaking ties.
func (o *Object) sortDist(eye Vec3) float64 {
	c := o.centre
	if o.axis != nil {
		c = o.axis[0]
	}
	return math.Hypot(c.X-eye.X, c.Y-eye.Y) + 1e-3*o.centre.Sub(eye).Len()
}

// setPole marks o as a pole standing at base with height h.
func (o *Object) setPole(base Vec3, h float64) {
	o.axis = &[2]Vec3{base, base.Add(Vec3{0, 0, h})}
	o.occ = append(o.occ, OBox{C: base.Add(Vec3{0, 0, h / 2}), Axes: [3]Vec3{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}, Half: [3]float64{0.08, 0.08, h / 2}})
}

// Camera is a surveillance camera with its ground truth.
type Camera struct {
	ID, Type, Mount string
	Pos             Vec3    // world position of the housing centre
	Direction       float64 // compass degrees it faces
	Tilt            float64 // degrees down
	LatLon          geo.LatLon
	obj             *Object
	samples         []Vec3 // world points on the housing
}

// groundPoly is a flat polygon on the ground (roads, markings).
type groundPoly struct {
	pts []Vec3
	col [3]float64
}

// World is everything a renderer draws, built from a Scenario.
type World struct {
	ENU     geo.ENU
	Facades []*Facade
	Objects []*Object
	Cameras []*Camera
	Light   Light
	ground  []groundPoly
	streets []*polyline
	roadW   []float64 // carriageway width per street
	corr    []float64 // half-width of each street's corridor (nearest facade setback)
}

// Close frees the textures.
func (w *World) Close() {
	for _, f := range w.Facades {
		for i := range f.tex {
			f.tex[i].Close()
		}
		f.tex = nil
	}
}

// texPPM is the facade texture resolution in pixels per metre.
const texPPM = 48

// setTexture gives f its texture (taking ownership) and builds mip levels.
func (f *Facade) setTexture(m gocv.Mat, ppm float64, shade float64) {
	if shade != 1 {
		gocv.ConvertScaleAbs(m, &m, shade, 0)
	}
	f.tex = []gocv.Mat{m}
	f.ppm = ppm
	for len(f.tex) < 5 {
		last := f.tex[len(f.tex)-1]
		if last.Cols() < 16 || last.Rows() < 16 {
			break
		}
		d := gocv.NewMat()
		gocv.PyrDown(last, &d, image.Point{}, gocv.BorderReflect101)
		f.tex = append(f.tex, d)
	}
}

// BuildWorld turns a scenario into a world. bg (optional) supplies photo
// facades. Errors name the scenario field that cannot be placed.
func BuildWorld(sc *Scenario, bg *Backgrounds) (*World, error) {
	rng := rand.New(rand.NewPCG(uint64(sc.Seed), 0x5eed0001))
	w := &World{ENU: geo.NewENU(geo.LatLon{Lat: sc.Origin.Lat, Lon: sc.Origin.Lon})}
	w.Light = newLight(sc.Lighting, sc.Sun.Azimuth, sc.Sun.Elevation)
	for _, st := range sc.Streets {
		w.streets = append(w.streets, newPolyline(w.localPoints(st.Points, st.LatLon)))
		w.roadW = append(w.roadW, st.RoadWidth)
		sb := st.RoadWidth/2 + st.Sidewalk
		for _, sd := range []*SideSpec{st.Left, st.Right} {
			if sd != nil && !sd.None && sd.Setback < sb {
				sb = sd.Setback
			}
		}
		w.corr = append(w.corr, sb)
	}
	// ground: pavement everywhere, roads on top
	const far = 1500.0
	w.ground = append(w.ground, groundPoly{[]Vec3{{-far, -far, 0}, {far, -far, 0}, {far, far, 0}, {-far, far, 0}}, w.Light.Ground})
	asphalt := jitterColor(rng, [3]float64{0.28, 0.28, 0.29}, 0.15)
	for i, st := range sc.Streets {
		pl := w.streets[i]
		hw := st.RoadWidth / 2
		for k := 0; k+1 < len(pl.pts); k++ {
			a, b := pl.pts[k], pl.pts[k+1]
			d := pl.segDir(k)
			n := leftOf(d)
			a2, b2 := a.Sub(d.Scale(hw)), b.Add(d.Scale(hw))
			kerb := [3]float64{0.62, 0.61, 0.58}
			w.ground = append(w.ground, groundPoly{[]Vec3{a2.Add(n.Scale(hw + 0.15)), b2.Add(n.Scale(hw + 0.15)), b2.Sub(n.Scale(hw + 0.15)), a2.Sub(n.Scale(hw + 0.15))}, kerb})
			w.ground = append(w.ground, groundPoly{[]Vec3{a2.Add(n.Scale(hw)), b2.Add(n.Scale(hw)), b2.Sub(n.Scale(hw)), a2.Sub(n.Scale(hw))}, asphalt})
			L := b.Sub(a).Len()
			for s := 2.0; s+3 < L; s += 9 {
				p0, p1 := a.Add(d.Scale(s)), a.Add(d.Scale(s+3))
				if w.inOtherRoad(p0, i) || w.inOtherRoad(p1, i) {
					continue
				}
				w.ground = append(w.ground, groundPoly{[]Vec3{p0.Add(n.Scale(0.07)), p1.Add(n.Scale(0.07)), p1.Sub(n.Scale(0.07)), p0.Sub(n.Scale(0.07))}, [3]float64{0.85, 0.85, 0.8}})
			}
		}
	}
	// facades
	for i, st := range sc.Streets {
		for _, side := range []int{1, -1} {
			sd := st.Left
			if side < 0 {
				sd = st.Right
			}
			if sd == nil || sd.None {
				continue
			}
			w.buildSide(rng, sc, i, side, sd, bg)
		}
	}
	// street lamps
	for i, st := range sc.Streets {
		if st.Lamps == nil {
			continue
		}
		w.buildLamps(rng, sc, i, st.Lamps)
	}
	// street trees
	for i, st := range sc.Streets {
		if st.Trees != nil {
			w.buildTrees(rng, i, st.Trees)
		}
	}
	// cameras
	for i, cs := range sc.Cameras {
		if err := w.placeCamera(rng, sc, i, cs); err != nil {
			return nil, err
		}
	}
	// distractors
	for i, it := range sc.Distractors.Items {
		if err := w.placeDistractor(rng, sc, i, it); err != nil {
			return nil, err
		}
	}
	if sc.Distractors.PerHundred > 0 {
		w.autoDistractors(rng, sc.Distractors.PerHundred)
	}
	return w, nil
}

func (w *World) localPoints(xy, ll []Point2) []Vec3 {
	var out []Vec3
	for _, p := range xy {
		out = append(out, Vec3{p[0], p[1], 0})
	}
	for _, p := range ll {
		x, y := w.ENU.ToLocal(geo.LatLon{Lat: p[0], Lon: p[1]})
		out = append(out, Vec3{x, y, 0})
	}
	return out
}

// inOtherRoad reports whether q lies on the carriageway of a street other than self.
func (w *World) inOtherRoad(q Vec3, self int) bool {
	for j, pl := range w.streets {
		if j != self && pl.dist(q) < w.roadW[j]/2+0.3 {
			return true
		}
	}
	return false
}

// blocked reports whether a facade point q would stand inside a street's
// corridor (between its facades), i.e. block a street or its sidewalk.
func (w *World) blocked(q Vec3) bool {
	for j, pl := range w.streets {
		if pl.dist(q) < w.corr[j]-0.05 {
			return true
		}
	}
	return false
}

func (w *World) buildSide(rng *rand.Rand, sc *Scenario, si, side int, sd *SideSpec, bg *Backgrounds) {
	pl := w.streets[si]
	for k := 0; k+1 < len(pl.pts); k++ {
		d := pl.segDir(k)
		off := leftOf(d).Scale(float64(side) * sd.Setback)
		a := pl.pts[k].Add(off)
		L := pl.pts[k+1].Sub(pl.pts[k]).Len()
		// extend the facade line to the corner when the street bends, trim later
		const step = 0.5
		n := int(L/step) + 1
		free := make([]bool, n)
		for j := 0; j < n; j++ {
			free[j] = !w.blocked(a.Add(d.Scale(float64(j) * step)))
		}
		for j := 0; j < n; {
			if !free[j] {
				j++
				continue
			}
			e := j
			for e < n && free[e] {
				e++
			}
			w.buildRun(rng, sc, si, side, sd, bg, a, d, float64(j)*step, math.Min(float64(e-1)*step, L))
			j = e
		}
	}
}

// buildRun fills the facade line from s0 to s1 (metres from a along d) with buildings.
func (w *World) buildRun(rng *rand.Rand, sc *Scenario, si, side int, sd *SideSpec, bg *Backgrounds, a, d Vec3, s0, s1 float64) {
	if s1-s0 < 3 {
		return
	}
	out := leftOf(d).Scale(-float64(side)) // outward normal points back to the street
	wall := func(p0, p1 Vec3, n Vec3, h float64, style string) {
		f := &Facade{street: si, side: side, H: h, N: n}
		u := p1.Sub(p0)
		f.W = u.Len()
		f.U = u.Norm()
		f.O = p0
		style = w.pickStyle(style, bg)
		var tex gocv.Mat
		if style == "photo" {
			tex = bg.crop(rng, max(int(f.W*texPPM), 8), max(int(h*texPPM), 8))
		} else {
			tex = facadeTexture(rng, style, f.W, h, texPPM, w.Light.Lit)
		}
		f.setTexture(tex, texPPM, w.facadeShade(n))
		w.Facades = append(w.Facades, f)
	}
	s := s0
	first := true
	for s < s1-0.01 {
		bw := sd.Width[0] + (sd.Width[1]-sd.Width[0])*rng.Float64()
		if s1-(s+bw) < sd.Width[0]*0.5 {
			bw = s1 - s
		}
		bw = math.Min(bw, s1-s)
		h := sd.Height[0] + (sd.Height[1]-sd.Height[0])*rng.Float64()
		style := sd.Styles[rng.IntN(len(sd.Styles))]
		p0, p1 := a.Add(d.Scale(s)), a.Add(d.Scale(s+bw))
		// the facade seen from the street runs left to right
		if side > 0 {
			wall(p0, p1, out, h, style)
		} else {
			wall(p1, p0, out, h, style)
		}
		gap := rng.Float64() < sd.Gap && s+bw+6 < s1
		depth := 12.0
		back := out.Scale(-depth)
		if first { // side wall at the start of the run
			if side > 0 {
				wall(p0.Add(back), p0, d.Scale(-1), h, "concrete")
			} else {
				wall(p0, p0.Add(back), d.Scale(-1), h, "concrete")
			}
		}
		if gap || s+bw >= s1-0.01 {
			if side > 0 {
				wall(p1, p1.Add(back), d, h, "concrete")
			} else {
				wall(p1.Add(back), p1, d, h, "concrete")
			}
		}
		first = false
		s += bw
		if gap {
			s += 2 + 2*rng.Float64()
			first = true
		}
	}
}

func (w *World) pickStyle(style string, bg *Backgrounds) string {
	if style == "photo" && bg.Len() == 0 {
		return "plaster"
	}
	return style
}

// facadeShade is the brightness of a wall with outward normal n.
func (w *World) facadeShade(n Vec3) float64 {
	l := &w.Light
	s := l.Ambient*0.95 + l.SunI*math.Max(0, n.Dot(l.Sun))
	return clamp(s, 0.15, 1.6)
}

// sidesAt says on which sides of a street the k-th lamp or tree along it
// stands (1: left, -1: right) for a "sides" setting of left, right,
// alternate or both (anything else).
func sidesAt(setting string, k int) []int {
	switch setting {
	case "left":
		return []int{1}
	case "right":
		return []int{-1}
	case "alternate":
		return []int{1 - 2*(k%2)}
	default:
		return []int{1, -1}
	}
}

func (w *World) buildLamps(rng *rand.Rand, sc *Scenario, si int, ls *LampSpec) {
	pl := w.streets[si]
	k := 0
	for s := ls.Spacing / 2; s < pl.Len(); s += ls.Spacing {
		p, d, _ := pl.at(s)
		sides := sidesAt(ls.Sides, k)
		k++
		for _, side := range sides {
			q := p.Add(leftOf(d).Scale(float64(side) * ls.Offset))
			if w.inOtherRoad(q, si) {
				continue
			}
			arm := leftOf(d).Scale(-float64(side)) // towards the road
			mesh, c := lampMesh(rng, ls.Height, 1.4, ls.Style == "globe", 12, w.Light.Dusk)
			lo, _ := lampMesh(rand.New(rand.NewPCG(1, 1)), ls.Height, 1.4, ls.Style == "globe", 6, w.Light.Dusk)
			copyColors(lo, mesh)
			o := w.addObject("street_lamp", q, Heading(compass(arm.X, arm.Y), 0, 0), mesh, lo)
			o.setPole(q, ls.Height)
			_ = c
		}
	}
}

func (w *World) buildTrees(rng *rand.Rand, si int, ts *TreeSpec) {
	pl := w.streets[si]
	k := 0
	for s := ts.Spacing * (0.3 + 0.4*rng.Float64()); s < pl.Len(); s += ts.Spacing * (0.85 + 0.3*rng.Float64()) {
		p, d, _ := pl.at(s)
		sides := sidesAt(ts.Sides, k)
		k++
		for _, side := range sides {
			q := p.Add(leftOf(d).Scale(float64(side) * ts.Offset))
			if w.inOtherRoad(q, si) || w.nearObject(q, 1.5) {
				continue
			}
			w.addTree(rng, q, ts.Height[0]+(ts.Height[1]-ts.Height[0])*rng.Float64())
		}
	}
}

// addTree plants a tree of height h at q.
func (w *World) addTree(rng *rand.Rand, q Vec3, h float64) {
	seed := rng.Uint64()
	hi, occ := treeMesh(rand.New(rand.NewPCG(seed, 3)), h, 12, w.Light.Dusk)
	lo, _ := treeMesh(rand.New(rand.NewPCG(seed, 3)), h, 6, w.Light.Dusk)
	o := w.addObject("tree", q, Identity3, hi, lo)
	o.axis = &[2]Vec3{q, q.Add(Vec3{0, 0, h})}
	for _, b := range occ {
		b.C = b.C.Add(q)
		o.occ = append(o.occ, b)
	}
}

// nearObject reports whether a pole-like object already stands within r of q.
func (w *World) nearObject(q Vec3, r float64) bool {
	for _, o := range w.Objects {
		if o.axis != nil && math.Hypot(o.axis[0].X-q.X, o.axis[0].Y-q.Y) < r {
			return true
		}
	}
	return false
}

// copyColors gives the low-detail mesh the colours of the detailed one,
// part by part (faces are matched by order of their materials).
func copyColors(lo, hi *Mesh) {
	var cols [][3]float64
	last := [3]float64{-1}
	for _, f := range hi.Faces {
		if f.Color != last {
			cols = append(cols, f.Color)
			last = f.Color
		}
	}
	k := -1
	last = [3]float64{-1}
	for i := range lo.Faces {
		if lo.Faces[i].Color != last {
			k++
			last = lo.Faces[i].Color
		}
		if k < len(cols) {
			lo.Faces[i].Color = cols[k]
		}
	}
}

// addObject places a mesh (and its low-detail version) at pos with rotation rot.
func (w *World) addObject(kind string, pos Vec3, rot Mat3, hi, lo *Mesh) *Object {
	c, r := hi.bounds()
	o := &Object{Kind: kind, Pos: pos, Rot: rot, hi: hi, lo: lo, centre: pos.Add(rot.Apply(c)), radius: r}
	w.Objects = append(w.Objects, o)
	return o
}

// anchor resolves an AnchorSpec to a point: on the facade line (facade=true)
// or at the offset from the centreline. It returns the point and the unit
// normal pointing from that side back to the street centreline.
func (w *World) anchor(sc *Scenario, a *AnchorSpec, facade bool) (Vec3, Vec3, error) {
	si := -1
	for i, st := range sc.Streets {
		if st.ID == a.Street {
			si = i
		}
	}
	st := sc.Streets[si]
	pl := w.streets[si]
	if a.S > pl.Len() {
		return Vec3{}, Vec3{}, fmt.Errorf("s_m %g is beyond the end of street %q (%.1f m long)", a.S, a.Street, pl.Len())
	}
	p, d, _ := pl.at(a.S)
	side := 1.0
	sd := st.Left
	if a.Side == "right" {
		side, sd = -1, st.Right
	}
	off := st.RoadWidth/2 + 0.4
	if facade {
		off = st.RoadWidth/2 + st.Sidewalk
		if sd != nil && !sd.None {
			off = sd.Setback
		}
	}
	if a.Offset != nil {
		off = *a.Offset
	}
	n := leftOf(d).Scale(side)
	return p.Add(n.Scale(off)), n.Scale(-1), nil
}

// onFacade reports whether q (on a facade line) is covered by a built facade.
func (w *World) onFacade(q Vec3) bool {
	for _, f := range w.Facades {
		r := q.Sub(f.O)
		x := r.Dot(f.U)
		if x >= -0.05 && x <= f.W+0.05 && math.Abs(r.Dot(f.N)) < 0.3 {
			return true
		}
	}
	return false
}

func defaultTilt(typ string) float64 {
	switch typ {
	case "bullet":
		return 15
	case "alpr":
		return 8
	}
	return 0
}

func (w *World) placeCamera(rng *rand.Rand, sc *Scenario, i int, cs CameraSpec) error {
	field := fmt.Sprintf("cameras[%d]", i)
	fail := func(sub string, err error) error {
		return fmt.Errorf("%s:%d: %s%s: %v", sc.file, sc.line(field+sub), field, sub, err)
	}
	look := randomLook(rng, cs.Type)
	look.scale *= cs.Scale
	if c, ok := namedColor(cs.Color); ok {
		look.body = c
	}
	tilt := defaultTilt(cs.Type)
	if cs.Tilt != nil {
		tilt = *cs.Tilt
	}
	wallish := cs.Mount == "wall" || cs.Mount == "ceiling"
	var base, out Vec3 // base point on the ground plane, direction away from the mount
	switch {
	case cs.At != nil:
		p, toStreet, err := w.anchor(sc, cs.At, wallish)
		if err != nil {
			return fail(".at", err)
		}
		if wallish && !w.onFacade(p) {
			return fail(".at", fmt.Errorf("no facade at %g m along %q on the %s side for a %s mount", cs.At.S, cs.At.Street, cs.At.Side, cs.Mount))
		}
		base, out = p, toStreet
		if !wallish { // the arm points towards the road
			out = toStreet
		}
	case cs.XY != nil:
		base = Vec3{cs.XY[0], cs.XY[1], 0}
	default:
		x, y := w.ENU.ToLocal(geo.LatLon{Lat: cs.LatLon[0], Lon: cs.LatLon[1]})
		base = Vec3{x, y, 0}
	}
	frameHdg := 0.0
	if out.Len() > 0 {
		frameHdg = compass(out.X, out.Y)
	} else if cs.Direction != nil {
		frameHdg = *cs.Direction
	}
	dir := frameHdg
	if cs.Direction != nil {
		dir = geo.NormDeg(*cs.Direction)
	}
	yawRel := geo.AngleDiff(dir, frameHdg)
	if wallish && math.Abs(yawRel) > 80 {
		return fail(".direction_deg", fmt.Errorf("a %s-mounted camera cannot face %g°: its wall faces %.0f° (allowed: within ±80°)", cs.Mount, dir, geo.NormDeg(frameHdg)))
	}
	hi, centre := cameraMesh(cs.Type, cs.Mount, yawRel, tilt, look, 12)
	lo, _ := cameraMesh(cs.Type, cs.Mount, yawRel, tilt, look, 6)
	rot := Heading(frameHdg, 0, 0)
	pos := base.Add(Vec3{0, 0, cs.Height - centre.Z})
	o := w.addObject("camera", pos, rot, hi, lo)
	cam := &Camera{ID: cs.ID, Type: cs.Type, Mount: cs.Mount, Direction: geo.NormDeg(dir), Tilt: tilt, obj: o}
	cam.Pos = pos.Add(rot.Apply(centre))
	cam.LatLon = w.ENU.FromLocal(cam.Pos.X, cam.Pos.Y)
	for _, p := range hi.bodyPoints() {
		cam.samples = append(cam.samples, pos.Add(rot.Apply(p)))
	}
	o.Camera = cam
	w.Cameras = append(w.Cameras, cam)
	// the mount: a pole, a lamp post or a canopy
	mountTop := pos.Z // height of the bracket
	switch cs.Mount {
	case "pole":
		h := mountTop + 0.5
		pm := poleMesh(rng, h, 12)
		po := w.addObject("pole", base, rot, pm, pm)
		po.setPole(base, h)
	case "street_lamp":
		h := math.Max(mountTop+1.5, 6)
		hm, _ := lampMesh(rng, h, 1.4, false, 12, w.Light.Dusk)
		lo, _ := lampMesh(rand.New(rand.NewPCG(1, 1)), h, 1.4, false, 6, w.Light.Dusk)
		copyColors(lo, hm)
		po := w.addObject("street_lamp", base, rot, hm, lo)
		po.setPole(base, h)
	case "ceiling":
		if out.Len() > 0 {
			// the canopy sticks out of the wall; the camera hangs near its front edge
			depth := 1.5
			cm := canopyMesh(rng, 2.6, depth)
			o.Pos = o.Pos.Add(out.Scale(depth - 0.4))
			o.centre = o.centre.Add(out.Scale(depth - 0.4))
			cam.Pos = cam.Pos.Add(out.Scale(depth - 0.4))
			cam.LatLon = w.ENU.FromLocal(cam.Pos.X, cam.Pos.Y)
			for k := range cam.samples {
				cam.samples[k] = cam.samples[k].Add(out.Scale(depth - 0.4))
			}
			co := w.addObject("canopy", base.Add(Vec3{0, 0, mountTop}), rot, cm, cm)
			co.occ = append(co.occ, OBox{C: base.Add(Vec3{0, 0, mountTop + 0.08}).Add(out.Scale(depth / 2)), Axes: [3]Vec3{rot.X, rot.Y, rot.Z}, Half: [3]float64{1.3, depth / 2, 0.08}})
		}
	}
	return nil
}

func (w *World) placeDistractor(rng *rand.Rand, sc *Scenario, i int, it DistractorItem) error {
	field := fmt.Sprintf("distractors.items[%d]", i)
	onWall := it.Kind != "round_sign" && it.Kind != "rect_sign" && it.Kind != "street_lamp"
	var base, out Vec3
	switch {
	case it.At != nil:
		p, toStreet, err := w.anchor(sc, it.At, onWall)
		if err != nil {
			return fmt.Errorf("%s:%d: %s.at: %v", sc.file, sc.line(field+".at"), field, err)
		}
		base, out = p, toStreet
	case it.XY != nil:
		base = Vec3{it.XY[0], it.XY[1], 0}
	default:
		x, y := w.ENU.ToLocal(geo.LatLon{Lat: it.LatLon[0], Lon: it.LatLon[1]})
		base = Vec3{x, y, 0}
	}
	hdg := 0.0
	if out.Len() > 0 {
		hdg = compass(out.X, out.Y)
	}
	if it.Direction != nil {
		hdg = *it.Direction
	}
	h := it.Height
	if !onWall {
		h = 0
	} else if h == 0 {
		h = 3
	}
	w.addDistractor(rng, it.Kind, base.Add(Vec3{0, 0, h}), Heading(hdg, 0, 0))
	return nil
}

func (w *World) addDistractor(rng *rand.Rand, kind string, pos Vec3, rot Mat3) {
	seed := rng.Uint64()
	hi, _ := distractorMesh(rand.New(rand.NewPCG(seed, 7)), kind, 12, w.Light.Dusk)
	lo, _ := distractorMesh(rand.New(rand.NewPCG(seed, 7)), kind, 6, w.Light.Dusk)
	o := w.addObject(kind, pos, rot, hi, lo)
	if kind == "round_sign" || kind == "rect_sign" || kind == "street_lamp" {
		o.setPole(pos, 2.2)
	} else {
		// compact things on walls: their bounding box
		c, r := hi.bounds()
		o.occ = append(o.occ, OBox{C: pos.Add(rot.Apply(c)), Axes: [3]Vec3{rot.X, rot.Y, rot.Z}, Half: [3]float64{r * 0.6, r * 0.6, r * 0.6}})
	}
}

// wallKinds are the distractors that hang on facades, with their usual heights.
var wallKinds = []struct {
	kind   string
	lo, hi float64
}{
	{"globe_lamp", 2.6, 4.5}, {"wall_lantern", 2.3, 3.5}, {"floodlight", 2.8, 6}, {"speaker", 3, 6},
	{"dish", 4, 12}, {"birdhouse", 2.5, 5}, {"alarm_box", 3, 7}, {"ac_unit", 2.6, 10},
	{"motion_sensor", 2.4, 4}, {"junction_box", 1.2, 2.5}, {"house_number", 2, 3}, {"smoke_detector", 2.5, 4},
}

func (w *World) autoDistractors(rng *rand.Rand, per100 float64) {
	var fronts []*Facade
	total := 0.0
	for _, f := range w.Facades {
		if f.street >= 0 {
			fronts = append(fronts, f)
			total += f.W
		}
	}
	n := int(per100*total/100 + 0.5)
	for k := 0; k < n && len(fronts) > 0; k++ {
		f := fronts[rng.IntN(len(fronts))]
		wk := wallKinds[rng.IntN(len(wallKinds))]
		h := math.Min(wk.lo+(wk.hi-wk.lo)*rng.Float64(), f.H-0.5)
		x := 0.5 + (f.W-1)*rng.Float64()
		p := f.O.Add(f.U.Scale(x)).Add(Vec3{0, 0, h})
		w.addDistractor(rng, wk.kind, p, Heading(compass(f.N.X, f.N.Y), 0, 0))
	}
	// a few signs along the kerbs
	for si, pl := range w.streets {
		for s := 7 + 20*rng.Float64(); s < pl.Len(); s += 25 + 30*rng.Float64() {
			p, d, _ := pl.at(s)
			side := float64(1 - 2*rng.IntN(2))
			q := p.Add(leftOf(d).Scale(side * (w.roadW[si]/2 + 0.5)))
			if w.inOtherRoad(q, si) {
				continue
			}
			kind := "round_sign"
			if rng.IntN(3) == 0 {
				kind = "rect_sign"
			}
			w.addDistractor(rng, kind, q, Heading(compass(-d.X, -d.Y), 0, 0))
		}
	}
}
