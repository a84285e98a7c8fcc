package api

import (
	"math"
	"sort"

	"github.com/camaudit/camaudit/geo"
	"github.com/camaudit/camaudit/hub/registry"
)

// ExposureResult is how much of a route lies within a radius of a camera.
type ExposureResult struct {
	LengthM  float64         // route length
	ExposedM float64         // length within the radius of at least one camera
	Segments [][2]geo.LatLon // the exposed stretches
	Cameras  map[string]bool // cameras within the radius of some part of the route
}

// Exposure measures the share of a route within radius metres of a camera,
// exactly per segment: each camera covers an interval of every segment (a
// line–circle intersection in a local plane), and the union of the intervals
// is the exposed length. near returns the cameras inside a bbox (west, south,
// east, north).
func Exposure(route []geo.LatLon, radius float64, near func(bbox [4]float64) []*registry.Camera) ExposureResult {
	res := ExposureResult{Cameras: map[string]bool{}}
	for i := 1; i < len(route); i++ {
		a, b := route[i-1], route[i]
		enu := geo.NewENU(a)
		bx, by := enu.ToLocal(b)
		segLen := math.Hypot(bx, by)
		res.LengthM += segLen
		if segLen == 0 {
			continue
		}
		dLat := radius / 111_320
		dLon := radius / (111_320 * math.Max(math.Cos(math.Max(math.Abs(a.Lat), math.Abs(b.Lat))*math.Pi/180), 0.01))
		box := [4]float64{math.Min(a.Lon, b.Lon) - dLon, math.Min(a.Lat, b.Lat) - dLat, math.Max(a.Lon, b.Lon) + dLon, math.Max(a.Lat, b.Lat) + dLat}
		var iv [][2]float64
		for _, c := range near(box) {
			cx, cy := enu.ToLocal(geo.LatLon{Lat: c.Lat, Lon: c.Lon})
			// |t·(bx,by) − (cx,cy)|² ≤ R², t ∈ [0, 1]
			qa := bx*bx + by*by
			qb := -2 * (bx*cx + by*cy)
			qc := cx*cx + cy*cy - radius*radius
			disc := qb*qb - 4*qa*qc
			if disc < 0 {
				continue
			}
			sq := math.Sqrt(disc)
			t1, t2 := math.Max((-qb-sq)/(2*qa), 0), math.Min((-qb+sq)/(2*qa), 1)
			if t1 >= t2 {
				continue
			}
			iv = append(iv, [2]float64{t1, t2})
			res.Cameras[c.ID] = true
		}
		sort.Slice(iv, func(i, j int) bool { return iv[i][0] < iv[j][0] })
		for j := 0; j < len(iv); {
			lo, hi := iv[j][0], iv[j][1]
			k := j + 1
			for ; k < len(iv) && iv[k][0] <= hi; k++ {
				hi = math.Max(hi, iv[k][1])
			}
			res.ExposedM += (hi - lo) * segLen
			res.Segments = append(res.Segments, [2]geo.LatLon{enu.FromLocal(lo*bx, lo*by), enu.FromLocal(hi*bx, hi*by)})
			j = k
		}
	}
	return res
}
