package sim

import (
	"math"
)

// TruthBox is where a surveillance camera appears in a frame.
type TruthBox struct {
	ID      string  `json:"id"`
	Type    string  `json:"type"`
	Box     [4]int  `json:"box"`     // x1, y1, x2, y2 in pixels, clipped to the frame (x2, y2 exclusive)
	Visible float64 `json:"visible"` // unoccluded, in-frame share of the housing, 0..1
	DistM   float64 `json:"dist_m"`  // distance from the device camera in metres
}

// Truth returns the cameras of w visible from v (visible > 0), with their
// boxes: the projection of the housing's 3-D extent clipped to the frame.
func (w *World) Truth(v *View) []TruthBox {
	var out []TruthBox
	for _, c := range w.Cameras {
		if b, ok := w.truthBox(v, c); ok {
			out = append(out, b)
		}
	}
	return out
}

func (w *World) truthBox(v *View, c *Camera) (TruthBox, bool) {
	// quick reject: the housing's bounding sphere outside the view
	cc := v.ToCam(c.Pos)
	rad := 0.05
	for _, p := range c.samples {
		rad = math.Max(rad, p.Sub(c.Pos).Len())
	}
	if cc.Z < -rad {
		return TruthBox{}, false
	}
	if cc.Z > v.Near {
		x, y := v.ProjectCam(cc)
		pr := v.F*rad/cc.Z + 2
		if x+pr < 0 || y+pr < 0 || x-pr > float64(v.W) || y-pr > float64(v.H) {
			return TruthBox{}, false
		}
	}
	occ := w.occluders(v.Eye, c.Pos, rad, c.obj)
	x0, y0, x1, y1 := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	seen, tested := 0, 0
	// every sample counts for the box; visibility uses at most ~48 of them
	stride := max(1, len(c.samples)/48)
	for i, p := range c.samples {
		cp := v.ToCam(p)
		if cp.Z < v.Near {
			if i%stride == 0 {
				tested++
			}
			continue
		}
		x, y := v.ProjectCam(cp)
		x0, x1 = math.Min(x0, x), math.Max(x1, x)
		y0, y1 = math.Min(y0, y), math.Max(y1, y)
		if i%stride != 0 {
			continue
		}
		tested++
		if x < -0.5 || y < -0.5 || x > float64(v.W)-0.5 || y > float64(v.H)-0.5 {
			continue
		}
		if occ.hides(v.Eye, p) {
			continue
		}
		seen++
	}
	if seen == 0 {
		return TruthBox{}, false
	}
	// pixel extents: a vertex at x covers the pixel whose centre is nearest
	b := [4]int{
		int(clamp(math.Floor(x0+0.5), 0, float64(v.W))),
		int(clamp(math.Floor(y0+0.5), 0, float64(v.H))),
		int(clamp(math.Floor(x1+0.5)+1, 0, float64(v.W))),
		int(clamp(math.Floor(y1+0.5)+1, 0, float64(v.H))),
	}
	if b[2] <= b[0] || b[3] <= b[1] {
		return TruthBox{}, false
	}
	return TruthBox{ID: c.ID, Type: c.Type, Box: b,
		Visible: math.Round(float64(seen)/float64(tested)*1000) / 1000,
		DistM:   math.Round(c.Pos.Sub(v.Eye).Len()*100) / 100}, true
}

// occluderSet is what may hide a target from an eye: the facades facing
// the eye and the object boxes near the line of sight.
type occluderSet struct {
	facades []*Facade
	boxes   []OBox
}

// occluders collects what could hide anything within rad of target from eye.
func (w *World) occluders(eye, target Vec3, rad float64, self *Object) occluderSet {
	var s occluderSet
	seg := target.Sub(eye)
	L := seg.Len()
	for _, f := range w.Facades {
		if eye.Sub(f.O).Dot(f.N) <= 0 {
			continue // the renderer does not draw walls seen from behind
		}
		// the target must be behind the wall's plane, or very near it
		if target.Sub(f.O).Dot(f.N) > rad {
			continue
		}
		s.facades = append(s.facades, f)
	}
	for _, o := range w.Objects {
		if o == self || len(o.occ) == 0 {
			continue
		}
		for _, b := range o.occ {
			// distance from the box centre to the sight line, against its size
			r := math.Sqrt(b.Half[0]*b.Half[0]+b.Half[1]*b.Half[1]+b.Half[2]*b.Half[2]) + rad
			t := clamp(b.C.Sub(eye).Dot(seg)/math.Max(L*L, 1e-12), 0, 1)
			if eye.Add(seg.Scale(t)).Sub(b.C).Len() <= r {
				s.boxes = append(s.boxes, b)
			}
		}
	}
	return s
}

// hides reports whether the segment from eye to p passes through an occluder.
func (s occluderSet) hides(eye, p Vec3) bool {
	d := p.Sub(eye)
	dist := d.Len()
	if dist < 1e-9 {
		return false
	}
	d = d.Scale(1 / dist)
	for _, f := range s.facades {
		den := d.Dot(f.N)
		if den >= -1e-12 {
			continue
		}
		t := f.O.Sub(eye).Dot(f.N) / den
		if t <= 0 || t >= dist-0.02 {
			continue
		}
		q := eye.Add(d.Scale(t)).Sub(f.O)
		x, z := q.Dot(f.U), q.Z
		if x >= 0 && x <= f.W && z >= 0 && z <= f.H {
			return true
		}
	}
	for _, b := range s.boxes {
		if t, ok := rayBox(eye, d, b); ok && t < dist-0.03 {
			return true
		}
	}
	return false
}

// occluded reports whether the segment from eye to p passes through a
// facade facing the eye or an occluding part of an object other than self.
func (w *World) occluded(eye, p Vec3, self *Object) bool {
	return w.occluders(eye, p, 0, self).hides(eye, p)
}

// rayBox intersects the ray eye + t*d (t > 0) with an oriented box.
func rayBox(eye, d Vec3, b OBox) (float64, bool) {
	o := eye.Sub(b.C)
	tmin, tmax := math.Inf(-1), math.Inf(1)
	for i := 0; i < 3; i++ {
		oa, da := o.Dot(b.Axes[i]), d.Dot(b.Axes[i])
		if math.Abs(da) < 1e-12 {
			if math.Abs(oa) > b.Half[i] {
				return 0, false
			}
			continue
		}
		t1, t2 := (-b.Half[i]-oa)/da, (b.Half[i]-oa)/da
		if t1 > t2 {
			t1, t2 = t2, t1
		}
		tmin, tmax = math.Max(tmin, t1), math.Min(tmax, t2)
		if tmin > tmax {
			return 0, false
		}
	}
	if tmin <= 0 { // behind the eye, or the eye is inside the box
		return 0, false
	}
	return tmin, true
}
