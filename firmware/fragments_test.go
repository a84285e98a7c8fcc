package firmware

import (
	"image"
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/camaudit/camaudit/geo"
	"github.com/camaudit/camaudit/gnss"
)

// scene is a configurable synthetic walk north along x = 0: GNSS at 1 Hz
// with white noise, frames with boxes projected from the cameras' true
// positions, and a hook that degrades each detection like a real detector.
type scene struct {
	cams  []synthCam
	fps   float64
	dur   float64 // seconds
	sigma float64 // GNSS noise, metres
	// maxRange is how far a camera is detected (default 45 m).
	maxRange float64
	// degrade may change or drop (false) the detection of camera c in frame i.
	degrade func(rng *rand.Rand, i, c int, d *Detection) bool
	// extra returns spurious boxes for frame i.
	extra func(rng *rand.Rand, i int) []Detection
	seed  uint64
}

func (sc scene) walk(t0 time.Time) synthWalk {
	rng := rand.New(rand.NewPCG(sc.seed, 7))
	enu := geo.NewENU(geo.LatLon{Lat: 52.52, Lon: 13.40})
	o := Optics{Width: 1280, Height: 720, HFOVDeg: 66, Mount: Mount{PitchDeg: 10}}
	if sc.maxRange == 0 {
		sc.maxRange = 45
	}
	var w synthWalk
	w.cams = append([]synthCam(nil), sc.cams...)
	for i := range w.cams {
		w.cams[i].wantLatLon = enu.FromLocal(w.cams[i].e, w.cams[i].n)
	}
	const speed = 1.4
	for s := 0.0; s <= sc.dur; s++ {
		w.fixes = append(w.fixes, gnss.Fix{Time: t0.Add(time.Duration(s * float64(time.Second))), Valid: true, Quality: 1,
			Pos:   enu.FromLocal(rng.NormFloat64()*sc.sigma, speed*s+rng.NormFloat64()*sc.sigma),
			Speed: speed + rng.NormFloat64()*0.1, HasSpeed: true, Course: geo.NormDeg(rng.NormFloat64() * 3), HasCourse: true})
	}
	for i := 0; float64(i)/sc.fps <= sc.dur; i++ {
		s := float64(i) / sc.fps
		n := speed * s
		// Sway: the whole frame shifts by up to ±1° (17 px) between frames.
		sx, sy := rng.NormFloat64()*12, rng.NormFloat64()*8
		var dets []Detection
		for ci, c := range w.cams {
			d := math.Hypot(c.e, c.n-n)
			u, v, ok := project(o, 0, c.e, c.n-n, c.up-1.3)
			if !ok || d > sc.maxRange {
				continue
			}
			wpx := math.Max(3, o.Focal()*c.widthM/d)
			u += sx + rng.NormFloat64()*0.7
			v += sy + rng.NormFloat64()*0.7
			det := Detection{Type: c.typ, Label: c.typ, Score: 0.8,
				Box: image.Rect(int(u-wpx/2), int(v-wpx/2), int(u+wpx/2)+1, int(v+wpx/2)+1)}
			if sc.degrade != nil && !sc.degrade(rng, i, ci, &det) {
				continue
			}
			dets = append(dets, det)
		}
		if sc.extra != nil {
			dets = append(dets, sc.extra(rng, i)...)
		}
		w.frames = append(w.frames, struct {
			t    time.Time
			dets []Detection
		}{t0.Add(time.Duration(s * float64(time.Second))), dets})
	}
	return w
}

// matchSightings pairs each camera with the nearest sighting within 10 m
// (greedy, nearest pairs first) and returns the matched count, the number
// of sightings left over and the largest matched distance.
func matchSightings(cams []synthCam, got []KeyedSighting) (matched, extra int, worst float64) {
	used := make([]bool, len(got))
	for _, c := range cams {
		best, bd := -1, 10.0
		for j, s := range got {
			if d := geo.Distance(c.wantLatLon, geo.LatLon{Lat: s.Sighting.Lat, Lon: s.Sighting.Lon}); !used[j] && d <= bd {
				best, bd = j, d
			}
		}
		if best >= 0 {
			used[best] = true
			matched++
			worst = math.Max(worst, bd)
		}
	}
	return matched, len(got) - matched, worst
}

