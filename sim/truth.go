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
	x0, y0, x1, y1 := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	seen := 0
	for _, p := range c.samples {
		cp := v.ToCam(p)
		if cp.Z < v.Near {
			continue
		}
		x, y := v.ProjectCam(cp)
		x0, x1 = math.Min(x0, x), math.Max(x1, x)
		y0, y1 = math.Min(y0, y), math.Max(y1, y)
		if x < -0.5 || y < -0.5 || x > float64(v.W)-0.5 || y > float64(v.H)-0.5 {
			continue
		}
		if w.occluded(v.Eye, p, c.obj) {
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
		Visible: math.Round(float64(seen)/float64(len(c.samples))*1000) / 1000,
		DistM:   math.Round(c.Pos.Sub(v.Eye).Len()*100) / 100}, true
}

// occluded reports whether the segment from eye to p passes through a
// facade facing the eye or an occluding part of an object other than self.
func (w *World) occluded(eye, p Vec3, self *Object) bool {
	d := p.Sub(eye)
	dist := d.Len()
	if dist < 1e-9 {
		return false
	}
	d = d.Scale(1 / dist)
	for _, f := range w.Facades {
		if eye.Sub(f.O).Dot(f.N) <= 0 {
			continue // the renderer does not draw walls seen from behind
		}
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
	for _, o := range w.Objects {
		if o == self {
			continue
		}
		for _, b := range o.occ {
			if t, ok := rayBox(eye, d, b); ok && t < dist-0.03 {
				return true
			}
		}
	}
	return false
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
