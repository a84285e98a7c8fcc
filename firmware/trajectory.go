package firmware

import (
	"math"
	"sort"
	"time"

	"github.com/camaudit/camaudit/geo"
	"github.com/camaudit/camaudit/gnss"
)

// Pose is where the walker was at one instant, on the walk's local plane.
type Pose struct {
	X, Y    float64 // metres east and north of the walk's origin
	VX, VY  float64 // velocity, m/s
	Heading float64 // compass degrees of the walking direction (held while standing)
	SigmaM  float64 // 1-sigma position uncertainty after smoothing
}

// Speed returns the walker's speed in m/s.
func (p Pose) Speed() float64 { return math.Hypot(p.VX, p.VY) }

// Trajectory keeps the walk's GNSS fixes in memory (never on disk, never
// sent) and answers where the walker was at any instant, smoothing the noisy
// fixes with a constant-velocity Kalman filter run forward and backward
// (Rauch-Tung-Striebel). Heading comes from the smoothed velocity while the
// walker moves and is held while they stand still. Clear forgets the track at
// walk end.
type Trajectory struct {
	enu      geo.ENU
	hasOrig  bool
	sigma    float64 // default position noise when a fix does not say
	accel    float64 // process noise: acceleration spectral density, m²/s³
	minSpeed float64 // below this the heading is held
	sigmaV   float64 // Doppler velocity noise per axis, m/s
	fixes    []trajFix
	smoothed []Pose
	dirty    bool
	brk      bool // the next fix follows a pause
}

// Break marks a pause: the distance between the last fix before it and the
// first after it is not counted as walked.
func (tr *Trajectory) Break() { tr.brk = true }

// Resumed reports whether fix i is the first after a pause.
func (tr *Trajectory) resumed(i int) bool { return tr.fixes[i].resume }

type trajFix struct {
	t       time.Time
	x, y    float64
	sigma   float64
	vx, vy  float64
	hasVel  bool
	rawPos  geo.LatLon
	quality int
	resume  bool // first fix after a pause: the way from the previous one was not walked
}

// NewTrajectory returns an empty trajectory; sigmaM is the position noise
// assumed for fixes that do not report their accuracy.
func NewTrajectory(sigmaM float64) *Trajectory {
	if sigmaM <= 0 {
		sigmaM = 3
	}
	return &Trajectory{sigma: sigmaM, accel: 0.02, minSpeed: 0.35, sigmaV: 0.1}
}

// Add records a fix. Invalid fixes (no position) are ignored and reported false.
// Fixes must arrive in time order; an older fix than the last is ignored.
func (tr *Trajectory) Add(f gnss.Fix) bool {
	if !f.Valid || f.Time.IsZero() || (f.Pos.Lat == 0 && f.Pos.Lon == 0) {
		return false
	}
	if n := len(tr.fixes); n > 0 && !f.Time.After(tr.fixes[n-1].t) {
		return false
	}
	if !tr.hasOrig {
		tr.enu, tr.hasOrig = geo.NewENU(f.Pos), true
	}
	x, y := tr.enu.ToLocal(f.Pos)
	s := tr.sigma
	if f.AccuracyM > 0 {
		s = f.AccuracyM
	}
	tf := trajFix{t: f.Time, x: x, y: y, sigma: s, rawPos: f.Pos, quality: f.Quality, resume: tr.brk && len(tr.fixes) > 0}
	tr.brk = false
	if f.HasSpeed && f.HasCourse && f.Speed >= 0 {
		c := f.Course * math.Pi / 180
		tf.vx, tf.vy, tf.hasVel = f.Speed*math.Sin(c), f.Speed*math.Cos(c), true
	}
	tr.fixes = append(tr.fixes, tf)
	tr.dirty = true
	return true
}

// Len returns the number of fixes held.
func (tr *Trajectory) Len() int { return len(tr.fixes) }

// ENU returns the walk's local plane (valid once a fix was added).
func (tr *Trajectory) ENU() (geo.ENU, bool) { return tr.enu, tr.hasOrig }

// Span returns the times of the first and last fix.
func (tr *Trajectory) Span() (from, to time.Time, ok bool) {
	if len(tr.fixes) == 0 {
		return time.Time{}, time.Time{}, false
	}
	return tr.fixes[0].t, tr.fixes[len(tr.fixes)-1].t, true
}

