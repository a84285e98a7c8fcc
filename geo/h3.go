package geo

import (
	"fmt"

	"github.com/uber/h3-go/v4"
)

// CellRes is the H3 resolution at which coverage and counts are reported:
// cells of about 0.1 km², coarse enough that a walker's exact route cannot be
// read back from them.
const CellRes = 9

// Cell returns the H3 cell at resolution res containing p, in the canonical
// lower-case hex form used on the wire.
func Cell(p LatLon, res int) string {
	return h3.LatLngToCell(h3.NewLatLng(p.Lat, p.Lon), res).String()
}

func parseCell(cell string) (h3.Cell, error) {
	c := h3.Cell(h3.IndexFromString(cell))
	if !c.IsValid() {
		return 0, fmt.Errorf("geo: %q is not a valid H3 cell", cell)
	}
	return c, nil
}

// CellCenter returns the centre of an H3 cell given in hex.
func CellCenter(cell string) (LatLon, error) {
	c, err := parseCell(cell)
	if err != nil {
		return LatLon{}, err
	}
	ll := c.LatLng()
	return LatLon{Lat: ll.Lat, Lon: ll.Lng}, nil
}

// CellBoundary returns the vertices of an H3 cell, counter-clockwise, not closed.
func CellBoundary(cell string) ([]LatLon, error) {
	c, err := parseCell(cell)
	if err != nil {
		return nil, err
	}
	b := c.Boundary()
	out := make([]LatLon, len(b))
	for i, v := range b {
		out[i] = LatLon{Lat: v.Lat, Lon: v.Lng}
	}
	return out, nil
}

// CellsAlong returns the distinct H3 cells at resolution res that a polyline
// passes through, in the order first entered. Points are sampled every few
// metres so that short cuts across a cell corner are not missed.
func CellsAlong(pts []LatLon, res int) []string {
	seen := map[string]bool{}
	var out []string
	add := func(p LatLon) {
		c := Cell(p, res)
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	for i, p := range pts {
		if i == 0 {
			add(p)
			continue
		}
		q := pts[i-1]
		d := Distance(q, p)
		steps := int(d/5) + 1
		for s := 1; s <= steps; s++ {
			f := float64(s) / float64(steps)
			add(LatLon{Lat: q.Lat + f*(p.Lat-q.Lat), Lon: q.Lon + f*(p.Lon-q.Lon)})
		}
	}
	return out
}
