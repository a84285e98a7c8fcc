package firmware

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// Bearing is one line of sight to a camera: from the walker's position on
// the local plane towards a compass bearing, with the uncertainties that
// decide how much it counts.
type Bearing struct {
	X, Y     float64 // observer position, metres east/north
	AzDeg    float64 // compass bearing of the line of sight
	SigmaDeg float64 // angular noise of the bearing (detector + heading)
	PosSigma float64 // 1-sigma of the observer position
	// RangeM, when positive, is a prior on the distance from this observer
	// to the camera (from the camera's apparent size) with 1-sigma RangeSigma.
	RangeM, RangeSigma float64
}

// Estimate is a camera position found by intersecting bearings.
type Estimate struct {
	X, Y float64 // metres east/north on the local plane
	ErrM float64 // 1-sigma horizontal error (root of the covariance trace, with floors; see Walk.Locate)
	// RelErrM is ErrM without floorM: the error relative to other cameras
	// located from the same stretch of track, which share its GNSS bias.
	RelErrM   float64
	BaselineM float64 // largest distance between two observer positions used
	RMSDeg    float64 // root-mean-square bearing residual
	Used      int     // bearings used (after outlier rejection)
	RangeM    float64 // median distance from the observers
	NearM     float64 // distance from the closest tenth of the observers (10th percentile)
	// SpreadDeg is how far the lines of sight turned while the camera was
	// seen: the parallax that places it (set by Walk.Locate).
	SpreadDeg float64
	// ApparentSizeM is the camera's width implied by its boxes and
	// distances (median; 0 when unknown). Set by Walk.Locate.
	ApparentSizeM float64
}

// ErrDegenerate is returned when the bearings do not determine a position:
// too few, all parallel, or meeting behind the observers.
var ErrDegenerate = errors.New("bearings do not intersect")

// Intersect finds the camera position that best explains the lines of
// sight: the point whose compass bearing from each observer differs least
// from the measured one, in units of that bearing's uncertainty (its angular
// noise plus the observer's position noise seen from the point). The
// angular error is measured as an angle, so a point behind an observer or
// beside the walker's path does not pass for one on its line of sight.
//
// The least-squares intersection of the lines (iteratively reweighted by
// (range·σθ)² + σp²), points along the middle line of sight at 2 to 256 m
// and the middle range prior's point seed a Levenberg-Marquardt search with
// Huber weights; range priors (from the camera's apparent size) add a soft
// constraint along their line, which keeps short baselines and
// straight-ahead cameras from running off.
// Bearings whose residual exceeds 3.5σ are dropped, worst first (at most a
// quarter). The error estimate is the covariance of the solution scaled by
// the residuals when they are larger than the noise model predicts; floorM
// is added in quadrature for errors the residuals cannot see (GNSS bias).
//
// Bearings taken a fraction of a second apart share their heading and GNSS
// errors, so they are not independent: nEff, when positive and smaller than
// the number of bearings, is how many independent ones they are worth; the
// bearings are weighted down accordingly (against the range prior, too).
func Intersect(obs []Bearing, floorM, nEff float64) (Estimate, error) {
	if len(obs) < 2 {
		return Estimate{}, fmt.Errorf("%w: %d bearing(s)", ErrDegenerate, len(obs))
	}
	use := make([]bool, len(obs))
	for i := range use {
		use[i] = true
	}
	f := 1.0
	if nEff > 0 && nEff < float64(len(obs)) {
		f = nEff / float64(len(obs))
	}
	var seeds []pointF
	if e, _, _, _, err := solve(obs, use); err == nil {
		seeds = append(seeds, pointF{e.X, e.Y})
	}
	mid := obs[len(obs)/2]
	for r := 2.0; r <= 256; r *= 2 {
		seeds = append(seeds, along(mid, r))
	}
	// And where the range priors put it, from the bearing in the middle of
	// those that have one.
	var pri []int
	for i, o := range obs {
		if o.RangeM > 0 {
			pri = append(pri, i)
		}
	}
	if len(pri) > 0 {
		o := obs[pri[len(pri)/2]]
		seeds = append(seeds, along(o, o.RangeM))
	}
	best, bestCost := pointF{}, math.Inf(1)
	for _, sd := range seeds {
		p, c := refine(obs, use, sd, f)
		if c < bestCost {
			best, bestCost = p, c
		}
	}
	if math.IsInf(bestCost, 1) {
		return Estimate{}, fmt.Errorf("%w: no solution", ErrDegenerate)
	}
	// Drop gross outliers one at a time, worst first (a mis-associated box,
	// a heading glitch), keeping at least three quarters of the bearings.
	for dropped := 0; len(obs) >= 5 && dropped < len(obs)/4; dropped++ {
		worst, wz := -1, 3.5
		for i, o := range obs {
			if !use[i] {
				continue
			}
			if z := math.Abs(angleZ(o, best)); z > wz {
				worst, wz = i, z
			}
		}
		if worst < 0 {
			break
		}
		use[worst] = false
		best, _ = refine(obs, use, best, f)
	}
	h, chi2, n := normal(obs, use, best, f)
	det := h[0][0]*h[1][1] - h[0][1]*h[1][0]
	tr := h[0][0] + h[1][1]
	if n < 2 || det <= 1e-9*tr*tr || det <= 0 {
		return Estimate{}, fmt.Errorf("%w: lines of sight are (nearly) parallel", ErrDegenerate)
	}
	scale := 1.0
	if dof := n - 2; dof > 0 && chi2/float64(dof) > 1 {
		scale = chi2 / float64(dof)
	}
	est := Estimate{X: best.X, Y: best.Y}
	est.RelErrM = math.Sqrt(scale * tr / det) // trace of the inverse of h
	est.ErrM = math.Sqrt(est.RelErrM*est.RelErrM + floorM*floorM)

	var ranges, res []float64
	ahead := 0
	for i, o := range obs {
		if !use[i] {
			continue
		}
		est.Used++
		dx, dy := est.X-o.X, est.Y-o.Y
		ranges = append(ranges, math.Hypot(dx, dy))
		az := o.AzDeg * math.Pi / 180
		if dx*math.Sin(az)+dy*math.Cos(az) > 0 {
			ahead++
		}
		r := angleErr(o, best) * 180 / math.Pi
		res = append(res, r*r)
		for j := 0; j < i; j++ {
			if use[j] {
				est.BaselineM = math.Max(est.BaselineM, math.Hypot(o.X-obs[j].X, o.Y-obs[j].Y))
			}
		}
	}
	if float64(ahead) < 0.8*float64(est.Used) {
		return Estimate{}, fmt.Errorf("%w: the lines of sight meet behind the walker", ErrDegenerate)
	}
	var sum float64
	for _, r := range res {
		sum += r
	}
	est.RMSDeg = math.Sqrt(sum / float64(len(res)))
	sort.Float64s(ranges)
	est.RangeM = ranges[len(ranges)/2]
	est.NearM = ranges[len(ranges)/10]
	return est, nil
}

