package firmware

import (
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/camaudit/camaudit/geo"
)

// A camera is rarely followed by one track from the first frame it is seen
// in to the last: an occlusion, a run of missed detections, a sway the
// tracker could not follow or the camera leaving the frame and coming back
// all cut its track into fragments. Each fragment is located on its own when
// it can be; a located fragment is held for a while (holdFor) as a
// candidate, and later fragments of the same camera are pooled into it.
// Fragments too short or too straight ahead to be located alone are kept
// loose for as long and join the candidate they fit.
//
// Two fragments are taken for the same camera when
//   - they do not show two separate boxes in the same frames (two cameras
//     seen at once are two cameras, however close they seem),
//   - they have the same type, or they alternate in time (a detector
//     unsure whether a camera is a dome or a PTZ), and
//   - their positions agree within their relative errors (fragments seen
//     close in time share the GNSS bias, so it does not count; it does, in
//     part, for fragments seen further apart), or, up to three times
//     further apart and of the same type, one's lines of sight point at
//     the other, and
//   - located together, they are not clearly worse placed than apart,
//     unless one's lines of sight point at the other.

// holdFor is how long (of frame time) a located camera waits for more
// fragments before it is confirmed, and a loose fragment for a candidate.
const holdFor = 30 * time.Second

// biasTau is the correlation time assumed for the GNSS position bias.
const biasTau = 60 * time.Second

// candidate is a located camera held back for a while before it is
// confirmed, so that later fragments of the same camera are merged into it
// instead of competing with it.
type candidate struct {
	t    *Track
	pos  geo.LatLon
	est  Estimate
	when time.Time
}

// recent is a camera this walk confirmed lately, with the observations that
// placed it: a later track seen at the same time as it is another camera.
type recent struct {
	cam KnownCamera
	t   *Track
	est Estimate
}

// recentFor is how long the observations of a confirmed camera are kept.
const recentFor = 5 * time.Minute

// maxLoose bounds the loose fragments kept in memory.
const maxLoose = 200

// confirm locates an ended track and pools it with the held candidate of
// the same camera, or holds it as a new candidate; a track that cannot be
// located alone joins a candidate it fits or waits loose for one.
func (w *Walk) confirm(t *Track) {
	pos, est, when, err := w.Locate(t)
	if err != nil {
		w.log.Debug("track not located alone", "track", t.ID, "type", t.Type, "frames", len(t.Obs), "seq", t.span(), "err", err)
		for _, c := range w.byTime(t) {
			if w.tryAttach(c, t) {
				return
			}
		}
		if len(t.Obs) >= minLoose {
			w.loose = append(w.loose, t)
			if len(w.loose) > maxLoose {
				w.stats.Unconfirmed++
				w.loose = w.loose[1:]
			}
		} else {
			w.stats.Unconfirmed++
		}
		return
	}
	c := &candidate{t: t, pos: pos, est: est, when: when}
	apart := map[*candidate]bool{} // held candidates found to be other cameras after all
	for {
		i := w.sameAsHeld(c, apart)
		if i < 0 {
			break
		}
		other := w.held[i]
		m, ok := w.pool(other, c)
		if !ok {
			apart[other] = true
			continue
		}
		w.stats.Duplicates++
		w.stats.Merged++
		w.held = append(w.held[:i], w.held[i+1:]...)
		c = m
	}
	// Loose fragments that fit join it.
	keep := w.loose[:0]
	for _, l := range w.loose {
		if !w.tryAttach(c, l) {
			keep = append(keep, l)
		}
	}
	w.loose = keep
	w.held = append(w.held, c)
}

// byTime returns the held candidates ordered by how close in time they were
// seen to t (nearest first).
func (w *Walk) byTime(t *Track) []*candidate {
	out := append([]*candidate(nil), w.held...)
	sort.SliceStable(out, func(i, j int) bool { return spanGap(out[i].t, t) < spanGap(out[j].t, t) })
	return out
}

// sameAsHeld returns the index of the held candidate that c may be another
// fragment of (the closest, in combined sigmas), or -1; candidates in apart
// are skipped.
func (w *Walk) sameAsHeld(c *candidate, apart map[*candidate]bool) int {
	best, bestZ := -1, math.Inf(1)
	for i, h := range w.held {
		if apart[h] {
			continue
		}
		if z := w.nearness(h, c); z < bestZ {
			best, bestZ = i, z
		}
	}
	return best
}

