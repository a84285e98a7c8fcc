package firmware

import (
	"image"
	"math"
	"sort"
	"time"
)

// Detection is one camera the detector found in a frame.
type Detection struct {
	Type  string          // dome|bullet|ptz|alpr|unknown
	Label string          // the model's label
	Score float32         // 0..1
	Box   image.Rectangle // pixels in the frame
}

// Observation is one detection assigned to a track.
type Observation struct {
	Seq   int64     // frame sequence number
	Time  time.Time // the frame's local capture time
	Box   image.Rectangle
	Score float32
	Type  string // the type the detector gave this detection
	Label string

	off pointF // the tracker's common shift (sway) at this frame
}

// Track is one physical camera followed across frames.
type Track struct {
	ID int64
	// Type and Label are the detector's most frequent verdict over the
	// track's observations (weighted by score): a detector sometimes calls a
	// dome a PTZ for a frame or two, and the track follows the camera, not
	// the verdict.
	Type  string
	Label string
	Obs   []Observation

	parts  []int64 // ids of the fragments pooled into this track (see fragments.go)
	vx, vy float64 // box centre velocity without the camera's sway, px/s
	off    pointF  // the tracker's common shift at the last observation
	missed int     // frames in a row without a match
}

// Last returns the most recent observation.
func (t *Track) Last() Observation { return t.Obs[len(t.Obs)-1] }

// add appends an observation and updates the track's type vote.
func (t *Track) add(o Observation) {
	t.Obs = append(t.Obs, o)
	t.vote()
}

// vote sets Type and Label to the score-weighted majority of the
// observations (ties go to the type seen first).
func (t *Track) vote() {
	t.Type, t.Label = VoteType(t.Obs)
}

// VoteType returns the type (and the label that gave it most often) with
// the largest total score over obs; ties go to the type seen first.
func VoteType(obs []Observation) (typ, label string) {
	type tally struct {
		score  float64
		first  int
		labels map[string]float64
	}
	votes := map[string]*tally{}
	for i, o := range obs {
		v := votes[o.Type]
		if v == nil {
			v = &tally{first: i, labels: map[string]float64{}}
			votes[o.Type] = v
		}
		w := math.Max(float64(o.Score), 0.01)
		v.score += w
		v.labels[o.Label] += w
	}
	var best *tally
	for k, v := range votes {
		if best == nil || v.score > best.score || (v.score == best.score && v.first < best.first) {
			best, typ = v, k
		}
	}
	if best == nil {
		return "", ""
	}
	bl := -1.0
	for l, w := range best.labels {
		if w > bl || (w == bl && l < label) {
			label, bl = l, w
		}
	}
	return typ, label
}

// Tracker associates detections across frames into tracks.
//
// Walking sways a body-worn camera by a degree or two between frames, which
// moves every box in the frame by the same tens of pixels, while distant
// cameras bunch up near the vanishing point a few pixels apart. So each
// frame the tracker first finds the shift common to most tracks (the
// camera's own rotation) by consensus, and then matches each track's
// constant-velocity prediction, moved by that shift, to the detections by
// overlap or by closeness within a tight gate; a detection only within the
// wide gate (for a track the shift does not explain, e.g. a close camera
// seen by a slow detector) is a fallback at a higher cost. A detection of
// another type than the track's can continue it at a cost (detectors confuse
// look-alike types now and then). Pairs are taken greedily by cost.
// Unmatched detections start tracks; tracks unseen for longer than MaxGap end.
type Tracker struct {
	MaxGap  time.Duration // a track ends after this long without a detection
	MinIoU  float64       // overlap accepted as the same camera
	MaxDist float64       // or centre distance, in predicted box diagonals ...
	MinGate float64       // ... or in pixels, whichever is larger: the wide gate, before the common shift is known
	// ShiftTol is how closely, in pixels, a detection must follow the
	// shift-compensated prediction to count in the consensus on the common
	// shift and to pass the tight gate.
	ShiftTol float64
	// GateInterval is the frame interval the pixel gates are meant for; at
	// longer intervals (a slow detector, missed frames) they widen with the
	// square root of the interval, at most 3×.
	GateInterval time.Duration
	// TypePenalty is added to the cost of pairing a detection with a track of
	// another type (costs are 0..1 for overlaps, 1..2 for tight, 2..3 for
	// wide matches).
	TypePenalty float64

	next   int64
	active []*Track
	offset pointF    // the common shift accumulated since the first frame
	lastAt time.Time // the previous frame's time
}

