package detect

import (
	"encoding/binary"
	"image"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"gocv.io/x/gocv"
)

var (
	red   = color.RGBA{R: 255, A: 255}
	blue  = color.RGBA{B: 255, A: 255}
	green = color.RGBA{G: 255, A: 255}
)

// square is a coloured square drawn into a test frame; the marker model
// "detects" red as dome and blue as bullet, green as person (ignored).
type square struct {
	r   image.Rectangle
	c   color.RGBA
	typ string // expected type, "" = must not be reported
}

func frameWith(t testing.TB, w, h int, squares []square) gocv.Mat {
	t.Helper()
	m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(190, 200, 205, 0), h, w, gocv.MatTypeCV8UC3)
	for _, s := range squares {
		gocv.Rectangle(&m, s.r, s.c, -1)
	}
	return m
}

func openMarker(t testing.TB, opts Options) *Detector {
	t.Helper()
	d, err := Open("testdata/marker", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// near reports whether every edge of a is within tol pixels of b's.
func near(a, b image.Rectangle, tol int) bool {
	abs := func(x int) int {
		if x < 0 {
			return -x
		}
		return x
	}
	return abs(a.Min.X-b.Min.X) <= tol && abs(a.Min.Y-b.Min.Y) <= tol &&
		abs(a.Max.X-b.Max.X) <= tol && abs(a.Max.Y-b.Max.Y) <= tol
}

// matchOnce checks that every expected square is reported exactly once
// (every edge within tol pixels, right type) and that nothing else is
// reported.
func matchOnce(t *testing.T, name string, dets []Detection, squares []square, tol int) {
	t.Helper()
	used := make([]bool, len(dets))
	for _, s := range squares {
		if s.typ == "" {
			continue
		}
		found := 0
		for i, d := range dets {
			if near(d.Box, s.r, tol) {
				found++
				used[i] = true
				if d.Type != s.typ {
					t.Errorf("%s: square %v reported as %q, want %q", name, s.r, d.Type, s.typ)
				}
				if d.Score < 0.9 || d.Score > 1 {
					t.Errorf("%s: square %v score %v, want ~1", name, s.r, d.Score)
				}
			}
		}
		if found != 1 {
			t.Errorf("%s: square %v (%s) reported %d times, want once", name, s.r, s.typ, found)
		}
	}
	for i, d := range dets {
		if !used[i] {
			t.Errorf("%s: unexpected detection %+v", name, d)
		}
	}
}

func TestDetectSmallObjectsThroughTiles(t *testing.T) {
	d := openMarker(t, Options{})
	tiles := d.Tiles(image.Pt(1920, 1080))
	if len(tiles) != 25 || tiles[24] != image.Rect(0, 0, 1920, 1080) {
		t.Fatalf("1080p plan: %d inputs %v", len(tiles), tiles)
	}
	// Tile columns start at 0, 229, 457, ...: x 310-330 crosses the right edge
	// of the first tile; y 310-330 crosses the bottom of the first row.
	squares := []square{
		{image.Rect(100, 100, 120, 120), red, TypeDome},
		{image.Rect(310, 150, 330, 170), red, TypeDome},      // across a tile border
		{image.Rect(700, 310, 720, 330), red, TypeDome},      // across a row border
		{image.Rect(1890, 5, 1910, 25), red, TypeDome},       // frame corner
		{image.Rect(1000, 600, 1022, 622), blue, TypeBullet}, // near the ROI's bottom
		{image.Rect(1400, 200, 1420, 220), blue, TypeBullet},
		{image.Rect(500, 400, 520, 420), green, ""}, // person: never reported
		{image.Rect(1200, 900, 1220, 920), red, ""}, // below the ROI, too small for the full-frame pass
	}
	frame := frameWith(t, 1920, 1080, squares)
	defer frame.Close()
	dets, err := d.Detect(frame)
	if err != nil {
		t.Fatal(err)
	}
	matchOnce(t, "1080p", dets, squares, 1)

	// Without the tiles, the same 20 px squares are 3 px in the model input:
	// nothing is found. This is what tiling is for.
	dFull := openMarker(t, Options{Tiles: Off})
	dets, err = dFull.Detect(frame)
	if err != nil {
		t.Fatal(err)
	}
	if len(dets) != 0 {
		t.Errorf("full-frame pass only: %d detections of 20 px squares, want 0: %+v", len(dets), dets)
	}
}

func TestDetectLargeObjectThroughFullFrame(t *testing.T) {
	big := square{image.Rect(800, 760, 1040, 1000), red, TypeDome} // below the ROI
	frame := frameWith(t, 1920, 1080, []square{big})
	defer frame.Close()
	d := openMarker(t, Options{})
	dets, err := d.Detect(frame)
	if err != nil {
		t.Fatal(err)
	}
	// At the full-frame scale (1/6) the box is exact to a model pixel.
	matchOnce(t, "full frame", dets, []square{big}, 7)
	dNoFull := openMarker(t, Options{FullFrame: Off})
	dets, err = dNoFull.Detect(frame)
	if err != nil {
		t.Fatal(err)
	}
	if len(dets) != 0 {
		t.Errorf("without the full-frame pass: %+v, want nothing (the square is below the ROI)", dets)
	}
}

func TestDetectOptions(t *testing.T) {
	// 720p at tile scale 2 over the whole frame: 40 px squares are 20 model px.
	squares := []square{
		{image.Rect(50, 50, 90, 90), red, TypeDome},
		{image.Rect(600, 650, 640, 690), blue, TypeBullet}, // bottom: needs the full-frame ROI
	}
	frame := frameWith(t, 1280, 720, squares)
	defer frame.Close()
	d := openMarker(t, Options{TileScale: 2, ROI: []float64{0, 0, 1, 1}, FullFrame: Off, Overlap: 0.25})
	if n := len(d.Tiles(image.Pt(1280, 720))); n != 3*2 {
		t.Errorf("720p at scale 2: %d tiles, want 6", n)
	}
	dets, err := d.Detect(frame)
	if err != nil {
		t.Fatal(err)
	}
	matchOnce(t, "720p scale 2", dets, squares, 2)

	// A threshold above every score finds nothing.
	dHigh := openMarker(t, Options{Threshold: 0.999})
	if dets, err := dHigh.Detect(frame); err != nil || len(dets) != 0 {
		t.Errorf("threshold 0.999: %v %+v", err, dets)
	}
	if dHigh.Threshold() != 0.999 || d.Threshold() != 0.5 {
		t.Errorf("thresholds %v and %v, want 0.999 and the bundle's 0.5", dHigh.Threshold(), d.Threshold())
	}
}

func TestDetectFrameFormats(t *testing.T) {
	d := openMarker(t, Options{})
	sq := []square{{image.Rect(100, 100, 124, 124), red, TypeDome}}
	bgr := frameWith(t, 640, 480, sq)
	defer bgr.Close()
	bgra := gocv.NewMat()
	defer bgra.Close()
	gocv.CvtColor(bgr, &bgra, gocv.ColorBGRToBGRA)
	dets, err := d.Detect(bgra)
	if err != nil {
		t.Fatal(err)
	}
	matchOnce(t, "BGRA", dets, sq, 1)

	gray := gocv.NewMat()
	defer gray.Close()
	gocv.CvtColor(bgr, &gray, gocv.ColorBGRToGray)
	if dets, err := d.Detect(gray); err != nil || len(dets) != 0 {
		t.Errorf("grey frame: %v %+v; want no error and no colour squares", err, dets)
	}
	// A sub-matrix (non-continuous) works and maps boxes to its own pixels.
	sub := bgr.Region(image.Rect(50, 60, 400, 300))
	defer sub.Close()
	dets, err = d.Detect(sub)
	if err != nil {
		t.Fatal(err)
	}
	matchOnce(t, "region", dets, []square{{image.Rect(50, 40, 74, 64), red, TypeDome}}, 2)

	fl := gocv.NewMatWithSize(100, 100, gocv.MatTypeCV32FC3)
	defer fl.Close()
	if _, err := d.Detect(fl); err == nil || !strings.Contains(err.Error(), "8-bit") {
		t.Errorf("float frame: %v, want an error saying it is not 8-bit", err)
	}
	empty := gocv.NewMat()
	defer empty.Close()
	if _, err := d.Detect(empty); err == nil {
		t.Error("empty frame: no error")
	}
	d.Close()
	if _, err := d.Detect(bgr); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("after Close: %v", err)
	}
}

func TestBatchProbe(t *testing.T) {
	// The marker and yolov8 test nets add constant grids of batch 1, which
	// OpenCV 4.6 refuses for a batch of 2: the probe must see that and fall
	// back to single forwards with identical results.
	squares := []square{{image.Rect(310, 150, 330, 170), red, TypeDome}, {image.Rect(900, 300, 922, 322), blue, TypeBullet}}
	frame := frameWith(t, 1280, 720, squares)
	defer frame.Close()
	d := openMarker(t, Options{Batch: true})
	if d.Batched() {
		t.Error("marker model reported as batchable")
	}
	dets, err := d.Detect(frame)
	if err != nil {
		t.Fatal(err)
	}
	matchOnce(t, "batch probe", dets, squares, 1)
}

func readF32(t *testing.T, name string) ([]float32, []int) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "parity", name+".f32"))
	if err != nil {
		t.Fatal(err)
	}
	shapeText, err := os.ReadFile(filepath.Join("testdata", "parity", name+".shape"))
	if err != nil {
		t.Fatal(err)
	}
	var shape []int
	for _, f := range strings.Fields(string(shapeText)) {
		n, err := strconv.Atoi(f)
		if err != nil {
			t.Fatal(err)
		}
		shape = append(shape, n)
	}
	v := make([]float32, len(raw)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return v, shape
}

