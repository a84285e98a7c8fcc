package api

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camaudit/camaudit/geo"
	"github.com/camaudit/camaudit/hub/registry"
	"github.com/camaudit/camaudit/hub/store"
	"github.com/camaudit/camaudit/wire"
)

var (
	origin = geo.LatLon{Lat: 52.5200, Lon: 13.4050}
	t0     = time.Date(2026, 11, 26, 18, 0, 0, 0, time.UTC)
	enu    = geo.NewENU(origin)
)

const token = "s3cret-token"

func sid(n int) string    { return fmt.Sprintf("0193a1b2-c3d4-7e5f-8a9b-%012x", n) }
func walkID(n int) string { return fmt.Sprintf("0193a1b2-0000-7000-8000-%012x", n) }

func at(n int, device string, walk int, east, north float64, typ string) wire.Sighting {
	p := enu.FromLocal(east, north)
	d := 90.0
	return wire.Sighting{Schema: wire.SchemaSighting, ID: sid(n), Device: device, Walk: walkID(walk), Time: t0,
		Lat: p.Lat, Lon: p.Lon, ErrM: 3, Type: typ, Mount: "wall", Direction: &d, Confidence: 0.8, Frames: 10, Model: "m"}
}

type fixture struct {
	srv *httptest.Server
	reg *registry.Registry
	st  *store.Store
}

// newFixture: camera 1 (dome) seen by two walks at the origin, camera 2
// (bullet) at 500 m east seen once, camera 3 (alpr) at 2 km north, rejected.
func newFixture(t *testing.T, tok string) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ss := []wire.Sighting{at(1, "pi-aaa", 1, 0, 0, "dome"), at(2, "pi-bbb", 2, 1, 1, "dome"), at(3, "pi-aaa", 1, 500, 0, "bullet"), at(4, "pi-aaa", 1, 0, 2000, "alpr")}
	var msgs []store.Message
	for i := range ss {
		msgs = append(msgs, store.Message{Device: ss[i].Device, Payload: &ss[i]})
	}
	walked := geo.CellsAlong([]geo.LatLon{enu.FromLocal(-50, 0), enu.FromLocal(1500, 0)}, geo.CellRes)
	msgs = append(msgs, store.Message{Device: "pi-aaa", Payload: &wire.Coverage{Schema: wire.SchemaCoverage, Device: "pi-aaa", Walk: walkID(1), Cells: walked, WalkedM: 1550, From: t0, To: t0.Add(time.Hour)}})
	if _, err := st.Write(ctx, msgs, map[wire.Reason]int{wire.ReasonOversize: 2}, t0); err != nil {
		t.Fatal(err)
	}
	reg := registry.New(registry.DefaultConfig())
	reg.Add(ss)
	reg.Review(sid(4), registry.DecisionReject, 1)
	srv := httptest.NewServer(New(reg, st, Config{Token: tok}))
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, reg: reg, st: st}
}

func (f *fixture) do(t *testing.T, method, path, auth string, body []byte) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, f.srv.URL+path, bytes.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (f *fixture) get(t *testing.T, path string, v any) int {
	t.Helper()
	code, b := f.do(t, "GET", path, "", nil)
	if v != nil && code == 200 {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("GET %s: %v\n%s", path, err, b)
		}
	}
	return code
}

type fcoll struct {
	Type     string `json:"type"`
	Features []struct {
		ID         string         `json:"id"`
		Geometry   map[string]any `json:"geometry"`
		Properties map[string]any `json:"properties"`
	} `json:"features"`
}

func (fc fcoll) ids() []string {
	var out []string
	for _, f := range fc.Features {
		out = append(out, f.ID)
	}
	return out
}

