package detect

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const goodManifest = `name: test-cams
version: 1.0.0
layout: yolov8
input: {width: 320, height: 320, color: rgb, scale: 0.00392156862745098}
labels: [dome, bullet, ptz, alpr, pedestrian]
types: {dome: dome, bullet: bullet, ptz: ptz, alpr: alpr, pedestrian: ignore}
threshold: 0.35
nms_iou: 0.5
sha256: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
training: {data: "synthetic", images: 12000, seed: 1, command: "make model"}
metrics: {ap50: 0.93, recall: 0.9}
`

func TestParseManifest(t *testing.T) {
	b, err := parseManifest("model.yaml", []byte(goodManifest))
	if err != nil {
		t.Fatalf("good manifest refused: %v", err)
	}
	if b.Name != "test-cams" || b.Input.Width != 320 || len(b.Labels) != 5 || b.Threshold != 0.35 ||
		b.Metrics["ap50"] != 0.93 || b.Training["images"] != 12000 || b.Types["pedestrian"] != TypeIgnore {
		t.Errorf("parsed %+v", b)
	}
	noIoU := strings.Replace(goodManifest, "nms_iou: 0.5\n", "", 1)
	if b, err := parseManifest("model.yaml", []byte(noIoU)); err != nil || b.NMSIoU != 0.5 {
		t.Errorf("nms_iou absent: %v, %v; want default 0.5", err, b)
	}
	yolo11 := strings.Replace(goodManifest, "layout: yolov8", "layout: yolo11", 1)
	if b, err := parseManifest("model.yaml", []byte(yolo11)); err != nil || b.Layout != LayoutYOLOv8 {
		t.Errorf("layout yolo11: %v; want yolov8 layout", err)
	}

	tests := []struct {
		name, old, new string
		want           []string // every substring must be in the error
	}{
		{"person label not ignored", "pedestrian: ignore", "pedestrian: unknown",
			[]string{"model.yaml:6:", "types.pedestrian", "names people", "ignore"}},
		{"face label", "alpr: alpr, pedestrian", "alpr: ignore, pedestrian", nil}, // placeholder replaced below
		{"missing name and sha256", "name: test-cams\n", "", []string{"name: missing"}},
		{"bad name", "name: test-cams", "name: Test Cams", []string{"model.yaml:1:", "name", "[a-z0-9.-]+"}},
		{"unknown layout", "layout: yolov8", "layout: detr", []string{"model.yaml:3:", "layout", `"detr"`}},
		{"bad input", "width: 320, height: 320, color: rgb", "width: 0, height: 320, color: hsv",
			[]string{"input.width", "input.color", `"hsv"`}},
		{"missing input field", ", scale: 0.00392156862745098}", "}", []string{"input.scale: missing"}},
		{"label without type", "alpr: alpr, ", "", []string{"types", `label "alpr" has no type`}},
		{"bad type", "ptz: ptz", "ptz: pan-tilt", []string{"types.ptz", `"pan-tilt" is not a type`}},
		{"type for unknown label", "dome: dome,", "dome: dome, fisheye: dome,", []string{"types.fisheye", "not one of the labels"}},
		{"duplicate label", "labels: [dome, bullet", "labels: [dome, dome", []string{"appears twice"}},
		{"threshold out of range", "threshold: 0.35", "threshold: 1.5", []string{"model.yaml:7:", "threshold", "(0, 1)"}},
		{"bad hash text", "sha256: 0123", "sha256: zz23", []string{"sha256", "64 hex digits"}},
		{"unknown field", "nms_iou: 0.5", "nms_iou: 0.5\ntreshold: 0.4", []string{"treshold", "not found"}},
		{"not a mapping", goodManifest, "- a\n- b\n", []string{"not a YAML mapping"}},
		{"tile threshold at scale 1", "nms_iou: 0.5", "nms_iou: 0.5\ntile_thresholds: [{scale: 1, threshold: 0.4}]",
			[]string{"model.yaml:9:", "tile_thresholds[0]", "scale 1 is the threshold field's"}},
		{"tile threshold listed twice", "nms_iou: 0.5",
			"nms_iou: 0.5\ntile_thresholds: [{scale: 0.5, threshold: 0.4}, {scale: 0.5, threshold: 0.45}]",
			[]string{"tile_thresholds[1]", "scale 0.5 is listed twice"}},
		{"tile threshold out of range", "nms_iou: 0.5",
			"nms_iou: 0.5\ntile_thresholds: [{scale: 0, threshold: 0.4}, {scale: 0.5, threshold: 1}]",
			[]string{"tile_thresholds[0]: scale 0 must be in (0, 16]", "tile_thresholds[1]: threshold 1 must be in (0, 1)"}},
		{"bad tiling", "nms_iou: 0.5", "nms_iou: 0.5\ntiling: {roi: [0, 0.5, 1, 0.2], overlap: 0.95}", []string{"tiling.roi", "empty region", "tiling.overlap"}},
	}
	for _, tc := range tests {
		text := strings.Replace(goodManifest, tc.old, tc.new, 1)
		if tc.name == "missing name and sha256" {
			text = strings.Replace(text, "sha256: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n", "", 1)
			tc.want = append(tc.want, "sha256: missing")
		}
		if tc.name == "face label" {
			text = strings.Replace(goodManifest, "[dome, bullet, ptz, alpr, pedestrian]", "[dome, bullet, ptz, Face_Mask, pedestrian]", 1)
			text = strings.Replace(text, "alpr: alpr", "Face_Mask: dome", 1)
			tc.want = []string{"types.Face_Mask", "names people"}
		}
		if text == goodManifest {
			t.Fatalf("%s: test did not change the manifest", tc.name)
		}
		_, err := parseManifest("model.yaml", []byte(text))
		if err == nil {
			t.Errorf("%s: accepted", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not contain %q", tc.name, err, w)
			}
		}
	}
}