// NewTracker returns a tracker whose tracks end after maxGap without a detection.
func NewTracker(maxGap time.Duration) *Tracker {
	return &Tracker{MaxGap: maxGap, MinIoU: 0.1, MaxDist: 2.5, MinGate: 8, ShiftTol: 6,
		GateInterval: 100 * time.Millisecond, TypePenalty: 0.75}
}

// Active returns the number of live tracks.
func (tr *Tracker) Active() int { return len(tr.active) }

// widen is the factor by which pixel gates grow for a look dt after the last.
func (tr *Tracker) widen(dt time.Duration) float64 {
	if tr.GateInterval <= 0 {
		return 1
	}
	return math.Min(3, math.Max(1, math.Sqrt(dt.Seconds()/tr.GateInterval.Seconds())))
}

// velocityWindow is the stretch of a track over which its image velocity
// is measured: a sway period or two, so that what is left of the sway after
// compensation averages out instead of being extrapolated.
const velocityWindow = time.Second

// velocity returns a track's image velocity (px/s, without the camera's
// sway) once observation ob joins obs: the sway-compensated displacement
// since the oldest observation within velocityWindow, halved while that
// spans less than a third of the window.
func velocity(obs []Observation, ob Observation) (vx, vy float64) {
	if len(obs) == 0 {
		return 0, 0
	}
	j := len(obs) - 1
	for j > 0 && ob.Time.Sub(obs[j-1].Time) <= velocityWindow {
		j--
	}
	dt := ob.Time.Sub(obs[j].Time).Seconds()
	if dt <= 0 {
		return 0, 0
	}
	c0, c1 := center(obs[j].Box), center(ob.Box)
	vx = (c1.X - c0.X - (ob.off.X - obs[j].off.X)) / dt
	vy = (c1.Y - c0.Y - (ob.off.Y - obs[j].off.Y)) / dt
	if dt < velocityWindow.Seconds()/3 {
		vx, vy = vx/2, vy/2
	}
	return vx, vy
}

// rank turns a distance in pixels into a cost in [0, 1) that orders pairs
// by distance alone: a track whose gate widened after missed frames must
// not win a detection that is closer to another track's prediction.
func (tr *Tracker) rank(dist float64) float64 {
	return dist / (dist + 3*tr.MinGate)
}

func count(b []bool) int {
	n := 0
	for _, v := range b {
		if v {
			n++
		}
	}
	return n
}

// establishedObs is how many observations make a track established: only
// established tracks get gates widened for time and the wide fallback gate.
const establishedObs = 3

// gateScale is the factor for track t's pixel gates at time at: an
// established track's widen with the time since it was last seen; a young
// one's (its velocity unknown, perhaps a spurious box) are half as wide and
// widen only with the frame interval, so that scattered spurious boxes
// rarely chain into a track.
func (tr *Tracker) gateScale(t *Track, at time.Time) float64 {
	if len(t.Obs) >= establishedObs {
		return tr.widen(at.Sub(t.Last().Time))
	}
	dt := time.Duration(0)
	if !tr.lastAt.IsZero() {
		dt = at.Sub(tr.lastAt)
	}
	return 0.5 * tr.widen(dt)
}

// predict returns the box a track is expected to have at time at, under
// constant velocity, with the common shift accumulated since its last
// observation (not including this frame's).
func (tr *Tracker) predict(t *Track, at time.Time) image.Rectangle {
	l := t.Last()
	dt := at.Sub(l.Time).Seconds()
	dx := t.vx*dt + tr.offset.X - t.off.X
	dy := t.vy*dt + tr.offset.Y - t.off.Y
	return l.Box.Add(image.Pt(int(math.Round(dx)), int(math.Round(dy))))
}