func TestFragmentsAndDuplicates(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	street := []synthCam{
		{typ: "dome", e: 7, n: 40, up: 3.5, widthM: 0.16},
		{typ: "bullet", e: -6, n: 70, up: 4, widthM: 0.30},
		{typ: "ptz", e: -9, n: 100, up: 5, widthM: 0.24},
	}
	for _, tc := range []struct {
		name string
		sc   scene
		want int // cameras, all of which must be found once
	}{
		{
			// Two domes 5 m apart on the same side, always seen together:
			// close enough for their error estimates to overlap, but two.
			name: "neighbours seen together",
			sc: scene{cams: []synthCam{
				{typ: "dome", e: 8, n: 60, up: 4, widthM: 0.16},
				{typ: "dome", e: 5, n: 64, up: 4, widthM: 0.16},
			}, fps: 5, dur: 60, sigma: 3},
			want: 2,
		},
		{
			// A van hides every camera for 4 s in the middle of its pass:
			// two fragments each, one sighting each.
			name: "occlusion",
			sc: scene{cams: street, fps: 5, dur: 90, sigma: 3,
				degrade: func(_ *rand.Rand, i, c int, _ *Detection) bool {
					enter := (street[c].n - 22) / 1.4 * 5 // frame at which it is 22 m ahead
					return float64(i) < enter || float64(i) > enter+20
				}},
			want: 3,
		},
		{
			// The detector calls a third of the dome's boxes PTZ, a third of
			// the bullet's ALPR, and misses a quarter of all boxes in bursts.
			name: "type flips and misses",
			sc: scene{cams: street, fps: 5, dur: 90, sigma: 3, seed: 3,
				degrade: func(rng *rand.Rand, _, _ int, d *Detection) bool {
					if rng.Float64() < 0.33 {
						d.Type = map[string]string{"dome": "ptz", "ptz": "dome", "bullet": "alpr"}[d.Type]
					}
					return rng.Float64() > 0.25
				}},
			want: 3,
		},
		{
			// A dome seen only from afar, for 11 s, and an ALPR unit 36 m
			// behind it on almost the same line of sight, seen later and
			// closer; for 3 s they take turns in the detector's output
			// (never in the same frame). The dome's imprecise lines of sight
			// pass by the ALPR, but a fragment of another type so far off
			// is another camera: two sightings, not one (seen in a random
			// walk, where a 247-frame ALPR was dropped as a duplicate of a
			// 35-frame dome 43 m away).
			name: "another type far along the line of sight",
			sc: scene{cams: []synthCam{
				{typ: "dome", e: 10, n: 40, up: 4, widthM: 0.16},
				{typ: "alpr", e: 20, n: 75, up: 5.5, widthM: 0.3},
			}, fps: 5, dur: 90, sigma: 3, seed: 5, maxRange: 80,
				degrade: func(_ *rand.Rand, i, c int, _ *Detection) bool {
					n := 1.4 * float64(i) / 5 // metres walked
					if n >= 10 && n <= 16 {
						return i%2 == c // the two take turns
					}
					if c == 0 {
						return n < 10
					}
					return n > 16 && n <= 60
				}},
			want: 2,
		},
		{
			// Half a spurious box per frame anywhere in the upper frame.
			name: "spurious boxes",
			sc: scene{cams: street, fps: 5, dur: 90, sigma: 3, seed: 4,
				extra: func(rng *rand.Rand, _ int) []Detection {
					if rng.Float64() > 0.5 {
						return nil
					}
					x, y, s := rng.IntN(1260), rng.IntN(400), 4+rng.IntN(12)
					return []Detection{{Type: []string{"dome", "bullet", "ptz", "alpr"}[rng.IntN(4)], Score: 0.4, Box: image.Rect(x, y, x+s, y+s)}}
				}},
			want: 3,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := tc.sc.walk(t0)
			wk, got, _ := runSynth(t, w, WalkOptions{Locate: DefaultLocate()}, nil)
			matched, extra, worst := matchSightings(w.cams, got)
			t.Logf("%d cameras, %d sightings, %d matched (worst %.1f m), stats %+v", len(w.cams), len(got), matched, worst, wk.Stats())
			if matched != tc.want || extra != 0 {
				t.Errorf("matched %d of %d cameras with %d extra sightings; want all, once each", matched, tc.want, extra)
			}
			for _, s := range got {
				for _, c := range w.cams {
					if geo.Distance(c.wantLatLon, geo.LatLon{Lat: s.Sighting.Lat, Lon: s.Sighting.Lon}) < 3 && s.Sighting.Type != c.typ && tc.name == "type flips and misses" {
						t.Errorf("sighting typed %s for a %s: the track's vote should win", s.Sighting.Type, c.typ)
					}
				}
			}
		})
	}
}

