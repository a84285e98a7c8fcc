package sim

import "math"

// Vec3 is a point or direction in the local world frame: X metres east,
// Y metres north, Z metres up (the same plane as geo.ENU, plus height).
type Vec3 struct{ X, Y, Z float64 }

// Add returns a+b.
func (a Vec3) Add(b Vec3) Vec3 { return Vec3{a.X + b.X, a.Y + b.Y, a.Z + b.Z} }

// Sub returns a-b.
func (a Vec3) Sub(b Vec3) Vec3 { return Vec3{a.X - b.X, a.Y - b.Y, a.Z - b.Z} }

// Scale returns a*s.
func (a Vec3) Scale(s float64) Vec3 { return Vec3{a.X * s, a.Y * s, a.Z * s} }

// Dot returns the dot product of a and b.
func (a Vec3) Dot(b Vec3) float64 { return a.X*b.X + a.Y*b.Y + a.Z*b.Z }

// Cross returns the cross product a×b.
func (a Vec3) Cross(b Vec3) Vec3 {
	return Vec3{a.Y*b.Z - a.Z*b.Y, a.Z*b.X - a.X*b.Z, a.X*b.Y - a.Y*b.X}
}

// Len returns the Euclidean length of a.
func (a Vec3) Len() float64 { return math.Sqrt(a.Dot(a)) }

// Norm returns a scaled to unit length (a itself when it is zero).
func (a Vec3) Norm() Vec3 {
	l := a.Len()
	if l == 0 {
		return a
	}
	return a.Scale(1 / l)
}

// Lerp returns a + (b-a)*t.
func (a Vec3) Lerp(b Vec3, t float64) Vec3 { return a.Add(b.Sub(a).Scale(t)) }

// Mat3 is a rotation (or any linear map) stored as three column vectors:
// M*v = X*v.X + Y*v.Y + Z*v.Z. For an object's frame the columns are its
// local x, y and z axes expressed in world coordinates.
type Mat3 struct{ X, Y, Z Vec3 }

// Identity3 is the identity rotation.
var Identity3 = Mat3{Vec3{1, 0, 0}, Vec3{0, 1, 0}, Vec3{0, 0, 1}}

// Apply returns m*v.
func (m Mat3) Apply(v Vec3) Vec3 {
	return m.X.Scale(v.X).Add(m.Y.Scale(v.Y)).Add(m.Z.Scale(v.Z))
}

// Mul returns m*n (apply n first, then m).
func (m Mat3) Mul(n Mat3) Mat3 { return Mat3{m.Apply(n.X), m.Apply(n.Y), m.Apply(n.Z)} }

// T returns the transpose of m (the inverse of a rotation).
func (m Mat3) T() Mat3 {
	return Mat3{
		Vec3{m.X.X, m.Y.X, m.Z.X},
		Vec3{m.X.Y, m.Y.Y, m.Z.Y},
		Vec3{m.X.Z, m.Y.Z, m.Z.Z},
	}
}

// RotZ returns a rotation by a radians about the z axis (counter-clockwise
// seen from above).
func RotZ(a float64) Mat3 {
	c, s := math.Cos(a), math.Sin(a)
	return Mat3{Vec3{c, s, 0}, Vec3{-s, c, 0}, Vec3{0, 0, 1}}
}

// RotX returns a rotation by a radians about the x axis.
func RotX(a float64) Mat3 {
	c, s := math.Cos(a), math.Sin(a)
	return Mat3{Vec3{1, 0, 0}, Vec3{0, c, s}, Vec3{0, -s, c}}
}

// RotY returns a rotation by a radians about the y axis.
func RotY(a float64) Mat3 {
	c, s := math.Cos(a), math.Sin(a)
	return Mat3{Vec3{c, 0, -s}, Vec3{0, 1, 0}, Vec3{s, 0, c}}
}

// Heading returns the object frame of something facing compass direction
// headingDeg (0 = north, 90 = east), tilted down by tiltDeg and rolled by
// rollDeg about its own forward axis: local +y is forward, +x right, +z up.
func Heading(headingDeg, tiltDeg, rollDeg float64) Mat3 {
	// yaw: compass heading is clockwise from north, RotZ is counter-clockwise.
	return RotZ(-rad(headingDeg)).Mul(RotX(-rad(tiltDeg))).Mul(RotY(rad(rollDeg)))
}

func rad(d float64) float64 { return d * math.Pi / 180 }
func deg(r float64) float64 { return r * 180 / math.Pi }

// compass returns the compass bearing (degrees) of the horizontal direction (x east, y north).
func compass(x, y float64) float64 {
	d := deg(math.Atan2(x, y))
	if d < 0 {
		d += 360
	}
	return d
}

func clamp(v, lo, hi float64) float64 {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}