func TestCameras(t *testing.T) {
	f := newFixture(t, token)
	sw, ne := enu.FromLocal(-100, -100), enu.FromLocal(100, 100)
	tests := []struct {
		query string
		want  []string
	}{
		{"", []string{sid(1), sid(3)}},
		{"?status=all", []string{sid(1), sid(3), sid(4)}},
		{"?status=rejected", []string{sid(4)}},
		{"?status=confirmed", []string{sid(1)}},
		{"?type=bullet,alpr&status=all", []string{sid(3), sid(4)}},
		{fmt.Sprintf("?bbox=%f,%f,%f,%f", sw.Lon, sw.Lat, ne.Lon, ne.Lat), []string{sid(1)}},
		{"?limit=1", []string{sid(1)}},
	}
	for _, tc := range tests {
		var fc fcoll
		if code := f.get(t, "/api/cameras"+tc.query, &fc); code != 200 {
			t.Fatalf("GET /api/cameras%s: %d", tc.query, code)
		}
		if fc.Type != "FeatureCollection" || fmt.Sprint(fc.ids()) != fmt.Sprint(tc.want) {
			t.Errorf("GET /api/cameras%s = %v, want %v", tc.query, fc.ids(), tc.want)
		}
	}
	var fc fcoll
	f.get(t, "/api/cameras", &fc)
	c := fc.Features[0]
	if c.Geometry["type"] != "Point" || c.Properties["status"] != "confirmed" || c.Properties["walks"] != 2.0 || c.Properties["type"] != "dome" {
		t.Errorf("camera feature = %+v", c)
	}
	coords := c.Geometry["coordinates"].([]any)
	if math.Abs(coords[0].(float64)-origin.Lon) > 1e-4 || math.Abs(coords[1].(float64)-origin.Lat) > 1e-4 {
		t.Errorf("coordinates %v are not [lon, lat] near the origin", coords)
	}
	for _, bad := range []string{"?bbox=1,2,3", "?bbox=a,b,c,d", "?type=drone", "?status=maybe", "?limit=-1", "?bbox=0,80,1,95"} {
		code, body := f.do(t, "GET", "/api/cameras"+bad, "", nil)
		if code != 400 || !strings.Contains(string(body), "error") {
			t.Errorf("GET /api/cameras%s = %d %s, want 400 with an error", bad, code, body)
		}
	}
	var one struct {
		Properties map[string]any `json:"properties"`
	}
	if code := f.get(t, "/api/cameras/"+sid(2), &one); code != 200 || one.Properties["id"] != sid(1) {
		t.Errorf("GET a camera by a member sighting id: %d %v", code, one.Properties)
	}
	if code := f.get(t, "/api/cameras/nope", nil); code != 404 {
		t.Errorf("GET an unknown camera: %d, want 404", code)
	}
}

func TestReviewNeedsToken(t *testing.T) {
	f := newFixture(t, token)
	path := "/api/cameras/" + sid(3) + "/review"
	body := []byte(`{"decision":"reject","note":"a lamp"}`)
	for _, auth := range []string{"", "wrong", token + "x"} {
		if code, _ := f.do(t, "POST", path, auth, body); code != 401 {
			t.Errorf("review with token %q: %d, want 401", auth, code)
		}
	}
	if code, b := f.do(t, "POST", path, token, []byte(`{"decision":"delete"}`)); code != 400 || !strings.Contains(string(b), "delete") {
		t.Errorf("bad decision: %d %s", code, b)
	}
	if code, b := f.do(t, "POST", path, token, bytes.Repeat([]byte(" "), 70<<10)); code != 400 || !strings.Contains(string(b), "larger") {
		t.Errorf("oversized body: %d %s", code, b)
	}
	code, b := f.do(t, "POST", path, token, body)
	if code != 200 || !strings.Contains(string(b), `"status":"rejected"`) {
		t.Fatalf("review: %d %s", code, b)
	}
	var fc fcoll
	f.get(t, "/api/cameras", &fc)
	if fmt.Sprint(fc.ids()) != fmt.Sprint([]string{sid(1)}) {
		t.Errorf("after rejecting %s the map shows %v", sid(3), fc.ids())
	}
	if rs, _ := f.st.ReviewsAfter(context.Background(), 0); len(rs) != 1 || rs[0].Note != "a lamp" {
		t.Errorf("stored reviews = %+v", rs)
	}
	// Without a token configured, reviews are off.
	g := newFixture(t, "")
	if code, _ := g.do(t, "POST", path, "", body); code != 403 {
		t.Errorf("review on a hub without a token: %d, want 403", code)
	}
}