func TestThresholdAt(t *testing.T) {
	b, err := parseManifest("model.yaml", []byte(goodManifest+
		"tile_thresholds: [{scale: 0.25, threshold: 0.45}, {scale: 0.5, threshold: 0.4}, {scale: 2, threshold: 0.3}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := parseManifest("model.yaml", []byte(goodManifest))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		scale      float64
		want, flat float32
	}{
		{1, 0.35, 0.35},
		{0.5, 0.4, 0.35},
		{0.25, 0.45, 0.35},
		{0.1, 0.45, 0.35},             // below the smallest listed scale: its threshold
		{math.Sqrt(0.5), 0.375, 0.35}, // half a log2 step from 1 towards 0.5
		{math.Sqrt(2), 0.325, 0.35},
		{2, 0.3, 0.35},
		{8, 0.3, 0.35},
		{0, 0.45, 0.35}, // not a scale: the smallest's, never a panic
	}
	for _, tc := range tests {
		if got := b.ThresholdAt(tc.scale); math.Abs(float64(got-tc.want)) > 1e-6 {
			t.Errorf("ThresholdAt(%g) = %g, want %g", tc.scale, got, tc.want)
		}
		if got := plain.ThresholdAt(tc.scale); got != tc.flat {
			t.Errorf("without tile_thresholds: ThresholdAt(%g) = %g, want %g", tc.scale, got, tc.flat)
		}
	}
}

func TestIsPeopleLabel(t *testing.T) {
	for label, want := range map[string]bool{
		"person": true, "Person": true, "people": true, "pedestrian": true, "face": true,
		"face_mask": true, "human-head": true, "man": true, "woman": true, "child": true,
		"rider": true, "body": true, "dome": false, "bullet": false, "manhole": false,
		"headlight": false, "alpr": false, "ptz": false, "box-camera": false, "lamppost": false,
	} {
		if got := IsPeopleLabel(label); got != want {
			t.Errorf("IsPeopleLabel(%q) = %v, want %v", label, got, want)
		}
	}
}

func TestOpenBadBundles(t *testing.T) {
	tests := []struct {
		dir  string
		want []string
	}{
		{"bad-hash", []string{"testdata/bad-hash", "sha256", "not the one the manifest describes"}},
		{"bad-person", []string{"testdata/bad-person", "model.yaml:", "types.person", "must map to ignore"}},
		{"bad-missing", []string{"testdata/bad-missing", "layout: missing", "labels: missing"}},
		{"bad-truncated", []string{"testdata/bad-truncated", "OpenCV cannot load model.onnx", "Failed to parse ONNX"}},
		{"bad-garbage", []string{"testdata/bad-garbage", "OpenCV cannot load model.onnx"}},
		{"bad-shape", []string{"testdata/bad-shape", "shape [1 9 1600]", "2 labels", "[batch, 6, N]"}},
		{"bad-input", []string{"testdata/bad-input", "blank 200x200 input failed"}},
		{"does-not-exist", []string{"testdata/does-not-exist", "no model.yaml"}},
	}
	for _, tc := range tests {
		d, err := Open(filepath.Join("testdata", tc.dir), Options{})
		if err == nil {
			d.Close()
			t.Errorf("%s: opened", tc.dir)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not contain %q", tc.dir, err, w)
			}
		}
	}
	// A bundle whose model.onnx is missing.
	dir := t.TempDir()
	raw, err := os.ReadFile("testdata/marker/model.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ManifestFile), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Options{}); err == nil || !strings.Contains(err.Error(), "no model.onnx") {
		t.Errorf("missing model.onnx: %v", err)
	}
}