// nearness says how plausibly two located fragments are one camera by type,
// timing and position: their distance in units of the gate (relGate), or 1
// when they are further apart (up to 3 gates) but of the same type and
// one's lines of sight point at the other (a heading error while a camera
// was far ahead makes its error estimate too small); +Inf when they cannot
// be one camera. Lines of sight from afar pass by anything further along
// them, so a fragment of another type that far off is another camera.
func (w *Walk) nearness(a, b *candidate) float64 {
	d := geo.Distance(a.pos, b.pos)
	gate := w.relGate(a.t, a.est, b.t, b.est)
	if !w.compatible(a.t, b.t) {
		if d <= gate {
			w.log.Debug("fragments apart: seen at once or different types", "a", a.t.Parts(), "b", b.t.Parts(),
				"types", a.t.Type+"/"+b.t.Type, "together", simultaneous(a.t.Obs, b.t.Obs), "d", d)
		}
		return math.Inf(1)
	}
	switch {
	case d <= gate:
		return d / gate
	case d <= 3*gate && a.t.Type == b.t.Type && (w.fits(a, b.t) || w.fits(b, a.t)):
		return 1
	case d <= 3*gate:
		w.log.Debug("fragments apart: too far", "a", a.t.Parts(), "b", b.t.Parts(), "d", d, "gate", gate)
	}
	return math.Inf(1)
}

// pool merges two located fragments of one camera: their observations are
// located together, and the pooled estimate replaces the better single one
// unless it is clearly worse. Then they may not be one camera at all (two
// imprecise fragments of two cameras some metres apart): only if one's
// lines of sight point at the other does the better fragment stand for
// both; otherwise pool reports false and they stay apart.
func (w *Walk) pool(a, b *candidate) (*candidate, bool) {
	if a.t.Obs[0].Time.After(b.t.Obs[0].Time) {
		a, b = b, a
	}
	merged := mergeTracks(a.t, b.t)
	mp, me, mw, err := w.Locate(merged)
	w.log.Debug("pooling fragments", "a", a.t.Parts(), "b", b.t.Parts(), "types", a.t.Type+"/"+b.t.Type, "seq", a.t.span()+" "+b.t.span(),
		"d", geo.Distance(a.pos, b.pos), "err_a", a.est.ErrM, "err_b", b.est.ErrM, "err_pooled", me.ErrM, "located", err == nil)
	if err == nil && me.ErrM <= 1.25*math.Min(a.est.ErrM, b.est.ErrM) {
		return &candidate{t: merged, pos: mp, est: me, when: mw}, true
	}
	if !w.fits(a, b.t) && !w.fits(b, a.t) {
		w.log.Debug("fragments apart: they do not fit together", "a", a.t.Parts(), "b", b.t.Parts())
		return nil, false
	}
	if b.est.ErrM < a.est.ErrM {
		return b, true
	}
	return a, true
}

// tryAttach adds the observations of a track that could not be located
// alone to candidate c if they fit it: the same camera by type and timing
// (at most attachGap apart), the fragment's own estimate, if it has one,
// near c's, and the pooled estimate close to c's, at least as precise, and
// using nearly all of the fragment's bearings. It updates c and reports
// whether it did.
func (w *Walk) tryAttach(c *candidate, l *Track) bool {
	if !w.compatible(c.t, l) || spanGap(c.t, l) > attachGap {
		return false
	}
	if lp, le, _, err := w.Locate(l); le.ErrM > 0 || err == nil {
		// The fragment has an estimate of its own (too imprecise to stand
		// alone, perhaps): it must agree with c's.
		enu, _ := w.traj.ENU()
		if err == nil {
			le.X, le.Y = enu.ToLocal(lp)
		}
		cx, cy := enu.ToLocal(c.pos)
		if math.Hypot(le.X-cx, le.Y-cy) > w.relGate(c.t, c.est, l, le) {
			return false
		}
	}
	if !w.fits(c, l) {
		return false
	}
	merged := mergeTracks(c.t, l)
	mp, me, mw, err := w.Locate(merged)
	if err != nil || me.ErrM > 1.1*c.est.ErrM {
		return false
	}
	if geo.Distance(mp, c.pos) > math.Max(w.opt.Locate.DedupMinM, 1.5*c.est.RelErrM) {
		return false
	}
	c.t, c.pos, c.est, c.when = merged, mp, me, mw
	w.stats.Merged++
	return true
}

