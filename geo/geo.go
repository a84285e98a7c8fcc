// Package geo holds the small amount of geodesy camaudit needs: distances and
// bearings on the sphere, a local east-north-up (ENU) plane for metric work
// around a walk, and H3 cells, the coarse grain in which coverage and counts
// leave a device.
package geo

import "math"

// EarthRadius is the mean Earth radius in metres (IUGG), used by the
// spherical formulas here. Over the few kilometres of a walk the error
// against the WGS84 ellipsoid is well under a metre.
const EarthRadius = 6371008.8

// LatLon is a WGS84 position in decimal degrees.
type LatLon struct {
	Lat, Lon float64
}

func rad(d float64) float64 { return d * math.Pi / 180 }
func deg(r float64) float64 { return r * 180 / math.Pi }

// Distance returns the great-circle distance between a and b in metres.
func Distance(a, b LatLon) float64 {
	φ1, φ2 := rad(a.Lat), rad(b.Lat)
	dφ, dλ := φ2-φ1, rad(b.Lon-a.Lon)
	h := math.Sin(dφ/2)*math.Sin(dφ/2) + math.Cos(φ1)*math.Cos(φ2)*math.Sin(dλ/2)*math.Sin(dλ/2)
	return 2 * EarthRadius * math.Asin(math.Min(1, math.Sqrt(h)))
}

// Bearing returns the initial compass bearing from a to b in degrees [0, 360).
func Bearing(a, b LatLon) float64 {
	φ1, φ2 := rad(a.Lat), rad(b.Lat)
	dλ := rad(b.Lon - a.Lon)
	y := math.Sin(dλ) * math.Cos(φ2)
	x := math.Cos(φ1)*math.Sin(φ2) - math.Sin(φ1)*math.Cos(φ2)*math.Cos(dλ)
	return NormDeg(deg(math.Atan2(y, x)))
}

// Destination returns the point reached from p after dist metres on the
// initial compass bearing brg (degrees).
func Destination(p LatLon, brg, dist float64) LatLon {
	φ1, λ1, θ, δ := rad(p.Lat), rad(p.Lon), rad(brg), dist/EarthRadius
	φ2 := math.Asin(math.Sin(φ1)*math.Cos(δ) + math.Cos(φ1)*math.Sin(δ)*math.Cos(θ))
	λ2 := λ1 + math.Atan2(math.Sin(θ)*math.Sin(δ)*math.Cos(φ1), math.Cos(δ)-math.Sin(φ1)*math.Sin(φ2))
	return LatLon{Lat: deg(φ2), Lon: NormLon(deg(λ2))}
}

// NormDeg maps an angle in degrees to [0, 360).
func NormDeg(d float64) float64 {
	d = math.Mod(d, 360)
	if d < 0 {
		d += 360
	}
	return d
}

// AngleDiff returns the signed smallest difference a-b in degrees, in (-180, 180].
func AngleDiff(a, b float64) float64 {
	d := NormDeg(a - b)
	if d > 180 {
		d -= 360
	}
	return d
}

// NormLon maps a longitude to [-180, 180).
func NormLon(l float64) float64 {
	return NormDeg(l+180) - 180
}

// ENU is a local tangent plane centred on an origin: x metres east, y metres
// north. It uses the WGS84 radii of curvature at the origin, which keeps
// errors below a few centimetres per kilometre from the origin, plenty for a
// walk. Use it for triangulation, rendering and anything metric.
type ENU struct {
	Origin LatLon
	mLat   float64 // metres per degree of latitude
	mLon   float64 // metres per degree of longitude
}

// NewENU returns the local plane centred on origin.
func NewENU(origin LatLon) ENU {
	const a = 6378137.0
	const e2 = 6.69437999014e-3
	φ := rad(origin.Lat)
	s := math.Sin(φ)
	w := math.Sqrt(1 - e2*s*s)
	n := a / w                      // prime vertical radius
	m := a * (1 - e2) / (w * w * w) // meridional radius
	return ENU{Origin: origin, mLat: m * math.Pi / 180, mLon: n * math.Cos(φ) * math.Pi / 180}
}

// ToLocal returns p's position in the plane: x east and y north, in metres.
func (e ENU) ToLocal(p LatLon) (x, y float64) {
	return (p.Lon - e.Origin.Lon) * e.mLon, (p.Lat - e.Origin.Lat) * e.mLat
}

// FromLocal returns the position at x metres east and y metres north of the origin.
func (e ENU) FromLocal(x, y float64) LatLon {
	return LatLon{Lat: e.Origin.Lat + y/e.mLat, Lon: e.Origin.Lon + x/e.mLon}
}

// PathLength returns the length of a polyline in metres.
func PathLength(pts []LatLon) float64 {
	var d float64
	for i := 1; i < len(pts); i++ {
		d += Distance(pts[i-1], pts[i])
	}
	return d
}