func TestCellsCoverageStats(t *testing.T) {
	f := newFixture(t, token)
	var cells fcoll
	f.get(t, "/api/cells", &cells)
	camCell := geo.Cell(origin, geo.CellRes)
	bulletCell := geo.Cell(enu.FromLocal(500, 0), geo.CellRes)
	var empty, withCam int
	for _, c := range cells.Features {
		p := c.Properties
		if p["covered"] == true && p["cameras"] == 0.0 {
			empty++
		}
		if c.ID == camCell {
			withCam++
			if p["cameras"] != 1.0 || p["covered"] != true || p["walks"] != 1.0 || c.Geometry["type"] != "Polygon" {
				t.Errorf("cell %s = %+v", c.ID, p)
			}
		}
		if c.ID == bulletCell && p["by_type"].(map[string]any)["bullet"] != 1.0 {
			t.Errorf("bullet cell = %+v", p)
		}
	}
	if withCam != 1 || empty == 0 {
		t.Errorf("cells: camera cell found %d times, %d walked cells without cameras; want 1 and some", withCam, empty)
	}
	var coarse fcoll
	if code := f.get(t, "/api/cells?res=7", &coarse); code != 200 || len(coarse.Features) == 0 || len(coarse.Features) >= len(cells.Features) {
		t.Errorf("res=7: %d cells from %d at res 9", len(coarse.Features), len(cells.Features))
	}
	var cov fcoll
	f.get(t, "/api/coverage", &cov)
	if len(cov.Features) < 3 || cov.Features[0].Properties["walks"] != 1.0 || cov.Features[0].Properties["first_walked"] != t0.Format(time.RFC3339) {
		t.Errorf("coverage = %+v", cov)
	}
	var st map[string]any
	f.get(t, "/api/stats", &st)
	if st["cameras"] != 2.0 || st["rejected_messages"].(map[string]any)["oversize"] != 2.0 || st["sightings"] != 4.0 || st["walks"] != 1.0 {
		t.Errorf("stats = %v", st)
	}
	if st["cameras_by_type"].(map[string]any)["dome"] != 1.0 || st["by_device"].(map[string]any)["pi-aaa"].(map[string]any)["sightings"] != 3.0 {
		t.Errorf("stats breakdowns = %v", st)
	}
	var h map[string]any
	if code := f.get(t, "/healthz", &h); code != 200 || h["status"] != "ok" || h["cameras"] != 3.0 {
		t.Errorf("healthz = %d %v", code, h)
	}
}

func TestDistricts(t *testing.T) {
	f := newFixture(t, token)
	ring := func(e0, n0, e1, n1 float64) string {
		a, b := enu.FromLocal(e0, n0), enu.FromLocal(e1, n1)
		return fmt.Sprintf(`[[%f,%f],[%f,%f],[%f,%f],[%f,%f],[%f,%f]]`, a.Lon, a.Lat, b.Lon, a.Lat, b.Lon, b.Lat, a.Lon, b.Lat, a.Lon, a.Lat)
	}
	// West holds the dome, East the bullet; Holey is a 2 km square with a
	// hole around the dome, so it holds only the bullet.
	upload := fmt.Sprintf(`{"type":"FeatureCollection","features":[
		{"type":"Feature","properties":{"name":"West","pop":1200},"geometry":{"type":"Polygon","coordinates":[%s]}},
		{"type":"Feature","properties":{"name":"East"},"geometry":{"type":"MultiPolygon","coordinates":[[%s]]}},
		{"type":"Feature","properties":{"name":"Holey"},"geometry":{"type":"Polygon","coordinates":[%s,%s]}}]}`,
		ring(-250, -250, 250, 250), ring(250, -250, 750, 250), ring(-1000, -1000, 1000, 1000), ring(-100, -100, 100, 100))
	if code, b := f.do(t, "POST", "/api/districts", "", []byte(upload)); code != 401 {
		t.Fatalf("upload without token: %d %s", code, b)
	}
	if code, b := f.do(t, "POST", "/api/districts", token, []byte(upload)); code != 200 || !strings.Contains(string(b), `"districts":3`) {
		t.Fatalf("upload: %d %s", code, b)
	}
	var fc fcoll
	f.get(t, "/api/districts", &fc)
	got := map[string]float64{}
	for _, d := range fc.Features {
		got[d.Properties["name"].(string)] = d.Properties["cameras"].(float64)
	}
	if got["West"] != 1 || got["East"] != 1 || got["Holey"] != 1 || fc.Features[0].Properties["pop"] != 1200.0 {
		t.Errorf("district counts = %v (%+v)", got, fc.Features[0].Properties)
	}
	if a := fc.Features[0].Properties["area_km2"].(float64); math.Abs(a-0.25) > 0.001 {
		t.Errorf("area of a 500 m square = %v km², want 0.25", a)
	}
	for _, bad := range []string{`{"type":"Feature"}`, `{"type":"FeatureCollection","features":[{"geometry":{"type":"Point","coordinates":[1,2]}}]}`, `not json`} {
		if code, b := f.do(t, "POST", "/api/districts", token, []byte(bad)); code != 400 {
			t.Errorf("upload %s: %d %s, want 400", bad, code, b)
		}
	}
	// A bad upload loses nothing already accepted.
	f.get(t, "/api/districts", &fc)
	if len(fc.Features) != 3 {
		t.Errorf("after a bad upload %d districts remain, want 3", len(fc.Features))
	}
}

