package firmware

import (
	"errors"
	"image"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/camaudit/camaudit/geo"
	"github.com/camaudit/camaudit/gnss"
	"github.com/camaudit/camaudit/wire"
)

func gnssFix(t time.Time) gnss.Fix {
	return gnss.Fix{Time: t, Valid: true, Pos: geo.LatLon{Lat: 52.52, Lon: 13.40}}
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// project is the inverse of Optics.Direction for a world point: it returns
// the pixel at which a point at (e, n, up) metres from the camera appears
// when the walker faces heading, or false when it is outside the frame.
func project(o Optics, heading, e, n, up float64) (u, v float64, ok bool) {
	h := heading * math.Pi / 180
	// Body frame: right, up, forward.
	x := e*math.Cos(h) - n*math.Sin(h)
	z := e*math.Sin(h) + n*math.Cos(h)
	y := up
	w := o.Mount.YawDeg * math.Pi / 180
	x, z = x*math.Cos(w)-z*math.Sin(w), x*math.Sin(w)+z*math.Cos(w)
	p := o.Mount.PitchDeg * math.Pi / 180
	y, z = y*math.Cos(p)-z*math.Sin(p), y*math.Sin(p)+z*math.Cos(p)
	r := o.Mount.RollDeg * math.Pi / 180
	x, y = x*math.Cos(r)-y*math.Sin(r), x*math.Sin(r)+y*math.Cos(r)
	if z <= 0.5 {
		return 0, 0, false
	}
	f := o.Focal()
	u = float64(o.Width)/2 + f*x/z
	v = float64(o.Height)/2 - f*y/z
	return u, v, u >= 0 && v >= 0 && u < float64(o.Width) && v < float64(o.Height)
}

func TestOpticsRoundTrip(t *testing.T) {
	o := Optics{Width: 1280, Height: 720, HFOVDeg: 66, Mount: Mount{YawDeg: 20, PitchDeg: 10, RollDeg: 3}}
	az, el := o.Direction(640, 360)
	if math.Abs(az-20) > 1e-9 || math.Abs(el-10) > 1e-9 {
		t.Errorf("centre pixel: az %v el %v, want 20, 10", az, el)
	}
	o0 := Optics{Width: 1280, Height: 720, HFOVDeg: 66}
	if az, _ := o0.Direction(1280, 360); math.Abs(az-33) > 1e-9 {
		t.Errorf("right edge az = %v, want 33 (half the hfov)", az)
	}
	for _, p := range [][3]float64{{3, 10, 2}, {-4, 7, 3}, {1, 20, -0.5}} {
		u, v, ok := project(o, 0, p[0], p[1], p[2])
		if !ok {
			continue
		}
		az, el := o.Direction(u, v)
		wantAz := math.Atan2(p[0], p[1]) * 180 / math.Pi
		wantEl := math.Atan2(p[2], math.Hypot(p[0], p[1])) * 180 / math.Pi
		if math.Abs(az-wantAz) > 1e-6 || math.Abs(el-wantEl) > 1e-6 {
			t.Errorf("point %v: az/el %v/%v, want %v/%v", p, az, el, wantAz, wantEl)
		}
	}
}

func TestIntersectKnownGeometry(t *testing.T) {
	cam := [2]float64{10, 20}
	var exact []Bearing
	for x := 0.0; x <= 12; x += 2 {
		az := math.Atan2(cam[0]-x, cam[1]-0) * 180 / math.Pi
		exact = append(exact, Bearing{X: x, AzDeg: az, SigmaDeg: 1, PosSigma: 0.5})
	}
	est, err := Intersect(exact, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if d := math.Hypot(est.X-cam[0], est.Y-cam[1]); d > 1e-6 || est.BaselineM != 12 || est.Used != 7 {
		t.Errorf("exact bearings: %+v (off by %v m)", est, d)
	}

	// Noisy bearings: the error estimate must cover the actual error most of the time.
	rng := rand.New(rand.NewPCG(1, 2))
	covered, n := 0, 200
	var errs []float64
	for trial := 0; trial < n; trial++ {
		var bs []Bearing
		for x := 0.0; x <= 16; x += 1 {
			px, py := x+rng.NormFloat64()*1, rng.NormFloat64()*1
			az := math.Atan2(cam[0]-x, cam[1]) * 180 / math.Pi
			bs = append(bs, Bearing{X: px, Y: py, AzDeg: az + rng.NormFloat64()*2, SigmaDeg: 2, PosSigma: 1})
		}
		est, err := Intersect(bs, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		d := math.Hypot(est.X-cam[0], est.Y-cam[1])
		errs = append(errs, d)
		if d <= 2*est.ErrM {
			covered++
		}
	}
	sort.Float64s(errs)
	if med := errs[n/2]; med > 3 {
		t.Errorf("median error with 2° and 1 m noise = %.2f m, want < 3", med)
	}
	if float64(covered)/float64(n) < 0.85 {
		t.Errorf("2-sigma error estimate covers %d/%d trials, want >= 85%%", covered, n)
	}

	// An outlier bearing is rejected.
	bad := append([]Bearing(nil), exact...)
	bad[3].AzDeg += 40
	est, err = Intersect(bad, 0, 0)
	if err != nil || math.Hypot(est.X-cam[0], est.Y-cam[1]) > 0.5 || est.Used != 6 {
		t.Errorf("with one outlier: %+v, %v", est, err)
	}

	// Parallel lines of sight, no prior: degenerate.
	par := []Bearing{{X: 0, AzDeg: 0, SigmaDeg: 1}, {X: 0, Y: 1, AzDeg: 0, SigmaDeg: 1}, {X: 0, Y: 2, AzDeg: 0, SigmaDeg: 1}}
	if _, err := Intersect(par, 0, 0); !errors.Is(err, ErrDegenerate) {
		t.Errorf("parallel bearings: err = %v, want ErrDegenerate", err)
	}
	// The same with a range prior: the prior places it.
	par[1].RangeM, par[1].RangeSigma = 15, 3
	if est, err := Intersect(par, 0, 0); err != nil || math.Abs(est.Y-16) > 0.5 || math.Abs(est.X) > 0.5 {
		t.Errorf("parallel bearings with a 15 m range prior: %+v, %v; want (0, 16)", est, err)
	}
	// Lines meeting behind the walker.
	behind := []Bearing{{X: 0, AzDeg: 135, SigmaDeg: 1}, {X: 10, AzDeg: 225, SigmaDeg: 1}}
	behind[0].AzDeg, behind[1].AzDeg = 315, 45 // they cross at (5,-5) but look north
	if _, err := Intersect(behind, 0, 0); !errors.Is(err, ErrDegenerate) {
		t.Errorf("bearings meeting behind: err = %v", err)
	}
}

func TestTrackerFollowsAndEnds(t *testing.T) {
	tr := NewTracker(500 * time.Millisecond)
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	var ended []*Track
	for i := 0; i < 20; i++ {
		at := t0.Add(time.Duration(i) * 100 * time.Millisecond)
		// A dome moving right 15 px/frame, a bullet moving left, crossing at frame ~10;
		// a second dome appears at frame 5; the first dome is missed on frames 7-8.
		var dets []Detection
		if i < 7 || i > 8 {
			dets = append(dets, Detection{Type: "dome", Score: .9, Box: image.Rect(100+15*i, 100, 120+15*i, 118)})
		}
		dets = append(dets, Detection{Type: "bullet", Score: .8, Box: image.Rect(400-15*i, 104, 424-15*i, 116)})
		if i >= 5 && i < 12 {
			dets = append(dets, Detection{Type: "dome", Score: .7, Box: image.Rect(600, 300+2*i, 612, 312+2*i)})
		}
		ended = append(ended, tr.Update(int64(i), at, dets)...)
	}
	// The second dome ended 0.5 s after frame 11.
	if len(ended) != 1 || ended[0].Type != "dome" || len(ended[0].Obs) != 7 {
		t.Fatalf("ended tracks = %d (%v), want the second dome with 7 observations", len(ended), ended)
	}
	live := tr.Flush()
	if len(live) != 2 {
		t.Fatalf("live tracks = %d, want 2", len(live))
	}
	for _, tk := range live {
		switch tk.Type {
		case "dome":
			if len(tk.Obs) != 18 {
				t.Errorf("first dome: %d observations, want 18 (one track across the 2-frame gap)", len(tk.Obs))
			}
		case "bullet":
			if len(tk.Obs) != 20 {
				t.Errorf("bullet: %d observations, want 20 (not confused with the crossing dome)", len(tk.Obs))
			}
		}
	}
	if tr.Active() != 0 {
		t.Error("Flush left tracks")
	}
}

func TestTrajectorySmoothing(t *testing.T) {
	tr := NewTrajectory(3)
	rng := rand.New(rand.NewPCG(3, 4))
	enu := geo.NewENU(geo.LatLon{Lat: 52.52, Lon: 13.40})
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	// Walk 120 s east-north-east (heading 60°) at 1.4 m/s, then stand 20 s.
	h := 60 * math.Pi / 180
	truth := func(s float64) (float64, float64) {
		d := 1.4 * math.Min(s, 120)
		return d * math.Sin(h), d * math.Cos(h)
	}
	var rawErr, smErr float64
	for s := 0; s <= 140; s++ {
		x, y := truth(float64(s))
		nx, ny := x+rng.NormFloat64()*3, y+rng.NormFloat64()*3
		f := gnss.Fix{Time: t0.Add(time.Duration(s) * time.Second), Valid: true, Pos: enu.FromLocal(nx, ny)}
		if s%7 != 3 { // the receiver's Doppler speed and course on most epochs
			sp := 1.4
			if s > 120 {
				sp = 0.05
			}
			f.Speed, f.HasSpeed, f.Course, f.HasCourse = sp+rng.NormFloat64()*0.1, true, 60+rng.NormFloat64()*5, true
		}
		if !tr.Add(f) {
			t.Fatal("valid fix refused")
		}
		rawErr += math.Hypot(nx-x, ny-y)
	}
	if tr.Add(gnss.Fix{Time: t0, Valid: true, Pos: enu.Origin}) {
		t.Error("fix older than the last accepted")
	}
	if tr.Add(gnss.Fix{Time: t0.Add(200 * time.Second), Valid: false}) {
		t.Error("invalid fix accepted")
	}
	for s := 10; s <= 110; s++ {
		p, ok := tr.PoseAt(t0.Add(time.Duration(s)*time.Second + 500*time.Millisecond))
		if !ok {
			t.Fatalf("no pose at %d s", s)
		}
		x, y := truth(float64(s) + 0.5)
		// The trajectory's plane is centred on its first fix: convert.
		te, _ := tr.ENU()
		px, py := enu.ToLocal(te.FromLocal(p.X, p.Y))
		smErr += math.Hypot(px-x, py-y)
		if d := math.Abs(geo.AngleDiff(p.Heading, 60)); d > 6 {
			t.Errorf("heading at %d s = %.1f, want 60 ± 6 (course noise 5°)", s, p.Heading)
		}
	}
	if smErr/101 > 0.6*rawErr/141 {
		t.Errorf("smoothing: mean error %.2f m vs raw %.2f m, want at most 60%%", smErr/101, rawErr/141)
	}
	// Standing still: the heading is held.
	if p, ok := tr.PoseAt(t0.Add(135 * time.Second)); !ok || math.Abs(geo.AngleDiff(p.Heading, 60)) > 10 {
		t.Errorf("standing: heading %v, %v; want held near 60", p.Heading, ok)
	}
	if _, ok := tr.PoseAt(t0.Add(-10 * time.Second)); ok {
		t.Error("pose before the first fix")
	}
	tr.Clear()
	if tr.Len() != 0 {
		t.Error("Clear kept fixes")
	}
}

// synthWalk simulates a walk past cameras: noisy GNSS at 1 Hz, frames at
// fps with boxes projected from the cameras' true positions.
type synthCam struct {
	typ        string
	e, n, up   float64
	widthM     float64
	wantLatLon geo.LatLon
}

type synthWalk struct {
	fixes  []gnss.Fix
	frames []struct {
		t    time.Time
		dets []Detection
	}
	cams []synthCam
}

func makeSynthWalk(seed uint64, sigma float64, t0 time.Time) synthWalk {
	rng := rand.New(rand.NewPCG(seed, 99))
	enu := geo.NewENU(geo.LatLon{Lat: 52.52, Lon: 13.40})
	o := Optics{Width: 1280, Height: 720, HFOVDeg: 66, Mount: Mount{PitchDeg: 10}}
	// Walk north along x=0 for 160 m, cameras on both sides.
	cams := []synthCam{
		{typ: "dome", e: 7, n: 30, up: 3.5, widthM: 0.14},
		{typ: "bullet", e: -6, n: 55, up: 4, widthM: 0.24},
		{typ: "dome", e: 8, n: 80, up: 3, widthM: 0.14},
		{typ: "ptz", e: -9, n: 110, up: 5, widthM: 0.22},
		{typ: "dome", e: 5, n: 135, up: 3.2, widthM: 0.14},
	}
	for i := range cams {
		cams[i].wantLatLon = enu.FromLocal(cams[i].e, cams[i].n)
	}
	var w synthWalk
	w.cams = cams
	const speed, dur, fps = 1.4, 125.0, 5.0
	for s := 0.0; s <= dur; s++ {
		n := speed * s
		f := gnss.Fix{Time: t0.Add(time.Duration(s * float64(time.Second))), Valid: true, Quality: 1,
			Pos:   enu.FromLocal(rng.NormFloat64()*sigma, n+rng.NormFloat64()*sigma),
			Speed: speed + rng.NormFloat64()*0.1, HasSpeed: true, Course: geo.NormDeg(rng.NormFloat64() * 3), HasCourse: true}
		w.fixes = append(w.fixes, f)
	}
	for i := 0; float64(i)/fps <= dur; i++ {
		s := float64(i) / fps
		n := speed * s
		var dets []Detection
		for _, c := range cams {
			d := math.Hypot(c.e, c.n-n)
			u, v, ok := project(o, 0, c.e, c.n-n, c.up-1.3)
			if !ok || d > 40 {
				continue
			}
			wpx := o.Focal() * c.widthM / d
			u += rng.NormFloat64() * 0.7
			v += rng.NormFloat64() * 0.7
			box := image.Rect(int(u-wpx/2), int(v-wpx/2), int(u+wpx/2)+1, int(v+wpx/2)+1)
			dets = append(dets, Detection{Type: c.typ, Score: 0.9, Box: box})
		}
		w.frames = append(w.frames, struct {
			t    time.Time
			dets []Detection
		}{t0.Add(time.Duration(s * float64(time.Second))), dets})
	}
	return w
}

const testWalk = "0190a000-0000-7000-8000-00000000000a"

func runSynth(t *testing.T, w synthWalk, opt WalkOptions, clockLocal func(time.Time) time.Time) (*Walk, []KeyedSighting, Summary) {
	t.Helper()
	var got []KeyedSighting
	opt.Emit = func(ks KeyedSighting) error {
		if _, err := wire.Encode(&ks.Sighting, time.Time{}); err != nil {
			t.Errorf("sighting does not pass the wire contract: %v", err)
		}
		got = append(got, ks)
		return nil
	}
	if opt.Device == "" {
		opt.Device = "pi-test"
	}
	if opt.WalkID == "" {
		opt.WalkID = testWalk
	}
	opt.Optics = Optics{Width: 1280, Height: 720, HFOVDeg: 66, Mount: Mount{PitchDeg: 10}}
	opt.Log = quietLog()
	opt.SigmaM = 3
	opt.Model = "test"
	wk, err := NewWalk(opt)
	if err != nil {
		t.Fatal(err)
	}
	fi := 0
	for i, fr := range w.frames {
		for fi < len(w.fixes) && !w.fixes[fi].Time.After(fr.t) {
			wk.AddFix(w.fixes[fi])
			fi++
		}
		at := fr.t
		if clockLocal != nil {
			at = clockLocal(fr.t)
		}
		wk.AddFrame(int64(i), at, fr.dets)
	}
	for ; fi < len(w.fixes); fi++ {
		wk.AddFix(w.fixes[fi])
	}
	sum := wk.Finish(nil, time.Time{})
	return wk, got, sum
}

func TestWalkLocatesAndDedups(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	w := makeSynthWalk(7, 3, t0)
	wk, got, sum := runSynth(t, w, WalkOptions{Locate: DefaultLocate()}, nil)
	if len(got) != len(w.cams) {
		t.Fatalf("confirmed %d sightings, want %d (stats %+v)", len(got), len(w.cams), wk.Stats())
	}
	var errsM []float64
	for _, c := range w.cams {
		best := math.Inf(1)
		for _, s := range got {
			if s.Sighting.Type == c.typ {
				best = math.Min(best, geo.Distance(c.wantLatLon, geo.LatLon{Lat: s.Sighting.Lat, Lon: s.Sighting.Lon}))
			}
		}
		errsM = append(errsM, best)
	}
	sort.Float64s(errsM)
	if errsM[len(errsM)/2] > 5 || errsM[len(errsM)-1] > 10 {
		t.Errorf("position errors %v: want median <= 5 m, max <= 10 m", errsM)
	}
	for _, s := range got {
		if s.Sighting.Time.Before(t0) || s.Sighting.Time.After(t0.Add(130*time.Second)) || s.Sighting.Frames < 5 || s.Sighting.BaselineM < 3 {
			t.Errorf("sighting fields: %+v", s.Sighting)
		}
	}
	// Counts and coverage: about 175 m walked, every camera counted once.
	if sum.Coverage == nil || math.Abs(sum.Coverage.WalkedM-175) > 20 {
		t.Fatalf("coverage = %+v, want ~175 m walked", sum.Coverage)
	}
	ncam := 0
	for _, c := range sum.Counts {
		if _, err := wire.Encode(&c, time.Time{}); err != nil {
			t.Errorf("counts message invalid: %v", err)
		}
		for _, n := range c.Cameras {
			ncam += n
		}
	}
	if ncam != len(w.cams) {
		t.Errorf("counts total %d cameras, want %d", ncam, len(w.cams))
	}
	if wk.Trajectory().Len() != 0 {
		t.Error("raw track kept after the walk")
	}

	// A second walk down the same street: everything is already known.
	var known []KnownCamera
	for _, s := range got {
		known = append(known, KnownCamera{ID: s.Sighting.ID, Walk: testWalk, Type: s.Sighting.Type, Lat: s.Sighting.Lat, Lon: s.Sighting.Lon, ErrM: s.Sighting.ErrM})
	}
	w2 := makeSynthWalk(8, 3, t0.Add(time.Hour))
	wk2, got2, sum2 := runSynth(t, w2, WalkOptions{Locate: DefaultLocate(), Known: known, WalkID: "0190a000-0000-7000-8000-00000000000b"}, nil)
	for _, s := range append(got, got2...) {
		t.Logf("%s %s %.7f %.7f err %.1f frames %d base %.1f", s.Sighting.Walk[len(s.Sighting.Walk)-1:], s.Sighting.Type, s.Sighting.Lat, s.Sighting.Lon, s.Sighting.ErrM, s.Sighting.Frames, s.Sighting.BaselineM)
	}
	if len(got2) != 0 || wk2.Stats().Reobserved != len(w.cams) {
		t.Errorf("second walk: %d new sightings, %d reobserved; want 0 and %d", len(got2), wk2.Stats().Reobserved, len(w.cams))
	}
	n2 := 0
	for _, c := range sum2.Counts {
		for _, n := range c.Cameras {
			n2 += n
		}
	}
	if n2 != len(w.cams) {
		t.Errorf("second walk counts %d cameras, want %d (reobserved cameras count)", n2, len(w.cams))
	}

	// A restarted replay of the same walk reuses ids (prior sightings by key).
	_, got3, _ := runSynth(t, w, WalkOptions{Locate: DefaultLocate(), Prior: got}, nil)
	if len(got3) != 0 {
		t.Errorf("restarted walk minted %d new sightings, want 0", len(got3))
	}
}

// TestWalkUnsyncedClock: frames are stamped by a local clock that starts in
// 1970 (a Pi without RTC); GNSS time arrives later. Sightings carry the
// correct UTC.
func TestWalkUnsyncedClock(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	w := makeSynthWalk(7, 3, t0)
	local0 := time.Unix(5000, 0)
	toLocal := func(u time.Time) time.Time { return local0.Add(u.Sub(t0)) }
	clk := NewFixClock()
	// GNSS time becomes known only 40 s into the walk; fixes before that had no time.
	var fixes []gnss.Fix
	for _, f := range w.fixes {
		if f.Time.Sub(t0) < 40*time.Second {
			continue
		}
		fixes = append(fixes, f)
	}
	w.fixes = fixes
	var emitted []KeyedSighting
	wk, err := NewWalk(WalkOptions{Device: "pi-test", WalkID: testWalk, Optics: Optics{Width: 1280, Height: 720, HFOVDeg: 66, Mount: Mount{PitchDeg: 10}},
		Locate: DefaultLocate(), SigmaM: 3, Clock: clk, Log: quietLog(),
		Emit: func(ks KeyedSighting) error { emitted = append(emitted, ks); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	fi := 0
	for i, fr := range w.frames {
		for fi < len(w.fixes) && !w.fixes[fi].Time.After(fr.t) {
			clk.Observe(w.fixes[fi], toLocal(w.fixes[fi].Time).Add(100*time.Millisecond))
			wk.AddFix(w.fixes[fi])
			fi++
		}
		wk.AddFrame(int64(i), toLocal(fr.t), fr.dets)
	}
	wk.Finish(nil, time.Time{})
	if len(emitted) < 3 {
		t.Fatalf("only %d sightings with a late clock (stats %+v)", len(emitted), wk.Stats())
	}
	for _, s := range emitted {
		tm := s.Sighting.Time
		if tm.Before(t0.Add(40*time.Second)) || tm.After(t0.Add(130*time.Second)) {
			t.Errorf("sighting stamped %v, want UTC within the walk after GNSS time arrived", tm)
		}
		if _, err := wire.Encode(&s.Sighting, time.Time{}); err != nil {
			t.Errorf("sighting invalid: %v", err)
		}
	}
}

// TestPauseNotWalked: the way between a pause and the resumption is not
// counted as walked (the volunteer may have taken a bus).
func TestPauseNotWalked(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	wk, err := NewWalk(WalkOptions{Device: "pi-test", WalkID: testWalk, Optics: Optics{Width: 640, Height: 360, HFOVDeg: 66}, Log: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	enu := geo.NewENU(geo.LatLon{Lat: 52.52, Lon: 13.40})
	add := func(s int, n float64) {
		wk.AddFix(gnss.Fix{Time: t0.Add(time.Duration(s) * time.Second), Valid: true, Pos: enu.FromLocal(0, n), AccuracyM: 0.1,
			Speed: 1.4, HasSpeed: true, Course: 0, HasCourse: true})
	}
	for s := 0; s <= 50; s++ { // 70 m north
		add(s, 1.4*float64(s))
	}
	wk.Pause()
	for s := 0; s <= 50; s++ { // 70 m more, starting 1 km further north
		add(200+s, 1000+1.4*float64(s))
	}
	var total float64
	for _, m := range wk.WalkedCells() {
		total += m
	}
	if math.Abs(total-140) > 10 {
		t.Errorf("walked %.0f m, want about 140 (the 930 m across the pause not counted)", total)
	}
}
