package firmware

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"time"

	"github.com/google/uuid"

	"github.com/camaudit/camaudit/geo"
	"github.com/camaudit/camaudit/gnss"
	"github.com/camaudit/camaudit/wire"
)

// Clock maps the device's local clock, which stamps frames, to UTC from
// GNSS. A Raspberry Pi has no real-time clock: until GNSS time is known,
// UTC reports false and records wait; they are stamped once it is known.
type Clock interface {
	UTC(local time.Time) (utc time.Time, ok bool)
}

// UTCClock is a Clock for sources whose frame times already are UTC (a
// replayed walk whose start time is known).
type UTCClock struct{}

// UTC returns local unchanged.
func (UTCClock) UTC(local time.Time) (time.Time, bool) { return local.UTC(), !local.IsZero() }

// KnownCamera is a camera confirmed earlier (by an earlier walk, or earlier in
// this one), used to avoid publishing it twice.
type KnownCamera struct {
	ID   string  `json:"id"`
	Walk string  `json:"walk"`
	Type string  `json:"type"`
	Lat  float64 `json:"lat"`
	Lon  float64 `json:"lon"`
	ErrM float64 `json:"err_m"`
}

// KeyedSighting is a confirmed sighting with the walk-local key that lets a
// restarted replay recognise a sighting it had already confirmed (and reuse
// its id instead of minting a new one).
type KeyedSighting struct {
	Key      string        `json:"key"`
	Sighting wire.Sighting `json:"sighting"`
}

// SizeM is the typical physical width, in metres, of each camera type, the
// basis of the range-from-apparent-size prior.
// Values are mid-range real-world housings as seen from the street (a dome
// 12-20 cm across, a bullet housing 25-40 cm long, an ALPR unit 30-50 cm);
// the prior is weak (1-sigma half the range), as actual sizes vary.
var SizeM = map[string]float64{"dome": 0.16, "bullet": 0.30, "ptz": 0.24, "alpr": 0.40, "unknown": 0.25}

// WalkOptions configures a Walk.
type WalkOptions struct {
	Device string
	WalkID string
	Model  string // detection model name, goes into sightings
	Optics Optics
	Locate LocateConfig
	SigmaM float64 // GNSS position noise when fixes do not report it
	Clock  Clock
	// Known are cameras confirmed by earlier walks.
	Known []KnownCamera
	// Prior are the sightings this walk already confirmed before a restart.
	Prior []KeyedSighting
	// Emit stores a newly confirmed sighting durably; an error keeps it in
	// memory to be retried at the next frame.
	Emit func(KeyedSighting) error
	Log  *slog.Logger
}

// WalkStats counts what a walk did.
type WalkStats struct {
	Frames      int64
	Detections  int64
	Tracks      int64
	Confirmed   int
	Resumed     int // confirmed before a restart and recognised again
	Merged      int // track fragments merged into another of the same camera
	Duplicates  int // same camera as one confirmed earlier in this walk
	Reobserved  int // same camera as one confirmed by an earlier walk
	Unconfirmed int // tracks that did not meet the thresholds
	Pending     int // tracks waiting for UTC or GNSS
}

// Walk turns one walk's frames' detections and GNSS fixes into confirmed,
// located, deduplicated camera sightings, and at its end into counts per
// H3 cell and coverage. It is not safe for concurrent use: one goroutine
// feeds it.
type Walk struct {
	opt     WalkOptions
	traj    *Trajectory
	tracker *Tracker
	pending []*Track
	held    []*candidate
	loose   []*Track  // tracks that could not be located alone, waiting to join a candidate
	recent  []*recent // this walk's cameras confirmed lately, with their observations
	unsent  []KeyedSighting
	prior   map[string]KeyedSighting
	this    []KnownCamera // confirmed by this walk
	reobs   []KnownCamera // earlier walks' cameras seen again
	stats   WalkStats
	log     *slog.Logger
	ended   bool
}

