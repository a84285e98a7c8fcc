package sim

import "math"

// View is a pinhole camera: where the eye is, where it looks, and its
// intrinsics. Camera coordinates follow OpenCV: x right, y down, z forward.
// Pixel coordinates have pixel centres at integers, so the principal point
// of a W×H image is ((W-1)/2, (H-1)/2).
type View struct {
	W, H   int
	F      float64 // focal length in pixels
	Cx, Cy float64 // principal point in pixels
	Eye    Vec3    // world position of the optical centre
	Right  Vec3    // world direction of camera +x
	Down   Vec3    // world direction of camera +y
	Fwd    Vec3    // world direction of the optical axis (camera +z)
	Near   float64 // near clipping distance in metres
}

// NewView returns a view of w×h pixels with horizontal field of view hfovDeg
// at eye, looking towards compass heading yawDeg, pitched up by pitchDeg and
// rolled by rollDeg (positive: the camera turns clockwise as seen from
// behind it, so the scene appears rotated counter-clockwise).
func NewView(w, h int, hfovDeg float64, eye Vec3, yawDeg, pitchDeg, rollDeg float64) *View {
	y, p, r := rad(yawDeg), rad(pitchDeg), rad(rollDeg)
	fwd := Vec3{math.Sin(y) * math.Cos(p), math.Cos(y) * math.Cos(p), math.Sin(p)}
	right0 := Vec3{math.Cos(y), -math.Sin(y), 0}
	up0 := right0.Cross(fwd)
	right := right0.Scale(math.Cos(r)).Sub(up0.Scale(math.Sin(r)))
	up := right0.Scale(math.Sin(r)).Add(up0.Scale(math.Cos(r)))
	return &View{
		W: w, H: h,
		F:   float64(w) / 2 / math.Tan(rad(hfovDeg)/2),
		Cx:  float64(w-1) / 2,
		Cy:  float64(h-1) / 2,
		Eye: eye, Right: right, Down: up.Scale(-1), Fwd: fwd,
		Near: 0.05,
	}
}

// ToCam returns world point p in camera coordinates.
func (v *View) ToCam(p Vec3) Vec3 {
	d := p.Sub(v.Eye)
	return Vec3{d.Dot(v.Right), d.Dot(v.Down), d.Dot(v.Fwd)}
}

// ProjectCam returns the pixel of camera-space point c (which must have c.Z > 0).
func (v *View) ProjectCam(c Vec3) (x, y float64) {
	return v.Cx + v.F*c.X/c.Z, v.Cy + v.F*c.Y/c.Z
}

// Project returns the pixel where world point p appears and whether it lies
// in front of the near plane.
func (v *View) Project(p Vec3) (x, y float64, ok bool) {
	c := v.ToCam(p)
	if c.Z < v.Near {
		return 0, 0, false
	}
	x, y = v.ProjectCam(c)
	return x, y, true
}

// Ray returns the unit world direction through pixel (x, y).
func (v *View) Ray(x, y float64) Vec3 {
	cx := (x - v.Cx) / v.F
	cy := (y - v.Cy) / v.F
	return v.Right.Scale(cx).Add(v.Down.Scale(cy)).Add(v.Fwd).Norm()
}

// clipNear clips a camera-space polygon against the plane z = near
// (Sutherland–Hodgman) and appends the result to dst.
func clipNear(dst, poly []Vec3, near float64) []Vec3 {
	n := len(poly)
	for i := 0; i < n; i++ {
		a, b := poly[i], poly[(i+1)%n]
		ain, bin := a.Z >= near, b.Z >= near
		if ain {
			dst = append(dst, a)
		}
		if ain != bin {
			t := (near - a.Z) / (b.Z - a.Z)
			dst = append(dst, a.Lerp(b, t))
		}
	}
	return dst
}

// clipPlane clips a camera-space polygon to the half-space n·c >= 0.
func clipPlane(poly []Vec3, n Vec3) []Vec3 {
	out := make([]Vec3, 0, len(poly)+2)
	for i := range poly {
		a, b := poly[i], poly[(i+1)%len(poly)]
		da, db := n.Dot(a), n.Dot(b)
		if da >= 0 {
			out = append(out, a)
		}
		if (da >= 0) != (db >= 0) {
			out = append(out, a.Lerp(b, da/(da-db)))
		}
	}
	return out
}
