package geo

import (
	"math"
	"testing"

	"github.com/camaudit/camaudit/wire"
)

func TestDistanceBearingDestination(t *testing.T) {
	nyc := LatLon{40.7128, -74.0060}
	tests := []struct {
		brg, dist float64
	}{{0, 100}, {90, 250}, {135, 12.5}, {271, 3000}, {359.5, 1}}
	for _, tc := range tests {
		q := Destination(nyc, tc.brg, tc.dist)
		if d := Distance(nyc, q); math.Abs(d-tc.dist) > 1e-6*tc.dist+1e-6 {
			t.Errorf("bearing %v: distance %v, want %v", tc.brg, d, tc.dist)
		}
		if b := Bearing(nyc, q); math.Abs(AngleDiff(b, tc.brg)) > 1e-6 {
			t.Errorf("bearing %v: got %v", tc.brg, b)
		}
	}
	// Paris–London, a known distance: about 343.5 km.
	if d := Distance(LatLon{48.8566, 2.3522}, LatLon{51.5074, -0.1278}); math.Abs(d-343.5e3) > 1e3 {
		t.Errorf("Paris-London %v m", d)
	}
}

func TestENURoundTrip(t *testing.T) {
	e := NewENU(LatLon{55.7, 13.19}) // Lund
	for _, p := range [][2]float64{{0, 0}, {100, 0}, {0, 100}, {-750, 420}, {2000, -2000}} {
		ll := e.FromLocal(p[0], p[1])
		x, y := e.ToLocal(ll)
		if math.Hypot(x-p[0], y-p[1]) > 1e-6 {
			t.Errorf("round trip %v -> %v,%v", p, x, y)
		}
		// Local (ellipsoidal) distances agree with the spherical great circle within 0.5 %.
		if want := math.Hypot(p[0], p[1]); math.Abs(Distance(e.Origin, ll)-want) > 5e-3*want+1e-6 {
			t.Errorf("%v: plane %v m, sphere %v m", p, want, Distance(e.Origin, ll))
		}
	}
}

func TestAngleDiff(t *testing.T) {
	tests := []struct{ a, b, want float64 }{{10, 350, 20}, {350, 10, -20}, {180, 0, 180}, {0, 0, 0}, {-90, 90, 180}}
	for _, tc := range tests {
		if got := AngleDiff(tc.a, tc.b); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("AngleDiff(%v,%v)=%v want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestCells(t *testing.T) {
	p := LatLon{40.7128, -74.0060}
	c := Cell(p, CellRes)
	if err := wire.CheckCell(c); err != nil {
		t.Fatalf("Cell(%v) = %q not valid on the wire: %v", p, c, err)
	}
	ctr, err := CellCenter(c)
	if err != nil || Distance(ctr, p) > 400 {
		t.Fatalf("centre %v (%v) far from %v", ctr, err, p)
	}
	if b, err := CellBoundary(c); err != nil || len(b) != 6 {
		t.Fatalf("boundary %v %v", b, err)
	}
	if _, err := CellCenter("nonsense"); err == nil {
		t.Fatal("bad cell accepted")
	}
	// A 1 km straight line crosses several res-9 cells (edge ~ 200 m), each once.
	line := []LatLon{p, Destination(p, 90, 1000)}
	cells := CellsAlong(line, CellRes)
	if len(cells) < 4 || len(cells) > 12 {
		t.Fatalf("1 km line crosses %d cells", len(cells))
	}
	seen := map[string]bool{}
	for _, c := range cells {
		if seen[c] {
			t.Fatalf("cell %s twice", c)
		}
		seen[c] = true
	}
}
