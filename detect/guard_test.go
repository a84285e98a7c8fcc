package detect

import (
	"compress/gzip"
	"encoding/xml"
	"errors"
	"image"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"gocv.io/x/gocv"
)

// opencvDocData is where Debian's opencv-doc (installed by make setup) puts
// the sample media with people.
const opencvDocData = "/usr/share/doc/opencv-doc/examples/data"

// docFile returns the path of a sample file, decompressing name.gz into a
// temporary folder when Debian shipped it gzipped.
func docFile(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(opencvDocData, name)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	gz, err := os.Open(p + ".gz")
	if err != nil {
		t.Fatalf("sample %s missing (neither it nor .gz): install opencv-doc with make setup: %v", p, err)
	}
	defer gz.Close()
	zr, err := gzip.NewReader(gz)
	if err != nil {
		t.Fatalf("reading %s.gz: %v", p, err)
	}
	out := filepath.Join(t.TempDir(), name)
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(f, zr); err != nil {
		t.Fatalf("decompressing %s.gz: %v", p, err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return out
}

// vtestFrames are the frames of opencv-doc's vtest.avi that the guard tests
// use: different people at different places (0 is also the benchmark's).
var vtestFrames = []int{0, 200, 400, 600}

// peopleSamples returns the opencv-doc images and video frames with people,
// by name ("basketball1.png", "messi5.jpg", "vtest.avi#N").
func peopleSamples(t testing.TB) map[string]gocv.Mat {
	t.Helper()
	s := map[string]gocv.Mat{}
	t.Cleanup(func() {
		for _, m := range s {
			m.Close()
		}
	})
	for _, name := range []string{"basketball1.png", "messi5.jpg"} {
		img := gocv.IMRead(docFile(t, name), gocv.IMReadColor)
		if img.Empty() {
			t.Fatalf("cannot read %s", name)
		}
		s[name] = img
	}
	vc, err := gocv.VideoCaptureFile(docFile(t, "vtest.avi"))
	if err != nil {
		t.Fatalf("opening vtest.avi: %v", err)
	}
	defer vc.Close()
	frame := gocv.NewMat()
	defer frame.Close()
	last := vtestFrames[len(vtestFrames)-1]
	for i, want := 0, 0; i <= last; i++ {
		if !vc.Read(&frame) || frame.Empty() {
			t.Fatalf("vtest.avi: cannot read frame %d", i)
		}
		if i == vtestFrames[want] {
			s["vtest.avi#"+strconv.Itoa(i)] = frame.Clone()
			want++
		}
	}
	return s
}

// stockFinder is OpenCV's people and face detectors with their stock
// settings, reached through gocv rather than the guard's own shim: the HOG
// people detector (loaded from a file, because gocv v0.31's
// HOGDefaultPeopleDetector hands OpenCV freed memory, see guard_shim.h) and
// the frontal and profile (both sides) face cascades. It is what the tests
// hold the guard's output against.
type stockFinder struct {
	hog              gocv.HOGDescriptor
	frontal, profile gocv.CascadeClassifier
}

func newStockFinder(t testing.TB) *stockFinder {
	t.Helper()
	s := &stockFinder{hog: gocv.NewHOGDescriptor(), frontal: gocv.NewCascadeClassifier(), profile: gocv.NewCascadeClassifier()}
	t.Cleanup(func() {
		s.hog.Close()
		s.frontal.Close()
		s.profile.Close()
	})
	weights := peopleWeights(t)
	det, err := gocv.NewMatFromBytes(1, len(weights), gocv.MatTypeCV32F, unsafe.Slice((*byte)(unsafe.Pointer(&weights[0])), 4*len(weights)))
	if err != nil {
		t.Fatal(err)
	}
	defer det.Close()
	if err := s.hog.SetSVMDetector(det); err != nil { // copies the weights
		t.Fatal(err)
	}
	for _, c := range []struct {
		cc   *gocv.CascadeClassifier
		name string
	}{{&s.frontal, FrontalFaceCascade}, {&s.profile, ProfileFaceCascade}} {
		if !c.cc.Load(filepath.Join(DefaultCascadeDir, c.name)) {
			t.Fatalf("cannot load cascade %s", c.name)
		}
	}
	return s
}

// peopleWeights returns the SVM of OpenCV's default HOG people detector, as
// OpenCV itself writes it to a file (its first weight and its length are
// checked against OpenCV's source, modules/objdetect/src/hog.cpp).
func peopleWeights(t testing.TB) []float32 {
	t.Helper()
	path := filepath.Join(t.TempDir(), "people.xml")
	if err := savePeopleDetector(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		SVM string `xml:"people>SVMDetector"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	var w []float32
	for _, f := range strings.Fields(doc.SVM) {
		v, err := strconv.ParseFloat(f, 32)
		if err != nil {
			t.Fatalf("reading %s: weight %q: %v", path, f, err)
		}
		w = append(w, float32(v))
	}
	// 105 blocks x 36 bins + the bias; hog.cpp starts with 0.05359386f.
	if len(w) != 3781 || math.Abs(float64(w[0])-0.05359386) > 1e-7 {
		t.Fatalf("%s: %d weights starting %v: not OpenCV's default people detector", path, len(w), w[:min(len(w), 1)])
	}
	return w
}

// find returns what the stock detectors find in img (8-bit BGR).
func (s *stockFinder) find(img gocv.Mat) []image.Rectangle {
	var found []image.Rectangle
	if img.Cols() >= 64 && img.Rows() >= 128 { // OpenCV's HOG fails on images smaller than its window
		found = append(found, s.hog.DetectMultiScale(img)...)
	}
	gray := gocv.NewMat()
	defer gray.Close()
	gocv.CvtColor(img, &gray, gocv.ColorBGRToGray)
	flipped := gocv.NewMat()
	defer flipped.Close()
	gocv.Flip(gray, &flipped, 1)
	found = append(found, s.frontal.DetectMultiScale(gray)...)
	found = append(found, s.profile.DetectMultiScale(gray)...)
	for _, r := range s.profile.DetectMultiScale(flipped) {
		found = append(found, image.Rect(gray.Cols()-r.Max.X, r.Min.Y, gray.Cols()-r.Min.X, r.Max.Y))
	}
	return found
}

func newTestGuard(t testing.TB) *Guard {
	t.Helper()
	g, err := NewGuard(GuardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

// guardFind returns the boxes of what one of the guard's searches finds in img.
func guardFind(t testing.TB, search func(gocv.Mat) ([]seen, error), img gocv.Mat) []image.Rectangle {
	t.Helper()
	found, err := search(img)
	if err != nil {
		t.Fatal(err)
	}
	var out []image.Rectangle
	for _, s := range found {
		out = append(out, s.box)
	}
	return out
}

// unchanged is the share of pixels of a and b (same size, BGR) that are equal.
func unchanged(a, b gocv.Mat) float64 {
	diff := gocv.NewMat()
	defer diff.Close()
	gocv.AbsDiff(a, b, &diff)
	gray := gocv.NewMat()
	defer gray.Close()
	gocv.CvtColor(diff, &gray, gocv.ColorBGRToGray)
	n := a.Cols() * a.Rows()
	return float64(n-gocv.CountNonZero(gray)) / float64(n)
}

// guardSamples are the samples TestGuard redacts: all of them, or under
// -short (make test-arm64, where OpenCV runs emulated) one image and one
// frame of the video.
func guardSamples(t *testing.T) []string {
	if testing.Short() {
		return []string{"messi5.jpg", "vtest.avi#400"}
	}
	names := []string{"basketball1.png", "messi5.jpg"}
	for _, i := range vtestFrames {
		names = append(names, "vtest.avi#"+strconv.Itoa(i))
	}
	return names
}

// TestGuard checks on Debian's sample media with people that after Redact
// neither the guard nor OpenCV's stock detectors find anyone, and that a
// camera box on a person is refused.
func TestGuard(t *testing.T) {
	g := newTestGuard(t)
	stock := newStockFinder(t)
	samples := peopleSamples(t)
	for _, name := range guardSamples(t) {
		img := samples[name]
		// The sample must have detectable people, or the test proves nothing.
		before := stock.find(img)
		if len(before) == 0 {
			t.Fatalf("%s: stock detectors find nobody before redaction: sample unsuitable", name)
		}
		// The guard is more sensitive than the stock detectors: it finds
		// (at least a part of) everyone they find.
		guard := guardFind(t, g.check, img)
		for _, b := range before {
			hit := false
			for _, r := range guard {
				hit = hit || r.Overlaps(b)
			}
			if !hit {
				t.Errorf("%s: the stock detectors find %v, the guard nothing there", name, b)
			}
		}
		whole := image.Rect(0, 0, img.Cols(), img.Rows())
		out, err := g.Redact(img, whole)
		if err != nil {
			t.Errorf("%s: Redact: %v", name, err)
			continue
		}
		if out.Cols() != img.Cols() || out.Rows() != img.Rows() {
			t.Errorf("%s: redacted %dx%d, want %dx%d", name, out.Cols(), out.Rows(), img.Cols(), img.Rows())
		}
		if after := stock.find(out); len(after) != 0 {
			t.Errorf("%s: stock HOG/face detectors still find %v after Redact (before: %v)", name, after, before)
		}
		if !testing.Short() {
			// What Redact let go passed the guard's own search.
			if n := len(guardFind(t, g.check, out)); n != 0 {
				t.Errorf("%s: guard still finds %d people/faces after Redact", name, n)
			}
		}
		// Redaction must not simply blank everything.
		frac := unchanged(img, out)
		out.Close()
		if frac < 0.05 {
			t.Errorf("%s: only %.0f%% of the pixels unchanged: redaction blanked the image", name, 100*frac)
		} else {
			t.Logf("%s: %d found before, %.0f%% of pixels unchanged after", name, len(before), 100*frac)
		}

		// A camera box in the middle of someone: refused, nothing returned.
		p := before[0]
		c := image.Pt((p.Min.X+p.Max.X)/2, (p.Min.Y+p.Max.Y)/2)
		camera := image.Rect(c.X-8, c.Y-8, c.X+8, c.Y+8)
		crop, _, err := g.RedactCamera(img, camera)
		if !errors.Is(err, ErrPersonOverlap) {
			t.Errorf("%s: camera box %v on a person: err %v, want ErrPersonOverlap", name, camera, err)
		}
		if !crop.Empty() {
			t.Errorf("%s: a refused crop came back with pixels", name)
		}
		crop.Close()
	}
}

func TestGuardCameraCropAwayFromPeople(t *testing.T) {
	g := newTestGuard(t)
	// A synthetic street-like frame: a camera-like box on a wall, no one.
	frame := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(120, 130, 140, 0), 720, 1280, gocv.MatTypeCV8UC3)
	defer frame.Close()
	gocv.Rectangle(&frame, image.Rect(600, 100, 640, 130), red, -1)
	out, crop, err := g.RedactCamera(frame, image.Rect(600, 100, 640, 130))
	if err != nil {
		t.Fatalf("crop of a camera with no one near: %v", err)
	}
	defer out.Close()
	// Margin 0.5: 20 px left and right of a 40 px box, at least 16 px above and below.
	if crop != image.Rect(580, 84, 660, 146) || out.Cols() != crop.Dx() || out.Rows() != crop.Dy() {
		t.Errorf("crop %v, image %dx%d; want (580,84)-(660,146)", crop, out.Cols(), out.Rows())
	}
	// Nobody there: the crop is the frame's pixels, untouched.
	want := frame.Region(crop)
	if f := unchanged(want, out); f != 1 {
		t.Errorf("crop with no one in it: %.1f%% of the pixels changed", 100*(1-f))
	}
	want.Close()

	// A crop of a sample with people around, camera box away from them.
	stock := newStockFinder(t)
	img := peopleSamples(t)["messi5.jpg"]
	people := append(guardFind(t, g.context, img), stock.find(img)...)
	var camera image.Rectangle
	for y := 0; y+20 <= img.Rows() && camera.Empty(); y += 10 {
		for x := 0; x+20 <= img.Cols(); x += 10 {
			r := image.Rect(x, y, x+20, y+20)
			free := true
			for _, p := range people {
				if grow(p, 0.2, 8).Overlaps(r) {
					free = false
					break
				}
			}
			if free {
				camera = r
				break
			}
		}
	}
	if camera.Empty() {
		t.Fatal("messi5.jpg: no free spot for a camera box")
	}
	out2, _, err := g.RedactCamera(img, camera)
	if err != nil && !errors.Is(err, ErrPersonOverlap) {
		t.Fatalf("camera %v away from people: %v", camera, err)
	}
	if err == nil {
		if n := len(stock.find(out2)); n != 0 {
			t.Errorf("crop around %v: stock detectors find %d after redaction", camera, n)
		}
		out2.Close()
	}
}
func TestGuardBadInput(t *testing.T) {
	g := newTestGuard(t)
	empty := gocv.NewMat()
	defer empty.Close()
	if _, err := g.Redact(empty, image.Rect(0, 0, 10, 10)); err == nil {
		t.Error("empty frame accepted")
	}
	frame := gocv.NewMatWithSize(100, 100, gocv.MatTypeCV8UC3)
	defer frame.Close()
	if _, err := g.Redact(frame, image.Rect(200, 200, 300, 300)); err == nil {
		t.Error("region outside the frame accepted")
	}
	if _, _, err := g.RedactCamera(frame, image.Rect(-50, -50, -10, -10)); err == nil {
		t.Error("camera outside the frame accepted")
	}
	if _, err := NewGuard(GuardOptions{CascadeDir: t.TempDir()}); err == nil {
		t.Error("guard without cascades created")
	}
	g.Close()
	if _, err := g.Redact(frame, image.Rect(0, 0, 10, 10)); err == nil {
		t.Error("closed guard redacted")
	}
}

// TestGuardNetNoCrash feeds the guard's detectors what OpenCV would abort
// on, through gocv: wrong image types become errors, images smaller than
// the HOG window give nothing. A flat image holds nobody (with gocv's
// HOGDefaultPeopleDetector, whose weights come from freed memory, OpenCV
// 4.6 found a "person" in one).
func TestGuardNetNoCrash(t *testing.T) {
	g := newTestGuard(t)
	float := gocv.NewMatWithSize(200, 100, gocv.MatTypeCV32FC3)
	defer float.Close()
	if _, err := g.net.people(float, hogParams{0, 8, 1.05, 2}); err == nil {
		t.Error("HOG on a float image: no error")
	}
	bgr := gocv.NewMatWithSize(100, 100, gocv.MatTypeCV8UC3)
	defer bgr.Close()
	if _, err := g.net.faces(false, bgr, faceParams{1.1, 3, 24}); err == nil {
		t.Error("face cascade on a colour image: no error")
	}
	if err := obliterate(float, image.Rect(0, 0, 50, 50), image.Rect(10, 10, 40, 40), 4); err == nil {
		t.Error("obliterate on a float image: no error")
	}
	for _, size := range []image.Point{{63, 200}, {200, 127}, {8, 8}, {1, 1}} {
		small := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(30, 60, 90, 0), size.Y, size.X, gocv.MatTypeCV8UC3)
		if h, err := g.net.people(small, hogParams{-1, 4, 1.05, 0}); err != nil || len(h) != 0 {
			t.Errorf("HOG on %v: %v, %v; want nothing", size, h, err)
		}
		if found, err := g.check(small); err != nil || len(found) != 0 {
			t.Errorf("guard on %v: %v, %v; want nothing", size, found, err)
		}
		small.Close()
	}
	flat := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(120, 130, 140, 0), 256, 256, gocv.MatTypeCV8UC3)
	defer flat.Close()
	if found, err := g.check(flat); err != nil || len(found) != 0 {
		t.Errorf("guard on a flat image: %v, %v; want nothing", found, err)
	}
}

// TestObliterate checks the blur: full inside the inner box, fading out to
// the outer box, nothing changed beyond it, on 1, 3 and 4 channels and at
// the image's edges.
func TestObliterate(t *testing.T) {
	for _, tc := range []struct {
		name         string
		typ          gocv.MatType
		outer, inner image.Rectangle
	}{
		{"bgr", gocv.MatTypeCV8UC3, image.Rect(40, 40, 160, 160), image.Rect(60, 60, 140, 140)},
		{"grey", gocv.MatTypeCV8UC1, image.Rect(40, 40, 160, 160), image.Rect(60, 60, 140, 140)},
		{"bgra", gocv.MatTypeCV8UC4, image.Rect(40, 40, 160, 160), image.Rect(60, 60, 140, 140)},
		{"corner", gocv.MatTypeCV8UC3, image.Rect(-30, -30, 90, 90), image.Rect(-10, -10, 70, 70)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A fine checkerboard: all detail, mean 127.5.
			img := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(0, 0, 0, 0), 200, 200, tc.typ)
			defer img.Close()
			for y := 0; y < 200; y += 4 {
				for x := 0; x < 200; x += 4 {
					if (x/4+y/4)%2 == 0 {
						gocv.Rectangle(&img, image.Rect(x, y, x+4, y+4), color.RGBA{255, 255, 255, 255}, -1)
					}
				}
			}
			orig := img.Clone()
			defer orig.Close()
			if err := obliterate(img, tc.outer, tc.inner, max(4, min(tc.inner.Dx(), tc.inner.Dy())/blockDiv)); err != nil {
				t.Fatal(err)
			}
			bounds := image.Rect(0, 0, 200, 200)
			inner := tc.inner.Intersect(bounds)
			stats := func(m gocv.Mat) (float64, float64) {
				roi := m.Region(inner)
				defer roi.Close()
				mean, std := gocv.NewMat(), gocv.NewMat()
				defer mean.Close()
				defer std.Close()
				gocv.MeanStdDev(roi, &mean, &std)
				return mean.GetDoubleAt(0, 0), std.GetDoubleAt(0, 0)
			}
			m0, s0 := stats(orig)
			m, s := stats(img)
			if s > 3 || math.Abs(m-m0) > 10 {
				t.Errorf("inside the inner box: mean %.1f, std dev %.1f; want about %.1f and under 3, from std dev %.1f (checkerboard gone, not blanked)", m, s, m0, s0)
			}
			// Beyond the outer box: untouched.
			changed := 0
			for y := 0; y < 200; y++ {
				for x := 0; x < 200; x++ {
					if image.Pt(x, y).In(tc.outer) {
						continue
					}
					for c := 0; c < img.Channels(); c++ {
						if img.GetUCharAt(y, x*img.Channels()+c) != orig.GetUCharAt(y, x*img.Channels()+c) {
							changed++
						}
					}
				}
			}
			if changed != 0 {
				t.Errorf("%d values changed outside the outer box", changed)
			}
			// The band between the boxes fades: no jump at the outer edge
			// bigger than the checkerboard's own step there allows.
			if tc.outer.Min.X > 0 {
				y := (inner.Min.Y + inner.Max.Y) / 2
				x := tc.outer.Min.X
				in, out := int(img.GetUCharAt(y, x*img.Channels())), int(orig.GetUCharAt(y, x*img.Channels()))
				if d := in - out; d < -30 || d > 30 {
					t.Errorf("at the outer edge (%d,%d) the blur changed %d to %d: not feathered", x, y, out, in)
				}
			}
		})
	}
}

// TestGuardRefusesWhatRemains: when the rounds are spent and someone is still
// found, nothing comes back.
func TestGuardRefusesWhatRemains(t *testing.T) {
	g, err := NewGuard(GuardOptions{Rounds: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	sample := peopleSamples(t)["vtest.avi#400"]
	img := sample.Clone()
	defer img.Close()
	// One round, spent on a corner where nobody is: the people are still there.
	err = g.scrub(img, []seen{{box: image.Rect(0, 0, 10, 10)}})
	if !errors.Is(err, ErrPeopleRemain) {
		t.Errorf("scrub with the people left in: err %v, want ErrPeopleRemain", err)
	}
}
