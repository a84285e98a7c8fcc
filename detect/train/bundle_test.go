package train

import (
	"encoding/json"
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"gocv.io/x/gocv"
	"golang.org/x/sys/unix"

	"github.com/camaudit/camaudit/detect"
)

// bundleDir is the bundle under test: $CAMAUDIT_MODEL (make model points it
// at the bundle it is about to ship), else the committed default bundle.
func bundleDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("CAMAUDIT_MODEL")
	if dir == "" {
		dir = filepath.Join("..", "..", "models", "camaudit-cams-v1")
	}
	if _, err := os.Stat(filepath.Join(dir, detect.ManifestFile)); err != nil {
		t.Fatalf("model bundle %s missing (run make model): %v", dir, err)
	}
	return dir
}

// reference is reference.json: PyTorch's output at some anchors.
type reference struct {
	Input struct {
		Width     int    `json:"width"`
		Height    int    `json:"height"`
		Generator string `json:"generator"`
	} `json:"input"`
	Shape   []int       `json:"shape"`
	Anchors []int       `json:"anchors"`
	Values  [][]float64 `json:"values"`
}

// referenceInput is bundle.py's reference_input, in the same float64 maths.
func referenceInput(w, h int) []float32 {
	plane := w * h
	blob := make([]float64, 3*plane)
	for c := 0; c < 3; c++ {
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				fx, fy, fc := float64(x), float64(y), float64(c)
				blob[c*plane+y*w+x] = 0.5 + 0.3*math.Sin(0.031*(fc+1)*fx+0.017*fy)*math.Cos(0.023*fy-0.011*fc*fx)
			}
		}
	}
	for k := 0; k < 12; k++ {
		cx, cy, r := (k*97+31)%w, (k*53+17)%h, 3+(k*7)%20
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				if (x-cx)*(x-cx)+(y-cy)*(y-cy) <= r*r {
					for c := 0; c < 3; c++ {
						blob[c*plane+y*w+x] = 0.1 + 0.02*float64(c)
					}
				}
			}
		}
	}
	out := make([]float32, len(blob))
	for i, v := range blob {
		out[i] = float32(v)
	}
	return out
}