// NewWalk starts processing a walk.
func NewWalk(opt WalkOptions) (*Walk, error) {
	if !wire.ValidDevice(opt.Device) {
		return nil, fmt.Errorf("walk: device %q is not [a-z0-9-]{3,32}", opt.Device)
	}
	if !wire.ValidID(opt.WalkID) {
		return nil, fmt.Errorf("walk: id %q is not a UUID", opt.WalkID)
	}
	if opt.Optics.Width <= 0 || opt.Optics.Height <= 0 || opt.Optics.HFOVDeg <= 0 {
		return nil, fmt.Errorf("walk: camera optics %dx%d hfov %v are not usable", opt.Optics.Width, opt.Optics.Height, opt.Optics.HFOVDeg)
	}
	if opt.Locate.MinFrames == 0 {
		opt.Locate = DefaultLocate()
	}
	if opt.Clock == nil {
		opt.Clock = UTCClock{}
	}
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	if opt.Emit == nil {
		opt.Emit = func(KeyedSighting) error { return nil }
	}
	w := &Walk{opt: opt, traj: NewTrajectory(opt.SigmaM), tracker: NewTracker(opt.Locate.MaxGap.Duration()),
		prior: map[string]KeyedSighting{}, log: opt.Log}
	// Body sway moves small boxes by a few per cent of the frame between frames.
	w.tracker.MinGate = math.Max(8, 0.05*float64(opt.Optics.Width))
	// Once the sway common to all boxes is taken out, a camera's box follows
	// its prediction to within box jitter, roll and parallax.
	w.tracker.ShiftTol = math.Max(6, 0.015*float64(opt.Optics.Width))
	for _, p := range opt.Prior {
		w.prior[p.Key] = p
	}
	return w, nil
}

// ID returns the walk id.
func (w *Walk) ID() string { return w.opt.WalkID }

// Stats returns the walk's counters.
func (w *Walk) Stats() WalkStats {
	s := w.stats
	s.Pending = len(w.pending)
	return s
}

// Sightings returns the sightings confirmed by this walk so far, including
// those recognised from before a restart, in confirmation order.
func (w *Walk) Sightings() []KnownCamera { return append([]KnownCamera(nil), w.this...) }

// Trajectory exposes the walk's in-memory track (for LEDs and telemetry).
func (w *Walk) Trajectory() *Trajectory { return w.traj }

// AddFix adds a GNSS fix; it reports whether the fix had a usable position.
func (w *Walk) AddFix(f gnss.Fix) bool {
	ok := w.traj.Add(f)
	if ok {
		w.process(false)
	}
	return ok
}

// AddFrame adds the detections of one frame (sequence number seq, captured
// at local time at). Tracks that end are located once their GNSS context
// is known; newly confirmed sightings are passed to Emit.
func (w *Walk) AddFrame(seq int64, at time.Time, dets []Detection) {
	w.stats.Frames++
	w.stats.Detections += int64(len(dets))
	before := w.tracker.next
	ended := w.tracker.Update(seq, at, dets)
	w.stats.Tracks += w.tracker.next - before
	w.pending = append(w.pending, ended...)
	w.process(false)
	w.release(at, false)
}

// retryUnsent re-offers sightings whose Emit failed.
func (w *Walk) retryUnsent() {
	keep := w.unsent[:0]
	for _, ks := range w.unsent {
		if err := w.opt.Emit(ks); err != nil {
			keep = append(keep, ks)
		}
	}
	w.unsent = keep
}

// process locates the ended tracks whose observations can be placed in
// time and space. With final set, it locates what it can and gives up on the rest.
func (w *Walk) process(final bool) {
	w.retryUnsent()
	keep := w.pending[:0]
	for _, t := range w.pending {
		if !w.locateReady(t, final) {
			keep = append(keep, t)
			continue
		}
		w.confirm(t)
	}
	w.pending = keep
	// Bound memory while GNSS time never arrives: keep the newest 500 tracks.
	if len(w.pending) > 500 {
		w.log.Warn("dropping tracks that cannot be placed (no GNSS time or fix)", "tracks", len(w.pending)-500)
		w.pending = append([]*Track(nil), w.pending[len(w.pending)-500:]...)
	}
}

