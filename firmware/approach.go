package firmware

import "math"

// A camera the walker walks towards (one on the facade of the sidewalk
// ahead, or hung under an arcade over it) is seen along nearly the same
// line of sight all the while: the bearings barely turn, so they cannot say
// where along that line it is, and the apparent-size prior alone (one
// camera's typical width, good to some 40 %) leaves the error too large to
// confirm it. Its boxes, though, grow as the distance falls, and whatever
// the camera's real width, each box's width is that width over its
// distance: the growth fixes the distance once the width is known, and the
// walk's own displacement fixes the width. approach fits both.

// Box widths say how far a camera is to within this many pixels of noise
// (detector jitter) and this fraction (the camera turning as it is passed).
const (
	approachPxSigma    = 2.5
	approachShapeSigma = 0.08
	// approachMinGrowth is how much the boxes must have grown (or shrunk),
	// from the first third of the track to the last, for their widths to
	// say more than one size prior does.
	approachMinGrowth = 2
	// approachMinBoxes is how many usable boxes it takes.
	approachMinBoxes = 20
	// approachMaxErr is the share of locate.max_err_m that a camera
	// placed this way may have: its range rests on the boxes' sizes, and
	// one placed barely within the limit was as often another camera.
	approachMaxErr = 0.25
	// approachSteps is the number of candidate widths tried.
	approachSteps = 25
	// approachMaxObs caps the bearings each try uses (evenly spaced over
	// the track, the first and last kept): a track of hundreds of frames
	// says little more, and every try runs a full Intersect.
	approachMaxObs = 40
)

// approach locates the camera seen by bs (with box widths widths, 0 where
// unusable) as one walked towards or away from: for each candidate real
// width S, from the type's typical width size over sizeTolerance to size
// times sizeTolerance, every bearing gets the range S implies with the
// relative noise of its box width, Intersect places the camera, and the
// fit's robust cost plus the size prior scores S. The best S wins; the
// error grows by how far the positions of the widths within one sigma of it
// (cost within 0.5) lie from its own. ok is false when there are fewer than
// approachMinBoxes usable boxes, they did not grow or shrink by
// approachMinGrowth, or no width gives a position.
func approach(bs []Bearing, widths []float64, size, focal, floorM, nEff float64) (Estimate, bool) {
	if len(bs) > approachMaxObs {
		sb, sw := make([]Bearing, approachMaxObs), make([]float64, approachMaxObs)
		for k := range sb {
			i := k * (len(bs) - 1) / (approachMaxObs - 1)
			sb[k], sw[k] = bs[i], widths[i]
		}
		bs, widths = sb, sw
	}
	var usable []float64 // widths in the order seen
	for _, wd := range widths {
		if wd > 0 {
			usable = append(usable, wd)
		}
	}
	n := len(usable)
	if n < approachMinBoxes {
		return Estimate{}, false
	}
	// Growth from the first third of the boxes to the last (medians, so
	// that a few jittered boxes do not fake it).
	first, last := median(usable[:n/3]), median(usable[n-n/3:])
	if math.Max(first, last) < approachMinGrowth*math.Min(first, last) {
		return Estimate{}, false
	}
	f := 1.0
	if nEff > 0 && nEff < float64(len(bs)) {
		f = nEff / float64(len(bs))
	}
	// Neighbouring boxes share their errors as the bearings do: together
	// the widths count as nEff independent ones.
	corr := 1.0
	if nEff > 0 && nEff < float64(n) {
		corr = math.Sqrt(float64(n) / nEff)
	}
	use := make([]bool, len(bs))
	for i := range use {
		use[i] = true
	}
	type try struct {
		est   Estimate
		score float64
	}
	var tries []try
	best := -1
	obs := make([]Bearing, len(bs))
	for k := 0; k < approachSteps; k++ {
		s := size * math.Pow(sizeTolerance, 2*float64(k)/float64(approachSteps-1)-1)
		copy(obs, bs)
		for i, wd := range widths {
			obs[i].RangeM, obs[i].RangeSigma = 0, 0
			if wd > 0 {
				r := focal * s / wd
				obs[i].RangeM = r
				obs[i].RangeSigma = r * math.Hypot(approachPxSigma/wd, approachShapeSigma) * corr
			}
		}
		est, err := Intersect(obs, floorM, nEff)
		if err != nil {
			continue
		}
		z := math.Log(s/size) / sizePriorSigma
		score := cost(obs, use, pointF{est.X, est.Y}, f) + z*z/2
		tries = append(tries, try{est, score})
		if best < 0 || score < tries[best].score {
			best = len(tries) - 1
		}
	}
	if best < 0 {
		return Estimate{}, false
	}
	est := tries[best].est
	var spread float64
	for _, t := range tries {
		if t.score <= tries[best].score+0.5 {
			spread = math.Max(spread, math.Hypot(t.est.X-est.X, t.est.Y-est.Y))
		}
	}
	est.RelErrM = math.Hypot(est.RelErrM, spread)
	est.ErrM = math.Hypot(est.ErrM, spread)
	return est, true
}