func TestOpenBadOptions(t *testing.T) {
	tests := []struct {
		opts Options
		want string
	}{
		{Options{ROI: []float64{0, 0, 1}}, "option ROI"},
		{Options{ROI: []float64{0.5, 0, 0.4, 1}}, "empty region"},
		{Options{Overlap: 0.95}, "option Overlap"},
		{Options{TileScale: -1}, "option TileScale"},
		{Options{Threshold: 1.2}, "option Threshold"},
		{Options{Tiles: Off, FullFrame: Off}, "nothing would run"},
	}
	for _, tc := range tests {
		d, err := Open("testdata/marker", tc.opts)
		if err == nil {
			d.Close()
			t.Errorf("%+v: accepted", tc.opts)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "testdata/marker") {
			t.Errorf("%+v: error %q, want one naming the bundle and %q", tc.opts, err, tc.want)
		}
	}
}

func TestDefaultModelDir(t *testing.T) {
	marker, err := filepath.Abs("testdata/marker")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("CAMAUDIT_MODEL", marker)
	if got, err := DefaultModelDir(); err != nil || got != marker {
		t.Errorf("with $CAMAUDIT_MODEL: %q, %v; want %q", got, err, marker)
	}
	t.Setenv("CAMAUDIT_MODEL", filepath.Join(t.TempDir(), "nope"))
	if _, err := DefaultModelDir(); err == nil || !strings.Contains(err.Error(), "$CAMAUDIT_MODEL") {
		t.Errorf("$CAMAUDIT_MODEL without a bundle: %v", err)
	}

	t.Setenv("CAMAUDIT_MODEL", "")
	work := t.TempDir()
	t.Chdir(work)
	_, err = DefaultModelDir()
	if _, statErr := os.Stat(InstalledModelDir); statErr == nil {
		t.Logf("a bundle is installed at %s; skipping the not-found check", InstalledModelDir)
	} else if err == nil || !strings.Contains(err.Error(), "no model bundle found") ||
		!strings.Contains(err.Error(), filepath.Join(work, "models", DefaultName)) ||
		!strings.Contains(err.Error(), InstalledModelDir) {
		t.Errorf("no bundle anywhere: error %v; want one listing where it looked", err)
	}
	// A bundle under the working directory is found.
	dst := filepath.Join(work, "models", DefaultName)
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{ManifestFile, ModelFile} {
		raw, err := os.ReadFile(filepath.Join(marker, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, f), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := DefaultModelDir(); err != nil || got != dst {
		t.Errorf("bundle under the working directory: %q, %v; want %q", got, err, dst)
	}
}
