package sim

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/camaudit/camaudit/internal/hostile"
)

// FuzzParseScenario feeds arbitrary bytes to the scenario parser. It must
// not panic or hang; an error names the file; an accepted scenario has a
// route, a device and only finite numbers (a NaN speed or an infinite
// street would reach the renderer).
//
//	go test -run '^$' -fuzz FuzzParseScenario -fuzztime 1m ./sim
func FuzzParseScenario(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	more, _ := filepath.Glob(filepath.Join("..", "firmware", "testdata", "walk22*.yaml"))
	var quick []byte
	for _, p := range append(files, more...) {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		if strings.HasSuffix(p, "quick.yaml") {
			quick = b
		}
	}
	for _, r := range []struct{ old, new string }{
		{"speed_mps: 1.5", "speed_mps: .nan"},
		{"road_width_m: 8", "road_width_m: .inf"},
		{"[30, -5.5]", "[1e999, -5.5]"},
		{"s_m: 30", "s_m: -.inf"},
		{"height_m: 4}", "height_m: .NaN}"},
		{"fps: 5", "fps: 1e-300"},
		{"sigma_m: 3", "sigma_m: *x"},
		{"seed: 7", "seed: &x 7"},
		{"hfov_deg: 66", "hfov_deg: !!str 66"},
		{"cameras:", "cameras: &c\n  - *c\ncams2:"},
	} {
		f.Add([]byte(strings.Replace(string(quick), r.old, r.new, 1)))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sc, err := ParseScenario("fuzz.yaml", data)
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if p := hostile.NonFinite(sc); p != "" {
			t.Fatalf("accepted a non-finite number at %s", p)
		}
		if len(sc.Route.Points)+len(sc.Route.LatLon) < 2 || sc.Device.Width < 64 || sc.Device.FPS <= 0 {
			t.Fatalf("accepted an incomplete scenario: route %+v device %+v", sc.Route, sc.Device)
		}
	})
}