// TestParityWithPython runs the fixed input image through the Go letterbox
// and the shim, and compares with what Python's cv2.dnn gave for the same
// image (precomputed by make_testmodels.py).
func TestParityWithPython(t *testing.T) {
	img := gocv.IMRead("testdata/parity/input.png", gocv.IMReadColor)
	if img.Empty() {
		t.Fatal("cannot read testdata/parity/input.png")
	}
	defer img.Close()
	for _, name := range []string{"yolov8", "yolov5", "marker"} {
		d, err := Open(filepath.Join("testdata", name), Options{})
		if err != nil {
			t.Fatal(err)
		}
		got, shape, err := d.rawLetterbox(img)
		d.Close()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want, wantShape := readF32(t, name)
		if len(shape) != len(wantShape) || len(got) != len(want) {
			t.Fatalf("%s: output shape %v, Python's %v", name, shape, wantShape)
		}
		worst := 0.0
		for i := range want {
			diff := math.Abs(float64(got[i]-want[i])) / (1 + math.Abs(float64(want[i])))
			worst = max(worst, diff)
		}
		if worst > 1e-4 {
			t.Errorf("%s: Go output differs from cv2.dnn's by up to %g (relative)", name, worst)
		}
		t.Logf("%s: %v, max relative difference from cv2.dnn %.2g", name, shape, worst)
	}
}

