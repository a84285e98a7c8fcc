package firmware

import "math"

// Optics is the camera's pinhole model and how it is mounted on the walker:
// enough to turn a pixel into a direction relative to the walking direction.
type Optics struct {
	Width, Height int     // frame size in pixels
	HFOVDeg       float64 // horizontal field of view
	Mount         Mount
}

// Focal returns the focal length in pixels implied by the horizontal field of view.
func (o Optics) Focal() float64 {
	return float64(o.Width) / 2 / math.Tan(o.HFOVDeg*math.Pi/360)
}

// Direction returns the direction of the ray through pixel (u, v): azimuth in
// degrees clockwise from the walking direction (-180, 180] and elevation in
// degrees above the horizon. The mount is applied as roll (about the optical
// axis, clockwise seen from behind), then pitch (up), then yaw (to the right).
func (o Optics) Direction(u, v float64) (azDeg, elDeg float64) {
	f := o.Focal()
	// Camera axes: r right, d down, z forward. As a vector in (right, up, forward):
	x, y, z := (u-float64(o.Width)/2)/f, -(v-float64(o.Height)/2)/f, 1.0
	// Roll clockwise (seen from behind) turns the camera's right axis downwards.
	rr := o.Mount.RollDeg * math.Pi / 180
	x, y = x*math.Cos(rr)+y*math.Sin(rr), -x*math.Sin(rr)+y*math.Cos(rr)
	// Pitch up turns forward towards up.
	p := o.Mount.PitchDeg * math.Pi / 180
	y, z = y*math.Cos(p)+z*math.Sin(p), -y*math.Sin(p)+z*math.Cos(p)
	// Yaw to the right turns forward towards right.
	w := o.Mount.YawDeg * math.Pi / 180
	x, z = x*math.Cos(w)+z*math.Sin(w), -x*math.Sin(w)+z*math.Cos(w)
	azDeg = math.Atan2(x, z) * 180 / math.Pi
	elDeg = math.Atan2(y, math.Hypot(x, z)) * 180 / math.Pi
	return azDeg, elDeg
}

// PixelSigmaDeg is the angular size of one pixel at the image centre, in degrees.
func (o Optics) PixelSigmaDeg() float64 {
	return math.Atan(1/o.Focal()) * 180 / math.Pi
}
