package firmware

import (
	"image"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/camaudit/camaudit/geo"
	"github.com/camaudit/camaudit/gnss"
)

// synthWalkOf is makeSynthWalk with the cameras given: a 125 s walk north
// along x = 0, GNSS noise sigma 3 m, boxes projected from the cameras.
func synthWalkOf(seed uint64, t0 time.Time, cams []synthCam) synthWalk {
	rng := rand.New(rand.NewPCG(seed, 99))
	enu := geo.NewENU(geo.LatLon{Lat: 52.52, Lon: 13.40})
	o := Optics{Width: 1280, Height: 720, HFOVDeg: 66, Mount: Mount{PitchDeg: 10}}
	w := synthWalk{cams: cams}
	for i := range w.cams {
		w.cams[i].wantLatLon = enu.FromLocal(w.cams[i].e, w.cams[i].n)
	}
	const speed, dur, fps = 1.4, 60.0, 5.0
	for s := 0.0; s <= dur; s++ {
		f := gnss.Fix{Time: t0.Add(time.Duration(s * float64(time.Second))), Valid: true, Quality: 1,
			Pos:   enu.FromLocal(rng.NormFloat64()*3, speed*s+rng.NormFloat64()*3),
			Speed: speed + rng.NormFloat64()*0.1, HasSpeed: true, Course: geo.NormDeg(rng.NormFloat64() * 3), HasCourse: true}
		w.fixes = append(w.fixes, f)
	}
	for i := 0; float64(i)/fps <= dur; i++ {
		s := float64(i) / fps
		var dets []Detection
		for _, c := range w.cams {
			d := math.Hypot(c.e, c.n-speed*s)
			u, v, ok := project(o, 0, c.e, c.n-speed*s, c.up-1.3)
			if !ok || d > 40 {
				continue
			}
			wpx := o.Focal() * c.widthM / d
			u += rng.NormFloat64() * 0.7
			v += rng.NormFloat64() * 0.7
			dets = append(dets, Detection{Type: c.typ, Score: 0.9, Box: image.Rect(int(u-wpx/2), int(v-wpx/2), int(u+wpx/2)+1, int(v+wpx/2)+1)})
		}
		w.frames = append(w.frames, struct {
			t    time.Time
			dets []Detection
		}{t0.Add(time.Duration(s * float64(time.Second))), dets})
	}
	return w
}

// TestResumeKeysUnique: two cameras of one type first seen in the same
// frame get different journal keys, so a replay killed after the first was
// journalled and restarted still confirms the second as a new sighting
// (found by the 20-kill test in internal/faulttest: with keys type@frame
// the second camera was taken for the first and lost).
func TestResumeKeysUnique(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	w := synthWalkOf(11, t0, []synthCam{
		{typ: "dome", e: 7, n: 30, up: 3.5, widthM: 0.14},
		{typ: "dome", e: -7, n: 36, up: 3.5, widthM: 0.14},
	})
	if len(w.frames[0].dets) != len(w.cams) {
		t.Fatalf("both cameras must be seen in frame 0, got %d boxes", len(w.frames[0].dets))
	}
	_, got, _ := runSynth(t, w, WalkOptions{Locate: DefaultLocate()}, nil)
	if len(got) != 2 {
		t.Fatalf("confirmed %d sightings, want 2", len(got))
	}
	if got[0].Key == got[1].Key {
		t.Fatalf("two cameras share the key %q", got[0].Key)
	}
	// Crash after the first sighting was journalled, restart: the second is
	// still confirmed, as a new sighting at its own place.
	_, again, _ := runSynth(t, w, WalkOptions{Locate: DefaultLocate(), Prior: got[:1]}, nil)
	if len(again) != 1 || again[0].Key != got[1].Key {
		t.Fatalf("restart after the first sighting: emitted %v, want only %q", again, got[1].Key)
	}
	d := geo.Distance(geo.LatLon{Lat: again[0].Sighting.Lat, Lon: again[0].Sighting.Lon}, geo.LatLon{Lat: got[1].Sighting.Lat, Lon: got[1].Sighting.Lon})
	if d > 0.01 {
		t.Errorf("the resumed walk placed the second camera %.2f m from where the clean walk did", d)
	}
}