// fits reports whether the observations of track l look like the camera
// of candidate c: at least 80 % of its lines of sight pass within 3σ of c's
// position at the height c's own observations put it (within 0.8 m + 4 % of
// the distance: pitch sway), and its boxes have c's apparent size there
// (within a factor fitSize). Spurious boxes and a neighbouring camera's
// fragment fail it.
func (w *Walk) fits(c *candidate, l *Track) bool {
	enu, ok := w.traj.ENU()
	ls := w.sightings(l)
	if !ok || len(ls) == 0 {
		return false
	}
	cx, cy := enu.ToLocal(c.pos)
	p := pointF{cx, cy}
	height := func(s sight) float64 {
		return math.Hypot(p.X-s.X, p.Y-s.Y) * math.Tan(s.ElDeg*math.Pi/180)
	}
	var hs []float64
	for _, s := range w.sightings(c.t) {
		hs = append(hs, height(s))
	}
	if len(hs) == 0 {
		return false
	}
	ch := median(hs)
	f := w.opt.Optics.Focal()
	good := 0
	var sizes []float64
	for _, s := range ls {
		r := math.Hypot(p.X-s.X, p.Y-s.Y)
		if math.Abs(angleZ(s.Bearing, p)) <= 3 && math.Abs(height(s)-ch) <= 0.8+0.04*r {
			good++
		}
		if s.Width > 0 {
			sizes = append(sizes, r*s.Width/f)
		}
	}
	if float64(good) < 0.8*float64(len(ls)) {
		return false
	}
	if c.est.ApparentSizeM > 0 && len(sizes) > 0 {
		if m := median(sizes); m < c.est.ApparentSizeM/fitSize || m > c.est.ApparentSizeM*fitSize {
			return false
		}
	}
	return true
}

// fitSize is how far (as a factor) a fragment's apparent size may stray from
// the candidate's it joins.
const fitSize = 1.8

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// attachGap is the longest time between a loose fragment and the candidate
// it joins (an occlusion, a turn).
const attachGap = 10 * time.Second

// minLoose is the fewest observations a loose fragment needs to be kept.
const minLoose = 3

// compatible reports whether two tracks may be the same camera: not seen
// apart in the same frames, and the same type unless they alternate in
// time (their spans overlap by a second or more).
func (w *Walk) compatible(a, b *Track) bool {
	if seenTogether(a, b) {
		return false
	}
	if a.Type == b.Type {
		return true
	}
	from, to := maxTime(a.Obs[0].Time, b.Obs[0].Time), minTime(a.Last().Time, b.Last().Time)
	return to.Sub(from) >= time.Second
}

// relGate is the largest distance at which two located fragments are taken
// for the same camera: DedupSigma times their combined relative error, with
// the part of the GNSS bias that changed between them, and at least DedupMinM.
func (w *Walk) relGate(a *Track, ea Estimate, b *Track, eb Estimate) float64 {
	floor := 0.7 * w.opt.SigmaM
	dt := absDur(midTime(a).Sub(midTime(b)))
	bias2 := 2 * floor * floor * (1 - math.Exp(-dt.Seconds()/biasTau.Seconds()))
	s := math.Sqrt(ea.RelErrM*ea.RelErrM + eb.RelErrM*eb.RelErrM + bias2)
	return math.Max(w.opt.Locate.DedupMinM, w.opt.Locate.DedupSigma*s)
}

// release confirms the held candidates last seen more than holdFor before
// now (all of them when final), and gives up on loose fragments as old.
func (w *Walk) release(now time.Time, final bool) {
	keep := w.held[:0]
	for _, c := range w.held {
		if final || now.Sub(c.t.Last().Time) > holdFor {
			w.emit(c.t, c.pos, c.est, c.when)
			continue
		}
		keep = append(keep, c)
	}
	w.held = keep
	loose := w.loose[:0]
	for _, l := range w.loose {
		if final || now.Sub(l.Last().Time) > holdFor {
			w.stats.Unconfirmed++
			continue
		}
		loose = append(loose, l)
	}
	w.loose = loose
	rec := w.recent[:0]
	for _, r := range w.recent {
		if final || now.Sub(r.t.Last().Time) <= recentFor {
			rec = append(rec, r)
		}
	}
	w.recent = rec
}

