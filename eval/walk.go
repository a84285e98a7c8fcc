package eval

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"

	"github.com/camaudit/camaudit/geo"
)

// MatchRadiusM is how close a sighting must be to a true camera to count as
// the same camera.
const MatchRadiusM = 10

// Point is one camera, true or found: a GeoJSON Point feature's position
// with its id and type properties.
type Point struct {
	ID   string
	Type string
	Pos  geo.LatLon
	ErrM float64 // the sighting's own error estimate (0 for truth)
}

// ReadPoints reads a GeoJSON FeatureCollection of Point features (the
// simulator's truth.geojson, or the sightings.geojson written by replay).
// Features of other geometry types are an error naming the file and feature.
func ReadPoints(path string) ([]Point, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	var fc struct {
		Type     string `json:"type"`
		Features []struct {
			Type     string `json:"type"`
			Geometry *struct {
				Type        string    `json:"type"`
				Coordinates []float64 `json:"coordinates"`
			} `json:"geometry"`
			Properties map[string]any `json:"properties"`
		} `json:"features"`
	}
	if err := json.Unmarshal(data, &fc); err != nil {
		return nil, fmt.Errorf("reading %s: not GeoJSON: %w", path, err)
	}
	if fc.Type != "FeatureCollection" {
		return nil, fmt.Errorf("reading %s: type %q, want FeatureCollection", path, fc.Type)
	}
	out := make([]Point, 0, len(fc.Features))
	for i, f := range fc.Features {
		if f.Geometry == nil || f.Geometry.Type != "Point" || len(f.Geometry.Coordinates) < 2 {
			return nil, fmt.Errorf("reading %s: feature %d is not a Point with coordinates", path, i)
		}
		p := Point{Pos: geo.LatLon{Lon: f.Geometry.Coordinates[0], Lat: f.Geometry.Coordinates[1]}}
		if p.Pos.Lat < -90 || p.Pos.Lat > 90 || p.Pos.Lon < -180 || p.Pos.Lon > 180 {
			return nil, fmt.Errorf("reading %s: feature %d: coordinates %v out of range (want [lon, lat])", path, i, f.Geometry.Coordinates)
		}
		if s, ok := f.Properties["id"].(string); ok {
			p.ID = s
		}
		if s, ok := f.Properties["type"].(string); ok {
			p.Type = s
		}
		if v, ok := f.Properties["err_m"].(float64); ok {
			p.ErrM = v
		}
		out = append(out, p)
	}
	return out, nil
}

// typePenaltyM is added to the matching cost of a pair of different camera
// types, so that among near-equal assignments the one keeping types wins.
// Reported errors are distances, without it.
const typePenaltyM = 2

// Match pairs a true camera with the sighting that found it.
type Match struct {
	Truth    string  `json:"truth"`
	Sighting string  `json:"sighting"`
	ErrorM   float64 `json:"error_m"`
	SameType bool    `json:"same_type"`
}

// WalkResult is the evaluation of one walk's sightings against the truth.
type WalkResult struct {
	Truth        int     `json:"truth"`
	Found        int     `json:"found"`
	Matched      int     `json:"matched"`
	Missed       int     `json:"missed"`
	False        int     `json:"false"`
	Precision    float64 `json:"precision"`
	Recall       float64 `json:"recall"`
	CountError   float64 `json:"count_error"` // |found - truth| / truth
	MedianErrorM float64 `json:"median_error_m"`
	P90ErrorM    float64 `json:"p90_error_m"`
	MeanErrorM   float64 `json:"mean_error_m"`
	TypeAccuracy float64 `json:"type_accuracy"` // share of matches with the right type
	// ErrCoverage is the share of matches whose error is within twice the
	// sighting's own 1-sigma estimate (is err_m honest?).
	ErrCoverage float64  `json:"err_coverage"`
	MissedIDs   []string `json:"missed_ids"`
	FalseIDs    []string `json:"false_ids"`
	Matches     []Match  `json:"matches"`
}