// locateReady reports whether a track's last observation has a UTC time and
// GNSS fixes after it (so the smoothed track around it is settled).
func (w *Walk) locateReady(t *Track, final bool) bool {
	if final {
		return true
	}
	utc, ok := w.opt.Clock.UTC(t.Last().Time)
	if !ok {
		return false
	}
	_, last, ok := w.traj.Span()
	return ok && !last.Before(utc.Add(2*time.Second))
}

// sight is one observation of a track placed in the world: the line of
// sight from where the walker was, its elevation, and the box width.
type sight struct {
	Bearing
	ElDeg float64   // elevation of the line of sight above the horizon
	Width float64   // box width in pixels, 0 where the box touches the frame edge
	UTC   time.Time // when
}

// sightings places a track's observations that have a UTC time and a GNSS
// pose (others are left out).
func (w *Walk) sightings(t *Track) []sight {
	o := w.opt.Optics
	pix := o.PixelSigmaDeg()
	var out []sight
	for _, ob := range t.Obs {
		utc, ok := w.opt.Clock.UTC(ob.Time)
		if !ok {
			continue
		}
		pose, ok := w.traj.PoseAt(utc)
		if !ok {
			continue
		}
		c := center(ob.Box)
		az, el := o.Direction(c.X, c.Y)
		// Box-centre jitter grows with the box; heading noise is a couple of
		// degrees on a straight line and grows while the walker turns (the
		// smoothed heading lags a turn).
		jit := math.Max(1, 0.06*float64(ob.Box.Dx())) * pix
		hs := 2.0
		if before, ok1 := w.traj.PoseAt(utc.Add(-500 * time.Millisecond)); ok1 {
			if after, ok2 := w.traj.PoseAt(utc.Add(500 * time.Millisecond)); ok2 {
				hs += math.Abs(geo.AngleDiff(after.Heading, before.Heading))
			}
		}
		b := Bearing{X: pose.X, Y: pose.Y, AzDeg: geo.NormDeg(pose.Heading + az),
			SigmaDeg: math.Sqrt(jit*jit + hs*hs), PosSigma: relPosSigma}
		touches := ob.Box.Min.X <= 1 || ob.Box.Min.Y <= 1 || ob.Box.Max.X >= o.Width-1 || ob.Box.Max.Y >= o.Height-1
		wd := 0.0
		if !touches {
			wd = float64(ob.Box.Dx())
		}
		out = append(out, sight{Bearing: b, ElDeg: el, Width: wd, UTC: utc})
	}
	return out
}

// relPosSigma is the noise, in metres, of the walker's position relative to
// the rest of the same stretch of track. The smoother ties neighbouring
// fixes together with the receiver's precise Doppler velocity, so it is far
// smaller than the absolute GNSS error, which moves every line of sight
// alike and is added to a camera's error separately (WalkOptions.SigmaM).
// Counting the absolute error per line of sight would let a fit place a
// camera close to the walker, where position noise excuses any bearing.
const relPosSigma = 0.3

// headingDriftDeg is the part of the heading error that stays the same
// for seconds (GNSS course smoothing, a walker's steady lean): it limits
// how well a small turn of the line of sight places a camera.
const headingDriftDeg = 1.5

// turn returns how far, in degrees, the lines of sight to est turned while
// the camera was seen: the spread of their one-second means (so a few close
// frames count as much as many far ones, and sway averages out), over the
// lines that pass within 3.5σ of est.
func turn(sights []sight, est Estimate) float64 {
	p := pointF{est.X, est.Y}
	type bin struct{ sx, sy float64 }
	bins := map[int64]*bin{}
	var keys []int64
	for _, s := range sights {
		if math.Abs(angleZ(s.Bearing, p)) > 3.5 {
			continue
		}
		k := s.UTC.Unix()
		b := bins[k]
		if b == nil {
			b = &bin{}
			bins[k] = b
			keys = append(keys, k)
		}
		a := s.AzDeg * math.Pi / 180
		b.sx, b.sy = b.sx+math.Sin(a), b.sy+math.Cos(a)
	}
	if len(keys) < 2 {
		return 0
	}
	// Bearings around the direction to est from the first bin's mean.
	ref := math.Atan2(bins[keys[0]].sx, bins[keys[0]].sy) * 180 / math.Pi
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, k := range keys {
		d := math.Remainder(math.Atan2(bins[k].sx, bins[k].sy)*180/math.Pi-ref, 360)
		lo, hi = math.Min(lo, d), math.Max(hi, d)
	}
	return hi - lo
}

