package detect

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzManifest feeds arbitrary bytes to the model manifest parser. It must
// not panic; an error names the file; an accepted manifest satisfies
// contract A: a valid name, every label typed, people labels ignored, at
// least one camera label, and every number finite and in range (a NaN that
// slips through would reach the tiler and OpenCV).
//
//	go test -run '^$' -fuzz FuzzManifest -fuzztime 1m ./detect
func FuzzManifest(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*", ManifestFile))
	if len(files) == 0 {
		f.Fatal("no manifests in testdata/*/")
	}
	var good []byte
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		if strings.Contains(p, "yolov8") {
			good = b
		}
	}
	for _, extra := range []string{
		"tiling: {roi: [.nan, 0, 1, 0.6]}\n",
		"tiling: {roi: [0, 0, .inf, 0.6], overlap: .nan, scale: .nan}\n",
		"tiling: {roi: [0, 0, 1]}\n",
		"threshold: .nan\n",
		"tile_thresholds: [{scale: .nan, threshold: 0.4}, {scale: 0.5, threshold: .inf}]\n",
		"tile_thresholds: [{scale: 0.5, threshold: 0.4}]\n",
		"nms_iou: -.inf\n",
		"input: {width: 99999999999, height: 320, color: rgb, scale: 1}\n",
		"labels: [dome, person]\ntypes: {dome: dome, person: dome}\n",
		"labels: [dome, Face_Mask]\ntypes: {dome: dome, Face_Mask: bullet}\n",
		"labels: [&a dome, *a]\n",
		"name: \"camaudit\\u202ecams\"\n",
		"name: " + strings.Repeat("a", 100) + "\n",
		"metrics: {ap50: .nan}\n",
		"training: &t {a: [*t]}\n",
	} {
		f.Add(append(append([]byte{}, good...), extra...))
	}
	f.Add([]byte("- just a list\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, raw []byte) {
		b, err := parseManifest("model.yaml", raw)
		if err != nil {
			if !strings.Contains(err.Error(), "model.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if !nameRE.MatchString(b.Name) || len(b.Name) > 64 {
			t.Fatalf("accepted name %q", b.Name)
		}
		if b.Layout != LayoutYOLOv8 && b.Layout != LayoutYOLOv5 {
			t.Fatalf("accepted layout %q", b.Layout)
		}
		if !(b.Threshold > 0 && b.Threshold < 1) || !(b.NMSIoU > 0 && b.NMSIoU <= 1) {
			t.Fatalf("accepted threshold %v, nms_iou %v", b.Threshold, b.NMSIoU)
		}
		for _, s := range []float64{0.25, 0.5, 1, 2} {
			if thr := b.ThresholdAt(s); !(thr > 0 && thr < 1) {
				t.Fatalf("accepted tile_thresholds %+v: threshold %v at tile scale %g", b.TileThresholds, thr, s)
			}
		}
		if b.Input.Width < 16 || b.Input.Width > 4096 || b.Input.Height < 16 || b.Input.Height > 4096 || !(b.Input.Scale > 0 && b.Input.Scale <= 1) {
			t.Fatalf("accepted input %+v", b.Input)
		}
		cams := 0
		for _, l := range b.Labels {
			typ, ok := b.Types[l]
			if !ok {
				t.Fatalf("label %q has no type", l)
			}
			if IsPeopleLabel(l) && typ != TypeIgnore {
				t.Fatalf("people label %q maps to %q", l, typ)
			}
			if typ != TypeIgnore {
				cams++
			}
		}
		if cams == 0 {
			t.Fatalf("accepted a manifest without camera labels: %v", b.Types)
		}
		if tl := b.Tiling; tl != nil {
			for _, v := range append([]float64{tl.Overlap, tl.Scale}, tl.ROI...) {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Fatalf("accepted tiling %+v with a non-finite number", tl)
				}
			}
		}
	})
}