// commonShift finds the image shift that brings the most established
// tracks' predictions onto a detection: each track-detection pair within the
// wide gate proposes a shift, each proposal is scored by how closely it puts
// the tracks on their nearest detections (1 for an exact fit, 0 beyond
// ShiftTol; a detection counts once), and the best is refined to the mean
// shift of the tracks it fits. Young tracks, which may be spurious boxes,
// have no say once two established tracks are in view. It reports false
// when too few tracks agree.
func (tr *Tracker) commonShift(preds []image.Rectangle, gates []float64, steady []bool, dets []Detection) (pointF, bool) {
	if len(dets) < 2 {
		return pointF{}, false
	}
	// Established tracks measure the sway; until there are two, all tracks
	// do, but three must agree (on three different detections), which
	// spurious boxes rarely manage.
	use, need := steady, 2
	if n := count(steady); n < 2 {
		use, need = make([]bool, len(preds)), 3
		for i := range use {
			use[i] = true
		}
	}
	var cands []pointF
	for ti, pb := range preds {
		if !use[ti] {
			continue
		}
		pc := center(pb)
		for _, d := range dets {
			dc := center(d.Box)
			if math.Hypot(dc.X-pc.X, dc.Y-pc.Y) <= gates[ti] {
				cands = append(cands, pointF{dc.X - pc.X, dc.Y - pc.Y})
			}
		}
	}
	tol := tr.ShiftTol
	type hit struct {
		e    float64
		disp pointF
	}
	best := make([]hit, len(dets)) // the closest track to each detection under a proposal
	fit := func(c pointF) (score float64, n int, mean pointF) {
		for di := range best {
			best[di] = hit{e: math.Inf(1)}
		}
		for ti, pb := range preds {
			if !use[ti] {
				continue
			}
			pc := center(pb)
			nd, ndi := math.Inf(1), -1
			for di, d := range dets {
				dc := center(d.Box)
				if e := math.Hypot(dc.X-pc.X-c.X, dc.Y-pc.Y-c.Y); e < nd {
					nd, ndi = e, di
				}
			}
			if nd <= tol && nd < best[ndi].e {
				dc := center(dets[ndi].Box)
				best[ndi] = hit{e: nd, disp: pointF{dc.X - pc.X, dc.Y - pc.Y}}
			}
		}
		// Each detection counts once, for the track closest to it.
		for _, h := range best {
			if !math.IsInf(h.e, 1) {
				score += 1 - (h.e/tol)*(h.e/tol)
				n++
				mean.X += h.disp.X
				mean.Y += h.disp.Y
			}
		}
		if n > 0 {
			mean.X, mean.Y = mean.X/float64(n), mean.Y/float64(n)
		}
		return score, n, mean
	}
	bestScore, bestN, bestNorm := 0.0, 0, math.Inf(1)
	var shift pointF
	for _, c := range cands {
		score, n, mean := fit(c)
		if n < need {
			continue
		}
		// The mean of the tracks it fits is a better proposal still.
		if s2, n2, m2 := fit(mean); n2 >= need && s2 > score {
			score, n, mean = s2, n2, m2
		}
		norm := math.Hypot(mean.X, mean.Y)
		if score > bestScore+1e-9 || (math.Abs(score-bestScore) <= 1e-9 && norm < bestNorm) {
			bestScore, bestN, bestNorm, shift = score, n, norm, mean
		}
	}
	if bestN < need {
		return pointF{}, false
	}
	return shift, true
}