// sizeTolerance is how far (as a factor) the width a located camera's
// boxes imply may stray from its type's typical width.
const sizeTolerance = 2.5

// sizePriorSigma is the relative 1-sigma of a camera's actual width
// around its type's typical one (SizeM).
const sizePriorSigma = 0.4

// apparentSize returns the median width, in metres, that the boxes imply
// for a camera at est (0 when no box is usable).
func apparentSize(bs []Bearing, widths []float64, est Estimate, focal float64) float64 {
	var sizes []float64
	for i, b := range bs {
		if widths[i] > 0 {
			sizes = append(sizes, math.Hypot(est.X-b.X, est.Y-b.Y)*widths[i]/focal)
		}
	}
	if len(sizes) == 0 {
		return 0
	}
	sort.Float64s(sizes)
	return sizes[len(sizes)/2]
}

// driftFloor raises est's error to what the heading's slowly wandering
// error allows. The covariance of the fit trusts the bearings to be
// independent, and is taken where the fit landed: for a camera seen over a
// small turn of the line of sight (est.SpreadDeg: far ahead, or a short
// fragment) it is too optimistic about the range, which the heading drift
// decides. The range is known to no better than headingDriftDeg over the
// turn, at the range the fit found or, if larger, the one the boxes' sizes
// suggest (focalSize, the focal length times the type's width, over each
// usable width; a heading error that shortens the range also shortens the
// fit's own idea of it).
func driftFloor(est *Estimate, widths []float64, focalSize float64) {
	if est.SpreadDeg <= 0 {
		return
	}
	r := est.RangeM
	var sr []float64
	for _, wd := range widths {
		if wd > 0 {
			sr = append(sr, focalSize/wd)
		}
	}
	if len(sr) > 0 {
		r = math.Max(r, median(sr))
	}
	along := r * headingDriftDeg / est.SpreadDeg
	if along > est.RelErrM {
		floor2 := est.ErrM*est.ErrM - est.RelErrM*est.RelErrM
		est.RelErrM = along
		est.ErrM = math.Sqrt(along*along + floor2)
	}
}

// ErrNotConfirmed explains why a track did not become a sighting.
var ErrNotConfirmed = errors.New("not confirmed")

