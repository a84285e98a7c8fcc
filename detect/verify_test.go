package detect

import (
	"encoding/json"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCropRects checks cropRects on the cases in testdata/verify-crops.json,
// which detect/train/test_pipeline.py (VerifyCropTest) checks Python's
// crop_rects against: the verifier runs on the crops it was trained on.
func TestCropRects(t *testing.T) {
	raw, err := os.ReadFile("testdata/verify-crops.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Name     string
		Box      [4]int
		Frame    [2]int
		Src, Dst *[4]int
	}
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) < 5 {
		t.Fatalf("%d cases", len(cases))
	}
	rect := func(r *[4]int) image.Rectangle {
		if r == nil {
			return image.Rectangle{}
		}
		return image.Rectangle{Min: image.Pt(r[0], r[1]), Max: image.Pt(r[2], r[3])}
	}
	for _, tc := range cases {
		box := image.Rectangle{Min: image.Pt(tc.Box[0], tc.Box[1]), Max: image.Pt(tc.Box[2], tc.Box[3])}
		src, dst, ok := cropRects(box, tc.Frame[0], tc.Frame[1], 32, 2, 12)
		if ok != (tc.Src != nil) || src != rect(tc.Src) || dst != rect(tc.Dst) {
			t.Errorf("%s: cropRects(%v) = %v, %v, %v; want %v, %v", tc.Name, box, src, dst, ok, rect(tc.Src), rect(tc.Dst))
		}
	}
}

// TestVerifierDropsLookAlikes runs the marker bundle with its engineered
// verifier (testdata/make_testmodels.py: a crop whose mean green is high is
// background). Two red squares the marker detector takes for domes: one on
// a dark surround, one on a white one. The verifier keeps the first and
// drops the second; that it sees the surround at all shows the crop has the
// context the manifest asks for.
func TestVerifierDropsLookAlikes(t *testing.T) {
	dark := square{image.Rect(100, 100, 124, 124), red, TypeDome}
	lookAlike := square{image.Rect(400, 100, 424, 124), red, TypeDome}
	frame := frameWith(t, 640, 480, []square{
		{image.Rect(80, 80, 144, 144), color.RGBA{A: 255}, ""},                          // black surround
		{image.Rect(380, 80, 444, 144), color.RGBA{R: 255, G: 255, B: 255, A: 255}, ""}, // white surround
		dark, lookAlike,
	})
	defer frame.Close()

	off, err := Open("testdata/marker-verified", Options{Verify: Off})
	if err != nil {
		t.Fatal(err)
	}
	defer off.Close()
	if off.Verifying() {
		t.Error("Verify Off: Verifying() is true")
	}
	all, err := off.Detect(frame)
	if err != nil {
		t.Fatal(err)
	}
	matchOnce(t, "verifier off", all, []square{dark, lookAlike}, 2)

	on, err := Open("testdata/marker-verified", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer on.Close()
	if !on.Verifying() {
		t.Error("bundle with a verifier: Verifying() is false by default")
	}
	kept, err := on.Detect(frame)
	if err != nil {
		t.Fatal(err)
	}
	matchOnce(t, "verifier on", kept, []square{dark, {lookAlike.r, red, ""}}, 2)

	// Verify on detections made without it (a recording) gives the same.
	again, err := on.Verify(frame, append([]Detection(nil), all...))
	if err != nil {
		t.Fatal(err)
	}
	matchOnce(t, "Verify", again, []square{dark, {lookAlike.r, red, ""}}, 2)

	// A box outside the frame is an error, not a crash.
	if _, err := on.Verify(frame, []Detection{{Type: TypeDome, Score: 0.9, Box: image.Rect(700, 10, 720, 30)}}); err == nil ||
		!strings.Contains(err.Error(), "outside the 640x480 frame") {
		t.Errorf("box outside the frame: %v", err)
	}
	// Without a verifier in the bundle, Verify changes nothing.
	plain := openMarker(t, Options{})
	if plain.Verifying() {
		t.Error("marker bundle: Verifying() is true")
	}
	if same, err := plain.Verify(frame, append([]Detection(nil), all...)); err != nil || len(same) != len(all) {
		t.Errorf("Verify without a verifier: %d of %d kept, %v", len(same), len(all), err)
	}
}

func TestVerifierBundleErrors(t *testing.T) {
	if _, err := Open("testdata/marker", Options{Verify: On}); err == nil || !strings.Contains(err.Error(), "no verifier to turn on") {
		t.Errorf("Verify On without a verifier: %v", err)
	}
	raw, err := os.ReadFile("testdata/marker-verified/model.yaml")
	if err != nil {
		t.Fatal(err)
	}
	copyBundle := func(t *testing.T, manifest string, verifier []byte) string {
		t.Helper()
		dir := t.TempDir()
		for name, data := range map[string][]byte{ManifestFile: []byte(manifest), "verifier.onnx": verifier} {
			if data == nil {
				continue
			}
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		m, err := os.ReadFile("testdata/marker-verified/model.onnx")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, ModelFile), m, 0o644); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	good, err := os.ReadFile("testdata/marker-verified/verifier.onnx")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		manifest string
		verifier []byte
		want     []string
	}{
		{"missing verifier file", string(raw), nil, []string{"verifier: no verifier.onnx"}},
		{"replaced verifier file", string(raw), append([]byte("x"), good...), []string{"verifier: verifier.onnx has sha256", "corrupt or replaced"}},
		{"labels not background first", strings.Replace(string(raw), "  - background\n", "", 1), good,
			[]string{"verifier.labels", "must be background followed by the labels"}},
		{"file outside the bundle", strings.Replace(string(raw), "file: verifier.onnx", "file: ../verifier.onnx", 1), good,
			[]string{"verifier.file", "a file name in the bundle folder"}},
		{"threshold out of range", strings.Replace(string(raw), "  threshold: 0.5", "  threshold: 1.5", 1), good,
			[]string{"verifier.threshold", "(0, 1)"}},
		{"missing size", strings.Replace(string(raw), "  size: 32\n", "", 1), good, []string{"verifier.size: missing"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.manifest == string(raw) && tc.verifier != nil && string(tc.verifier) == string(good) {
				t.Fatal("test changes nothing")
			}
			d, err := Open(copyBundle(t, tc.manifest, tc.verifier), Options{})
			if err == nil {
				d.Close()
				t.Fatal("opened")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}
