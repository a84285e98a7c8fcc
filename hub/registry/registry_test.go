package registry

import (
	"fmt"
	"math"
	"math/rand"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/camaudit/camaudit/geo"
	"github.com/camaudit/camaudit/wire"
)

var (
	origin = geo.LatLon{Lat: 52.5200, Lon: 13.4050}
	t0     = time.Date(2026, 11, 26, 18, 0, 0, 0, time.UTC)
)

// ids hands out UUIDv7-like ids that sort by the order they are made, as a
// device's would.
type ids struct{ n int }

func (g *ids) next(ms int64) string {
	g.n++
	return fmt.Sprintf("%08x-%04x-7%03x-8000-%012x", ms>>16, ms&0xffff, 0, g.n)
}

func walkID(n int) string { return fmt.Sprintf("0193a1b2-0000-7000-8000-%012x", n) }

// at makes a sighting east/north metres from origin.
func at(id, device string, walk int, east, north, errM float64, typ string) wire.Sighting {
	p := geo.NewENU(origin).FromLocal(east, north)
	return wire.Sighting{Schema: wire.SchemaSighting, ID: id, Device: device, Walk: walkID(walk),
		Time: t0, Lat: p.Lat, Lon: p.Lon, ErrM: errM, Type: typ, Mount: "wall", Confidence: 0.8, Frames: 10, Model: "m"}
}

func sid(n int) string { return fmt.Sprintf("0193a1b2-c3d4-7e5f-8a9b-%012x", n) }

func TestMergeRule(t *testing.T) {
	tests := []struct {
		name       string
		a, b       wire.Sighting
		wantCams   int
		wantStatus string
	}{
		{"same spot, two walks", at(sid(1), "pi-aaa", 1, 0, 0, 3, "dome"), at(sid(2), "pi-aaa", 2, 2, 0, 3, "dome"), 1, StatusConfirmed},
		{"within combined error", at(sid(1), "pi-aaa", 1, 0, 0, 4, "dome"), at(sid(2), "pi-bbb", 2, 10, 0, 4, "dome"), 1, StatusConfirmed},
		{"beyond combined error", at(sid(1), "pi-aaa", 1, 0, 0, 1, "dome"), at(sid(2), "pi-bbb", 2, 5, 0, 1, "dome"), 2, StatusSingle},
		{"minimum gate 3 m", at(sid(1), "pi-aaa", 1, 0, 0, 0.1, "dome"), at(sid(2), "pi-bbb", 2, 2.9, 0, 0.1, "dome"), 1, StatusConfirmed},
		{"gate capped at 25 m", at(sid(1), "pi-aaa", 1, 0, 0, 50, "dome"), at(sid(2), "pi-bbb", 2, 26, 0, 50, "dome"), 2, StatusSingle},
		{"same walk never merges", at(sid(1), "pi-aaa", 1, 0, 0, 3, "dome"), at(sid(2), "pi-aaa", 1, 1, 0, 3, "dome"), 2, StatusSingle},
		{"dome and bullet differ", at(sid(1), "pi-aaa", 1, 0, 0, 3, "dome"), at(sid(2), "pi-bbb", 2, 1, 0, 3, "bullet"), 2, StatusSingle},
		{"ptz in a dome housing", at(sid(1), "pi-aaa", 1, 0, 0, 3, "dome"), at(sid(2), "pi-bbb", 2, 1, 0, 3, "ptz"), 1, StatusConfirmed},
		{"alpr looks like a bullet", at(sid(1), "pi-aaa", 1, 0, 0, 3, "alpr"), at(sid(2), "pi-bbb", 2, 1, 0, 3, "bullet"), 1, StatusConfirmed},
		{"unknown merges with any", at(sid(1), "pi-aaa", 1, 0, 0, 3, "unknown"), at(sid(2), "pi-bbb", 2, 1, 0, 3, "bullet"), 1, StatusConfirmed},
		{"same device, other walk", at(sid(1), "pi-aaa", 1, 0, 0, 3, "dome"), at(sid(2), "pi-aaa", 7, 1, 0, 3, "dome"), 1, StatusConfirmed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := New(DefaultConfig())
			r.Add([]wire.Sighting{tc.a, tc.b})
			cams := r.Cameras(Filter{})
			if len(cams) != tc.wantCams {
				t.Fatalf("%d cameras, want %d: %+v", len(cams), tc.wantCams, cams)
			}
			if cams[0].Status != tc.wantStatus {
				t.Errorf("status %q, want %q", cams[0].Status, tc.wantStatus)
			}
		})
	}
}