// Locate estimates the position of the camera followed by a track. It is
// exported for tests and tools; the walk calls it for every ended track.
func (w *Walk) Locate(t *Track) (geo.LatLon, Estimate, time.Time, error) {
	cfg := w.opt.Locate
	if len(t.Obs) < cfg.MinFrames {
		return geo.LatLon{}, Estimate{}, time.Time{}, fmt.Errorf("%w: %d frames, need %d", ErrNotConfirmed, len(t.Obs), cfg.MinFrames)
	}
	f := w.opt.Optics.Focal()
	sights := w.sightings(t)
	bs := make([]Bearing, len(sights))
	widths := make([]float64, len(sights)) // box widths, 0 where clipped by the frame edge
	var lastUTC time.Time
	for i, s := range sights {
		bs[i], widths[i], lastUTC = s.Bearing, s.Width, s.UTC
	}
	if len(bs) < cfg.MinFrames {
		return geo.LatLon{}, Estimate{}, time.Time{}, fmt.Errorf("%w: %d of %d frames have a GNSS pose", ErrNotConfirmed, len(bs), len(t.Obs))
	}
	size := SizeM[t.Type]
	if size == 0 {
		size = SizeM["unknown"]
	}
	// Every detection's box says how far the camera is (its typical width
	// over the box width), but all through the same unknown actual width:
	// together they are worth one prior, spread over all of them so that
	// no single box (jittered, clipped, a neighbour's) decides it.
	k := 0
	for _, wd := range widths {
		if wd > 0 {
			k++
		}
	}
	for i, wd := range widths {
		if wd > 0 {
			r := f * size / wd
			bs[i].RangeM, bs[i].RangeSigma = r, (sizePriorSigma*r+0.5)*math.Sqrt(float64(k))
		}
	}
	// Heading and GNSS errors stay correlated for about a second.
	span := t.Last().Time.Sub(t.Obs[0].Time).Seconds()
	floor, nEff := 0.7*w.opt.SigmaM, math.Max(2, span)
	est, err := Intersect(bs, floor, nEff)
	if err == nil {
		est.SpreadDeg = turn(sights, est)
		driftFloor(&est, widths, f*size)
	}
	// A camera walked towards: its lines of sight barely turned, but its
	// boxes grew (approach.go).
	if err != nil || est.ErrM > cfg.MaxErrM {
		if a, ok := approach(bs, widths, size, f, floor, nEff); ok && a.ErrM <= approachMaxErr*cfg.MaxErrM && (err != nil || a.ErrM < est.ErrM) {
			w.log.Debug("located from the growth of its boxes", "track", t.ID, "type", t.Type, "seq", t.span(), "err_m", a.ErrM, "err_m_bearings", est.ErrM, "bearings", err)
			a.SpreadDeg = turn(sights, a)
			est, err = a, nil
		}
	}
	if err != nil {
		return geo.LatLon{}, Estimate{}, time.Time{}, fmt.Errorf("%w: %v", ErrNotConfirmed, err)
	}
	// The camera's width implied by each range and box must be plausible:
	// a far-away camera placed a few metres ahead (all its lines of sight
	// run along the path, and meet anywhere along it) looks absurdly small.
	est.ApparentSizeM = apparentSize(bs, widths, est, f)
	switch {
	case est.ApparentSizeM > 0 && (est.ApparentSizeM < size/sizeTolerance || est.ApparentSizeM > size*sizeTolerance):
		return geo.LatLon{}, est, lastUTC, fmt.Errorf("%w: at %.0f m its boxes mean a %s %.2f m wide, expected about %.2f", ErrNotConfirmed, est.RangeM, t.Type, est.ApparentSizeM, size)
	case est.BaselineM < cfg.MinBaselineM:
		return geo.LatLon{}, est, lastUTC, fmt.Errorf("%w: baseline %.1f m, need %.1f", ErrNotConfirmed, est.BaselineM, cfg.MinBaselineM)
	case est.ErrM > cfg.MaxErrM:
		return geo.LatLon{}, est, lastUTC, fmt.Errorf("%w: error %.1f m, limit %.1f", ErrNotConfirmed, est.ErrM, cfg.MaxErrM)
	case est.NearM > cfg.MaxRangeM:
		// Seen only from far away (a track that also came close may
		// well have started far).
		return geo.LatLon{}, est, lastUTC, fmt.Errorf("%w: range %.0f m, limit %.0f", ErrNotConfirmed, est.NearM, cfg.MaxRangeM)
	}
	enu, _ := w.traj.ENU()
	return enu.FromLocal(est.X, est.Y), est, lastUTC, nil
}