func TestSeenTogether(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	track := func(from, to int, x int, skip map[int]bool) *Track {
		tr := &Track{}
		for i := from; i <= to; i++ {
			if skip[i] {
				continue
			}
			tr.Obs = append(tr.Obs, Observation{Seq: int64(i), Time: t0.Add(time.Duration(i) * 100 * time.Millisecond), Box: image.Rect(x, 100, x+6, 106)})
		}
		return tr
	}
	// The main track of a camera lost it in frames 20-30, which a fragment
	// has, together with two stray boxes elsewhere in frames 12 and 35.
	gap := map[int]bool{}
	for i := 20; i <= 30; i++ {
		gap[i] = true
	}
	main := track(0, 40, 100, gap)
	stray := track(20, 30, 101, nil)
	for _, i := range []int{12, 35} {
		stray.Obs = append(stray.Obs, Observation{Seq: int64(i), Time: t0.Add(time.Duration(i) * 100 * time.Millisecond), Box: image.Rect(400, 50, 406, 56)})
	}
	sort.Slice(stray.Obs, func(i, j int) bool { return stray.Obs[i].Seq < stray.Obs[j].Seq })
	for _, tc := range []struct {
		name string
		a, b *Track
		want bool
	}{
		{"two cameras side by side", track(0, 40, 100, nil), track(10, 50, 140, nil), true},
		{"fragments in sequence", track(0, 40, 100, nil), track(41, 80, 102, nil), false},
		{"a short overlap at the hand-over", track(0, 40, 100, nil), track(38, 80, 140, nil), true},
		{"a fragment that caught two stray boxes", main, stray, false},
		{"the same camera twice (duplicate boxes)", track(0, 40, 100, nil), track(10, 30, 101, nil), false},
	} {
		if got := seenTogether(tc.a, tc.b); got != tc.want {
			t.Errorf("%s: seenTogether = %v, want %v (simultaneous %d)", tc.name, got, tc.want, simultaneous(tc.a.Obs, tc.b.Obs))
		}
	}
}

