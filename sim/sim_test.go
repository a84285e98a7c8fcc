package sim

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/camaudit/camaudit/geo"
	"github.com/camaudit/camaudit/gnss"
	"gocv.io/x/gocv"
)

func TestProjectPinhole(t *testing.T) {
	// hfov 90° on 1280 px: f = 640 px; principal point (639.5, 359.5)
	tests := []struct {
		name             string
		yaw, pitch, roll float64
		p                Vec3
		wantX, wantY     float64
		wantOK           bool
	}{
		{"ahead north", 0, 0, 0, Vec3{0, 10, 1.5}, 639.5, 359.5, true},
		{"right and up", 0, 0, 0, Vec3{2, 10, 3.5}, 639.5 + 640*0.2, 359.5 - 640*0.2, true},
		{"facing east", 90, 0, 0, Vec3{10, 1, 1.5}, 639.5 + 640*(-0.1), 359.5, true},
		{"pitched up 45", 0, 45, 0, Vec3{0, 10, 11.5}, 639.5, 359.5, true},
		// rolled 90° clockwise: the camera's up now points east, so what
		// was to the right appears above the centre
		{"rolled 90", 0, 0, 90, Vec3{2, 10, 1.5}, 639.5, 359.5 - 640*0.2, true},
		{"behind", 0, 0, 0, Vec3{0, -5, 1.5}, 0, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := NewView(1280, 720, 90, Vec3{0, 0, 1.5}, tc.yaw, tc.pitch, tc.roll)
			x, y, ok := v.Project(tc.p)
			if ok != tc.wantOK {
				t.Fatalf("in front = %v, want %v", ok, tc.wantOK)
			}
			if ok && (math.Abs(x-tc.wantX) > 1e-6 || math.Abs(y-tc.wantY) > 1e-6) {
				t.Fatalf("projected to (%.4f, %.4f), want (%.4f, %.4f)", x, y, tc.wantX, tc.wantY)
			}
			if ok { // the ray through the pixel points back at p
				r := v.Ray(x, y)
				d := tc.p.Sub(v.Eye).Norm()
				if r.Sub(d).Len() > 1e-9 {
					t.Fatalf("ray %v does not point at %v", r, d)
				}
			}
		})
	}
}

// testWorld is an open plaza: ground and sky only, daylight.
func testWorld() *World {
	w := &World{Light: newLight("overcast", 0, 40)}
	w.ground = append(w.ground, groundPoly{[]Vec3{{-500, -500, 0}, {500, -500, 0}, {500, 500, 0}, {-500, 500, 0}}, w.Light.Ground})
	return w
}

// addTestCamera puts a dome camera whose housing centre is at pos.
func addTestCamera(w *World, pos Vec3) *Camera {
	look := camLook{body: colBlack, dark: colBlack, mount: colBlack, scale: 1}
	m, centre := cameraMesh("dome", "ceiling", 0, 0, look, 12)
	base := pos.Sub(centre)
	o := w.addObject("camera", base, Identity3, m, m)
	c := &Camera{ID: "cam", Type: "dome", Mount: "ceiling", obj: o, Pos: pos}
	for _, p := range m.bodyPoints() {
		c.samples = append(c.samples, base.Add(p))
	}
	o.Camera = c
	w.Cameras = append(w.Cameras, c)
	return c
}

// diffBox renders w with and without its objects and returns the bounding
// box and centroid of the pixels the objects changed.
func diffBox(t *testing.T, w *World, v *View) (image.Rectangle, float64, float64, int) {
	t.Helper()
	r := NewRenderer(v.W, v.H, 1)
	defer r.Close()
	r.Render(w, v)
	with := r.Frame.Clone()
	defer with.Close()
	objs := w.Objects
	w.Objects = nil
	r.Render(w, v)
	w.Objects = objs
	diff := gocv.NewMat()
	defer diff.Close()
	gocv.AbsDiff(with, r.Frame, &diff)
	gray := gocv.NewMat()
	defer gray.Close()
	gocv.CvtColor(diff, &gray, gocv.ColorBGRToGray)
	bb := image.Rectangle{}
	var sx, sy, sw float64
	n := 0
	for y := 0; y < gray.Rows(); y++ {
		for x := 0; x < gray.Cols(); x++ {
			d := float64(gray.GetUCharAt(y, x))
			if d < 3 {
				continue
			}
			n++
			bb = bb.Union(image.Rect(x, y, x+1, y+1))
			sx, sy, sw = sx+d*float64(x), sy+d*float64(y), sw+d
		}
	}
	if sw == 0 {
		return bb, 0, 0, 0
	}
	return bb, sx / sw, sy / sw, n
}

