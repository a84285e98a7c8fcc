// Package web serves the hub's map and review page: static HTML, CSS and
// JavaScript with Leaflet (installed from npm, copied into static/vendor by
// vendor.js during `npm ci`), all embedded in the binary, plus config.json
// carrying the tile server settings.
package web

import (
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// DefaultTiles is OpenStreetMap's standard tile layer.
const DefaultTiles = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"

// DefaultAttribution is the attribution OpenStreetMap's tile policy asks for.
const DefaultAttribution = `&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors`

// Config is what the browser needs to know.
type Config struct {
	// Tiles is a Leaflet tile URL template; empty draws no base map (every
	// camaudit layer is vector and works without one).
	Tiles string `json:"tiles"`
	// Attribution is shown with the tiles.
	Attribution string `json:"attribution"`
	// Lat, Lon and Zoom are the initial view before data is loaded.
	Lat  float64 `json:"lat,omitempty"`
	Lon  float64 `json:"lon,omitempty"`
	Zoom int     `json:"zoom,omitempty"`
}

// Files returns the embedded web files (rooted at the web root).
func Files() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embed pattern guarantees the directory
	}
	return sub
}

// Handler serves the web files and /config.json.
func Handler(cfg Config) http.Handler {
	mux := http.NewServeMux()
	conf, _ := json.Marshal(cfg)
	mux.HandleFunc("GET /config.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-cache")
		w.Write(conf)
	})
	files := http.FileServerFS(Files())
	mux.Handle("GET /", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		files.ServeHTTP(w, r)
	}))
	return mux
}
