package api

import (
	"errors"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/camaudit/camaudit/geo"
	"github.com/camaudit/camaudit/hub/registry"
	"github.com/camaudit/camaudit/hub/store"
	"github.com/camaudit/camaudit/wire"
)

func (s *Server) cameras(w http.ResponseWriter, r *http.Request) {
	f, err := filter(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	writeCameras(w, s.reg.Cameras(f))
}

func (s *Server) camera(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	c, ok := s.reg.Camera(id)
	if !ok {
		writeError(w, http.StatusNotFound, "no camera %q", clip(id))
		return
	}
	writeGeoJSON(w, cameraFeature(c, true))
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

func (s *Server) review(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	c, ok := s.reg.Camera(id)
	if !ok {
		writeError(w, http.StatusNotFound, "no camera %q", clip(id))
		return
	}
	var body struct {
		Decision string `json:"decision"`
		Note     string `json:"note"`
	}
	if err := s.readBody(w, r, 64<<10, &body); err != nil {
		writeError(w, http.StatusBadRequest, "review of %s: %v", c.ID, err)
		return
	}
	if !oneOf(body.Decision, store.DecisionConfirm, store.DecisionReject, store.DecisionClear) {
		writeError(w, http.StatusBadRequest, "review of %s: decision %q is not confirm, reject or clear", c.ID, clip(body.Decision))
		return
	}
	if len(body.Note) > 1000 {
		writeError(w, http.StatusBadRequest, "review of %s: note is longer than 1000 bytes", c.ID)
		return
	}
	rev, err := s.st.AddReview(r.Context(), store.Review{Camera: c.ID, Decision: body.Decision, Note: body.Note, At: time.Now()})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if s.cfg.Synced != nil {
		if err := s.cfg.Synced(r.Context()); err != nil {
			s.fail(w, r, err)
			return
		}
	} else {
		s.reg.Review(rev.Camera, rev.Decision, rev.Seq)
	}
	c, _ = s.reg.Camera(c.ID)
	writeGeoJSON(w, cameraFeature(c, true))
}

// cells serves density per H3 cell: cameras by type in every cell that has
// cameras or was walked, so that a zero can be told from "never looked".
// res=7..9 aggregates to coarser cells (default 9).
func (s *Server) cells(w http.ResponseWriter, r *http.Request) {
	res := geo.CellRes
	if v := r.URL.Query().Get("res"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 5 || n > geo.CellRes {
			writeError(w, http.StatusBadRequest, "res %q: want an H3 resolution from 5 to %d", v, geo.CellRes)
			return
		}
		res = n
	}
	f, err := filter(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	cov, err := s.st.Coverage(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	counts, err := s.st.Counts(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	type agg struct {
		cameras, confirmed int
		byType             map[string]int
		walks              int
		first, last        time.Time
		reported           int
	}
	cells := map[string]*agg{}
	get := func(c string) *agg {
		a := cells[c]
		if a == nil {
			a = &agg{byType: map[string]int{}}
			cells[c] = a
		}
		return a
	}
	parent := func(c string) string {
		if res == geo.CellRes {
			return c
		}
		p, err := geo.CellCenter(c)
		if err != nil {
			return ""
		}
		return geo.Cell(p, res)
	}
	for _, c := range s.reg.Cameras(f) {
		cell := c.Cell
		if res != geo.CellRes {
			cell = geo.Cell(geo.LatLon{Lat: c.Lat, Lon: c.Lon}, res)
		}
		a := get(cell)
		a.cameras++
		a.byType[c.Type]++
		if c.Status == registry.StatusConfirmed {
			a.confirmed++
		}
	}
	for _, c := range cov {
		if f.BBox != nil {
			ctr, err := geo.CellCenter(c.Cell)
			if err != nil || !inBox(f.BBox, ctr) {
				continue
			}
		}
		p := parent(c.Cell)
		if p == "" {
			continue
		}
		a := get(p)
		if c.Walks > a.walks {
			a.walks = c.Walks // at coarser res: the most-walked child cell
		}
		if a.first.IsZero() || c.First.Before(a.first) {
			a.first = c.First
		}
		if c.Last.After(a.last) {
			a.last = c.Last
		}
	}
	for _, c := range counts {
		if p := parent(c.Cell); p != "" && cells[p] != nil {
			cells[p].reported = max(cells[p].reported, c.MaxSeen)
		}
	}
	keys := make([]string, 0, len(cells))
	for k := range cells {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fc := FeatureCollection{Type: "FeatureCollection", Features: make([]Feature, 0, len(keys))}
	for _, k := range keys {
		a := cells[k]
		poly, err := s.cellPolygon(k)
		if err != nil {
			continue
		}
		p := map[string]any{"cell": k, "res": res, "cameras": a.cameras, "confirmed": a.confirmed,
			"by_type": a.byType, "walks": a.walks, "covered": a.walks > 0}
		if a.walks > 0 {
			p["first_walked"], p["last_walked"] = ts(a.first), ts(a.last)
		}
		if a.reported > 0 {
			p["device_counts_max"] = a.reported
		}
		fc.Features = append(fc.Features, Feature{Type: "Feature", ID: k, Geometry: poly, Properties: p})
	}
	writeGeoJSON(w, fc)
}

// coverage serves the walked cells with walk counts and dates.
func (s *Server) coverage(w http.ResponseWriter, r *http.Request) {
	cov, err := s.st.Coverage(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	fc := FeatureCollection{Type: "FeatureCollection", Features: make([]Feature, 0, len(cov))}
	for _, c := range cov {
		poly, err := s.cellPolygon(c.Cell)
		if err != nil {
			continue
		}
		fc.Features = append(fc.Features, Feature{Type: "Feature", ID: c.Cell, Geometry: poly, Properties: map[string]any{
			"cell": c.Cell, "walks": c.Walks, "devices": c.Devices, "first_walked": ts(c.First), "last_walked": ts(c.Last),
		}})
	}
	writeGeoJSON(w, fc)
}

// stats serves totals: cameras (not rejected), rejected messages by reason,
// and breakdowns by status, type, device and day.
func (s *Server) stats(w http.ResponseWriter, r *http.Request) {
	st := s.reg.Stats()
	ctr, err := s.st.Counters(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	walks, err := s.st.Walks(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	cellsWalked, err := s.st.CellsWalked(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var rejected int64
	for _, n := range ctr.Rejected {
		rejected += n
	}
	byDay := map[string]map[string]any{}
	for d, ds := range st.ByDay {
		byDay[d] = map[string]any{"sightings": ds.Sightings, "new_cameras": ds.NewCameras}
	}
	for d, names := range ctr.ByDay {
		if byDay[d] == nil {
			byDay[d] = map[string]any{"sightings": 0, "new_cameras": 0}
		}
		var rej int64
		for name, n := range names {
			if strings.HasPrefix(name, "reject:") {
				rej += n
			}
		}
		byDay[d]["rejected_messages"] = rej
	}
	byType := map[string]int{}
	for _, t := range wire.CameraTypes {
		byType[t] = st.ByType[t]
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"cameras":                 st.Cameras,
		"cameras_by_status":       st.ByStatus,
		"cameras_by_type":         byType,
		"sightings":               st.Sightings,
		"duplicates":              ctr.Duplicates,
		"accepted_messages":       ctr.Accepted,
		"rejected_messages":       ctr.Rejected,
		"rejected_messages_total": rejected,
		"walks":                   walks,
		"cells_walked":            cellsWalked,
		"by_device":               st.ByDevice,
		"by_day":                  byDay,
	})
}

func (s *Server) devices(w http.ResponseWriter, r *http.Request) {
	ds, err := s.st.Devices(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]map[string]any, 0, len(ds))
	for _, d := range ds {
		m := map[string]any{"device": d.Device, "status": d.Status, "last_seen": ts(d.LastSeen), "walks": d.Walks}
		if d.Telemetry != nil {
			m["telemetry"] = d.Telemetry
		}
		out = append(out, m)
	}
	writeJSON(w, http.StatusOK, map[string]any{"devices": out})
}

// exposure answers "how much of this route is within R metres of a camera".
// Body: a GeoJSON LineString (or a Feature / FeatureCollection holding one).
// Query: radius (metres, default 200), and the camera filters of /api/cameras.
func (s *Server) exposure(w http.ResponseWriter, r *http.Request) {
	radius := 200.0
	if v := r.URL.Query().Get("radius"); v != "" {
		x, err := strconv.ParseFloat(v, 64)
		if err != nil || !(x > 0 && x <= 5000) {
			writeError(w, http.StatusBadRequest, "radius %q: want metres in (0, 5000]", v)
			return
		}
		radius = x
	}
	f, err := filter(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	var raw jsonRaw
	if err := s.readBody(w, r, s.cfg.MaxBody, &raw); err != nil {
		writeError(w, http.StatusBadRequest, "route: %v", err)
		return
	}
	pts, err := parseLineString(raw.RawMessage)
	if err != nil {
		writeError(w, http.StatusBadRequest, "route: %v", err)
		return
	}
	if geo.PathLength(pts) > 200_000 {
		writeError(w, http.StatusBadRequest, "route: longer than 200 km")
		return
	}
	e := Exposure(pts, radius, func(b [4]float64) []*registry.Camera {
		ff := f
		ff.BBox = &b
		ff.Limit = 0
		return s.reg.Cameras(ff)
	})
	share := 0.0
	if e.LengthM > 0 {
		share = e.ExposedM / e.LengthM
	}
	segs := make([][][2]float64, len(e.Segments))
	for i, sg := range e.Segments {
		segs[i] = [][2]float64{{round7(sg[0].Lon), round7(sg[0].Lat)}, {round7(sg[1].Lon), round7(sg[1].Lat)}}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"radius_m":  radius,
		"length_m":  math.Round(e.LengthM*10) / 10,
		"exposed_m": math.Round(e.ExposedM*10) / 10,
		"share":     math.Round(share*10000) / 10000,
		"cameras":   len(e.Cameras),
		"exposed": map[string]any{
			"type":        "MultiLineString",
			"coordinates": segs,
		},
	})
}

type jsonRaw struct{ RawMessage []byte }

func (j *jsonRaw) UnmarshalJSON(b []byte) error {
	if len(b) == 0 {
		return errors.New("empty body")
	}
	j.RawMessage = append([]byte(nil), b...)
	return nil
}

// inBox reports whether p lies in a west, south, east, north box.
func inBox(b *[4]float64, p geo.LatLon) bool {
	if p.Lat < b[1] || p.Lat > b[3] {
		return false
	}
	if b[0] <= b[2] {
		return p.Lon >= b[0] && p.Lon <= b[2]
	}
	return p.Lon >= b[0] || p.Lon <= b[2]
}