// remember keeps a confirmed camera's observations for recentFor.
func (w *Walk) remember(cam KnownCamera, t *Track, est Estimate) {
	w.recent = append(w.recent, &recent{cam: cam, t: t, est: est})
}

// matchThis returns the camera confirmed earlier in this walk that a located
// track duplicates. Cameras confirmed lately are compared as fragments
// (timing, type, relative errors, whether they locate together); older ones
// by type and combined error.
func (w *Walk) matchThis(t *Track, est Estimate, cam KnownCamera) (KnownCamera, bool) {
	seen := map[string]bool{}
	c := &candidate{t: t, pos: geo.LatLon{Lat: cam.Lat, Lon: cam.Lon}, est: est}
	best, bestZ := KnownCamera{}, math.Inf(1)
	for _, r := range w.recent {
		seen[r.cam.ID] = true
		rc := &candidate{t: r.t, pos: geo.LatLon{Lat: r.cam.Lat, Lon: r.cam.Lon}, est: r.est}
		if z := w.nearness(rc, c); z < bestZ {
			if _, same := w.pool(rc, c); same {
				best, bestZ = r.cam, z
			}
		}
	}
	if !math.IsInf(bestZ, 1) {
		return best, true
	}
	var older []KnownCamera
	for _, k := range w.this {
		if !seen[k.ID] {
			older = append(older, k)
		}
	}
	return w.match(cam, older)
}

// mergeTracks returns a track with the observations of both, in time order,
// under the older one's id and the type both vote for.
func mergeTracks(a, b *Track) *Track {
	if b.ID < a.ID {
		a, b = b, a
	}
	obs := make([]Observation, 0, len(a.Obs)+len(b.Obs))
	obs = append(append(obs, a.Obs...), b.Obs...)
	sort.SliceStable(obs, func(i, j int) bool { return obs[i].Time.Before(obs[j].Time) })
	m := &Track{ID: a.ID, Obs: obs, parts: append(append([]int64(nil), a.Parts()...), b.Parts()...)}
	sort.Slice(m.parts, func(i, j int) bool { return m.parts[i] < m.parts[j] })
	m.vote()
	return m
}

// Parts returns the ids of the tracker's tracks whose observations this
// track pools (its own id when it is one of them).
func (t *Track) Parts() []int64 {
	if len(t.parts) == 0 {
		return []int64{t.ID}
	}
	return t.parts
}

// span says which frames a track's observations came from, first-last,
// for debug logs: a developer finds a camera's fragments by frame number.
func (t *Track) span() string {
	return fmt.Sprintf("%d-%d", t.Obs[0].Seq, t.Last().Seq)
}

// seenTogether reports whether two tracks show separate boxes in the same
// frames often enough to be two cameras: in at least 3 frames, and in half
// of the frames in which either has a box while both are followed. A
// spurious box or two that joined a fragment of a camera does not make it
// another camera.
func seenTogether(a, b *Track) bool {
	n := simultaneous(a.Obs, b.Obs)
	if n < 3 {
		return false
	}
	from, to := maxTime(a.Obs[0].Time, b.Obs[0].Time), minTime(a.Last().Time, b.Last().Time)
	in := func(t *Track) int {
		k := 0
		for _, o := range t.Obs {
			if !o.Time.Before(from) && !o.Time.After(to) {
				k++
			}
		}
		return k
	}
	return 2*n >= min(in(a), in(b))
}

// simultaneous counts the frames in which both tracks have a box and the
// boxes are apart (not two detections of the same thing).
func simultaneous(a, b []Observation) int {
	n := 0
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i].Seq < b[j].Seq:
			i++
		case a[i].Seq > b[j].Seq:
			j++
		default:
			if IoU(a[i].Box, b[j].Box) < 0.1 {
				n++
			}
			i++
			j++
		}
	}
	return n
}

// spanGap is the time between two tracks' spans (0 when they overlap).
func spanGap(a, b *Track) time.Duration {
	if g := b.Obs[0].Time.Sub(a.Last().Time); g > 0 {
		return g
	}
	if g := a.Obs[0].Time.Sub(b.Last().Time); g > 0 {
		return g
	}
	return 0
}

func midTime(t *Track) time.Time {
	return t.Obs[0].Time.Add(t.Last().Time.Sub(t.Obs[0].Time) / 2)
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
