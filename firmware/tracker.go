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
	offset pointF // the common shift accumulated since the first frame
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

// establishedObs is how many observations make a track established: only
// established tracks get gates widened for time and the wide fallback gate.
const establishedObs = 3

// widenFor is widen for track t's next look at time at (1 for a young track,
// whose velocity is not known yet and which may be a spurious box).
func (tr *Tracker) widenFor(t *Track, at time.Time) float64 {
	if len(t.Obs) < establishedObs {
		return 1
	}
	return tr.widen(at.Sub(t.Last().Time))
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

// commonShift finds the image shift that brings the most tracks' predictions
// onto a detection (each candidate is one track-detection pair within the
// wide gate), and averages the shifts of the pairs that agree with it. It
// reports false when fewer than two tracks agree.
func (tr *Tracker) commonShift(preds []image.Rectangle, gates []float64, dets []Detection) (pointF, bool) {
	if len(preds) < 2 || len(dets) < 2 {
		return pointF{}, false
	}
	var cands []pointF
	for ti, pb := range preds {
		pc := center(pb)
		for _, d := range dets {
			dc := center(d.Box)
			if math.Hypot(dc.X-pc.X, dc.Y-pc.Y) <= gates[ti] {
				cands = append(cands, pointF{dc.X - pc.X, dc.Y - pc.Y})
			}
		}
	}
	tol := tr.ShiftTol
	bestN, bestNorm := 0, math.Inf(1)
	var bestSum pointF
	for _, c := range cands {
		n := 0
		var sum pointF
		for _, pb := range preds {
			pc := center(pb)
			nearest, nd := pointF{}, math.Inf(1)
			for _, d := range dets {
				dc := center(d.Box)
				if e := math.Hypot(dc.X-pc.X-c.X, dc.Y-pc.Y-c.Y); e < nd {
					nearest, nd = pointF{dc.X - pc.X, dc.Y - pc.Y}, e
				}
			}
			if nd <= tol {
				n++
				sum.X += nearest.X
				sum.Y += nearest.Y
			}
		}
		norm := math.Hypot(c.X, c.Y)
		if n > bestN || (n == bestN && norm < bestNorm) {
			bestN, bestNorm, bestSum = n, norm, sum
		}
	}
	if bestN < 2 {
		return pointF{}, false
	}
	return pointF{bestSum.X / float64(bestN), bestSum.Y / float64(bestN)}, true
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
	for ti, t := range tr.active {
		preds[ti] = tr.predict(t, at)
		diag := math.Hypot(float64(preds[ti].Dx()), float64(preds[ti].Dy()))
		wide[ti] = math.Max(tr.MaxDist*diag, tr.MinGate*tr.widenFor(t, at))
	}
	shift, shifted := tr.commonShift(preds, wide, dets)
	var pairs []pair
	for ti, t := range tr.active {
		pb := preds[ti]
		diag := math.Hypot(float64(pb.Dx()), float64(pb.Dy()))
		tight := math.Max(diag, tr.ShiftTol*tr.widenFor(t, at))
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
				pairs = append(pairs, pair{ti, di, 1 + dist/tight + penalty})
			case penalty > 0:
				// Another type continues a track only close to its prediction.
			case !shifted && raw <= wide[ti]:
				pairs = append(pairs, pair{ti, di, 1 + raw/wide[ti]})
			case shifted && len(t.Obs) >= establishedObs && math.Min(dist, raw) <= wide[ti]:
				// Only an established track may be continued against the
				// common shift: spurious boxes would chain into tracks.
				pairs = append(pairs, pair{ti, di, 2 + math.Min(dist, raw)/wide[ti]})
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
		l := t.Last()
		if dt := at.Sub(l.Time).Seconds(); dt > 0 {
			// The track's own motion, without the camera's sway.
			c0, c1 := center(l.Box), center(d.Box)
			vx := (c1.X - c0.X - (offset.X - t.off.X)) / dt
			vy := (c1.Y - c0.Y - (offset.Y - t.off.Y)) / dt
			// Single-frame velocities are noisy: smooth them.
			if len(t.Obs) == 1 {
				t.vx, t.vy = 0.5*vx, 0.5*vy
			} else {
				t.vx, t.vy = 0.7*t.vx+0.3*vx, 0.7*t.vy+0.3*vy
			}
		}
		t.add(Observation{Seq: seq, Time: at, Box: d.Box, Score: d.Score, Type: d.Type, Label: d.Label})
		t.off = offset
		t.missed = 0
	}
	tr.offset = offset
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
		nt.add(Observation{Seq: seq, Time: at, Box: d.Box, Score: d.Score, Type: d.Type, Label: d.Label})
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