func TestRefinedPosition(t *testing.T) {
	r := New(DefaultConfig())
	// A precise sighting (1 m) 4 m east and a poor one (4 m) at 0: the
	// inverse-variance mean lies at 4·16/17 ≈ 3.76 m east, error 1/sqrt(1+1/16).
	r.Add([]wire.Sighting{at(sid(1), "pi-aaa", 1, 0, 0, 4, "bullet"), at(sid(2), "pi-bbb", 2, 4, 0, 1, "alpr")})
	cams := r.Cameras(Filter{})
	if len(cams) != 1 {
		t.Fatalf("%d cameras, want 1", len(cams))
	}
	c := cams[0]
	x, y := geo.NewENU(origin).ToLocal(geo.LatLon{Lat: c.Lat, Lon: c.Lon})
	if math.Abs(x-64.0/17) > 0.05 || math.Abs(y) > 0.05 {
		t.Errorf("merged at (%.2f, %.2f) m, want (3.76, 0)", x, y)
	}
	if want := 1 / math.Sqrt(1+1.0/16); math.Abs(c.ErrM-want) > 1e-9 {
		t.Errorf("err_m %.4f, want %.4f", c.ErrM, want)
	}
	if c.ID != sid(1) || c.Sightings != 2 || c.Walks != 2 || c.Devices != 2 {
		t.Errorf("camera %+v: want id of the first sighting, 2 sightings, 2 walks, 2 devices", c)
	}
	if c.Type != "alpr" && c.Type != "bullet" {
		t.Errorf("type %q", c.Type)
	}
}

// scenario makes n cameras along a street seen by several walks with noise,
// some cameras close together, plus clutter from each walk.
func scenario(seed int64, cameras, walks int) []wire.Sighting {
	rng := rand.New(rand.NewSource(seed))
	types := []string{"dome", "bullet", "ptz", "alpr", "unknown"}
	var g ids
	var out []wire.Sighting
	truth := make([][2]float64, cameras)
	ctype := make([]string, cameras)
	for i := range truth {
		truth[i] = [2]float64{float64(i)*12 + rng.Float64()*8, rng.Float64()*30 - 15}
		ctype[i] = types[rng.Intn(len(types))]
	}
	for w := 0; w < walks; w++ {
		dev := fmt.Sprintf("pi-%03d", w%3)
		ms := t0.Add(time.Duration(w) * time.Hour).UnixMilli()
		for i, p := range truth {
			if rng.Float64() < 0.25 {
				continue // missed on this walk
			}
			e := 1 + rng.Float64()*6
			s := at(g.next(ms+int64(i)*1000), dev, w, p[0]+rng.NormFloat64()*e, p[1]+rng.NormFloat64()*e, e, ctype[i])
			if rng.Float64() < 0.5 {
				d := rng.Float64() * 359
				s.Direction = &d
			}
			s.Confidence = 0.5 + rng.Float64()/2
			out = append(out, s)
		}
	}
	return out
}

func snapshot(r *Registry) []Camera {
	var out []Camera
	for _, c := range r.Cameras(Filter{}) {
		out = append(out, *c)
	}
	return out
}

func TestDeterministicUnderAnyOrder(t *testing.T) {
	ss := scenario(1, 120, 4)
	ref := New(DefaultConfig())
	sorted := append([]wire.Sighting(nil), ss...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].ID < sorted[j].ID })
	for _, s := range sorted {
		ref.Add([]wire.Sighting{s})
	}
	want := snapshot(ref)
	confirmed := 0
	for _, c := range want {
		if c.Status == StatusConfirmed {
			confirmed++
		}
	}
	t.Logf("reference: %d cameras, %d confirmed, from 120 true cameras", len(want), confirmed)
	if len(want) < 110 || len(want) > 135 || confirmed < 90 {
		t.Fatalf("reference: %d cameras (%d confirmed) from 120 true cameras; the merge rule is off", len(want), confirmed)
	}
	for trial := 0; trial < 8; trial++ {
		rng := rand.New(rand.NewSource(int64(trial)))
		perm := append([]wire.Sighting(nil), ss...)
		rng.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
		r := New(DefaultConfig())
		// Random batches from concurrent goroutines, with redeliveries.
		var wg sync.WaitGroup
		ch := make(chan []wire.Sighting)
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for b := range ch {
					r.Add(b)
				}
			}()
		}
		for i := 0; i < len(perm); {
			n := 1 + rng.Intn(20)
			if i+n > len(perm) {
				n = len(perm) - i
			}
			b := append([]wire.Sighting(nil), perm[i:i+n]...)
			if rng.Float64() < 0.3 {
				b = append(b, perm[rng.Intn(i+n)]) // a duplicate
			}
			ch <- b
			i += n
		}
		close(ch)
		wg.Wait()
		if got := snapshot(r); !reflect.DeepEqual(got, want) {
			t.Fatalf("trial %d: %d cameras differ from the in-order result (%d cameras)", trial, len(got), len(want))
		}
	}
}