func TestCameraRendersWherePinholePredicts(t *testing.T) {
	for _, tc := range []struct {
		name string
		pos  Vec3
		yaw  float64
	}{
		{"ahead", Vec3{0, 6, 3}, 0},
		{"off axis", Vec3{3.2, 9, 4}, 10},
		{"left low", Vec3{-2.5, 5, 2}, -5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := testWorld()
			cam := addTestCamera(w, tc.pos)
			v := NewView(640, 360, 66, Vec3{0, 0, 1.5}, tc.yaw, 10, 0)
			bb, cx, cy, n := diffBox(t, w, v)
			if n == 0 {
				t.Fatal("the camera left no pixels")
			}
			tb, ok := w.truthBox(v, cam)
			if !ok || tb.Visible != 1 {
				t.Fatalf("truth box %+v ok=%v, want fully visible", tb, ok)
			}
			got := image.Rect(tb.Box[0], tb.Box[1], tb.Box[2], tb.Box[3])
			for i, d := range []int{got.Min.X - bb.Min.X, got.Min.Y - bb.Min.Y, got.Max.X - bb.Max.X, got.Max.Y - bb.Max.Y} {
				if d < -1 || d > 1 {
					t.Fatalf("truth box %v differs from the rendered pixels %v by %d px on side %d", got, bb, d, i)
				}
			}
			// The housing is nearly symmetric about its vertical axis: its
			// pixels centre on the projected housing centre horizontally,
			// and vertically within the small offset of its centroid.
			px, py, _ := v.Project(cam.Pos)
			if math.Abs(cx-px) > 1 {
				t.Fatalf("pixels centred at x=%.2f, pinhole model says %.2f", cx, px)
			}
			if math.Abs(cy-py) > 1.5 {
				t.Fatalf("pixels centred at y=%.2f, pinhole model says %.2f", cy, py)
			}
		})
	}
}

func TestCameraHiddenBehindFacade(t *testing.T) {
	w := testWorld()
	cam := addTestCamera(w, Vec3{0, 12, 3})
	v := NewView(640, 360, 66, Vec3{0, 0, 1.5}, 0, 10, 0)
	if b, ok := w.truthBox(v, cam); !ok || b.Visible != 1 {
		t.Fatalf("before the wall: %+v ok=%v, want visible", b, ok)
	}
	// a wall 6 m ahead, 10 m wide, 8 m high, facing the viewer
	f := &Facade{O: Vec3{-5, 6, 0}, U: Vec3{1, 0, 0}, N: Vec3{0, -1, 0}, W: 10, H: 8, street: -1}
	f.setTexture(gocv.NewMatWithSizeFromScalar(gocv.NewScalar(90, 120, 150, 0), 64, 80, gocv.MatTypeCV8UC3), 8, 1)
	w.Facades = append(w.Facades, f)
	defer w.Close()
	if b, ok := w.truthBox(v, cam); ok {
		t.Fatalf("behind the wall the camera still has a truth box %+v", b)
	}
	if boxes := w.Truth(v); len(boxes) != 0 {
		t.Fatalf("Truth = %+v, want none", boxes)
	}
	if _, _, _, n := diffBox(t, w, v); n != 0 {
		t.Fatalf("the hidden camera changed %d pixels", n)
	}
	// a lower wall hides only the lower part: seen from the eye at 1.5 m
	// the housing (2.95..3.04 m, 12 m away) crosses the wall plane (6 m
	// away) at 2.22..2.27 m
	f.H = 2.25
	b, ok := w.truthBox(v, cam)
	if !ok || b.Visible <= 0 || b.Visible >= 1 {
		t.Fatalf("partly hidden camera: %+v ok=%v, want 0 < visible < 1", b, ok)
	}
}