func TestExposure(t *testing.T) {
	f := newFixture(t, token)
	line := func(pts ...[2]float64) []byte {
		var cs []string
		for _, p := range pts {
			ll := enu.FromLocal(p[0], p[1])
			cs = append(cs, fmt.Sprintf("[%f,%f]", ll.Lon, ll.Lat))
		}
		return []byte(`{"type":"Feature","properties":{},"geometry":{"type":"LineString","coordinates":[` + strings.Join(cs, ",") + `]}}`)
	}
	tests := []struct {
		name      string
		query     string
		body      []byte
		exposed   float64
		length    float64
		cameras   float64
		wantShare float64
	}{
		// A street 100 m north of the dome (at 0,0) and the bullet (500,0):
		// each covers 2·sqrt(200²−100²) = 346.4 m of it, overlapping not at all.
		{"two cameras", "", line([2]float64{-1000, 100}, [2]float64{0, 100}, [2]float64{1000, 100}), 2 * 346.41, 2000, 2, 0.3464},
		{"radius 50", "?radius=50", line([2]float64{-1000, 100}, [2]float64{1000, 100}), 0, 2000, 0, 0},
		{"only confirmed", "?status=confirmed", line([2]float64{-1000, 100}, [2]float64{1000, 100}), 346.41, 2000, 1, 0.1732},
		// Both cameras within 300 m: intervals overlap and count once.
		{"union of overlaps", "?radius=300", line([2]float64{-1000, 0}, [2]float64{1000, 0}), 1100, 2000, 2, 0.55},
	}
	for _, tc := range tests {
		code, b := f.do(t, "POST", "/api/exposure"+tc.query, "", tc.body)
		var res map[string]any
		if err := json.Unmarshal(b, &res); code != 200 || err != nil {
			t.Fatalf("%s: %d %s", tc.name, code, b)
		}
		if math.Abs(res["exposed_m"].(float64)-tc.exposed) > 1 || math.Abs(res["length_m"].(float64)-tc.length) > 1 ||
			res["cameras"] != tc.cameras || math.Abs(res["share"].(float64)-tc.wantShare) > 0.001 {
			t.Errorf("%s: %v; want exposed %.1f of %.0f m, %v cameras", tc.name, res, tc.exposed, tc.length, tc.cameras)
		}
	}
	for _, bad := range []string{`{"type":"Point","coordinates":[1,2]}`, `{"type":"LineString","coordinates":[[1,2]]}`, `{"type":"LineString","coordinates":[[1,2],[1,95]]}`, `[`} {
		if code, b := f.do(t, "POST", "/api/exposure", "", []byte(bad)); code != 400 {
			t.Errorf("exposure of %s: %d %s, want 400", bad, code, b)
		}
	}
	if code, _ := f.do(t, "POST", "/api/exposure?radius=-1", "", line([2]float64{0, 0}, [2]float64{1, 1})); code != 400 {
		t.Errorf("negative radius: %d, want 400", code)
	}
}

