package api

import (
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/camaudit/camaudit/geo"
	"github.com/camaudit/camaudit/hub/registry"
)

// Feature is an RFC 7946 GeoJSON feature.
type Feature struct {
	Type       string         `json:"type"`
	ID         string         `json:"id,omitempty"`
	Geometry   any            `json:"geometry"`
	Properties map[string]any `json:"properties"`
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

func cellPolygon(cell string) (Polygon, error) {
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

// cameraFeature renders a camera; withSightings adds the merged sighting ids.
func cameraFeature(c *registry.Camera, withSightings bool) Feature {
	p := map[string]any{
		"id": c.ID, "type": c.Type, "mount": c.Mount, "status": c.Status,
		"err_m": math.Round(c.ErrM*100) / 100, "confidence": math.Round(c.Confidence*1000) / 1000,
		"sightings": c.Sightings, "walks": c.Walks, "devices": c.Devices,
		"first_seen": ts(c.FirstSeen), "last_seen": ts(c.LastSeen),
	}
	if c.Direction != nil {
		p["direction"] = *c.Direction
	}
	if c.Review != "" {
		p["review"] = c.Review
	}
	if withSightings {
		p["sighting_ids"] = c.SightingIDs
	}
	return Feature{Type: "Feature", ID: c.ID, Geometry: point(c.Lat, c.Lon), Properties: p}
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