func TestReviews(t *testing.T) {
	r := New(DefaultConfig())
	r.Add([]wire.Sighting{at(sid(10), "pi-aaa", 1, 0, 0, 3, "dome")})
	if !r.Review(sid(10), DecisionReject, 1) {
		t.Fatal("Review of a known camera returned false")
	}
	c, _ := r.Camera(sid(10))
	if c.Status != StatusRejected || c.Review != DecisionReject {
		t.Fatalf("after reject: %+v", c)
	}
	// A second walk sees it again: still rejected (a reviewer said it is not a camera).
	r.Add([]wire.Sighting{at(sid(11), "pi-bbb", 2, 1, 0, 3, "dome")})
	c, _ = r.Camera(sid(11))
	if c.ID != sid(10) || c.Status != StatusRejected || c.Walks != 2 {
		t.Fatalf("after a second walk: %+v, want the same camera, still rejected", c)
	}
	// An old decision replayed changes nothing; a clear restores the automatic status.
	r.Review(sid(10), DecisionConfirm, 0)
	if c, _ = r.Camera(sid(10)); c.Status != StatusRejected {
		t.Fatalf("an older review overrode a newer one: %+v", c)
	}
	r.Review(sid(10), DecisionClear, 2)
	if c, _ = r.Camera(sid(10)); c.Status != StatusConfirmed || c.Review != "" {
		t.Fatalf("after clear: %+v, want confirmed by two walks", c)
	}
	// A review that arrives before its sighting applies when the sighting does.
	if r.Review(sid(20), DecisionConfirm, 3) {
		t.Fatal("Review of an unknown camera returned true")
	}
	r.Add([]wire.Sighting{at(sid(20), "pi-aaa", 1, 500, 0, 3, "bullet")})
	if c, _ = r.Camera(sid(20)); c.Status != StatusConfirmed || c.Review != DecisionConfirm {
		t.Fatalf("late sighting: %+v, want confirmed by review", c)
	}
	if r.ReviewSeq() != 3 {
		t.Errorf("ReviewSeq = %d, want 3", r.ReviewSeq())
	}
	// Reviews survive re-clustering: an earlier sighting arrives late and
	// becomes the camera's seed, the reject still holds.
	r.Review(sid(10), DecisionReject, 4)
	r.Add([]wire.Sighting{at(sid(5), "pi-ccc", 3, 0.5, 0, 3, "dome")})
	if c, _ = r.Camera(sid(10)); c.ID != sid(5) || c.Status != StatusRejected {
		t.Fatalf("after re-clustering: %+v, want id %s, rejected", c, sid(5))
	}
}

func TestFiltersAndStats(t *testing.T) {
	r := New(DefaultConfig())
	r.Add([]wire.Sighting{
		at(sid(1), "pi-aaa", 1, 0, 0, 3, "dome"),
		at(sid(2), "pi-bbb", 2, 1, 0, 3, "dome"),
		at(sid(3), "pi-aaa", 1, 1000, 0, 3, "bullet"),
		at(sid(4), "pi-aaa", 1, 0, 2000, 3, "alpr"),
	})
	r.Review(sid(4), DecisionReject, 1)
	e := geo.NewENU(origin)
	sw, ne := e.FromLocal(-100, -100), e.FromLocal(1100, 100)
	bbox := [4]float64{sw.Lon, sw.Lat, ne.Lon, ne.Lat}
	tests := []struct {
		f    Filter
		want []string
	}{
		{Filter{}, []string{sid(1), sid(3), sid(4)}},
		{Filter{BBox: &bbox}, []string{sid(1), sid(3)}},
		{Filter{Types: []string{"bullet", "alpr"}}, []string{sid(3), sid(4)}},
		{Filter{Statuses: []string{StatusConfirmed}}, []string{sid(1)}},
		{Filter{Statuses: []string{StatusSingle, StatusConfirmed}, Limit: 1}, []string{sid(1)}},
		{Filter{BBox: &[4]float64{170, -10, -170, 10}}, nil},
	}
	for _, tc := range tests {
		var got []string
		for _, c := range r.Cameras(tc.f) {
			got = append(got, c.ID)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Cameras(%+v) = %v, want %v", tc.f, got, tc.want)
		}
	}
	st := r.Stats()
	if st.Cameras != 2 || st.ByStatus[StatusRejected] != 1 || st.ByType["dome"] != 1 || st.Sightings != 4 ||
		st.ByDevice["pi-aaa"].Sightings != 3 || st.ByDevice["pi-aaa"].Walks != 1 || st.Walks != 2 || st.ByDay["2026-11-26"].NewCameras != 2 {
		t.Errorf("Stats = %+v", st)
	}
	// Stats are cached until the registry changes.
	r.Add([]wire.Sighting{at(sid(5), "pi-ccc", 3, 0, 4000, 3, "ptz")})
	if st = r.Stats(); st.Cameras != 3 || st.Sightings != 5 || st.ByType["ptz"] != 1 {
		t.Errorf("Stats after Add = %+v, want 3 cameras, 5 sightings", st)
	}
	r.Review(sid(5), DecisionReject, 2)
	if st = r.Stats(); st.Cameras != 2 || st.ByStatus[StatusRejected] != 2 {
		t.Errorf("Stats after a review = %+v, want 2 cameras, 2 rejected", st)
	}
}

func BenchmarkAdd(b *testing.B) {
	ss := scenario(2, 2000, 3)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := New(DefaultConfig())
		for j := 0; j < len(ss); j += 100 {
			r.Add(ss[j:min(j+100, len(ss))])
		}
	}
	b.ReportMetric(float64(len(ss)*b.N)/b.Elapsed().Seconds(), "sightings/s")
}
