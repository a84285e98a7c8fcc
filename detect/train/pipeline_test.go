package train

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestPythonPipeline runs the training pipeline's own unit tests
// (test_pipeline.py: model layout, ONNX export and OpenCV parity, assignment
// and loss, augmentation, metrics, a tiny train.py run with a time budget and
// a resume, the model card's text) so that `make test` guards the Python side
// too, not only `make model`. PYTHON names the interpreter (default
// /usr/bin/python3, which `make setup` gives Debian's python3-torch).
func TestPythonPipeline(t *testing.T) {
	py := os.Getenv("PYTHON")
	if py == "" {
		py = "/usr/bin/python3"
	}
	cmd := exec.Command(py, "-m", "unittest", "-q", "test_pipeline")
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s -m unittest test_pipeline: %v\n%s", py, err, out)
	}
	t.Logf("%s", out)
}

// TestWalkFrames renders a random training walk with a real camaudit
// (walks.py → camaudit sim walk) and checks the frames and YOLO labels it
// keeps: labels parse, name the four classes and lie inside the image; the
// same seed gives the same labels; and --walk, run on the same walk rendered
// by hand, keeps the same frames with the same labels.
func TestWalkFrames(t *testing.T) {
	py := os.Getenv("PYTHON")
	if py == "" {
		py = "/usr/bin/python3"
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "camaudit")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/camaudit")
	build.Env = hostEnv()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/camaudit: %v\n%s", err, out)
	}
	walks := func(out string, args ...string) {
		t.Helper()
		cmd := exec.Command(py, append([]string{"walks.py", "--camaudit", bin, "--out", out, "--every", "4"}, args...)...)
		cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("walks.py %v: %v\n%s", args, err, b)
		}
	}
	a, b := filepath.Join(tmp, "a"), filepath.Join(tmp, "b")
	walks(a, "--n", "1", "--seed", "5003", "--max-frames", "40")
	walks(b, "--n", "1", "--seed", "5003", "--max-frames", "40")
	la := readLabels(t, a)
	if len(la) != 10 {
		t.Fatalf("%d label files, want 10 (40 frames, every 4th)", len(la))
	}
	boxes := 0
	for name, text := range la {
		if _, err := os.Stat(filepath.Join(a, "images", "train", strings.TrimSuffix(name, ".txt")+".jpg")); err != nil {
			t.Errorf("label %s has no image: %v", name, err)
		}
		for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
			if line == "" {
				continue
			}
			var c int
			var x, y, w, h float64
			if n, err := fmt.Sscanf(line, "%d %g %g %g %g", &c, &x, &y, &w, &h); n != 5 || err != nil {
				t.Fatalf("%s: line %q: %v", name, line, err)
			}
			if c < 0 || c > 3 || w <= 0 || h <= 0 || x-w/2 < -1e-6 || x+w/2 > 1+1e-6 || y-h/2 < -1e-6 || y+h/2 > 1+1e-6 {
				t.Errorf("%s: box %q outside the image or class outside 0-3", name, line)
			}
			boxes++
		}
	}
	if boxes == 0 {
		t.Fatal("no camera labelled in 10 frames of a walk past 10+ cameras")
	}
	if lb := readLabels(t, b); !reflect.DeepEqual(la, lb) {
		t.Error("the same seed gave different labels")
	}
	// The scenario walks.py wrote, rendered by hand, then taken with --walk.
	walk := filepath.Join(tmp, "w5003")
	if out, err := exec.Command(bin, "sim", "walk", "--scenario", filepath.Join(a, "scenarios", "walk-5003.yaml"),
		"--out", walk, "--frames", "40", "--quiet").CombinedOutput(); err != nil {
		t.Fatalf("camaudit sim walk: %v\n%s", err, out)
	}
	ev := filepath.Join(tmp, "ev")
	walks(ev, "--walk", walk)
	le := readLabels(t, ev)
	if len(le) != len(la) {
		t.Fatalf("--walk kept %d frames, the training walk %d", len(le), len(la))
	}
	for name, text := range la {
		if got := le[name]; got != text {
			t.Errorf("%s: --walk labels %q, training walk %q", name, got, text)
		}
	}
	t.Logf("10 frames, %d labelled cameras", boxes)
}

// readLabels returns the label files of root's train split by name.
func readLabels(t *testing.T, root string) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "labels", "train", "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m[filepath.Base(f)] = string(b)
	}
	return m
}

// hostEnv is the environment without the cross-compilation settings of
// scripts/cross.sh (make test-arm64 runs this test as an arm64 binary): the
// camaudit that renders walks is a tool of the development machine, built
// for it and run natively.
func hostEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		switch k, _, _ := strings.Cut(kv, "="); k {
		case "GOOS", "GOARCH", "GOARM", "CC", "CXX", "GOFLAGS", "CGO_CPPFLAGS", "CGO_CFLAGS", "CGO_CXXFLAGS", "CGO_LDFLAGS":
		default:
			env = append(env, kv)
		}
	}
	return env
}