// along returns the point r metres along o's line of sight.
func along(o Bearing, r float64) pointF {
	az := o.AzDeg * math.Pi / 180
	return pointF{o.X + r*math.Sin(az), o.Y + r*math.Cos(az)}
}

// angleErr is the angle, in radians (-π, π], from o's line of sight to the
// direction from o to p.
func angleErr(o Bearing, p pointF) float64 {
	e := math.Atan2(p.X-o.X, p.Y-o.Y) - o.AzDeg*math.Pi/180
	return math.Remainder(e, 2*math.Pi)
}

// angleSigma is the 1-sigma of o's angular error at p: its own angular
// noise and its position noise seen from p.
func angleSigma(o Bearing, p pointF) float64 {
	r := math.Max(math.Hypot(p.X-o.X, p.Y-o.Y), 0.5)
	s := o.SigmaDeg * math.Pi / 180
	q := o.PosSigma / r
	return math.Sqrt(s*s + q*q + 1e-12)
}

func angleZ(o Bearing, p pointF) float64 { return angleErr(o, p) / angleSigma(o, p) }

// huber is the weight of a residual of z sigmas under Huber's loss.
func huber(z float64) float64 {
	const k = 3
	if a := math.Abs(z); a > k {
		return k / a
	}
	return 1
}

// cost is the robust cost of position p: Huber's loss of each used
// bearing's angular error (weighted by f) plus the range priors.
func cost(obs []Bearing, use []bool, p pointF, f float64) float64 {
	const k = 3
	var c float64
	for i, o := range obs {
		if !use[i] {
			continue
		}
		z := math.Abs(angleZ(o, p))
		if z <= k {
			c += f * z * z / 2
		} else {
			c += f * k * (z - k/2)
		}
		if o.RangeM > 0 && o.RangeSigma > 0 {
			zr := (math.Hypot(p.X-o.X, p.Y-o.Y) - o.RangeM) / o.RangeSigma
			c += zr * zr / 2
		}
	}
	return c
}

// normal returns the normal matrix of the robust weighted problem at p
// (the inverse covariance of p), the plain χ² of the used bearings and their number.
func normal(obs []Bearing, use []bool, p pointF, f float64) (h [2][2]float64, chi2 float64, n int) {
	for i, o := range obs {
		if !use[i] {
			continue
		}
		n++
		dx, dy := p.X-o.X, p.Y-o.Y
		r2 := math.Max(dx*dx+dy*dy, 0.25)
		sig := angleSigma(o, p)
		z := angleErr(o, p) / sig
		chi2 += z * z
		// d(bearing)/d(x, y) for a compass bearing atan2(dx, dy).
		jx, jy := dy/r2/sig, -dx/r2/sig
		w := f * huber(z)
		h[0][0] += w * jx * jx
		h[0][1] += w * jx * jy
		h[1][1] += w * jy * jy
		if o.RangeM > 0 && o.RangeSigma > 0 {
			r := math.Sqrt(r2)
			ux, uy := dx/r/o.RangeSigma, dy/r/o.RangeSigma
			h[0][0] += ux * ux
			h[0][1] += ux * uy
			h[1][1] += uy * uy
		}
	}
	h[1][0] = h[0][1]
	return h, chi2, n
}

