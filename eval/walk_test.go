package eval

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/camaudit/camaudit/geo"
)

func TestWalkMatching(t *testing.T) {
	o := geo.LatLon{Lat: 52.52, Lon: 13.40}
	at := func(id, typ string, brg, d float64) Point {
		return Point{ID: id, Type: typ, Pos: geo.Destination(o, brg, d)}
	}
	truth := []Point{
		{ID: "t0", Type: "dome", Pos: o},
		at("t1", "dome", 90, 8),
		at("t2", "bullet", 0, 100),
		at("t3", "ptz", 180, 200),
	}
	found := []Point{
		// s0 is 3 m from t0 and 5 m from t1; s1 is 4 m from t0 and 12 m
		// from t1. Greedy nearest-first would pair s0-t0 and leave t1
		// unmatched; the optimal one-to-one assignment pairs s1-t0, s0-t1.
		at("s0", "dome", 90, 3),
		at("s1", "dome", 270, 4),
		at("s2", "dome", 0, 103),  // t2, wrong type
		at("s3", "dome", 180, 50), // nothing near: false
	}
	found[0].ErrM, found[1].ErrM = 3, 1
	r := Walk(truth, found)
	if r.Matched != 3 || r.Missed != 1 || r.False != 1 {
		t.Fatalf("matched %d missed %d false %d, want 3 1 1: %+v", r.Matched, r.Missed, r.False, r)
	}
	if r.Precision != 0.75 || r.Recall != 0.75 || r.CountError != 0 {
		t.Errorf("precision %v recall %v count error %v", r.Precision, r.Recall, r.CountError)
	}
	if math.Abs(r.MedianErrorM-4) > 0.05 || r.TypeAccuracy < 0.66 || r.TypeAccuracy > 0.67 {
		t.Errorf("median %v type accuracy %v; want 4 and 2/3", r.MedianErrorM, r.TypeAccuracy)
	}
	if len(r.MissedIDs) != 1 || r.MissedIDs[0] != "t3" || r.FalseIDs[0] != "s3" {
		t.Errorf("missed %v false %v", r.MissedIDs, r.FalseIDs)
	}
	// s0 (err 3) is within 2σ of t1 (5 m); s1 (err 1) is not within 2 m of t0 (4 m).
	if math.Abs(r.ErrCoverage-1.0/3) > 1e-9 {
		t.Errorf("err coverage %v, want 1/3", r.ErrCoverage)
	}
	empty := Walk(truth, nil)
	if empty.Recall != 0 || empty.Precision != 0 || empty.CountError != 1 {
		t.Errorf("no sightings: %+v", empty)
	}
}

func TestReadPoints(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "t.geojson")
	os.WriteFile(good, []byte(`{"type":"FeatureCollection","features":[
	 {"type":"Feature","geometry":{"type":"Point","coordinates":[13.4,52.5]},"properties":{"id":"cam-01","type":"dome","err_m":2.5}}]}`), 0o600)
	ps, err := ReadPoints(good)
	if err != nil || len(ps) != 1 || ps[0].ID != "cam-01" || ps[0].Pos.Lat != 52.5 || ps[0].ErrM != 2.5 {
		t.Fatalf("ReadPoints = %+v, %v", ps, err)
	}
	for name, body := range map[string]string{
		"line.geojson": `{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"LineString","coordinates":[[1,2],[3,4]]}}]}`,
		"junk.geojson": `not json`,
		"fc.geojson":   `{"type":"Feature"}`,
		"swap.geojson": `{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Point","coordinates":[52.5,213.4]}}]}`,
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o600)
		if _, err := ReadPoints(p); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: err = %v, want one naming the file", name, err)
		}
	}
}