func TestOSMTags(t *testing.T) {
	d := 91.6
	tests := []struct {
		cam  registry.Camera
		want map[string]string
	}{
		{registry.Camera{Type: "dome", Mount: "wall", Direction: &d}, map[string]string{"man_made": "surveillance", "surveillance:type": "camera", "camera:type": "dome", "camera:mount": "wall", "camera:direction": "92"}},
		{registry.Camera{Type: "bullet", Mount: "pole"}, map[string]string{"camera:type": "fixed", "camera:mount": "pole", "camera:direction": ""}},
		{registry.Camera{Type: "ptz", Mount: "unknown"}, map[string]string{"camera:type": "panning", "camera:mount": ""}},
		{registry.Camera{Type: "alpr", Mount: "street_lamp"}, map[string]string{"surveillance:type": "ALPR", "surveillance:zone": "traffic", "camera:mount": "street_lamp"}},
		{registry.Camera{Type: "unknown"}, map[string]string{"surveillance:type": "camera", "camera:type": ""}},
	}
	for _, tc := range tests {
		got := map[string]string{}
		for _, kv := range OSMTags(&tc.cam) {
			got[kv[0]] = kv[1]
		}
		for k, v := range tc.want {
			if got[k] != v {
				t.Errorf("%s camera: tag %s = %q, want %q", tc.cam.Type, k, got[k], v)
			}
		}
	}
}

// TestExportsOpenInGDALAndOsmium checks the exports with the tools a
// campaigner would use: ogrinfo (GDAL) and osmium.
func TestExportsOpenInGDALAndOsmium(t *testing.T) {
	f := newFixture(t, token)
	dir := t.TempDir()
	fetch := func(path, name string) string {
		code, b := f.do(t, "GET", path, "", nil)
		if code != 200 {
			t.Fatalf("GET %s: %d %s", path, code, b)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	gj := fetch("/export/cameras.geojson?status=all", "cameras.geojson")
	out, err := exec.Command("ogrinfo", "-ro", "-so", "-al", gj).CombinedOutput()
	if err != nil {
		t.Fatalf("ogrinfo (install gdal-bin with make setup): %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "Feature Count: 3") || !strings.Contains(string(out), "Point") {
		t.Errorf("ogrinfo does not see 3 points:\n%s", out)
	}

	osm := fetch("/export/cameras.osm", "cameras.osm")
	out, err = exec.Command("osmium", "fileinfo", "-e", "-g", "data.count.nodes", osm).CombinedOutput()
	if err != nil {
		t.Fatalf("osmium (install osmium-tool with make setup): %v\n%s", err, out)
	}
	if strings.TrimSpace(string(out)) != "2" {
		t.Errorf("osmium counts %q nodes, want 2", out)
	}
	out, err = exec.Command("osmium", "tags-count", osm, "camera:type=*").CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"camera:type"	"dome"`) || !strings.Contains(string(out), `"camera:type"	"fixed"`) {
		t.Errorf("osmium tags-count: %v\n%s", err, out)
	}
	var doc struct {
		Upload string `xml:"upload,attr"`
		Nodes  []struct {
			ID int64 `xml:"id,attr"`
		} `xml:"node"`
	}
	b, _ := os.ReadFile(osm)
	if err := xml.Unmarshal(b, &doc); err != nil || doc.Upload != "never" || len(doc.Nodes) != 2 || doc.Nodes[0].ID >= 0 {
		t.Errorf("OSM XML: %v %+v", err, doc)
	}

	code, body := f.do(t, "GET", "/export/cameras.csv?status=all", "", nil)
	rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if code != 200 || err != nil || len(rows) != 4 || strings.Join(rows[0], ",") != strings.Join(CSVHeader, ",") {
		t.Fatalf("CSV: %d %v %v", code, err, rows)
	}
	if rows[1][0] != sid(1) || rows[1][4] != "dome" || rows[1][7] != "confirmed" {
		t.Errorf("CSV row = %v", rows[1])
	}
}
