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
	X, Y      float64 // metres east/north on the local plane
	ErrM      float64 // 1-sigma horizontal error (root of the covariance trace)
	BaselineM float64 // largest distance between two observer positions used
	RMSDeg    float64 // root-mean-square bearing residual
	Used      int     // bearings used (after outlier rejection)
	RangeM    float64 // median distance from the observers
}

// ErrDegenerate is returned when the bearings do not determine a position:
// too few, all parallel, or meeting behind the observers.
var ErrDegenerate = errors.New("bearings do not intersect")

// Intersect finds the point closest, in the least-squares sense, to all the
// lines of sight. Each line is weighted by the inverse variance of its
// perpendicular miss distance, (range·σθ)² + σp², re-estimated as the
// solution moves (iteratively reweighted least squares); range priors add
// a soft constraint along their line, which keeps short baselines from
// running off to infinity. Bearings whose residual exceeds 3.5σ are dropped,
// worst first. The error estimate is the covariance of the solution scaled by the
// residuals when they are larger than the noise model predicts; floorM is
// added in quadrature for errors the residuals cannot see (GNSS bias).
//
// Bearings taken a fraction of a second apart share their heading and GNSS
// errors, so they are not independent: nEff, when positive and smaller than
// the number of bearings, is how many independent ones they are worth, and
// the covariance is scaled up accordingly.
func Intersect(obs []Bearing, floorM, nEff float64) (Estimate, error) {
	if len(obs) < 2 {
		return Estimate{}, fmt.Errorf("%w: %d bearing(s)", ErrDegenerate, len(obs))
	}
	use := make([]bool, len(obs))
	for i := range use {
		use[i] = true
	}
	est, cov, chi2, dof, err := solve(obs, use)
	if err != nil {
		return Estimate{}, err
	}
	// Drop gross outliers one at a time, worst first (a mis-associated box,
	// a heading glitch), keeping at least three quarters of the bearings.
	for dropped := 0; len(obs) >= 5 && dropped < len(obs)/4; dropped++ {
		worst, wz := -1, 3.5
		for i, o := range obs {
			if !use[i] {
				continue
			}
			if z := math.Abs(residual(o, est.X, est.Y)) / perpSigma(o, est.X, est.Y); z > wz {
				worst, wz = i, z
			}
		}
		if worst < 0 {
			break
		}
		use[worst] = false
		e2, c2, chi, d2, err := solve(obs, use)
		if err != nil {
			use[worst] = true
			break
		}
		est, cov, chi2, dof = e2, c2, chi, d2
	}
	scale := 1.0
	if dof > 0 && chi2/float64(dof) > 1 {
		scale = chi2 / float64(dof)
	}
	used := 0
	for _, u := range use {
		if u {
			used++
		}
	}
	if nEff > 0 && nEff < float64(used) {
		scale *= float64(used) / nEff
	}
	est.ErrM = math.Sqrt(scale*(cov[0][0]+cov[1][1]) + floorM*floorM)

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
		r := math.Atan2(dx, dy)*180/math.Pi - o.AzDeg
		r = math.Mod(r+540, 360) - 180
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
	return est, nil
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
