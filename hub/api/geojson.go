package api

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/camaudit/camaudit/geo"
	"github.com/camaudit/camaudit/hub/registry"
)

// Feature is an RFC 7946 GeoJSON feature.
type Feature struct {
	Type       string `json:"type"`
	ID         string `json:"id,omitempty"`
	Geometry   any    `json:"geometry"`
	Properties any    `json:"properties"`
}

// FeatureCollection is an RFC 7946 GeoJSON feature collection.
type FeatureCollection struct {
	Type     string    `json:"type"`
	Features []Feature `json:"features"`
}

// Point is a GeoJSON Point.
type Point struct {
	Type        string     `json:"type"`
	Coordinates [2]float64 `json:"coordinates"`
}

// Polygon is a GeoJSON Polygon.
type Polygon struct {
	Type        string         `json:"type"`
	Coordinates [][][2]float64 `json:"coordinates"`
}

func round7(x float64) float64 { return math.Round(x*1e7) / 1e7 }

func point(lat, lon float64) Point {
	return Point{Type: "Point", Coordinates: [2]float64{round7(lon), round7(lat)}}
}

// cellPolygon returns a cell's outline as pre-encoded GeoJSON. Outlines
// never change, so they are computed once per cell and kept (a city has a
// few thousand walked cells).
func (s *Server) cellPolygon(cell string) (json.RawMessage, error) {
	if v, ok := s.polygons.Load(cell); ok {
		return v.(json.RawMessage), nil
	}
	p, err := cellOutline(cell)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	s.polygons.Store(cell, json.RawMessage(b))
	return b, nil
}

func cellOutline(cell string) (Polygon, error) {
	b, err := geo.CellBoundary(cell)
	if err != nil {
		return Polygon{}, err
	}
	ring := make([][2]float64, 0, len(b)+1)
	for _, p := range b {
		ring = append(ring, [2]float64{round7(p.Lon), round7(p.Lat)})
	}
	ring = append(ring, ring[0])
	return Polygon{Type: "Polygon", Coordinates: [][][2]float64{ring}}, nil
}

func ts(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// cameraProps are a camera feature's properties.
type cameraProps struct {
	ID          string   `json:"id"`
	Type        string   `json:"type"`
	Mount       string   `json:"mount"`
	Direction   *float64 `json:"direction,omitempty"`
	Status      string   `json:"status"`
	Review      string   `json:"review,omitempty"`
	ErrM        float64  `json:"err_m"`
	Confidence  float64  `json:"confidence"`
	Sightings   int      `json:"sightings"`
	Walks       int      `json:"walks"`
	Devices     int      `json:"devices"`
	FirstSeen   string   `json:"first_seen"`
	LastSeen    string   `json:"last_seen"`
	Cell        string   `json:"cell"`
	SightingIDs []string `json:"sighting_ids,omitempty"`
}

// cameraFeature renders a camera; withSightings adds the merged sighting ids.
func cameraFeature(c *registry.Camera, withSightings bool) Feature {
	p := cameraProps{
		ID: c.ID, Type: c.Type, Mount: c.Mount, Direction: c.Direction, Status: c.Status, Review: c.Review,
		ErrM: math.Round(c.ErrM*100) / 100, Confidence: math.Round(c.Confidence*1000) / 1000,
		Sightings: c.Sightings, Walks: c.Walks, Devices: c.Devices,
		FirstSeen: ts(c.FirstSeen), LastSeen: ts(c.LastSeen), Cell: c.Cell,
	}
	if withSightings {
		p.SightingIDs = c.SightingIDs
	}
	return Feature{Type: "Feature", ID: c.ID, Geometry: point(c.Lat, c.Lon), Properties: p}
}

// writeCameras streams a FeatureCollection of cameras: one feature at a time
// through a buffer, so 100,000 cameras need no 100,000-element slice.
func writeCameras(w http.ResponseWriter, cams []*registry.Camera) {
	w.Header().Set("Content-Type", "application/geo+json")
	bw := bufio.NewWriterSize(w, 256<<10)
	defer bw.Flush()
	bw.WriteString(`{"type":"FeatureCollection","features":[`)
	enc := json.NewEncoder(bw)
	for i, c := range cams {
		if i > 0 {
			bw.WriteByte(',')
		}
		if err := enc.Encode(cameraFeature(c, false)); err != nil {
			return
		}
	}
	bw.WriteString("]}\n")
}

// geometry is a parsed GeoJSON geometry of the kinds the API accepts.
type geometry struct {
	Type        string          `json:"type"`
	Coordinates json.RawMessage `json:"coordinates"`
	Geometry    json.RawMessage `json:"geometry"` // when a Feature was given
	Features    []struct {
		Geometry   json.RawMessage `json:"geometry"`
		Properties json.RawMessage `json:"properties"`
	} `json:"features"`
}

// parseLineString accepts a LineString geometry, a Feature holding one, or a
// FeatureCollection with exactly one LineString feature.
func parseLineString(raw json.RawMessage) ([]geo.LatLon, error) {
	var g geometry
	if err := json.Unmarshal(raw, &g); err != nil {
		return nil, fmt.Errorf("not GeoJSON: %v", err)
	}
	switch g.Type {
	case "Feature":
		if len(g.Geometry) == 0 {
			return nil, fmt.Errorf("the Feature has no geometry")
		}
		return parseLineString(g.Geometry)
	case "FeatureCollection":
		if len(g.Features) != 1 {
			return nil, fmt.Errorf("a FeatureCollection with %d features: send one LineString", len(g.Features))
		}
		return parseLineString(g.Features[0].Geometry)
	case "LineString":
		var cs [][]float64
		if err := json.Unmarshal(g.Coordinates, &cs); err != nil {
			return nil, fmt.Errorf("LineString coordinates: %v", err)
		}
		if len(cs) < 2 {
			return nil, fmt.Errorf("a LineString needs at least 2 positions, got %d", len(cs))
		}
		if len(cs) > 100_000 {
			return nil, fmt.Errorf("a LineString of %d positions is too long (limit 100000)", len(cs))
		}
		pts := make([]geo.LatLon, len(cs))
		for i, c := range cs {
			p, err := position(c)
			if err != nil {
				return nil, fmt.Errorf("position %d: %v", i, err)
			}
			pts[i] = p
		}
		return pts, nil
	default:
		return nil, fmt.Errorf("geometry type %q: want a LineString", g.Type)
	}
}

func position(c []float64) (geo.LatLon, error) {
	if len(c) < 2 {
		return geo.LatLon{}, fmt.Errorf("a position needs longitude and latitude")
	}
	lon, lat := c[0], c[1]
	if math.IsNaN(lat) || math.IsNaN(lon) || lat < -90 || lat > 90 || lon < -180 || lon > 180 {
		return geo.LatLon{}, fmt.Errorf("[%v, %v] is not a longitude, latitude pair", lon, lat)
	}
	return geo.LatLon{Lat: lat, Lon: lon}, nil
}