// Update adds one frame's detections taken at local time at (frame seq) and
// returns the tracks that ended.
func (tr *Tracker) Update(seq int64, at time.Time, dets []Detection) []*Track {
	type pair struct {
		t, d int
		cost float64
	}
	preds := make([]image.Rectangle, len(tr.active))
	wide := make([]float64, len(tr.active))
	steady := make([]bool, len(tr.active)) // established and seen lately: they measure the sway
	for ti, t := range tr.active {
		preds[ti] = tr.predict(t, at)
		diag := math.Hypot(float64(preds[ti].Dx()), float64(preds[ti].Dy()))
		wide[ti] = math.Max(tr.MaxDist*diag, tr.MinGate*tr.gateScale(t, at))
		steady[ti] = len(t.Obs) >= establishedObs && t.missed <= 2
	}
	shift, shifted := tr.commonShift(preds, wide, steady, dets)
	var pairs []pair
	for ti, t := range tr.active {
		pb := preds[ti]
		diag := math.Hypot(float64(pb.Dx()), float64(pb.Dy()))
		tight := math.Max(diag, tr.ShiftTol*math.Max(1, tr.gateScale(t, at)))
		sb := pb.Add(image.Pt(int(math.Round(shift.X)), int(math.Round(shift.Y))))
		sc := center(pb)
		sc.X, sc.Y = sc.X+shift.X, sc.Y+shift.Y
		pc := center(pb)
		for di, d := range dets {
			penalty := 0.0
			if d.Type != t.Type {
				penalty = tr.TypePenalty
			}
			dc := center(d.Box)
			dist := math.Hypot(dc.X-sc.X, dc.Y-sc.Y)
			raw := math.Hypot(dc.X-pc.X, dc.Y-pc.Y)
			switch iou := IoU(sb, d.Box); {
			case penalty > 0 && t.missed > 0:
				// Another type continues a track only where it was seen
				// in the frame before, not after a gap in which the
				// camera may have left the frame and another appeared.
			case iou >= tr.MinIoU:
				pairs = append(pairs, pair{ti, di, 1 - iou + penalty})
			case shifted && dist <= tight:
				pairs = append(pairs, pair{ti, di, 1 + tr.rank(dist) + penalty})
			case penalty > 0:
				// Another type continues a track only close to its prediction.
			case !shifted && raw <= wide[ti]:
				pairs = append(pairs, pair{ti, di, 1 + tr.rank(raw)})
			case shifted && len(t.Obs) >= establishedObs && math.Min(dist, raw) <= wide[ti]:
				// Only an established track may be continued against the
				// common shift: spurious boxes would chain into tracks.
				pairs = append(pairs, pair{ti, di, 2 + tr.rank(math.Min(dist, raw))})
			}
		}
	}
	sort.SliceStable(pairs, func(i, j int) bool { return pairs[i].cost < pairs[j].cost })
	offset := pointF{tr.offset.X + shift.X, tr.offset.Y + shift.Y}
	usedT := make([]bool, len(tr.active))
	usedD := make([]bool, len(dets))
	for _, p := range pairs {
		if usedT[p.t] || usedD[p.d] {
			continue
		}
		usedT[p.t], usedD[p.d] = true, true
		t, d := tr.active[p.t], dets[p.d]
		ob := Observation{Seq: seq, Time: at, Box: d.Box, Score: d.Score, Type: d.Type, Label: d.Label, off: offset}
		t.vx, t.vy = velocity(t.Obs, ob)
		t.add(ob)
		t.off = offset
		t.missed = 0
	}
	tr.offset = offset
	tr.lastAt = at
	var ended []*Track
	keep := tr.active[:0]
	for ti, t := range tr.active {
		if !usedT[ti] {
			t.missed++
			if at.Sub(t.Last().Time) > tr.MaxGap {
				ended = append(ended, t)
				continue
			}
		}
		keep = append(keep, t)
	}
	tr.active = keep
	for di, d := range dets {
		if usedD[di] || d.Box.Empty() {
			continue
		}
		tr.next++
		nt := &Track{ID: tr.next, off: offset}
		nt.add(Observation{Seq: seq, Time: at, Box: d.Box, Score: d.Score, Type: d.Type, Label: d.Label, off: offset})
		tr.active = append(tr.active, nt)
	}
	return ended
}

// Flush ends every live track (walk end) and returns them.
func (tr *Tracker) Flush() []*Track {
	out := tr.active
	tr.active = nil
	return out
}

type pointF struct{ X, Y float64 }

func center(r image.Rectangle) pointF {
	return pointF{float64(r.Min.X+r.Max.X) / 2, float64(r.Min.Y+r.Max.Y) / 2}
}

// IoU returns the intersection over union of two boxes.
func IoU(a, b image.Rectangle) float64 {
	in := a.Intersect(b)
	if in.Empty() {
		return 0
	}
	ia := float64(in.Dx() * in.Dy())
	return ia / (float64(a.Dx()*a.Dy()+b.Dx()*b.Dy()) - ia)
}