func TestForwardBlob(t *testing.T) {
	d := openMarker(t, Options{})
	blob := make([]float32, 3*320*320)
	// A red 16x16 patch at model pixels (100..116, 40..56) in RGB planes.
	for y := 40; y < 56; y++ {
		for x := 100; x < 116; x++ {
			blob[y*320+x] = 1
		}
	}
	out, shape, err := d.ForwardBlob(blob, [4]int{1, 3, 320, 320})
	if err != nil {
		t.Fatal(err)
	}
	if len(shape) != 3 || shape[1] != 9 || shape[2] != 1600 {
		t.Fatalf("shape %v", shape)
	}
	// Only cells (13, 5) and (13, 6) are fully red: dome score ~1 there, ~0
	// elsewhere.
	n := 1600
	for j := 0; j < n; j++ {
		gx, gy := j%40, j/40
		s := out[4*n+j]
		inside := gx == 13 && gy >= 5 && gy <= 6
		if inside && s < 0.99 || !inside && s > 0.01 {
			t.Fatalf("cell (%d,%d): dome score %v", gx, gy, s)
		}
	}
	if _, _, err := d.ForwardBlob(blob[:10], [4]int{1, 3, 320, 320}); err == nil {
		t.Error("short blob accepted")
	}
	if _, _, err := d.ForwardBlob(make([]float32, 3*100*100), [4]int{1, 3, 100, 100}); err == nil {
		t.Error("100x100 blob accepted by a 320x320 model")
	}
}

// A bundle's tile_thresholds set the detector's default threshold for the
// tile scale in use; an explicit Threshold still wins, and the whole-frame
// pass alone keeps the plain threshold.
func TestOpenThresholdByTileScale(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{ManifestFile, ModelFile} {
		data, err := os.ReadFile(filepath.Join("testdata/marker", name))
		if err != nil {
			t.Fatal(err)
		}
		if name == ManifestFile {
			data = append(data, "tile_thresholds: [{scale: 0.5, threshold: 0.7}]\n"...)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		opts Options
		want float32
	}{
		{"default scale 1", Options{}, 0.5},
		{"scale 0.5", Options{TileScale: 0.5}, 0.7},
		{"between", Options{TileScale: math.Sqrt(0.5)}, 0.6},
		{"below the listed", Options{TileScale: 0.25}, 0.7},
		{"explicit threshold", Options{TileScale: 0.5, Threshold: 0.4}, 0.4},
		{"whole frame only", Options{TileScale: 0.5, Tiles: Off}, 0.5},
	}
	for _, tc := range tests {
		d, err := Open(dir, tc.opts)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := d.Threshold(); math.Abs(float64(got-tc.want)) > 1e-6 {
			t.Errorf("%s: threshold %g, want %g", tc.name, got, tc.want)
		}
		d.Close()
	}
}