// emit confirms a located camera unless it is one already known (this walk,
// an earlier walk, or before a restart) and hands it to Emit.
func (w *Walk) emit(t *Track, pos geo.LatLon, est Estimate, when time.Time) {
	cam := KnownCamera{Walk: w.opt.WalkID, Type: t.Type, Lat: pos.Lat, Lon: pos.Lon, ErrM: est.ErrM}
	// The key must be unique within the walk: two cameras of one type can
	// both be first seen in the same frame (a merged fragment keeps its
	// first frame), so the deterministic track id is part of it.
	key := fmt.Sprintf("%s@%d#%d", t.Type, t.Obs[0].Seq, t.ID)
	if p, ok := w.prior[key]; ok {
		cam.ID, cam.Lat, cam.Lon, cam.ErrM = p.Sighting.ID, p.Sighting.Lat, p.Sighting.Lon, p.Sighting.ErrM
		w.this = append(w.this, cam)
		w.stats.Resumed++
		w.stats.Confirmed++
		return
	}
	if dup, ok := w.matchThis(t, est, cam); ok {
		w.stats.Duplicates++
		w.log.Debug("duplicate of a camera confirmed in this walk", "type", t.Type, "id", dup.ID, "seq", t.span(), "tracks", t.Parts())
		return
	}
	if dup, ok := w.match(cam, w.opt.Known); ok {
		w.stats.Reobserved++
		w.reobs = append(w.reobs, dup)
		w.log.Debug("camera already confirmed by an earlier walk", "type", t.Type, "id", dup.ID)
		return
	}
	// A restarted walk also dedups against what it journalled before the
	// restart, whatever key those had (a live walk cannot replay its frames).
	for _, p := range w.prior {
		pc := KnownCamera{ID: p.Sighting.ID, Type: p.Sighting.Type, Lat: p.Sighting.Lat, Lon: p.Sighting.Lon, ErrM: p.Sighting.ErrM}
		if _, ok := w.match(cam, []KnownCamera{pc}); ok && !w.confirmedID(pc.ID) {
			w.this = append(w.this, pc)
			w.stats.Resumed++
			w.stats.Confirmed++
			return
		}
	}
	nid := newID(when)
	var score float64
	for _, ob := range t.Obs {
		score += float64(ob.Score)
	}
	score /= float64(len(t.Obs))
	conf := math.Max(0, math.Min(1, score*(1-math.Exp(-float64(est.Used)/6))))
	s := wire.Sighting{
		Schema: wire.SchemaSighting, ID: nid, Device: w.opt.Device, Walk: w.opt.WalkID,
		Time: when.UTC().Truncate(time.Millisecond), Lat: round(pos.Lat, 7), Lon: round(pos.Lon, 7),
		ErrM: round(est.ErrM, 1), Type: wireType(t.Type), Confidence: round(conf, 3),
		Frames: est.Used, BaselineM: round(est.BaselineM, 1), Model: w.opt.Model,
	}
	cam.ID = nid
	w.log.Debug("sighting confirmed", "id", nid, "type", t.Type, "frames", len(t.Obs), "used", est.Used,
		"err_m", est.ErrM, "baseline_m", est.BaselineM, "tracks", t.Parts(), "seq", t.span())
	w.this = append(w.this, cam)
	w.remember(cam, t, est)
	w.stats.Confirmed++
	ks := KeyedSighting{Key: key, Sighting: s}
	if err := w.opt.Emit(ks); err != nil {
		w.log.Error("storing a confirmed sighting failed; keeping it in memory and retrying", "id", nid, "err", err)
		w.unsent = append(w.unsent, ks)
	}
}

func (w *Walk) confirmedID(id string) bool {
	for _, c := range w.this {
		if c.ID == id {
			return true
		}
	}
	return false
}

// match returns the camera in set that cam duplicates: same type, closer
// than DedupSigma combined sigmas (or DedupMinM metres).
func (w *Walk) match(cam KnownCamera, set []KnownCamera) (KnownCamera, bool) {
	best, bestD := KnownCamera{}, math.Inf(1)
	for _, k := range set {
		if k.Type != cam.Type {
			continue
		}
		d := geo.Distance(geo.LatLon{Lat: cam.Lat, Lon: cam.Lon}, geo.LatLon{Lat: k.Lat, Lon: k.Lon})
		gate := math.Max(w.opt.Locate.DedupMinM, w.opt.Locate.DedupSigma*math.Hypot(cam.ErrM, k.ErrM))
		if d <= gate && d < bestD {
			best, bestD = k, d
		}
	}
	return best, !math.IsInf(bestD, 1)
}

// Summary is what a walk sends when it ends: counts per cell and coverage.
type Summary struct {
	Counts   []wire.Counts
	Coverage *wire.Coverage // nil when the walk had no usable fix
}

