package registry

import "math"

const metresPerDegree = 111_320.0

// grid is a spatial hash of items by position, with cells of about size
// metres: rows of equal latitude span, columns scaled by the row's latitude.
type grid[T comparable] struct {
	size  float64
	cells map[cellKey][]T
}

type cellKey struct{ row, col int32 }

func newGrid[T comparable](size float64) grid[T] {
	return grid[T]{size: size, cells: map[cellKey][]T{}}
}

func (g *grid[T]) rowOf(lat float64) int32 {
	return int32(math.Floor(lat * metresPerDegree / g.size))
}

func (g *grid[T]) colScale(row int32) float64 {
	lat := (float64(row) + 0.5) * g.size / metresPerDegree
	c := math.Cos(lat * math.Pi / 180)
	if c < 0.01 {
		c = 0.01
	}
	return metresPerDegree * c / g.size
}

func (g *grid[T]) key(lat, lon float64) cellKey {
	row := g.rowOf(lat)
	return cellKey{row, int32(math.Floor(lon * g.colScale(row)))}
}

func (g *grid[T]) add(lat, lon float64, v T) {
	k := g.key(lat, lon)
	g.cells[k] = append(g.cells[k], v)
}

func (g *grid[T]) remove(lat, lon float64, v T) {
	k := g.key(lat, lon)
	s := g.cells[k]
	for i, x := range s {
		if x == v {
			s[i] = s[len(s)-1]
			var zero T
			s[len(s)-1] = zero
			s = s[:len(s)-1]
			break
		}
	}
	if len(s) == 0 {
		delete(g.cells, k)
	} else {
		g.cells[k] = s
	}
}

// near calls f for every item in the cells within radius metres of (lat, lon)
// (a superset: callers check the distance).
func (g *grid[T]) near(lat, lon, radius float64, f func(T)) {
	dr := radius / metresPerDegree
	g.box(lat-dr, lon-dr/math.Max(math.Cos(lat*math.Pi/180), 0.01), lat+dr, lon+dr/math.Max(math.Cos(lat*math.Pi/180), 0.01), f)
}

// box calls f for every item in the cells overlapping the box (a superset).
func (g *grid[T]) box(south, west, north, east float64, f func(T)) {
	r0, r1 := g.rowOf(south), g.rowOf(north)
	cellsInBox := 0.0
	for row := r0; row <= r1; row++ {
		s := g.colScale(row)
		cellsInBox += math.Floor(east*s) - math.Floor(west*s) + 1
	}
	if cellsInBox > float64(len(g.cells)) {
		// A large box: walking the occupied cells is cheaper.
		for k, items := range g.cells {
			if k.row < r0 || k.row > r1 {
				continue
			}
			s := g.colScale(k.row)
			if k.col < int32(math.Floor(west*s)) || k.col > int32(math.Floor(east*s)) {
				continue
			}
			for _, v := range items {
				f(v)
			}
		}
		return
	}
	for row := r0; row <= r1; row++ {
		s := g.colScale(row)
		for col := int32(math.Floor(west * s)); col <= int32(math.Floor(east*s)); col++ {
			for _, v := range g.cells[cellKey{row, col}] {
				f(v)
			}
		}
	}
}

// distM is the distance in metres between two nearby points (equirectangular;
// exact enough below a few kilometres, and fast).
func distM(lat1, lon1, lat2, lon2 float64) float64 {
	x := lonDiff(lon2, lon1) * math.Cos((lat1+lat2)/2*math.Pi/180)
	y := lat2 - lat1
	return math.Hypot(x, y) * metresPerDegree
}

// lonDiff returns a-b wrapped into [-180, 180).
func lonDiff(a, b float64) float64 {
	d := a - b
	for d >= 180 {
		d -= 360
	}
	for d < -180 {
		d += 360
	}
	return d
}

func normLon(l float64) float64 { return lonDiff(l, 0) }