// refine minimises cost from p0 by Levenberg-Marquardt with Huber weights;
// it returns the point and its cost.
func refine(obs []Bearing, use []bool, p0 pointF, f float64) (pointF, float64) {
	p := p0
	c := cost(obs, use, p, f)
	lambda := 1e-3
	for iter := 0; iter < 50; iter++ {
		var a00, a01, a11, g0, g1 float64
		for i, o := range obs {
			if !use[i] {
				continue
			}
			dx, dy := p.X-o.X, p.Y-o.Y
			r2 := math.Max(dx*dx+dy*dy, 0.25)
			sig := angleSigma(o, p)
			z := angleErr(o, p) / sig
			jx, jy := dy/r2/sig, -dx/r2/sig
			w := f * huber(z)
			a00 += w * jx * jx
			a01 += w * jx * jy
			a11 += w * jy * jy
			g0 += w * jx * z
			g1 += w * jy * z
			if o.RangeM > 0 && o.RangeSigma > 0 {
				r := math.Sqrt(r2)
				zr := (r - o.RangeM) / o.RangeSigma
				ux, uy := dx/r/o.RangeSigma, dy/r/o.RangeSigma
				a00 += ux * ux
				a01 += ux * uy
				a11 += uy * uy
				g0 += ux * zr
				g1 += uy * zr
			}
		}
		improved := false
		for try := 0; try < 10; try++ {
			b00, b11 := a00+lambda*(a00+1e-9), a11+lambda*(a11+1e-9)
			det := b00*b11 - a01*a01
			if det <= 0 || math.IsNaN(det) {
				lambda *= 10
				continue
			}
			sx := -(b11*g0 - a01*g1) / det
			sy := -(b00*g1 - a01*g0) / det
			np := pointF{p.X + sx, p.Y + sy}
			if nc := cost(obs, use, np, f); nc < c {
				done := math.Hypot(sx, sy) < 1e-4
				p, c = np, nc
				lambda = math.Max(lambda/10, 1e-7)
				improved = true
				if done {
					return p, c
				}
				break
			}
			lambda *= 10
		}
		if !improved {
			break
		}
	}
	return p, c
}

// residual is the signed perpendicular distance of (x, y) from o's line.
func residual(o Bearing, x, y float64) float64 {
	az := o.AzDeg * math.Pi / 180
	return math.Cos(az)*(x-o.X) - math.Sin(az)*(y-o.Y)
}

func perpSigma(o Bearing, x, y float64) float64 {
	r := math.Hypot(x-o.X, y-o.Y)
	s := r * o.SigmaDeg * math.Pi / 180
	return math.Sqrt(s*s + o.PosSigma*o.PosSigma + 1e-6)
}

// solve runs the reweighted least squares on the bearings marked in use.
func solve(obs []Bearing, use []bool) (est Estimate, cov [2][2]float64, chi2 float64, dof int, err error) {
	x, y := math.NaN(), math.NaN()
	for iter := 0; iter < 8; iter++ {
		var a00, a01, a11, b0, b1 float64
		n := 0
		for i, o := range obs {
			if !use[i] {
				continue
			}
			n++
			az := o.AzDeg * math.Pi / 180
			nx, ny := math.Cos(az), -math.Sin(az) // normal of the line
			w := 1.0
			if !math.IsNaN(x) {
				w = 1 / (perpSigma(o, x, y) * perpSigma(o, x, y))
			}
			c := nx*o.X + ny*o.Y
			a00 += w * nx * nx
			a01 += w * nx * ny
			a11 += w * ny * ny
			b0 += w * nx * c
			b1 += w * ny * c
			if o.RangeM > 0 && o.RangeSigma > 0 {
				dx, dy := math.Sin(az), math.Cos(az) // along the line
				wr := 1 / (o.RangeSigma * o.RangeSigma)
				if math.IsNaN(x) {
					wr *= 1 / (o.PosSigma*o.PosSigma + 1) // comparable scale to w=1
				}
				cr := dx*o.X + dy*o.Y + o.RangeM
				a00 += wr * dx * dx
				a01 += wr * dx * dy
				a11 += wr * dy * dy
				b0 += wr * dx * cr
				b1 += wr * dy * cr
			}
		}
		det := a00*a11 - a01*a01
		tr := a00 + a11
		if n < 2 || det <= 1e-9*tr*tr {
			return est, cov, 0, 0, fmt.Errorf("%w: lines of sight are (nearly) parallel", ErrDegenerate)
		}
		nx := (a11*b0 - a01*b1) / det
		ny := (a00*b1 - a01*b0) / det
		cov = [2][2]float64{{a11 / det, -a01 / det}, {-a01 / det, a00 / det}}
		done := !math.IsNaN(x) && math.Hypot(nx-x, ny-y) < 1e-3
		x, y = nx, ny
		if done {
			break
		}
	}
	n := 0
	for i, o := range obs {
		if !use[i] {
			continue
		}
		n++
		z := residual(o, x, y) / perpSigma(o, x, y)
		chi2 += z * z
	}
	return Estimate{X: x, Y: y}, cov, chi2, n - 2, nil
}