func TestScenarioErrors(t *testing.T) {
	base, err := os.ReadFile("testdata/quick.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, from, to, want string
	}{
		{"height", "s_m: 30}, height_m: 4}", "s_m: 30}, height_m: 0}", "bad.yaml:31: cameras[0].height_m: must be > 0"},
		{"type", "type: ptz", "type: turret", `bad.yaml:33: cameras[2].type: must be one of dome, bullet, ptz, alpr, got "turret"`},
		{"street", "{street: main, side: right, s_m: 55}", "{street: nope, side: right, s_m: 55}", `bad.yaml:34: cameras[3].at.street: no street with id "nope"`},
		{"unknown field", "speed_mps: 1.5", "speed_mps: 1.5\n  pace: 3", "bad.yaml:19: field pace not found"},
		{"fps", "fps: 5", "fps: -5", "bad.yaml:22: device.fps: must be within (0, 120]"},
		{"bad number", "rate_hz: 1", "rate_hz: fast", "bad.yaml:26: cannot unmarshal !!str `fast`"},
		{"no facade", "side: left, s_m: 30}", "side: left, s_m: 75}", "cameras[0].at: s_m 75 is beyond the end"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.Replace(string(base), tc.from, tc.to, 1)
			if src == string(base) {
				t.Fatalf("test input %q not found in quick.yaml", tc.from)
			}
			sc, err := ParseScenario("bad.yaml", []byte(src))
			if err == nil {
				var w *World
				w, err = BuildWorld(sc, nil)
				if err == nil {
					w.Close()
					t.Fatal("no error")
				}
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func loadQuick(t testing.TB) *Scenario {
	t.Helper()
	sc, err := LoadScenario("testdata/quick.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// nmeaCoord decodes ddmm.mmmmm / dddmm.mmmmm with its hemisphere.
func nmeaCoord(v, hemi string, degDigits int) (float64, error) {
	if len(v) < degDigits+2 {
		return 0, fmt.Errorf("short coordinate %q", v)
	}
	d, err := strconv.Atoi(v[:degDigits])
	if err != nil {
		return 0, err
	}
	m, err := strconv.ParseFloat(v[degDigits:], 64)
	if err != nil {
		return 0, err
	}
	x := float64(d) + m/60
	if hemi == "S" || hemi == "W" {
		x = -x
	}
	return x, nil
}

func TestNMEAMatchesGNSSModel(t *testing.T) {
	sc := loadQuick(t)
	wk, err := NewWalk(sc, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer wk.Close()
	fixes, truth := wk.GNSSFixes()
	if want := int(math.Floor(wk.Duration*sc.GNSS.Rate)) + 1; len(fixes) != want {
		t.Fatalf("%d epochs, want %d", len(fixes), want)
	}
	path := filepath.Join(t.TempDir(), "track.nmea")
	if err := wk.WriteNMEA(path); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc2 := bufio.NewScanner(f)
	var rmc, gga [][]string
	for sc2.Scan() {
		line := sc2.Text()
		star := strings.LastIndexByte(line, '*')
		if !strings.HasPrefix(line, "$") || star < 0 {
			t.Fatalf("not a sentence: %q", line)
		}
		sum, err := strconv.ParseUint(line[star+1:], 16, 8)
		if err != nil || byte(sum) != gnss.Checksum(line[1:star]) {
			t.Fatalf("bad checksum in %q", line)
		}
		fields := strings.Split(line[1:star], ",")
		switch fields[0] {
		case "GPRMC":
			rmc = append(rmc, fields)
		case "GPGGA":
			gga = append(gga, fields)
		}
	}
	if len(rmc) != len(fixes) || len(gga) != len(fixes) {
		t.Fatalf("%d RMC and %d GGA for %d epochs", len(rmc), len(gga), len(fixes))
	}
	enu := wk.World.ENU
	var sq float64
	nvalid := 0
	for k, fx := range fixes {
		r, g := rmc[k], gga[k]
		tk := sc.Start.Add(time.Duration(float64(k) / sc.GNSS.Rate * float64(time.Second)))
		if r[1] != tk.Format("150405.00") || g[1] != tk.Format("150405.00") {
			t.Fatalf("epoch %d at %s/%s, want %s", k, r[1], g[1], tk.Format("150405.00"))
		}
		tsec := float64(k) / sc.GNSS.Rate
		dropped := tsec >= 8 && tsec < 11 // quick.yaml: dropout 8 s for 3 s
		if dropped {
			if r[2] != "V" || g[6] != "0" || fx.Valid {
				t.Fatalf("epoch %d in the dropout: RMC status %s, GGA quality %s", k, r[2], g[6])
			}
			continue
		}
		if r[2] != "A" || g[6] != "1" {
			t.Fatalf("epoch %d: RMC status %s, GGA quality %s, want A and 1", k, r[2], g[6])
		}
		lat, err1 := nmeaCoord(r[3], r[4], 2)
		lon, err2 := nmeaCoord(r[5], r[6], 3)
		if err1 != nil || err2 != nil {
			t.Fatalf("epoch %d: %v %v", k, err1, err2)
		}
		if d := geo.Distance(geo.LatLon{Lat: lat, Lon: lon}, fx.Pos); d > 0.05 {
			t.Fatalf("epoch %d: NMEA position %.7f,%.7f is %.3f m from the model's %v", k, lat, lon, d, fx.Pos)
		}
		glat, _ := nmeaCoord(g[2], g[3], 2)
		if math.Abs(glat-lat) > 1e-9 {
			t.Fatalf("epoch %d: GGA and RMC disagree", k)
		}
		x, y := enu.ToLocal(fx.Pos)
		tx, ty := enu.ToLocal(truth[k])
		sq += (x-tx)*(x-tx) + (y-ty)*(y-ty)
		nvalid++
	}
	// per-axis white noise sigma 3 m plus a 1 m bias: the horizontal RMS
	// error is about sqrt(2*(9+1)) = 4.5 m; allow for a short walk's luck
	rms := math.Sqrt(sq / float64(nvalid))
	if rms < 2 || rms > 8 {
		t.Fatalf("RMS error %.2f m over %d fixes, the model says about 4.5 m", rms, nvalid)
	}
	// the project's NMEA reader accepts the log
	got, stats, err := gnss.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	valid := 0
	for _, g := range got {
		if g.Valid {
			valid++
		}
	}
	if valid != nvalid || stats.Rejected() != 0 {
		t.Fatalf("gnss.ReadFile: %d valid fixes (want %d), stats %+v", valid, nvalid, stats)
	}
}

func TestWalkOutputs(t *testing.T) {
	if testing.Short() {
		t.Skip("renders a whole walk")
	}
	sc := loadQuick(t)
	out := t.TempDir()
	var prog bytes.Buffer
	meta, err := RunWalk(context.Background(), sc, nil, out, WalkOptions{Workers: 2, Progress: &prog})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(prog.String(), "sim walk: ") {
		t.Errorf("no progress written: %q", prog.String())
	}
	// the video opens in gocv with every frame
	vc, err := gocv.VideoCaptureFile(filepath.Join(out, WalkVideo))
	if err != nil {
		t.Fatal(err)
	}
	defer vc.Close()
	img := gocv.NewMat()
	defer img.Close()
	n := 0
	for vc.Read(&img) {
		if img.Empty() {
			break
		}
		if img.Cols() != sc.Device.Width || img.Rows() != sc.Device.Height {
			t.Fatalf("frame %d is %dx%d", n, img.Cols(), img.Rows())
		}
		n++
	}
	if n != meta.Frames || n < 90 {
		t.Fatalf("video has %d frames, walk.json says %d", n, meta.Frames)
	}
	// walk.json
	var wj map[string]any
	readJSON(t, filepath.Join(out, WalkMetaF), &wj)
	for _, k := range []string{"scenario", "start", "fps", "frames", "width", "height", "hfov_deg", "mount", "origin", "gnss", "seed"} {
		if _, ok := wj[k]; !ok {
			t.Errorf("walk.json lacks %q", k)
		}
	}
	if wj["frames"].(float64) != float64(n) || wj["start"] != "2026-05-04T10:00:00Z" {
		t.Errorf("walk.json frames=%v start=%v", wj["frames"], wj["start"])
	}
	// nested keys as contract C spells them
	for key, sub := range map[string][]string{"mount": {"yaw_deg", "pitch_deg", "roll_deg"}, "origin": {"lat", "lon"}, "gnss": {"rate_hz", "sigma_m"}} {
		m, _ := wj[key].(map[string]any)
		for _, k := range sub {
			if _, ok := m[k]; !ok {
				t.Errorf("walk.json %s lacks %q: %v", key, k, wj[key])
			}
		}
	}
	if m := wj["mount"].(map[string]any); m["pitch_deg"] != 8.0 {
		t.Errorf("walk.json mount %v, quick.yaml says pitch 8", m)
	}
	// truth.geojson
	var fc struct {
		Type     string `json:"type"`
		Features []struct {
			Type     string `json:"type"`
			Geometry struct {
				Type        string    `json:"type"`
				Coordinates []float64 `json:"coordinates"`
			} `json:"geometry"`
			Properties struct {
				ID        string   `json:"id"`
				Type      string   `json:"type"`
				Mount     string   `json:"mount"`
				Direction *float64 `json:"direction"`
				Height    float64  `json:"height_m"`
			} `json:"properties"`
		} `json:"features"`
	}
	readJSON(t, filepath.Join(out, WalkTruth), &fc)
	if fc.Type != "FeatureCollection" || len(fc.Features) != len(sc.Cameras) {
		t.Fatalf("truth: %s with %d features, want %d", fc.Type, len(fc.Features), len(sc.Cameras))
	}
	for i, f := range fc.Features {
		p := f.Properties
		if f.Geometry.Type != "Point" || len(f.Geometry.Coordinates) != 2 || p.ID != sc.Cameras[i].ID ||
			p.Type != sc.Cameras[i].Type || p.Mount != sc.Cameras[i].Mount || p.Direction == nil ||
			math.Abs(p.Height-sc.Cameras[i].Height) > 0.01 {
			t.Fatalf("feature %d: %+v", i, f)
		}
		ll := geo.LatLon{Lat: f.Geometry.Coordinates[1], Lon: f.Geometry.Coordinates[0]}
		if d := geo.Distance(ll, geo.LatLon{Lat: sc.Origin.Lat, Lon: sc.Origin.Lon}); d > 100 {
			t.Fatalf("feature %d is %.0f m from the origin", i, d)
		}
	}
	// frames.jsonl: one line per frame, times at start + i/fps
	ff, err := os.Open(filepath.Join(out, WalkFrames))
	if err != nil {
		t.Fatal(err)
	}
	defer ff.Close()
	s := bufio.NewScanner(ff)
	lines := 0
	seen := map[string]int{}
	for s.Scan() {
		var ft FrameTruth
		if err := json.Unmarshal(s.Bytes(), &ft); err != nil {
			t.Fatalf("line %d: %v", lines+1, err)
		}
		tm, err := time.Parse(time.RFC3339Nano, ft.Time)
		if err != nil || ft.Frame != lines || !tm.Equal(sc.Start.Add(time.Duration(lines)*200*time.Millisecond)) {
			t.Fatalf("line %d: frame %d at %s", lines+1, ft.Frame, ft.Time)
		}
		for _, b := range ft.Boxes {
			if b.Visible <= 0 || b.Visible > 1 || b.Box[0] < 0 || b.Box[1] < 0 || b.Box[2] > sc.Device.Width ||
				b.Box[3] > sc.Device.Height || b.Box[2] <= b.Box[0] || b.Box[3] <= b.Box[1] {
				t.Fatalf("frame %d: bad box %+v", ft.Frame, b)
			}
			seen[b.ID]++
		}
		lines++
	}
	if lines != n {
		t.Fatalf("frames.jsonl has %d lines for %d frames", lines, n)
	}
	for _, c := range sc.Cameras {
		if seen[c.ID] < 5 {
			t.Errorf("camera %s is visible in only %d frames", c.ID, seen[c.ID])
		}
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// Street20 must let a walker see every camera from several positions.
func TestStreet20CamerasSeenFromManyPlaces(t *testing.T) {
	sc, err := LoadScenario("testdata/street20.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(sc.Cameras) < 20 {
		t.Fatalf("%d cameras", len(sc.Cameras))
	}
	types, mounts := map[string]bool{}, map[string]bool{}
	for _, c := range sc.Cameras {
		types[c.Type], mounts[c.Mount] = true, true
	}
	if len(types) != 4 || len(mounts) != 4 {
		t.Fatalf("types %v mounts %v: want all four of each", types, mounts)
	}
	wk, err := NewWalk(sc, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer wk.Close()
	if wk.Duration < 100 || wk.Duration > 160 {
		t.Fatalf("walk lasts %.0f s, want about 2 minutes", wk.Duration)
	}
	frames := map[string]int{}
	spread := map[string][2]float64{}
	for i := 0; i < wk.Frames; i += 2 {
		p := wk.PoseAt(wk.FrameTime(i))
		for _, b := range wk.World.Truth(wk.View(p)) {
			if b.Visible < 0.5 || max(b.Box[2]-b.Box[0], b.Box[3]-b.Box[1]) < 6 {
				continue
			}
			frames[b.ID]++
			s := spread[b.ID]
			if frames[b.ID] == 1 {
				s[0] = p.S
			}
			s[1] = p.S
			spread[b.ID] = s
		}
	}
	for _, c := range sc.Cameras {
		t.Logf("%s %-6s %-11s seen in %3d sampled frames over %5.1f m", c.ID, c.Type, c.Mount, frames[c.ID], spread[c.ID][1]-spread[c.ID][0])
		if frames[c.ID] < 15 {
			t.Errorf("%s (%s on %s) seen ≥6 px in only %d sampled frames", c.ID, c.Type, c.Mount, frames[c.ID])
		}
		if s := spread[c.ID]; s[1]-s[0] < 5 {
			t.Errorf("%s seen only over %.1f m of the route", c.ID, s[1]-s[0])
		}
	}
}

func TestDatasetDeterministic(t *testing.T) {
	gen := func(workers int, seed int64) string {
		out := t.TempDir()
		_, err := GenerateDataset(context.Background(), out, DatasetOptions{N: 10, Seed: seed, Width: 256, Height: 256, ValFrac: 0.3, NegFrac: 0.3, Workers: workers})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	a, b, c := gen(1, 42), gen(2, 42), gen(1, 43)
	same := func(x, y string) bool {
		for _, d := range []string{"images/train", "images/val", "labels/train", "labels/val"} {
			ex, _ := os.ReadDir(filepath.Join(x, d))
			ey, _ := os.ReadDir(filepath.Join(y, d))
			if len(ex) != len(ey) {
				return false
			}
			for i := range ex {
				bx, _ := os.ReadFile(filepath.Join(x, d, ex[i].Name()))
				by, _ := os.ReadFile(filepath.Join(y, d, ey[i].Name()))
				if ex[i].Name() != ey[i].Name() || !bytes.Equal(bx, by) {
					return false
				}
			}
		}
		return true
	}
	if !same(a, b) {
		t.Fatal("same seed, different files (1 vs 2 workers)")
	}
	if same(a, c) {
		t.Fatal("different seeds, same files")
	}
	// layout and label format
	dy, err := os.ReadFile(filepath.Join(a, "data.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"train: images/train", "val: images/val", "nc: 4", "names: [dome, bullet, ptz, alpr]", "path: "} {
		if !strings.Contains(string(dy), want) {
			t.Errorf("data.yaml lacks %q:\n%s", want, dy)
		}
	}
	imgs, labels := 0, 0
	for _, split := range []string{"train", "val"} {
		ents, _ := os.ReadDir(filepath.Join(a, "images", split))
		for _, e := range ents {
			imgs++
			m := gocv.IMRead(filepath.Join(a, "images", split, e.Name()), gocv.IMReadColor)
			if m.Cols() != 256 || m.Rows() != 256 {
				t.Fatalf("%s is %dx%d", e.Name(), m.Cols(), m.Rows())
			}
			m.Close()
			lb, err := os.ReadFile(filepath.Join(a, "labels", split, strings.TrimSuffix(e.Name(), ".jpg")+".txt"))
			if err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(strings.TrimSpace(string(lb)), "\n") {
				if line == "" {
					continue
				}
				var cls int
				var cx, cy, w, h float64
				if _, err := fmt.Sscanf(line, "%d %f %f %f %f", &cls, &cx, &cy, &w, &h); err != nil {
					t.Fatalf("%s: %q: %v", e.Name(), line, err)
				}
				if cls < 0 || cls > 3 || w <= 0 || h <= 0 || cx-w/2 < -1e-6 || cy-h/2 < -1e-6 || cx+w/2 > 1+1e-6 || cy+h/2 > 1+1e-6 {
					t.Fatalf("%s: label out of range: %q", e.Name(), line)
				}
				labels++
			}
		}
	}
	if imgs != 10 || labels == 0 {
		t.Fatalf("%d images, %d labels", imgs, labels)
	}
}

func TestWalkDeterministic(t *testing.T) {
	sc := loadQuick(t)
	run := func(workers int) string {
		out := t.TempDir()
		if _, err := RunWalk(context.Background(), sc, nil, out, WalkOptions{Workers: workers, MaxFrames: 24}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	a, b := run(1), run(3)
	for _, f := range []string{WalkTruth, WalkFrames, WalkNMEA, WalkMetaF, WalkVideo} {
		x, err1 := os.ReadFile(filepath.Join(a, f))
		y, err2 := os.ReadFile(filepath.Join(b, f))
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs between runs with 1 and 3 workers", f)
		}
	}
}

func TestDatasetMostlySmallCameras(t *testing.T) {
	if testing.Short() {
		t.Skip("renders 80 images")
	}
	out := t.TempDir()
	sum, err := GenerateDataset(context.Background(), out, DatasetOptions{N: 80, Seed: 9, ValFrac: 0.1, NegFrac: 0.3})
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, typ := range CameraTypes {
		if sum.Objects[typ] < 5 {
			t.Errorf("only %d %s labels", sum.Objects[typ], typ)
		}
		total += sum.Objects[typ]
	}
	// the field's cameras are tiny: most labels must be at most 32 px
	small := sum.BySize["<16"] + sum.BySize["16-32"]
	if total < 100 || float64(small) < 0.45*float64(total) || sum.BySize["<16"] < total/8 || sum.BySize[">32"] < total/8 {
		t.Fatalf("%d labels, by size %v: want most ≤ 32 px and some of every size", total, sum.BySize)
	}
	if sum.Negatives < 10 || sum.Negatives > 40 {
		t.Fatalf("%d of 80 images without cameras, want about 30 %%", sum.Negatives)
	}
	if sum.Train+sum.Val != 80 || sum.Val == 0 {
		t.Fatalf("split %d/%d", sum.Train, sum.Val)
	}
}

func TestScenarioInLatLon(t *testing.T) {
	src := `
origin: {lat: 48.8566, lon: 2.3522}
streets:
  - id: rue
    latlon: [[48.8566, 2.3520], [48.8566, 2.3535]]
    left: {height_m: 12, width_m: 12}
    right: {height_m: 12, width_m: 12}
route: {latlon: [[48.85655, 2.3521], [48.85655, 2.3530]]}
cameras:
  - {id: c1, type: dome, mount: wall, at: {street: rue, side: left, s_m: 40}, height_m: 4}
  - {id: c2, type: bullet, mount: pole, latlon: [48.85650, 2.35280], height_m: 5, direction_deg: 90}
`
	sc, err := ParseScenario("paris.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	wk, err := NewWalk(sc, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer wk.Close()
	streetStart := geo.LatLon{Lat: 48.8566, Lon: 2.3520}
	// c1: 40 m east of the street's start, on the north facade (7 m), 0.2 m out
	c1 := wk.World.Cameras[0].LatLon
	if d := geo.Distance(c1, geo.Destination(geo.Destination(streetStart, 90, 40), 0, 7-0.2)); d > 0.3 {
		t.Fatalf("c1 at %v, %.2f m from where the scenario puts it", c1, d)
	}
	// c2: its pole at the given point, the housing on an arm pointing east
	c2 := wk.World.Cameras[1]
	pole := geo.LatLon{Lat: 48.85650, Lon: 2.35280}
	if d := geo.Distance(c2.LatLon, pole); d < 0.1 || d > 0.6 || math.Abs(geo.AngleDiff(geo.Bearing(pole, c2.LatLon), 90)) > 5 {
		t.Fatalf("c2 housing %v is %.2f m at %.0f° from its pole", c2.LatLon, geo.Distance(c2.LatLon, pole), geo.Bearing(pole, c2.LatLon))
	}
	// the local plane uses the WGS84 ellipsoid, geo.Distance a sphere: 0.5 %
	if want := geo.Distance(geo.LatLon{Lat: 48.85655, Lon: 2.3521}, geo.LatLon{Lat: 48.85655, Lon: 2.3530}); math.Abs(wk.route.Len()-want) > 0.005*want {
		t.Fatalf("route is %.2f m, want %.2f", wk.route.Len(), want)
	}
}