// TestBundleReproducesPyTorch runs the shipped ONNX through the detect
// package (OpenCV DNN via gocv) on the reference input and compares its raw
// output with PyTorch's.
func TestBundleReproducesPyTorch(t *testing.T) {
	dir := bundleDir(t)
	raw, err := os.ReadFile(filepath.Join(dir, "reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref reference
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatalf("reading reference.json: %v", err)
	}
	if ref.Input.Generator != "camaudit-reference-v1" || len(ref.Anchors) != len(ref.Values) || len(ref.Anchors) == 0 {
		t.Fatalf("reference.json: unexpected generator %q or %d anchors / %d rows", ref.Input.Generator, len(ref.Anchors), len(ref.Values))
	}
	d, err := detect.Open(dir, detect.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	in := d.Bundle().Input
	if in.Width != ref.Input.Width || in.Height != ref.Input.Height {
		t.Fatalf("reference input %dx%d, bundle input %dx%d", ref.Input.Width, ref.Input.Height, in.Width, in.Height)
	}
	out, shape, err := d.ForwardBlob(referenceInput(in.Width, in.Height), [4]int{1, 3, in.Height, in.Width})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(shape) != fmt.Sprint(ref.Shape) {
		t.Fatalf("output shape %v, PyTorch's %v", shape, ref.Shape)
	}
	rows, n := shape[1], shape[2]
	var maxBox, maxScore float64
	for k, a := range ref.Anchors {
		for r := 0; r < rows; r++ {
			got, want := float64(out[r*n+a]), ref.Values[k][r]
			diff := math.Abs(got - want)
			if r < 4 {
				maxBox = math.Max(maxBox, diff)
				if diff > 0.02+1e-4*math.Abs(want) {
					t.Errorf("anchor %d row %d (box): OpenCV %g, PyTorch %g", a, r, got, want)
				}
			} else {
				maxScore = math.Max(maxScore, diff)
				if diff > 1e-3 {
					t.Errorf("anchor %d row %d (score): OpenCV %g, PyTorch %g", a, r, got, want)
				}
			}
		}
	}
	t.Logf("%d anchors compared: max abs diff %.2g px (boxes), %.2g (scores)", len(ref.Anchors), maxBox, maxScore)
}

// TestBundleManifestAndCard checks what the device and the model card rely
// on: labels and types, the metrics the card reports, and that the card
// quotes the manifest's hash and held-out AP50.
func TestBundleManifestAndCard(t *testing.T) {
	dir := bundleDir(t)
	b, err := detect.LoadBundle(dir)
	if err != nil {
		t.Fatal(err)
	}
	if b.Name != "camaudit-cams-v1" || b.Layout != detect.LayoutYOLOv8 {
		t.Errorf("name %q layout %q, want camaudit-cams-v1 yolov8", b.Name, b.Layout)
	}
	if strings.Join(b.Labels, ",") != "dome,bullet,ptz,alpr" {
		t.Errorf("labels %v, want dome, bullet, ptz, alpr (contract C class ids)", b.Labels)
	}
	for _, l := range b.Labels {
		if b.Types[l] != l {
			t.Errorf("label %s maps to type %q, want %q", l, b.Types[l], l)
		}
	}
	for _, k := range []string{"ap50", "precision", "recall", "recall_small", "ap50_small", "gflops"} {
		v, ok := b.Metrics[k]
		if !ok || math.IsNaN(v) || v < 0 {
			t.Errorf("metrics.%s = %v (present %v), want a number >= 0", k, v, ok)
		}
	}
	if g := b.Metrics["gflops"]; g > 1.5 {
		t.Errorf("model costs %.2f GFLOPs per forward, over the 1.5 budget", g)
	}
	st, err := os.Stat(filepath.Join(dir, detect.ModelFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() > 10<<20 {
		t.Errorf("model.onnx is %d bytes, over the 10 MB budget", st.Size())
	}
	if b.Training["seed"] == nil || b.Training["command"] != "make model" {
		t.Errorf("training %v: want seed and command: make model", b.Training)
	}
	card, err := os.ReadFile(filepath.Join(dir, "MODEL_CARD.md"))
	if err != nil {
		t.Fatal(err)
	}
	wants := []string{b.SHA256, fmt.Sprintf("**%.3f**", b.Metrics["ap50"])}
	if v := b.Verifier; v != nil {
		// verify.py --install writes the card's Verifier section with these.
		wants = append(wants, "## Verifier", v.SHA256, fmt.Sprintf("**%g**", v.Threshold))
	}
	for _, want := range wants {
		if !strings.Contains(string(card), want) {
			t.Errorf("MODEL_CARD.md does not mention %q (card and manifest disagree: re-run make model)", want)
		}
	}
}

// openBench opens the bundle on one OpenCV thread for benchmarks.
func openBench(b *testing.B, opts detect.Options) *detect.Detector {
	b.Helper()
	dir := os.Getenv("CAMAUDIT_MODEL")
	if dir == "" {
		dir = filepath.Join("..", "..", "models", "camaudit-cams-v1")
	}
	opts.Threads = 1
	d, err := detect.Open(dir, opts)
	if err != nil {
		b.Fatal(err)
	}
	return d
}

// BenchmarkBundleForward is one forward pass of the shipped model at its
// input size on one core (no pre- or post-processing).
func BenchmarkBundleForward(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	d := openBench(b, detect.Options{})
	defer d.Close()
	in := d.Bundle().Input
	blob := referenceInput(in.Width, in.Height)
	shape := [4]int{1, 3, in.Height, in.Width}
	if _, _, err := d.ForwardBlob(blob, shape); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	cpu0 := threadCPU(b)
	for i := 0; i < b.N; i++ {
		if _, _, err := d.ForwardBlob(blob, shape); err != nil {
			b.Fatal(err)
		}
	}
	cpu := threadCPU(b) - cpu0
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/forward")
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/forward")
}

// threadCPU returns the CPU time the calling OS thread has used
// (getrusage RUSAGE_THREAD, Linux). With one OpenCV thread the whole
// detection runs on the calling thread, so this measures its cost even when
// other work shares the machine and inflates wall-clock time.
func threadCPU(b *testing.B) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchFrame runs full detection (the bundle's tiling, full-frame pass,
// decode, NMS) of a w x h frame on one core and reports frames/s of wall
// time and of the thread's CPU time.
func benchFrame(b *testing.B, w, h int, opts detect.Options) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	d := openBench(b, opts)
	defer d.Close()
	frame := syntheticFrame(w, h)
	defer frame.Close()
	if _, err := d.Detect(frame); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer() // (ResetTimer also drops metrics reported before it)
	cpu0 := threadCPU(b)
	for i := 0; i < b.N; i++ {
		if _, err := d.Detect(frame); err != nil {
			b.Fatal(err)
		}
	}
	cpu := threadCPU(b) - cpu0
	dets, err := d.Detect(frame)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(len(dets)), "detections/frame")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
	b.ReportMetric(float64(b.N)/cpu.Seconds(), "cpu-frames/s")
	b.ReportMetric(float64(len(d.Tiles(image.Pt(w, h)))), "tiles/frame")
}

// BenchmarkBundleFrame1080p is full-frame detection of a 1920x1080 frame on
// one core (issue 5's target: >= 10 frames/s).
func BenchmarkBundleFrame1080p(b *testing.B) { benchFrame(b, 1920, 1080, detect.Options{}) }

// BenchmarkBundleFrame1080pDetectorOnly is the same without the bundle's
// verifier: the difference is the second look's cost on that frame.
func BenchmarkBundleFrame1080pDetectorOnly(b *testing.B) {
	benchFrame(b, 1920, 1080, detect.Options{Verify: detect.Off})
}

// BenchmarkBundleFrame720p is full-frame detection of a 1280x720 frame on
// one core.
func BenchmarkBundleFrame720p(b *testing.B) { benchFrame(b, 1280, 720, detect.Options{}) }

// BenchmarkBundleVerify is the verifier's second look at one detection on
// one core: crop, resize, forward (what a frame's detection time grows by
// per detection the detector keeps).
func BenchmarkBundleVerify(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	d := openBench(b, detect.Options{})
	defer d.Close()
	if !d.Verifying() {
		b.Skip("the bundle has no verifier")
	}
	frame := syntheticFrame(1280, 720)
	defer frame.Close()
	dets := make([]detect.Detection, 16)
	for i := range dets {
		x := 40 + 70*i
		dets[i] = detect.Detection{Type: "dome", Score: 0.5, Box: image.Rect(x, 100+10*i, x+8+2*i, 106+12*i/5+i)}
	}
	in := make([]detect.Detection, len(dets))
	b.ResetTimer()
	cpu0 := threadCPU(b)
	for i := 0; i < b.N; i++ {
		copy(in, dets)
		if _, err := d.Verify(frame, in); err != nil {
			b.Fatal(err)
		}
	}
	cpu := threadCPU(b) - cpu0
	n := float64(b.N * len(dets))
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/n, "ms/detection")
	b.ReportMetric(float64(cpu.Microseconds())/1000/n, "cpu-ms/detection")
}

// syntheticFrame is a textured BGR frame (façade-like stripes and noise).
func syntheticFrame(w, h int) gocv.Mat {
	m := gocv.NewMatWithSize(h, w, gocv.MatTypeCV8UC3)
	buf := make([]byte, w*h*3)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := (y*w + x) * 3
			v := 90 + 60*math.Sin(float64(x)/23)*math.Cos(float64(y)/41)
			buf[i], buf[i+1], buf[i+2] = byte(v), byte(v+20), byte(v+35)
		}
	}
	mat, err := gocv.NewMatFromBytes(h, w, gocv.MatTypeCV8UC3, buf)
	if err == nil {
		mat.CopyTo(&m)
		mat.Close()
	}
	return m
}
