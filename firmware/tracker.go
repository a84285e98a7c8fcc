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
}

// Track is one physical camera followed across frames.
type Track struct {
	ID    int64
	Type  string
	Label string
	Obs   []Observation

	vx, vy float64 // box centre velocity, px/s
	missed int     // frames in a row without a match
}

// Last returns the most recent observation.
func (t *Track) Last() Observation { return t.Obs[len(t.Obs)-1] }

// predict returns the box expected at time at under constant velocity.
func (t *Track) predict(at time.Time) image.Rectangle {
	l := t.Last()
	dt := at.Sub(l.Time).Seconds()
	return l.Box.Add(image.Pt(int(math.Round(t.vx*dt)), int(math.Round(t.vy*dt))))
}

// Tracker associates detections across frames into tracks: per camera type,
// by overlap with (or, for small boxes, closeness to) the box each track is
// predicted to have under a constant image-space velocity. Unmatched
// detections start tracks; tracks unseen for longer than MaxGap end.
type Tracker struct {
	MaxGap  time.Duration // a track ends after this long without a detection
	MinIoU  float64       // overlap accepted as the same camera
	MaxDist float64       // or centre distance, in predicted box diagonals ...
	MinGate float64       // ... or in pixels, whichever is larger (camera shake moves tiny boxes by many diagonals)

	next   int64
	active []*Track
}

// NewTracker returns a tracker whose tracks end after maxGap without a detection.
func NewTracker(maxGap time.Duration) *Tracker {
	return &Tracker{MaxGap: maxGap, MinIoU: 0.1, MaxDist: 2.5, MinGate: 8}
}

// Active returns the number of live tracks.
func (tr *Tracker) Active() int { return len(tr.active) }

// Update adds one frame's detections taken at local time at (frame seq) and
// returns the tracks that ended.
func (tr *Tracker) Update(seq int64, at time.Time, dets []Detection) []*Track {
	type pair struct {
		t, d int
		cost float64
	}
	var pairs []pair
	for ti, t := range tr.active {
		pb := t.predict(at)
		diag := math.Hypot(float64(pb.Dx()), float64(pb.Dy()))
		pc := center(pb)
		for di, d := range dets {
			if d.Type != t.Type {
				continue
			}
			iou := IoU(pb, d.Box)
			gate := math.Max(tr.MaxDist*diag, tr.MinGate)
			dist := math.Hypot(center(d.Box).X-pc.X, center(d.Box).Y-pc.Y) / gate
			switch {
			case iou >= tr.MinIoU:
				pairs = append(pairs, pair{ti, di, 1 - iou})
			case dist <= 1:
				pairs = append(pairs, pair{ti, di, 1 + dist})
			}
		}
	}
	sort.SliceStable(pairs, func(i, j int) bool { return pairs[i].cost < pairs[j].cost })
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
			c0, c1 := center(l.Box), center(d.Box)
			vx, vy := (c1.X-c0.X)/dt, (c1.Y-c0.Y)/dt
			// Shake makes single-frame velocities noisy: smooth them.
			if len(t.Obs) == 1 {
				t.vx, t.vy = 0.5*vx, 0.5*vy
			} else {
				t.vx, t.vy = 0.7*t.vx+0.3*vx, 0.7*t.vy+0.3*vy
			}
		}
		t.Obs = append(t.Obs, Observation{Seq: seq, Time: at, Box: d.Box, Score: d.Score})
		t.missed = 0
	}
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
		tr.active = append(tr.active, &Track{ID: tr.next, Type: d.Type, Label: d.Label,
			Obs: []Observation{{Seq: seq, Time: at, Box: d.Box, Score: d.Score}}})
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