// Walk matches sightings to true cameras one-to-one, each pair closer than
// MatchRadiusM, choosing the assignment with the most pairs and, among
// those, the least total distance (the Hungarian method), and computes
// precision, recall, count error and position error percentiles. Among
// near-equal assignments, pairs of the same camera type are preferred.
func Walk(truth, found []Point) WalkResult {
	r := WalkResult{Truth: len(truth), Found: len(found), MissedIDs: []string{}, FalseIDs: []string{}, Matches: []Match{}}
	n := max(len(truth), len(found))
	const big = 1e6
	cost := make([][]float64, n)
	for i := range cost {
		cost[i] = make([]float64, n)
		for j := range cost[i] {
			cost[i][j] = big
			if i < len(truth) && j < len(found) {
				if d := geo.Distance(truth[i].Pos, found[j].Pos); d <= MatchRadiusM {
					cost[i][j] = d
					if truth[i].Type != found[j].Type {
						cost[i][j] += typePenaltyM // prefer the same camera type when it is a close call
					}
				}
			}
		}
	}
	assign := hungarian(cost)
	usedF := make([]bool, len(found))
	var errs []float64
	typeOK, covered := 0, 0
	for i := 0; i < len(truth); i++ {
		j := assign[i]
		if j < 0 || j >= len(found) || cost[i][j] >= big {
			r.MissedIDs = append(r.MissedIDs, truth[i].ID)
			continue
		}
		usedF[j] = true
		d := geo.Distance(truth[i].Pos, found[j].Pos)
		m := Match{Truth: truth[i].ID, Sighting: found[j].ID, ErrorM: math.Round(d*100) / 100, SameType: truth[i].Type == found[j].Type}
		r.Matches = append(r.Matches, m)
		errs = append(errs, d)
		if m.SameType {
			typeOK++
		}
		if found[j].ErrM > 0 && d <= 2*found[j].ErrM {
			covered++
		}
	}
	for j, u := range usedF {
		if !u {
			r.FalseIDs = append(r.FalseIDs, found[j].ID)
		}
	}
	r.Matched = len(r.Matches)
	r.Missed = r.Truth - r.Matched
	r.False = r.Found - r.Matched
	if r.Found > 0 {
		r.Precision = float64(r.Matched) / float64(r.Found)
	}
	if r.Truth > 0 {
		r.Recall = float64(r.Matched) / float64(r.Truth)
		r.CountError = math.Abs(float64(r.Found-r.Truth)) / float64(r.Truth)
	}
	if len(errs) > 0 {
		sort.Float64s(errs)
		r.MedianErrorM = percentile(errs, 0.5)
		r.P90ErrorM = percentile(errs, 0.9)
		var s float64
		for _, e := range errs {
			s += e
		}
		r.MeanErrorM = s / float64(len(errs))
		r.TypeAccuracy = float64(typeOK) / float64(len(errs))
		r.ErrCoverage = float64(covered) / float64(len(errs))
	}
	return r
}

// percentile interpolates linearly in a sorted slice.
func percentile(sorted []float64, q float64) float64 {
	if len(sorted) == 1 {
		return sorted[0]
	}
	pos := q * float64(len(sorted)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(sorted)-1)
	f := pos - float64(lo)
	return sorted[lo]*(1-f) + sorted[hi]*f
}

// hungarian solves the square assignment problem (minimum total cost) and
// returns, for each row, its column.
func hungarian(a [][]float64) []int {
	n := len(a)
	if n == 0 {
		return nil
	}
	inf := math.Inf(1)
	u := make([]float64, n+1)
	v := make([]float64, n+1)
	p := make([]int, n+1) // p[j]: row assigned to column j (1-based)
	way := make([]int, n+1)
	for i := 1; i <= n; i++ {
		p[0] = i
		j0 := 0
		minv := make([]float64, n+1)
		used := make([]bool, n+1)
		for j := range minv {
			minv[j] = inf
		}
		for {
			used[j0] = true
			i0, delta, j1 := p[j0], inf, 0
			for j := 1; j <= n; j++ {
				if used[j] {
					continue
				}
				cur := a[i0-1][j-1] - u[i0] - v[j]
				if cur < minv[j] {
					minv[j], way[j] = cur, j0
				}
				if minv[j] < delta {
					delta, j1 = minv[j], j
				}
			}
			for j := 0; j <= n; j++ {
				if used[j] {
					u[p[j]] += delta
					v[j] -= delta
				} else {
					minv[j] -= delta
				}
			}
			j0 = j1
			if p[j0] == 0 {
				break
			}
		}
		for {
			j1 := way[j0]
			p[j0] = p[j1]
			j0 = j1
			if j0 == 0 {
				break
			}
		}
	}
	ans := make([]int, n)
	for j := 1; j <= n; j++ {
		if p[j] > 0 {
			ans[p[j]-1] = j - 1
		}
	}
	return ans
}