// Finish ends the walk: live tracks are closed and located, counts per H3
// cell and the coverage cells are computed from the smoothed track, and the
// raw track is forgotten. extraCells adds distance walked per cell from
// before a restart (nil for none); from, when not zero, is the walk's start
// before a restart.
func (w *Walk) Finish(extraCells map[string]float64, from time.Time) Summary {
	if w.ended {
		return Summary{}
	}
	w.ended = true
	w.pending = append(w.pending, w.tracker.Flush()...)
	w.process(true)
	w.release(time.Time{}, true)
	cells := w.WalkedCells()
	for c, m := range extraCells {
		cells[c] += m
	}
	t0, t1, ok := w.traj.Span()
	if !from.IsZero() && (!ok || from.Before(t0)) {
		t0 = from
		if !ok {
			t1 = from
		}
		ok = true
	}
	w.traj.Clear()
	if !ok || len(cells) == 0 {
		return Summary{}
	}
	t0, t1 = t0.UTC().Truncate(time.Second), t1.UTC().Truncate(time.Second).Add(time.Second)
	perCell := map[string]map[string]int{}
	for _, cams := range [][]KnownCamera{w.this, w.reobs} {
		for _, c := range cams {
			cell := geo.Cell(geo.LatLon{Lat: c.Lat, Lon: c.Lon}, geo.CellRes)
			if perCell[cell] == nil {
				perCell[cell] = map[string]int{}
			}
			perCell[cell][wireType(c.Type)]++
		}
	}
	all := map[string]bool{}
	for c := range cells {
		all[c] = true
	}
	for c := range perCell {
		all[c] = true
	}
	names := make([]string, 0, len(all))
	for c := range all {
		names = append(names, c)
	}
	sort.Strings(names)
	var sum Summary
	var total float64
	var covered []string
	for _, c := range names {
		cams := perCell[c]
		if cams == nil {
			cams = map[string]int{}
		}
		sum.Counts = append(sum.Counts, wire.Counts{Schema: wire.SchemaCounts, Device: w.opt.Device, Walk: w.opt.WalkID,
			Cell: c, Cameras: cams, WalkedM: round(cells[c], 1), From: t0, To: t1})
		if _, walked := cells[c]; walked {
			covered = append(covered, c)
			total += cells[c]
		}
	}
	if len(covered) > 0 {
		sum.Coverage = &wire.Coverage{Schema: wire.SchemaCoverage, Device: w.opt.Device, Walk: w.opt.WalkID,
			Cells: covered, WalkedM: round(total, 1), From: t0, To: t1}
	}
	return sum
}

// Pause marks a pause in the walk: the way between the last fix before it
// and the first after it is not counted as walked.
func (w *Walk) Pause() { w.traj.Break() }

// WalkedCells returns the metres walked in each H3 resolution-9 cell, from
// the smoothed track so that GNSS noise does not inflate the distance.
// Stretches across a pause are not counted.
func (w *Walk) WalkedCells() map[string]float64 {
	out := map[string]float64{}
	path := w.traj.Path()
	start := 0
	for i := 1; i <= len(path); i++ {
		if i == len(path) || w.traj.resumed(i) {
			for _, c := range geo.CellsAlong(path[start:i], geo.CellRes) {
				out[c] += 0
			}
			start = i
		}
	}
	for i := 1; i < len(path); i++ {
		if w.traj.resumed(i) {
			continue
		}
		a, b := path[i-1], path[i]
		d := geo.Distance(a, b)
		steps := int(d/5) + 1
		for s := 0; s < steps; s++ {
			f := (float64(s) + 0.5) / float64(steps)
			m := geo.LatLon{Lat: a.Lat + f*(b.Lat-a.Lat), Lon: a.Lon + f*(b.Lon-a.Lon)}
			out[geo.Cell(m, geo.CellRes)] += d / float64(steps)
		}
	}
	return out
}

func wireType(t string) string {
	for _, k := range wire.CameraTypes {
		if k == t {
			return t
		}
	}
	return "unknown"
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

// newID returns a UUIDv7 whose time part is now (GNSS UTC, never the
// possibly unsynchronised system clock).
func newID(now time.Time) string {
	id := uuid.Must(uuid.NewV7())
	ms := uint64(now.UnixMilli())
	if ms > 0 {
		id[0], id[1], id[2], id[3], id[4], id[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	}
	return id.String()
}
