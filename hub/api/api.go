// Package api serves the hub's HTTP interface: the camera registry, density
// per H3 cell, coverage, statistics, districts and route exposure as JSON and
// RFC 7946 GeoJSON, the exports (GeoJSON, CSV, OSM XML for review in JOSM),
// the review endpoints behind a bearer token, and /healthz.
//
// The public API is read-only. Everything that changes state (reviews,
// district uploads) needs "Authorization: Bearer <token>", compared in
// constant time. Request bodies are size-limited.
package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/camaudit/camaudit/hub/registry"
	"github.com/camaudit/camaudit/hub/store"
)

// Store is what the API reads from and writes to (a *store.Store).
type Store interface {
	Coverage(ctx context.Context) ([]store.CellCoverage, error)
	Counts(ctx context.Context) ([]store.CellCounts, error)
	Counters(ctx context.Context) (store.Counters, error)
	Devices(ctx context.Context) ([]store.Device, error)
	Walks(ctx context.Context) (int, error)
	CellsWalked(ctx context.Context) (int, error)
	AddReview(ctx context.Context, r store.Review) (store.Review, error)
	ReplaceDistricts(ctx context.Context, ds []store.District, now time.Time) error
	Districts(ctx context.Context) ([]store.District, error)
	Ping(ctx context.Context) error
}

// Config configures the API.
type Config struct {
	// Token guards the review and upload endpoints. Empty disables them.
	Token string
	// MaxBody caps request bodies in bytes (default 1 MiB; district uploads
	// may be 16 times larger).
	MaxBody int64
	// Synced, if set, is called after a review is stored and must return
	// once the registry has applied it (the hub's follower does that).
	Synced func(ctx context.Context) error
	// Health, if set, adds fields to /healthz (e.g. the ingest's state).
	Health func() map[string]any
	// Logger receives request errors.
	Logger *slog.Logger
}

// Server is the HTTP API.
type Server struct {
	reg *registry.Registry
	st  Store
	cfg Config
	mux *http.ServeMux

	polygons sync.Map // H3 cell -> json.RawMessage outline
}

// New returns the API over a registry and a store.
func New(reg *registry.Registry, st Store, cfg Config) *Server {
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 1 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{reg: reg, st: st, cfg: cfg, mux: http.NewServeMux()}
	s.routes()
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *Server) routes() {
	m := s.mux
	m.HandleFunc("GET /healthz", s.healthz)
	m.HandleFunc("GET /api/cameras", s.cameras)
	m.HandleFunc("GET /api/cameras/{id}", s.camera)
	m.HandleFunc("POST /api/cameras/{id}/review", s.auth(s.review))
	m.HandleFunc("GET /api/cells", s.cells)
	m.HandleFunc("GET /api/coverage", s.coverage)
	m.HandleFunc("GET /api/stats", s.stats)
	m.HandleFunc("GET /api/devices", s.devices)
	m.HandleFunc("GET /api/districts", s.districts)
	m.HandleFunc("POST /api/districts", s.auth(s.uploadDistricts))
	m.HandleFunc("POST /api/exposure", s.exposure)
	m.HandleFunc("GET /api/auth", s.auth(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"ok": true})
	}))
	m.HandleFunc("GET /export/cameras.geojson", s.exportGeoJSON)
	m.HandleFunc("GET /export/cameras.csv", s.exportCSV)
	m.HandleFunc("GET /export/cameras.osm", s.exportOSM)
	m.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		if allow := s.allowed(r); len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeError(w, http.StatusMethodNotAllowed, "%s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, strings.Join(allow, ", "))
			return
		}
		writeError(w, http.StatusNotFound, "no such API endpoint: %s %s", r.Method, r.URL.Path)
	})
}

// allowed returns the methods an API path answers to, so that a write to a
// read-only endpoint is refused with 405 rather than "not found".
func (s *Server) allowed(r *http.Request) []string {
	var out []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost} {
		r2 := r.Clone(r.Context())
		r2.Method = m
		if _, pattern := s.mux.Handler(r2); pattern != "" && pattern != "/api/" {
			out = append(out, m)
		}
	}
	return out
}

// auth wraps a handler that needs the bearer token.
func (s *Server) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.Token == "" {
			writeError(w, http.StatusForbidden, "reviews are disabled: the hub was started without a token")
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		// Hashing first makes the comparison constant-time in the length too.
		a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(s.cfg.Token))
		if !ok || subtle.ConstantTimeCompare(a[:], b[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="camaudit-hub"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
		h(w, r)
	}
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	cams, sightings := s.reg.Len()
	out := map[string]any{"status": "ok", "cameras": cams, "sightings": sightings}
	code := http.StatusOK
	if err := s.st.Ping(ctx); err != nil {
		out["status"], out["db"] = "degraded", err.Error()
		code = http.StatusServiceUnavailable
	} else {
		out["db"] = "ok"
	}
	if s.cfg.Health != nil {
		for k, v := range s.cfg.Health() {
			out[k] = v
		}
	}
	writeJSON(w, code, out)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v)
}

func writeGeoJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/geo+json")
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, format string, a ...any) {
	writeJSON(w, code, map[string]string{"error": fmt.Sprintf(format, a...)})
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	s.cfg.Logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	writeError(w, http.StatusInternalServerError, "%v", err)
}

// readBody reads a size-limited body, with a clear error when it is too big.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return fmt.Errorf("request body is larger than %d bytes", limit)
		}
		return fmt.Errorf("request body is not valid JSON: %v", err)
	}
	return nil
}

// filter parses the camera filters shared by /api/cameras and the exports:
// bbox=west,south,east,north; type=a,b; status=a,b|all (default: all but
// rejected); limit=N.
func filter(r *http.Request) (registry.Filter, error) {
	var f registry.Filter
	q := r.URL.Query()
	if v := q.Get("bbox"); v != "" {
		parts := strings.Split(v, ",")
		if len(parts) != 4 {
			return f, fmt.Errorf("bbox %q: want west,south,east,north", v)
		}
		var b [4]float64
		for i, p := range parts {
			x, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
			if err != nil || x != x {
				return f, fmt.Errorf("bbox %q: %q is not a number", v, p)
			}
			b[i] = x
		}
		if b[1] < -90 || b[3] > 90 || b[1] > b[3] || b[0] < -180 || b[2] > 180 {
			return f, fmt.Errorf("bbox %q: want west,south,east,north within ±180, ±90 and south ≤ north", v)
		}
		f.BBox = &b
	}
	if v := q.Get("type"); v != "" {
		for _, t := range strings.Split(v, ",") {
			if !oneOf(t, "dome", "bullet", "ptz", "alpr", "unknown") {
				return f, fmt.Errorf("type %q is not one of dome, bullet, ptz, alpr, unknown", t)
			}
			f.Types = append(f.Types, t)
		}
	}
	switch v := q.Get("status"); v {
	case "":
		f.Statuses = []string{registry.StatusSingle, registry.StatusConfirmed}
	case "all":
	default:
		for _, st := range strings.Split(v, ",") {
			if !oneOf(st, registry.StatusSingle, registry.StatusConfirmed, registry.StatusRejected) {
				return f, fmt.Errorf("status %q is not one of single, confirmed, rejected, all", st)
			}
			f.Statuses = append(f.Statuses, st)
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return f, fmt.Errorf("limit %q is not a non-negative integer", v)
		}
		f.Limit = n
	}
	return f, nil
}

func oneOf(v string, set ...string) bool {
	for _, s := range set {
		if v == s {
			return true
		}
	}
	return false
}
