package train

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
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
	bin := hostCamaudit(t)
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

// TestAccuracyScript runs make accuracy's script (scripts/accuracy.sh) on
// two short random walks with the simulator's boxes as the detector, then
// on one with the default model, then on that model run's saved detections:
// the summary holds what camaudit eval walk said for each walk and pools it
// correctly, the walks are rendered once and reused, the saved detections
// give the model run's sightings, and a bad setting is refused with its name.
func TestAccuracyScript(t *testing.T) {
	bin := hostCamaudit(t)
	dir := t.TempDir()
	run := func(env ...string) (string, error) {
		t.Helper()
		cmd := exec.Command("../../scripts/accuracy.sh")
		cmd.Env = append(hostEnv(), "CAMAUDIT="+bin, "ACC_DIR="+dir, "ACC_FRAMES=120", "ACC_SEED=9100", "PYTHONDONTWRITEBYTECODE=1")
		cmd.Env = append(cmd.Env, env...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	type result struct {
		Walk                  string
		Truth, Found, Matched int
		Precision, Recall     float64
		CountError            float64 `json:"count_error"`
		Walks                 int
		CountErrorMean        float64 `json:"count_error_mean"`
		FalseDoubles          int     `json:"false_doubles"`
		FalseOtherType        int     `json:"false_doubles_other_type"`
		FalseElsewhere        int     `json:"false_elsewhere"`
		Seen                  int
		MatchedSeen           int  `json:"matched_seen"`
		MissedFalseNear       int  `json:"missed_seen_false_near"`
		MissedSmall           int  `json:"missed_seen_lt16"`
		MissedMedium          int  `json:"missed_seen_16to32"`
		MissedLarge           int  `json:"missed_seen_ge32"`
		BoxedOften            *int `json:"missed_seen_boxed_often"`
	}
	// Every false sighting is either a double of a found camera or not;
	// every seen camera missed is sorted once.
	kinds := func(r result) {
		t.Helper()
		if r.FalseDoubles+r.FalseElsewhere != r.Found-r.Matched || r.FalseOtherType > r.FalseDoubles {
			t.Errorf("%s: %d found, %d matched, but %d doubles (%d of another type) and %d false elsewhere",
				r.Walk, r.Found, r.Matched, r.FalseDoubles, r.FalseOtherType, r.FalseElsewhere)
		}
		if n := r.MissedFalseNear + r.MissedSmall + r.MissedMedium + r.MissedLarge; n != r.Seen-r.MatchedSeen || r.Seen == 0 {
			t.Errorf("%s: %d seen, %d of them found, but %d seen cameras sorted as missed", r.Walk, r.Seen, r.MatchedSeen, n)
		}
		if r.BoxedOften != nil && (*r.BoxedOften < 0 || *r.BoxedOften > r.Seen-r.MatchedSeen) {
			t.Errorf("%s: %d missed cameras boxed often, of %d missed", r.Walk, *r.BoxedOften, r.Seen-r.MatchedSeen)
		}
	}
	summary := func(tag string) (rows []result, pooled result) {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, "accuracy", tag, "summary.json"))
		if err != nil {
			t.Fatal(err)
		}
		var s struct {
			Walks  []result
			Pooled result
		}
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatalf("summary.json: %v", err)
		}
		return s.Walks, s.Pooled
	}

	out, err := run("ACC_WALKS=2", "ACC_DETECTOR=truth")
	if err != nil {
		t.Fatalf("accuracy.sh with the truth detector: %v\n%s", err, out)
	}
	rows, pooled := summary("truth-seed9100")
	if len(rows) != 2 || pooled.Walks != 2 {
		t.Fatalf("summary has %d walks (pooled %d), want 2\n%s", len(rows), pooled.Walks, out)
	}
	var truth, found, matched int
	for _, r := range rows {
		var fc struct{ Features []json.RawMessage }
		b, err := os.ReadFile(filepath.Join(dir, "acc-walks", r.Walk, "truth.geojson"))
		if err == nil {
			err = json.Unmarshal(b, &fc)
		}
		if err != nil || len(fc.Features) != r.Truth {
			t.Errorf("%s: summary says %d true cameras, truth.geojson has %d (%v)", r.Walk, r.Truth, len(fc.Features), err)
		}
		if r.Matched > r.Found || r.Matched > r.Truth {
			t.Errorf("%s: %d matched of %d found, %d true", r.Walk, r.Matched, r.Found, r.Truth)
		}
		kinds(r)
		truth, found, matched = truth+r.Truth, found+r.Found, matched+r.Matched
	}
	kinds(pooled)
	if pooled.BoxedOften != nil {
		t.Errorf("the simulator's boxes have no recording, yet %d missed cameras were boxed often", *pooled.BoxedOften)
	}
	if pooled.Truth != truth || pooled.Found != found || pooled.Matched != matched {
		t.Errorf("pooled %+v, want the walks' sums %d/%d/%d", pooled, truth, found, matched)
	}
	if found == 0 || matched < found*8/10 {
		t.Errorf("the simulator's own boxes confirmed %d cameras, %d of them true, in 12 s of two walks", found, matched)
	}
	if want := float64(matched) / float64(found); found > 0 && math.Abs(pooled.Precision-want) > 1e-9 {
		t.Errorf("pooled precision %v, want %v", pooled.Precision, want)
	}
	if !strings.Contains(out, "pooled over 2 walks") {
		t.Errorf("no pooled line:\n%s", out)
	}

	out, err = run("ACC_WALKS=1")
	if err != nil {
		t.Fatalf("accuracy.sh with the default model: %v\n%s", err, out)
	}
	if !strings.Contains(out, "walk-9100: up to date") {
		t.Errorf("the walk was rendered again:\n%s", out)
	}
	modelRows, _ := summary("camaudit-cams-v1-tsdefault-seed9100")
	if len(modelRows) != 1 || modelRows[0].Walk != "walk-9100" {
		t.Fatalf("model summary %+v, want walk-9100 alone", modelRows)
	}
	// The model run's saved detections tell which missed cameras it boxed often.
	if modelRows[0].BoxedOften == nil || !strings.Contains(out, "boxed with their own type") {
		t.Errorf("model run: no count of missed cameras the detector boxed often (%+v):\n%s", modelRows[0], out)
	}
	kinds(modelRows[0])
	for _, line := range []string{"false sightings: ", "seen cameras missed: "} {
		if !strings.Contains(out, line) {
			t.Errorf("no line %q:\n%s", line, out)
		}
	}

	// The model run saved its detections; replaying them gives its sightings,
	// and a raised threshold keeps no more of them.
	rec := filepath.Join(dir, "accuracy", "camaudit-cams-v1-tsdefault-seed9100")
	if out, err := run("ACC_WALKS=1", "ACC_DETECTOR=recorded", "ACC_DETECTIONS="+rec); err != nil {
		t.Fatalf("accuracy.sh with recorded detections: %v\n%s", err, out)
	}
	if rows, _ := summary("recorded-camaudit-cams-v1-tsdefault-seed9100"); len(rows) != 1 ||
		rows[0].Found != modelRows[0].Found || rows[0].Matched != modelRows[0].Matched {
		t.Errorf("recorded detections gave %+v, the model %+v", rows, modelRows[0])
	}
	if out, err := run("ACC_WALKS=1", "ACC_DETECTOR=recorded", "ACC_DETECTIONS="+rec, "ACC_THRESHOLD=0.6"); err != nil {
		t.Fatalf("accuracy.sh with recorded detections at threshold 0.6: %v\n%s", err, out)
	}
	if rows, _ := summary("recorded-camaudit-cams-v1-tsdefault-seed9100-thr0.6"); len(rows) != 1 || rows[0].Found > modelRows[0].Found {
		t.Errorf("recorded detections at threshold 0.6 gave %+v, the model at its own %+v", rows, modelRows[0])
	}
	// A recording made without the verifier and passed through it gives
	// what the model run with it gave, and saves what it kept: the misses'
	// analysis counts the detections the firmware used.
	if out, err := run("ACC_WALKS=1", "ACC_VERIFY=off"); err != nil {
		t.Fatalf("accuracy.sh with the verifier off: %v\n%s", err, out)
	}
	if out, err := run("ACC_WALKS=1", "ACC_DETECTOR=recorded", "ACC_VERIFY=on",
		"ACC_DETECTIONS="+filepath.Join(dir, "accuracy", "camaudit-cams-v1-tsdefault-verifyoff-seed9100")); err != nil {
		t.Fatalf("accuracy.sh passing a recording through the verifier: %v\n%s", err, out)
	}
	verTag := "recorded-camaudit-cams-v1-tsdefault-verifyoff-seed9100-verifyon"
	if rows, _ := summary(verTag); len(rows) != 1 || rows[0].Found != modelRows[0].Found ||
		rows[0].Matched != modelRows[0].Matched || rows[0].BoxedOften == nil || *rows[0].BoxedOften != *modelRows[0].BoxedOften {
		t.Errorf("recording verified in the replay gave %+v, the model run with the verifier %+v", rows, modelRows[0])
	}
	frameLines := func(path string) []string {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		return lines[1:] // the header names how they were made
	}
	kept := frameLines(filepath.Join(dir, "accuracy", verTag, "walk-9100.detections.jsonl"))
	if want := frameLines(filepath.Join(rec, "walk-9100.detections.jsonl")); !slices.Equal(kept, want) {
		t.Errorf("the verifier kept %d frame lines of the recording, unlike the model run with it (%d)", len(kept), len(want))
	}

	if out, err := run("ACC_DETECTOR=recorded", "ACC_DETECTIONS="+dir); err == nil || !strings.Contains(out, "ACC_DETECTIONS="+dir+" has no") {
		t.Errorf("ACC_DETECTIONS without recordings: err %v, output:\n%s", err, out)
	}

	if out, err := run("ACC_DETECTOR=magic"); err == nil || !strings.Contains(out, "ACC_DETECTOR=magic") {
		t.Errorf("ACC_DETECTOR=magic: err %v, output:\n%s", err, out)
	}
}

// hostCamaudit builds camaudit for this machine into a temporary folder.
func hostCamaudit(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "camaudit")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/camaudit")
	build.Env = hostEnv()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/camaudit: %v\n%s", err, out)
	}
	return bin
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
