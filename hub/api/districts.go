package api

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/camaudit/camaudit/geo"
	"github.com/camaudit/camaudit/hub/registry"
	"github.com/camaudit/camaudit/hub/store"
)

// polygons is a parsed Polygon or MultiPolygon: polygons of rings of
// [lon, lat]; the first ring of each polygon is its outline, the others holes.
type polygons [][][][2]float64

func parsePolygons(g json.RawMessage) (polygons, error) {
	var h struct {
		Type        string          `json:"type"`
		Coordinates json.RawMessage `json:"coordinates"`
	}
	if err := json.Unmarshal(g, &h); err != nil {
		return nil, fmt.Errorf("geometry: %v", err)
	}
	var out polygons
	switch h.Type {
	case "Polygon":
		var p [][][2]float64
		if err := json.Unmarshal(h.Coordinates, &p); err != nil {
			return nil, fmt.Errorf("Polygon coordinates: %v", err)
		}
		out = polygons{p}
	case "MultiPolygon":
		if err := json.Unmarshal(h.Coordinates, &out); err != nil {
			return nil, fmt.Errorf("MultiPolygon coordinates: %v", err)
		}
	default:
		return nil, fmt.Errorf("geometry type %q: want Polygon or MultiPolygon", h.Type)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s without coordinates", h.Type)
	}
	for _, p := range out {
		if len(p) == 0 {
			return nil, fmt.Errorf("a polygon without rings")
		}
		for _, ring := range p {
			if len(ring) < 4 {
				return nil, fmt.Errorf("a ring of %d positions: a closed ring needs at least 4", len(ring))
			}
			for _, c := range ring {
				if _, err := position(c[:]); err != nil {
					return nil, err
				}
			}
		}
	}
	return out, nil
}

// bbox returns west, south, east, north.
func (ps polygons) bbox() [4]float64 {
	b := [4]float64{180, 90, -180, -90}
	for _, p := range ps {
		for _, c := range p[0] {
			b[0], b[1] = math.Min(b[0], c[0]), math.Min(b[1], c[1])
			b[2], b[3] = math.Max(b[2], c[0]), math.Max(b[3], c[1])
		}
	}
	return b
}

func inRing(ring [][2]float64, lon, lat float64) bool {
	in := false
	for i, j := 0, len(ring)-1; i < len(ring); j, i = i, i+1 {
		xi, yi, xj, yj := ring[i][0], ring[i][1], ring[j][0], ring[j][1]
		if (yi > lat) != (yj > lat) && lon < (xj-xi)*(lat-yi)/(yj-yi)+xi {
			in = !in
		}
	}
	return in
}

func (ps polygons) contains(lon, lat float64) bool {
	for _, p := range ps {
		if !inRing(p[0], lon, lat) {
			continue
		}
		hole := false
		for _, h := range p[1:] {
			if inRing(h, lon, lat) {
				hole = true
				break
			}
		}
		if !hole {
			return true
		}
	}
	return false
}

// areaKm2 is the polygons' area on a local plane (good for city districts).
func (ps polygons) areaKm2() float64 {
	total := 0.0
	for _, p := range ps {
		for k, ring := range p {
			enu := geo.NewENU(geo.LatLon{Lat: ring[0][1], Lon: ring[0][0]})
			a := 0.0
			for i := 1; i < len(ring); i++ {
				x1, y1 := enu.ToLocal(geo.LatLon{Lat: ring[i-1][1], Lon: ring[i-1][0]})
				x2, y2 := enu.ToLocal(geo.LatLon{Lat: ring[i][1], Lon: ring[i][0]})
				a += x1*y2 - x2*y1
			}
			a = math.Abs(a) / 2
			if k > 0 {
				a = -a
			}
			total += a
		}
	}
	return total / 1e6
}

// uploadDistricts replaces the districts with a GeoJSON FeatureCollection of
// Polygon/MultiPolygon features; the name comes from properties.name.
func (s *Server) uploadDistricts(w http.ResponseWriter, r *http.Request) {
	var fc struct {
		Type     string `json:"type"`
		Features []struct {
			Type       string          `json:"type"`
			Geometry   json.RawMessage `json:"geometry"`
			Properties json.RawMessage `json:"properties"`
		} `json:"features"`
	}
	if err := s.readBody(w, r, 16*s.cfg.MaxBody, &fc); err != nil {
		writeError(w, http.StatusBadRequest, "districts: %v", err)
		return
	}
	if fc.Type != "FeatureCollection" {
		writeError(w, http.StatusBadRequest, "districts: type %q: want a GeoJSON FeatureCollection", clip(fc.Type))
		return
	}
	if len(fc.Features) == 0 || len(fc.Features) > 10_000 {
		writeError(w, http.StatusBadRequest, "districts: %d features: want 1 to 10000", len(fc.Features))
		return
	}
	ds := make([]store.District, 0, len(fc.Features))
	for i, f := range fc.Features {
		if _, err := parsePolygons(f.Geometry); err != nil {
			writeError(w, http.StatusBadRequest, "districts: feature %d: %v", i, err)
			return
		}
		var props map[string]any
		if len(f.Properties) > 0 && string(f.Properties) != "null" {
			if err := json.Unmarshal(f.Properties, &props); err != nil {
				writeError(w, http.StatusBadRequest, "districts: feature %d: properties: %v", i, err)
				return
			}
		}
		name := fmt.Sprintf("district %d", i+1)
		for _, k := range []string{"name", "Name", "NAME", "district", "DISTRICT"} {
			if v, ok := props[k]; ok && fmt.Sprint(v) != "" {
				name = fmt.Sprint(v)
				break
			}
		}
		ds = append(ds, store.District{Name: name, Geometry: f.Geometry, Properties: f.Properties})
	}
	if err := s.st.ReplaceDistricts(r.Context(), ds, time.Now()); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"districts": len(ds)})
}

// districts serves the uploaded districts with camera counts: total (not
// rejected), confirmed, by type, and cameras per km².
func (s *Server) districts(w http.ResponseWriter, r *http.Request) {
	f, err := filter(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	ds, err := s.st.Districts(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	fc := FeatureCollection{Type: "FeatureCollection", Features: make([]Feature, 0, len(ds))}
	for _, d := range ds {
		ps, err := parsePolygons(d.Geometry)
		if err != nil {
			continue // stored districts were validated on upload
		}
		props := map[string]any{}
		_ = json.Unmarshal(d.Properties, &props)
		if props == nil {
			props = map[string]any{}
		}
		ff := f
		b := ps.bbox()
		ff.BBox = &b
		ff.Limit = 0
		n, confirmed := 0, 0
		byType := map[string]int{}
		for _, c := range s.reg.Cameras(ff) {
			if !ps.contains(c.Lon, c.Lat) {
				continue
			}
			n++
			byType[c.Type]++
			if c.Status == registry.StatusConfirmed {
				confirmed++
			}
		}
		area := ps.areaKm2()
		props["name"] = d.Name
		props["cameras"] = n
		props["confirmed"] = confirmed
		props["by_type"] = byType
		props["area_km2"] = math.Round(area*1000) / 1000
		if area > 0 {
			props["cameras_per_km2"] = math.Round(float64(n)/area*100) / 100
		}
		fc.Features = append(fc.Features, Feature{Type: "Feature", ID: fmt.Sprint(d.ID), Geometry: d.Geometry, Properties: props})
	}
	writeGeoJSON(w, fc)
}
