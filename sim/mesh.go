package sim

import "math"

// Face is one flat polygon of a mesh, in the mesh's local frame.
type Face struct {
	Pts      []Vec3
	Normal   Vec3       // outward unit normal (local frame)
	Color    [3]float64 // albedo, RGB in 0..1
	Spec     float64    // specular strength (glossy plastic, glass)
	Emit     float64    // self-lit brightness (lamps, lit windows)
	TwoSided bool       // thin plates: never culled, lit from the viewer's side
	Body     bool       // part of a camera's housing: defines its truth box
}

// Mesh is a small polygon model (a camera, a lamp, a pole ...).
type Mesh struct {
	Faces []Face
}

// material is what a primitive's faces are made of.
type material struct {
	color    [3]float64
	spec     float64
	emit     float64
	twoSided bool
	body     bool
}

// xform places a primitive inside a mesh: p' = Off + Rot*p.
type xform struct {
	Rot Mat3
	Off Vec3
}

func at(off Vec3) xform           { return xform{Identity3, off} }
func (t xform) apply(p Vec3) Vec3 { return t.Off.Add(t.Rot.Apply(p)) }

// then returns the transform applying t first, then u.
func (t xform) then(u xform) xform {
	return xform{u.Rot.Mul(t.Rot), u.apply(t.Off)}
}

// addFace appends a polygon whose outward normal is chosen to point away
// from centre (the centre of the convex part it belongs to).
func (m *Mesh) addFace(pts []Vec3, centre Vec3, mt material) {
	if len(pts) < 3 {
		return
	}
	var n Vec3
	// Newell's method: robust for any planar polygon.
	for i := range pts {
		a, b := pts[i], pts[(i+1)%len(pts)]
		n.X += (a.Y - b.Y) * (a.Z + b.Z)
		n.Y += (a.Z - b.Z) * (a.X + b.X)
		n.Z += (a.X - b.X) * (a.Y + b.Y)
	}
	n = n.Norm()
	var c Vec3
	for _, p := range pts {
		c = c.Add(p)
	}
	c = c.Scale(1 / float64(len(pts)))
	if n.Dot(c.Sub(centre)) < 0 {
		n = n.Scale(-1)
	}
	m.Faces = append(m.Faces, Face{Pts: pts, Normal: n, Color: mt.color, Spec: mt.spec,
		Emit: mt.emit, TwoSided: mt.twoSided, Body: mt.body})
}

// box adds a cuboid of size (sx, sy, sz) centred at the origin of t.
func (m *Mesh) box(t xform, sx, sy, sz float64, mt material) {
	hx, hy, hz := sx/2, sy/2, sz/2
	v := func(x, y, z float64) Vec3 { return t.apply(Vec3{x * hx, y * hy, z * hz}) }
	c := t.Off
	quads := [6][4][3]float64{
		{{-1, -1, -1}, {1, -1, -1}, {1, -1, 1}, {-1, -1, 1}}, // -y
		{{-1, 1, -1}, {1, 1, -1}, {1, 1, 1}, {-1, 1, 1}},     // +y
		{{-1, -1, -1}, {-1, 1, -1}, {-1, 1, 1}, {-1, -1, 1}}, // -x
		{{1, -1, -1}, {1, 1, -1}, {1, 1, 1}, {1, -1, 1}},     // +x
		{{-1, -1, -1}, {1, -1, -1}, {1, 1, -1}, {-1, 1, -1}}, // -z
		{{-1, -1, 1}, {1, -1, 1}, {1, 1, 1}, {-1, 1, 1}},     // +z
	}
	for _, q := range quads {
		pts := make([]Vec3, 4)
		for i, p := range q {
			pts[i] = v(p[0], p[1], p[2])
		}
		m.addFace(pts, c, mt)
	}
}

// boxFace adds only one face of a box-like plate: a flat quad of size
// (sx, sz) in the local x-z plane of t (facing ±y), two-sided by default.
func (m *Mesh) plate(t xform, sx, sz float64, mt material) {
	hx, hz := sx/2, sz/2
	pts := []Vec3{t.apply(Vec3{-hx, 0, -hz}), t.apply(Vec3{hx, 0, -hz}), t.apply(Vec3{hx, 0, hz}), t.apply(Vec3{-hx, 0, hz})}
	m.addFace(pts, t.apply(Vec3{0, -1, 0}), mt)
}

