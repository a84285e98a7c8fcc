package sim

import "math"

// polyline is a 2-D path in local metres with cumulative lengths.
type polyline struct {
	pts []Vec3 // Z ignored
	cum []float64
}

func newPolyline(pts []Vec3) *polyline {
	p := &polyline{pts: pts, cum: make([]float64, len(pts))}
	for i := 1; i < len(pts); i++ {
		d := pts[i].Sub(pts[i-1])
		d.Z = 0
		p.cum[i] = p.cum[i-1] + d.Len()
	}
	return p
}

// Len returns the total length in metres.
func (p *polyline) Len() float64 { return p.cum[len(p.cum)-1] }

// at returns the point s metres along the path, the unit direction of the
// segment there, and the segment index.
func (p *polyline) at(s float64) (Vec3, Vec3, int) {
	n := len(p.pts)
	if s <= 0 {
		return p.pts[0], p.segDir(0), 0
	}
	for i := 1; i < n; i++ {
		if s <= p.cum[i] || i == n-1 {
			seg := p.cum[i] - p.cum[i-1]
			t := 1.0
			if seg > 0 {
				t = (s - p.cum[i-1]) / seg
			}
			return p.pts[i-1].Lerp(p.pts[i], t), p.segDir(i - 1), i - 1
		}
	}
	return p.pts[n-1], p.segDir(n - 2), n - 2
}

func (p *polyline) segDir(i int) Vec3 {
	d := p.pts[i+1].Sub(p.pts[i])
	d.Z = 0
	return d.Norm()
}

// heading returns the walking direction at s averaged over ±half metres,
// so that corners are turned smoothly, as a compass bearing in degrees.
func (p *polyline) heading(s, half float64) float64 {
	a, _, _ := p.at(s - half)
	b, _, _ := p.at(s + half)
	d := b.Sub(a)
	if d.Len() < 1e-6 {
		_, dir, _ := p.at(s)
		d = dir
	}
	return compass(d.X, d.Y)
}

// dist returns the horizontal distance from q to the path.
func (p *polyline) dist(q Vec3) float64 {
	best := math.Inf(1)
	for i := 0; i+1 < len(p.pts); i++ {
		best = math.Min(best, segDist(q, p.pts[i], p.pts[i+1]))
	}
	return best
}

// segDist returns the horizontal distance from q to segment ab.
func segDist(q, a, b Vec3) float64 {
	ab := Vec3{b.X - a.X, b.Y - a.Y, 0}
	aq := Vec3{q.X - a.X, q.Y - a.Y, 0}
	l2 := ab.Dot(ab)
	t := 0.0
	if l2 > 0 {
		t = clamp(aq.Dot(ab)/l2, 0, 1)
	}
	return aq.Sub(ab.Scale(t)).Len()
}

// leftOf returns the unit normal pointing left of direction d (horizontal).
func leftOf(d Vec3) Vec3 { return Vec3{-d.Y, d.X, 0} }