// Clear forgets every fix: the raw track is not kept after a walk.
func (tr *Trajectory) Clear() {
	tr.fixes, tr.smoothed, tr.dirty = nil, nil, false
}

// smooth runs the forward Kalman filter and the backward RTS pass over all
// fixes, per axis, with position (and, where the receiver gives speed and
// course, velocity) measurements.
func (tr *Trajectory) smooth() {
	if !tr.dirty {
		return
	}
	tr.dirty = false
	n := len(tr.fixes)
	out := make([]Pose, n)
	if n == 0 {
		tr.smoothed = out
		return
	}
	sigmaV := tr.sigmaV
	for axis := 0; axis < 2; axis++ {
		type st struct {
			x [2]float64
			p [2][2]float64
		}
		fwd := make([]st, n)  // filtered
		pred := make([]st, n) // predicted (prior) at each epoch
		meas := func(i int) (pos, vel float64, hasVel bool) {
			f := tr.fixes[i]
			if axis == 0 {
				return f.x, f.vx, f.hasVel
			}
			return f.y, f.vy, f.hasVel
		}
		var cur st
		for i := 0; i < n; i++ {
			z, zv, hv := meas(i)
			r := tr.fixes[i].sigma * tr.fixes[i].sigma
			if i == 0 {
				cur = st{x: [2]float64{z, 0}, p: [2][2]float64{{r, 0}, {0, 4}}}
				if hv {
					cur.x[1] = zv
				}
				pred[i] = cur
			} else {
				dt := tr.fixes[i].t.Sub(tr.fixes[i-1].t).Seconds()
				q := tr.accel
				x0 := cur.x[0] + dt*cur.x[1]
				x1 := cur.x[1]
				p := cur.p
				p00 := p[0][0] + dt*(p[1][0]+p[0][1]) + dt*dt*p[1][1] + q*dt*dt*dt/3
				p01 := p[0][1] + dt*p[1][1] + q*dt*dt/2
				p11 := p[1][1] + q*dt
				cur = st{x: [2]float64{x0, x1}, p: [2][2]float64{{p00, p01}, {p01, p11}}}
				pred[i] = cur
			}
			// Position update.
			s := cur.p[0][0] + r
			k0, k1 := cur.p[0][0]/s, cur.p[1][0]/s
			inn := z - cur.x[0]
			cur.x[0] += k0 * inn
			cur.x[1] += k1 * inn
			p := cur.p
			cur.p = [2][2]float64{
				{(1 - k0) * p[0][0], (1 - k0) * p[0][1]},
				{p[1][0] - k1*p[0][0], p[1][1] - k1*p[0][1]},
			}
			if hv {
				s := cur.p[1][1] + sigmaV*sigmaV
				k0, k1 := cur.p[0][1]/s, cur.p[1][1]/s
				inn := zv - cur.x[1]
				cur.x[0] += k0 * inn
				cur.x[1] += k1 * inn
				p := cur.p
				cur.p = [2][2]float64{
					{p[0][0] - k0*p[1][0], p[0][1] - k0*p[1][1]},
					{p[1][0] - k1*p[1][0], (1 - k1) * p[1][1]},
				}
			}
			fwd[i] = cur
		}
		// Backward RTS pass.
		sm := make([]st, n)
		sm[n-1] = fwd[n-1]
		for i := n - 2; i >= 0; i-- {
			dt := tr.fixes[i+1].t.Sub(tr.fixes[i].t).Seconds()
			pf := fwd[i].p
			pp := pred[i+1].p
			// C = Pf Fᵀ Pp⁻¹ with F = [[1 dt][0 1]].
			pfF := [2][2]float64{
				{pf[0][0] + dt*pf[0][1], pf[0][1]},
				{pf[1][0] + dt*pf[1][1], pf[1][1]},
			}
			det := pp[0][0]*pp[1][1] - pp[0][1]*pp[1][0]
			if det <= 0 {
				sm[i] = fwd[i]
				continue
			}
			inv := [2][2]float64{{pp[1][1] / det, -pp[0][1] / det}, {-pp[1][0] / det, pp[0][0] / det}}
			var c [2][2]float64
			for a := 0; a < 2; a++ {
				for b := 0; b < 2; b++ {
					c[a][b] = pfF[a][0]*inv[0][b] + pfF[a][1]*inv[1][b]
				}
			}
			d0 := sm[i+1].x[0] - pred[i+1].x[0]
			d1 := sm[i+1].x[1] - pred[i+1].x[1]
			x := [2]float64{fwd[i].x[0] + c[0][0]*d0 + c[0][1]*d1, fwd[i].x[1] + c[1][0]*d0 + c[1][1]*d1}
			var dp [2][2]float64
			for a := 0; a < 2; a++ {
				for b := 0; b < 2; b++ {
					dp[a][b] = sm[i+1].p[a][b] - pp[a][b]
				}
			}
			var p [2][2]float64
			for a := 0; a < 2; a++ {
				for b := 0; b < 2; b++ {
					var v float64
					for k := 0; k < 2; k++ {
						for l := 0; l < 2; l++ {
							v += c[a][k] * dp[k][l] * c[b][l]
						}
					}
					p[a][b] = pf[a][b] + v
				}
			}
			sm[i] = st{x: x, p: p}
		}
		for i := range sm {
			if axis == 0 {
				out[i].X, out[i].VX = sm[i].x[0], sm[i].x[1]
				out[i].SigmaM = sm[i].p[0][0]
			} else {
				out[i].Y, out[i].VY = sm[i].x[0], sm[i].x[1]
				out[i].SigmaM = math.Sqrt(out[i].SigmaM + sm[i].p[0][0])
			}
		}
	}
	// Headings: from velocity while moving, held while standing.
	last := math.NaN()
	for i := range out {
		if out[i].Speed() >= tr.minSpeed {
			last = geo.NormDeg(math.Atan2(out[i].VX, out[i].VY) * 180 / math.Pi)
		}
		out[i].Heading = last
	}
	// Standing still at the start: take the first moving heading.
	next := math.NaN()
	for i := n - 1; i >= 0; i-- {
		if !math.IsNaN(out[i].Heading) {
			next = out[i].Heading
		} else {
			out[i].Heading = next
		}
	}
	tr.smoothed = out
}