// cylinder adds a prism of segs sides along local +z of t, from z=0 to
// z=length, radius r0 at the bottom and r1 at the top (a frustum when they
// differ). Caps are added when caps is set.
func (m *Mesh) cylinder(t xform, r0, r1, length float64, segs int, caps bool, mt material) {
	c := t.apply(Vec3{0, 0, length / 2})
	ring := func(r, z float64) []Vec3 {
		pts := make([]Vec3, segs)
		for i := 0; i < segs; i++ {
			a := 2 * math.Pi * (float64(i) + 0.5) / float64(segs)
			pts[i] = t.apply(Vec3{r * math.Cos(a), r * math.Sin(a), z})
		}
		return pts
	}
	lo, hi := ring(r0, 0), ring(r1, length)
	for i := 0; i < segs; i++ {
		j := (i + 1) % segs
		m.addFace([]Vec3{lo[i], lo[j], hi[j], hi[i]}, c, mt)
	}
	if caps {
		m.addFace(lo, c, mt)
		m.addFace(hi, c, mt)
	}
}

// sphere adds a UV sphere section of radius r centred at t's origin, with
// polar axis local +z, covering polar angles from theta0 to theta1
// (0 = top, π = bottom). A cap closes the open edge at theta0 when cap0 is
// set and at theta1 when cap1 is set. sz scales the z axis (ellipsoids).
func (m *Mesh) sphere(t xform, r, sz float64, segs, rings int, theta0, theta1 float64, cap0, cap1 bool, mt material) {
	c := t.Off
	pt := func(th, ph float64) Vec3 {
		return t.apply(Vec3{r * math.Sin(th) * math.Cos(ph), r * math.Sin(th) * math.Sin(ph), r * sz * math.Cos(th)})
	}
	for k := 0; k < rings; k++ {
		a := theta0 + (theta1-theta0)*float64(k)/float64(rings)
		b := theta0 + (theta1-theta0)*float64(k+1)/float64(rings)
		for i := 0; i < segs; i++ {
			p0 := 2 * math.Pi * float64(i) / float64(segs)
			p1 := 2 * math.Pi * float64(i+1) / float64(segs)
			var pts []Vec3
			switch {
			case a < 1e-9:
				pts = []Vec3{pt(a, 0), pt(b, p0), pt(b, p1)}
			case b > math.Pi-1e-9:
				pts = []Vec3{pt(a, p0), pt(a, p1), pt(b, 0)}
			default:
				pts = []Vec3{pt(a, p0), pt(a, p1), pt(b, p1), pt(b, p0)}
			}
			m.addFace(pts, c, mt)
		}
	}
	capRing := func(th float64) {
		pts := make([]Vec3, segs)
		for i := range pts {
			pts[i] = pt(th, 2*math.Pi*float64(i)/float64(segs))
		}
		m.addFace(pts, c, mt)
	}
	if cap0 && theta0 > 1e-9 {
		capRing(theta0)
	}
	if cap1 && theta1 < math.Pi-1e-9 {
		capRing(theta1)
	}
}

// disc adds a flat polygon of segs sides, radius r, in the local x-z plane
// of t (normal ±y): signs, lenses, dishes.
func (m *Mesh) disc(t xform, r float64, segs int, mt material) {
	pts := make([]Vec3, segs)
	for i := range pts {
		a := 2 * math.Pi * (float64(i) + 0.5) / float64(segs)
		pts[i] = t.apply(Vec3{r * math.Cos(a), 0, r * math.Sin(a)})
	}
	m.addFace(pts, t.apply(Vec3{0, -1, 0}), mt)
}

// bounds returns the centre and radius of a sphere enclosing the mesh.
func (m *Mesh) bounds() (Vec3, float64) {
	lo := Vec3{math.Inf(1), math.Inf(1), math.Inf(1)}
	hi := lo.Scale(-1)
	for _, f := range m.Faces {
		for _, p := range f.Pts {
			lo = Vec3{math.Min(lo.X, p.X), math.Min(lo.Y, p.Y), math.Min(lo.Z, p.Z)}
			hi = Vec3{math.Max(hi.X, p.X), math.Max(hi.Y, p.Y), math.Max(hi.Z, p.Z)}
		}
	}
	c := lo.Lerp(hi, 0.5)
	return c, hi.Sub(c).Len()
}

// bodyPoints returns the distinct vertices and face centres of the faces
// marked Body: the samples for a camera's truth box and visibility.
func (m *Mesh) bodyPoints() []Vec3 {
	seen := map[Vec3]bool{}
	var out []Vec3
	for _, f := range m.Faces {
		if !f.Body {
			continue
		}
		var c Vec3
		for _, p := range f.Pts {
			c = c.Add(p)
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
		out = append(out, c.Scale(1/float64(len(f.Pts))))
	}
	return out
}