// TestTrackerFollowsSwayingCluster: five far cameras 20-30 pixels apart
// near the vanishing point, the whole frame swaying by tens of pixels
// between frames (more than the cameras are apart), every camera missed now
// and then: each track must keep its camera (no identity switches), which
// sway compensation makes possible.
func TestTrackerFollowsSwayingCluster(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	tr := NewTracker(1500 * time.Millisecond)
	tr.MinGate, tr.ShiftTol = 64, 19
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	xs := []float64{600, 622, 648, 670, 700}
	ys := []float64{300, 310, 296, 306, 300}
	type key struct {
		seq int64
		at  image.Point
	}
	owner := map[key]int{}
	var tracks []*Track
	for i := 0; i < 150; i++ {
		// Walking sway: ±1° yaw and ±0.7° pitch at the step rate (1.8 Hz),
		// plus a few pixels of shake.
		ph := 2 * math.Pi * 1.8 * float64(i) / 10
		sx, sy := 17*math.Sin(ph)+rng.NormFloat64()*4, 12*math.Sin(ph+1)+rng.NormFloat64()*3
		var dets []Detection
		for c := range xs {
			if rng.Float64() < 0.15 {
				continue
			}
			// Slow expansion away from the centre as the walker approaches.
			x := xs[c] + (xs[c]-640)*float64(i)/300 + sx + rng.NormFloat64()
			y := ys[c] + sy + rng.NormFloat64()
			b := image.Rect(int(x), int(y), int(x)+5, int(y)+5)
			owner[key{int64(i), b.Min}] = c
			dets = append(dets, Detection{Type: "dome", Score: 0.8, Box: b})
		}
		tracks = append(tracks, tr.Update(int64(i), t0.Add(time.Duration(i)*100*time.Millisecond), dets)...)
	}
	tracks = append(tracks, tr.Flush()...)
	switches, long := 0, 0
	for _, tk := range tracks {
		if len(tk.Obs) >= 20 {
			long++
		}
		for j := 1; j < len(tk.Obs); j++ {
			if owner[key{tk.Obs[j].Seq, tk.Obs[j].Box.Min}] != owner[key{tk.Obs[j-1].Seq, tk.Obs[j-1].Box.Min}] {
				switches++
			}
		}
	}
	if switches > 2 || long != len(xs) {
		t.Errorf("%d identity switches and %d long tracks (of %d); want <= 2 and %d", switches, long, len(tracks), len(xs))
	}
}

// TestTrackerTypeFlip: a camera the detector calls a PTZ in every fourth
// frame stays one track, and the track's type is the majority's.
func TestTrackerTypeFlip(t *testing.T) {
	tr := NewTracker(500 * time.Millisecond)
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for i := 0; i < 40; i++ {
		typ := "dome"
		if i%4 == 3 {
			typ = "ptz"
		}
		b := image.Rect(300+3*i, 200, 312+3*i, 212)
		if ended := tr.Update(int64(i), t0.Add(time.Duration(i)*100*time.Millisecond), []Detection{{Type: typ, Label: typ, Score: 0.7, Box: b}}); len(ended) > 0 {
			t.Fatalf("frame %d ended %d tracks", i, len(ended))
		}
	}
	live := tr.Flush()
	if len(live) != 1 || len(live[0].Obs) != 40 || live[0].Type != "dome" {
		t.Fatalf("%d tracks; want one dome track of 40 observations (got %+v)", len(live), live)
	}
}

// TestTrackerSpuriousBoxesDoNotChain: boxes scattered at random, one every
// other frame (a poor detector's false alarms), rarely chain into tracks
// long enough to be located.
func TestTrackerSpuriousBoxesDoNotChain(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	tr := NewTracker(1500 * time.Millisecond)
	tr.MinGate, tr.ShiftTol = 64, 19
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	var tracks []*Track
	boxes := 0
	for i := 0; i < 3000; i++ {
		var dets []Detection
		for k := 0; k < 2; k++ {
			if rng.Float64() < 0.75 {
				continue
			}
			x, y := rng.IntN(1270), rng.IntN(430)
			dets = append(dets, Detection{Type: "dome", Score: 0.4, Box: image.Rect(x, y, x+8, y+8)})
			boxes++
		}
		tracks = append(tracks, tr.Update(int64(i), t0.Add(time.Duration(i)*100*time.Millisecond), dets)...)
	}
	tracks = append(tracks, tr.Flush()...)
	chained := 0
	for _, tk := range tracks {
		if len(tk.Obs) >= DefaultLocate().MinFrames {
			chained += len(tk.Obs)
		}
	}
	t.Logf("%d spurious boxes, %d tracks, %d boxes in tracks of %d or more", boxes, len(tracks), chained, DefaultLocate().MinFrames)
	if chained*100 > boxes {
		t.Errorf("%d of %d spurious boxes chained into tracks long enough to locate; want < 1 %%", chained, boxes)
	}
}