// PoseAt returns the smoothed pose at t, interpolated between fixes. It
// reports false outside the span of the fixes (beyond a second of margin),
// across a gap of more than maxGap between fixes, or while no heading is
// known yet.
func (tr *Trajectory) PoseAt(t time.Time) (Pose, bool) {
	tr.smooth()
	n := len(tr.fixes)
	if n == 0 {
		return Pose{}, false
	}
	const margin = time.Second
	const maxGap = 20 * time.Second
	if t.Before(tr.fixes[0].t.Add(-margin)) || t.After(tr.fixes[n-1].t.Add(margin)) {
		return Pose{}, false
	}
	i := sort.Search(n, func(i int) bool { return !tr.fixes[i].t.Before(t) })
	var p Pose
	switch {
	case i == 0:
		p = extrapolate(tr.smoothed[0], t.Sub(tr.fixes[0].t).Seconds())
	case i == n:
		p = extrapolate(tr.smoothed[n-1], t.Sub(tr.fixes[n-1].t).Seconds())
	default:
		a, b := tr.smoothed[i-1], tr.smoothed[i]
		ta, tb := tr.fixes[i-1].t, tr.fixes[i].t
		if tb.Sub(ta) > maxGap {
			return Pose{}, false
		}
		f := t.Sub(ta).Seconds() / tb.Sub(ta).Seconds()
		p = Pose{
			X: a.X + f*(b.X-a.X), Y: a.Y + f*(b.Y-a.Y),
			VX: a.VX + f*(b.VX-a.VX), VY: a.VY + f*(b.VY-a.VY),
			SigmaM: a.SigmaM + f*(b.SigmaM-a.SigmaM),
		}
		switch {
		case math.IsNaN(a.Heading):
			p.Heading = b.Heading
		case math.IsNaN(b.Heading):
			p.Heading = a.Heading
		default:
			p.Heading = geo.NormDeg(a.Heading + f*geo.AngleDiff(b.Heading, a.Heading))
		}
	}
	if math.IsNaN(p.Heading) {
		return Pose{}, false
	}
	return p, true
}

func extrapolate(p Pose, dt float64) Pose {
	p.X += p.VX * dt
	p.Y += p.VY * dt
	return p
}

// Path returns the smoothed positions of every fix as WGS84 points, for
// coverage cells and distance walked. It is computed on demand and never stored.
func (tr *Trajectory) Path() []geo.LatLon {
	tr.smooth()
	out := make([]geo.LatLon, len(tr.smoothed))
	for i, p := range tr.smoothed {
		out[i] = tr.enu.FromLocal(p.X, p.Y)
	}
	return out
}
