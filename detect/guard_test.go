package detect

import (
	"compress/gzip"
	"errors"
	"image"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"

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

// peopleSamples returns the opencv-doc images and video frames with people.
func peopleSamples(t testing.TB) map[string]gocv.Mat {
	t.Helper()
	s := map[string]gocv.Mat{}
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
	for i := 0; i <= 400; i++ {
		if !vc.Read(&frame) || frame.Empty() {
			t.Fatalf("vtest.avi: cannot read frame %d", i)
		}
		if i%400 == 0 { // frames 0 and 400: different people at different places
			s["vtest.avi#"+strconv.Itoa(i)] = frame.Clone()
		}
	}
	t.Cleanup(func() {
		for _, m := range s {
			m.Close()
		}
	})
	return s
}

// independentFind runs OpenCV's detectors with their stock settings (not the
// guard's): the HOG people detector and the frontal and profile (both
// sides) face cascades. It returns what they find. HOG hits in
// windows without texture are left out: OpenCV 4.6's HOG fires on blank
// areas (see minTexture), where there is nobody to see.
func independentFind(t testing.TB, img gocv.Mat) []image.Rectangle {
	t.Helper()
	hog := gocv.NewHOGDescriptor()
	defer hog.Close()
	det := gocv.HOGDefaultPeopleDetector()
	defer det.Close()
	if err := hog.SetSVMDetector(det); err != nil {
		t.Fatal(err)
	}
	gray := gocv.NewMat()
	defer gray.Close()
	gocv.CvtColor(img, &gray, gocv.ColorBGRToGray)
	grad := texture(gray)
	defer grad.Close()
	var found []image.Rectangle
	if img.Cols() >= 64 && img.Rows() >= 128 { // smaller images make OpenCV's HOG abort
		for _, r := range hog.DetectMultiScale(img) {
			if meanIn(grad, r) >= minTexture {
				found = append(found, r)
			}
		}
	}
	flipped := gocv.NewMat()
	defer flipped.Close()
	gocv.Flip(gray, &flipped, 1)
	for _, name := range []string{FrontalFaceCascade, ProfileFaceCascade} {
		c := gocv.NewCascadeClassifier()
		if !c.Load(filepath.Join(DefaultCascadeDir, name)) {
			t.Fatalf("cannot load cascade %s", name)
		}
		found = append(found, c.DetectMultiScale(gray)...)
		if name == ProfileFaceCascade {
			for _, r := range c.DetectMultiScale(flipped) {
				found = append(found, image.Rect(gray.Cols()-r.Max.X, r.Min.Y, gray.Cols()-r.Min.X, r.Max.Y))
			}
		}
		c.Close()
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

// TestGuard checks on Debian's sample media with people that after Redact
// neither the guard nor OpenCV's stock detectors find anyone, and that a
// camera box on a person is refused.
func TestGuard(t *testing.T) {
	g := newTestGuard(t)
	for name, img := range peopleSamples(t) {
		// The sample must have detectable people, or the test proves nothing.
		before := independentFind(t, img)
		if len(before) == 0 {
			t.Fatalf("%s: stock detectors find nobody before redaction: sample unsuitable", name)
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
		if n := len(g.find(out)); n != 0 {
			t.Errorf("%s: guard still finds %d people/faces after Redact", name, n)
		}
		if after := independentFind(t, out); len(after) != 0 {
			t.Errorf("%s: stock HOG/face detectors still find %d after Redact (before: %d)", name, len(after), len(before))
		}
		// Redaction must not simply blank everything.
		diff := gocv.NewMat()
		gocv.AbsDiff(img, out, &diff)
		gray := gocv.NewMat()
		gocv.CvtColor(diff, &gray, gocv.ColorBGRToGray)
		unchanged := img.Cols()*img.Rows() - gocv.CountNonZero(gray)
		diff.Close()
		gray.Close()
		out.Close()
		if frac := float64(unchanged) / float64(img.Cols()*img.Rows()); frac < 0.05 {
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
	// The camera itself is untouched: redaction only hits people.
	if v := out.GetVecbAt(30, 40); v[2] != 255 || v[0] != 0 {
		t.Errorf("camera pixel changed: %v", v)
	}

	// A crop of a sample with people around, camera box away from them.
	img := peopleSamples(t)["messi5.jpg"]
	people := append(g.find(img), independentFind(t, img)...)
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
		if n := len(independentFind(t, out2)); n != 0 {
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
