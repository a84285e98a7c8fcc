package web

import (
	"bytes"
	"encoding/json"
	"io"
	"io/fs"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestServesPagesAndConfig(t *testing.T) {
	srv := httptest.NewServer(Handler(Config{Tiles: "http://127.0.0.1:1/{z}/{x}/{y}.png", Attribution: "test"}))
	defer srv.Close()
	for path, want := range map[string]string{
		"/":                           `id="counts"`,
		"/review.html":                `id="token"`,
		"/app.js":                     "api/cameras",
		"/vendor/leaflet/leaflet.js":  "Leaflet",
		"/vendor/leaflet/leaflet.css": ".leaflet-container",
		"/config.json":                `"tiles":"http://127.0.0.1:1/{z}/{x}/{y}.png"`,
	} {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("GET %s: %d, body lacks %q", path, resp.StatusCode, want)
		}
	}
	var cfg Config
	resp, err := srv.Client().Get(srv.URL + "/config.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&cfg); err != nil || cfg.Attribution != "test" {
		t.Errorf("config.json = %+v, %v", cfg, err)
	}
}

// TestVendoredLeafletMatchesNPM checks that the embedded Leaflet files are
// the ones npm installed (package-lock.json pins the version). `make setup`
// runs npm ci, whose postinstall (vendor.js) refreshes the copies.
func TestVendoredLeafletMatchesNPM(t *testing.T) {
	nm := filepath.Join("node_modules", "leaflet", "dist")
	if _, err := os.Stat(nm); err != nil {
		t.Fatalf("%s is missing: run `make setup` (npm ci in hub/web)", nm)
	}
	n := 0
	err := fs.WalkDir(Files(), "vendor/leaflet", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == "LICENSE" {
			return err
		}
		emb, _ := fs.ReadFile(Files(), path)
		npm, err := os.ReadFile(filepath.Join(nm, strings.TrimPrefix(path, "vendor/leaflet/")))
		if err != nil {
			return err
		}
		if !bytes.Equal(emb, npm) {
			t.Errorf("%s differs from node_modules: run `npm ci` in hub/web and commit static/vendor", path)
		}
		n++
		return nil
	})
	if err != nil || n < 7 {
		t.Fatalf("checked %d vendored files: %v", n, err)
	}
}