// TestIntersectStraightAhead: a camera 1.5 m beside the path, seen from 60
// m to 8 m away: its lines of sight are nearly parallel and meet anywhere
// along the path, so the fit needs the size prior, and the point it finds
// must be in front at the right distance, not on the path near the walker.
func TestIntersectStraightAhead(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	cam := pointF{-1.5, 80}
	const f, size = 985.0, 0.16
	var bs []Bearing
	for n := 20.0; n <= 72; n += 0.5 {
		d := math.Hypot(cam.X, cam.Y-n)
		az := math.Atan2(cam.X, cam.Y-n)*180/math.Pi + rng.NormFloat64()*1.5
		w := math.Round(f * size / d)
		r := f * size / w
		bs = append(bs, Bearing{X: 0, Y: n, AzDeg: az, SigmaDeg: 2, PosSigma: 0.3, RangeM: r, RangeSigma: (0.4*r + 0.5) * math.Sqrt(105)})
	}
	est, err := Intersect(bs, 0, 20)
	if err != nil {
		t.Fatal(err)
	}
	if d := math.Hypot(est.X-cam.X, est.Y-cam.Y); d > 6 || d > 2.5*est.ErrM {
		t.Errorf("estimate (%.1f, %.1f) is %.1f m from the camera (err_m %.1f)", est.X, est.Y, d, est.ErrM)
	}
}

// BenchmarkWalkNoisy measures the walk's own cost per frame (tracking,
// smoothing, locating, pooling fragments) without video or detector: a
// 160 m street with 8 cameras at 10 fps, a fifth of the boxes missed, one
// in ten with the look-alike type and a spurious box every other frame.
func BenchmarkWalkNoisy(b *testing.B) {
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	var cams []synthCam
	for i := 0; i < 8; i++ {
		side := float64(1 - 2*(i%2))
		cams = append(cams, synthCam{typ: []string{"dome", "bullet", "ptz", "alpr"}[i%4], e: side * (5 + float64(i%3)), n: 20 + 17*float64(i), up: 4, widthM: 0.2})
	}
	sc := scene{cams: cams, fps: 10, dur: 115, sigma: 3, seed: 21,
		degrade: func(rng *rand.Rand, _, _ int, d *Detection) bool {
			if rng.Float64() < 0.1 {
				d.Type = map[string]string{"dome": "ptz", "ptz": "dome", "bullet": "alpr", "alpr": "bullet"}[d.Type]
			}
			return rng.Float64() > 0.2
		},
		extra: func(rng *rand.Rand, _ int) []Detection {
			if rng.Float64() > 0.5 {
				return nil
			}
			x, y := rng.IntN(1260), rng.IntN(400)
			return []Detection{{Type: "dome", Score: 0.4, Box: image.Rect(x, y, x+8, y+8)}}
		}}
	w := sc.walk(t0)
	b.ResetTimer()
	found := 0
	for i := 0; i < b.N; i++ {
		wk, err := NewWalk(WalkOptions{Device: "pi-bench", WalkID: testWalk, Optics: Optics{Width: 1280, Height: 720, HFOVDeg: 66, Mount: Mount{PitchDeg: 10}},
			SigmaM: 3, Log: quietLog(), Emit: func(KeyedSighting) error { found++; return nil }})
		if err != nil {
			b.Fatal(err)
		}
		fi := 0
		for j, fr := range w.frames {
			for fi < len(w.fixes) && !w.fixes[fi].Time.After(fr.t) {
				wk.AddFix(w.fixes[fi])
				fi++
			}
			wk.AddFrame(int64(j), fr.t, fr.dets)
		}
		wk.Finish(nil, time.Time{})
	}
	b.StopTimer()
	b.ReportMetric(float64(len(w.frames)*b.N)/b.Elapsed().Seconds(), "frames/s")
	b.ReportMetric(float64(found)/float64(b.N), "sightings")
}
