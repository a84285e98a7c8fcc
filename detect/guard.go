package detect

import (
	"errors"
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"sync"

	"gocv.io/x/gocv"
)

// DefaultCascadeDir is where Debian's opencv-data installs the Haar cascades.
const DefaultCascadeDir = "/usr/share/opencv4/haarcascades"

// Cascade files the guard loads from the cascade folder.
const (
	FrontalFaceCascade = "haarcascade_frontalface_default.xml"
	ProfileFaceCascade = "haarcascade_profileface.xml"
)

// hogHitThreshold is the SVM score a HOG window needs to count as a person:
// OpenCV's default, 0. Higher values lose real people (in opencv-doc's
// messi5.jpg the player scores below 0.3).
const hogHitThreshold = 0

// minTexture is the mean gradient magnitude (grey levels per pixel, Sobel
// 3x3 / 8) below which a HOG hit is ignored: OpenCV 4.6's people detector
// fires on blank areas (a flat grey 256x256 image gives a "person"), and a
// window without texture cannot show anyone. Measured: people in
// opencv-doc's samples 6-15, the same windows after redaction about 1.
const minTexture = 2.0

// Errors of the people guard (test with errors.Is).
var (
	// ErrPersonOverlap: the camera box overlaps a person or face, so no crop
	// of it can be released.
	ErrPersonOverlap = errors.New("the camera box overlaps a person or face")
	// ErrPeopleRemain: after redaction the crop still contains something the
	// people or face detectors find.
	ErrPeopleRemain = errors.New("a person or face is still detectable after redaction")
)

// GuardOptions tune a Guard. The zero value uses the defaults.
type GuardOptions struct {
	// CascadeDir holds the Haar face cascades (default DefaultCascadeDir).
	CascadeDir string
	// MaxSide: larger images are downscaled to this longest side before
	// the frame-wide search (default 640: people it would miss there are
	// small, and RedactCamera looks for them around the camera at full
	// resolution).
	MaxSide int
	// MinSide: smaller images (crops) are upscaled up to 4x until their
	// shortest side reaches it, so that small people are found (default 320).
	MinSide int
	// Margin is the context RedactCamera keeps around a camera box, as a
	// fraction of the box size on each side (default 0.5; at least 16 px).
	Margin float64
	// Rounds is how many times Redact blurs what is still found before it
	// gives up and refuses (default 4).
	Rounds int
}

// Guard finds people and faces (OpenCV's HOG people detector, Haar frontal
// and profile face cascades, the latter in both orientations) and redacts
// them from any image that is to leave the process. It never reports or
// keeps what it found: it only blurs or refuses. Its methods are serialised.
type Guard struct {
	mu      sync.Mutex
	opts    GuardOptions
	hog     gocv.HOGDescriptor
	people  gocv.Mat
	frontal gocv.CascadeClassifier
	profile gocv.CascadeClassifier
	closed  bool
}

// NewGuard loads the HOG people detector and the face cascades.
func NewGuard(opts GuardOptions) (*Guard, error) {
	if opts.CascadeDir == "" {
		opts.CascadeDir = DefaultCascadeDir
	}
	if opts.MaxSide <= 0 {
		opts.MaxSide = 640
	}
	if opts.MinSide <= 0 {
		opts.MinSide = 320
	}
	if opts.Margin <= 0 {
		opts.Margin = 0.5
	}
	if opts.Rounds <= 0 {
		opts.Rounds = 4
	}
	for _, f := range []string{FrontalFaceCascade, ProfileFaceCascade} {
		p := filepath.Join(opts.CascadeDir, f)
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("people guard: face cascade %s: %w (Debian package opencv-data installs it)", p, err)
		}
	}
	g := &Guard{opts: opts, hog: gocv.NewHOGDescriptor(), people: gocv.HOGDefaultPeopleDetector(),
		frontal: gocv.NewCascadeClassifier(), profile: gocv.NewCascadeClassifier()}
	if err := g.hog.SetSVMDetector(g.people); err != nil {
		g.Close()
		return nil, fmt.Errorf("people guard: loading the HOG people detector: %w", err)
	}
	if !g.frontal.Load(filepath.Join(opts.CascadeDir, FrontalFaceCascade)) {
		g.Close()
		return nil, fmt.Errorf("people guard: cannot load %s", filepath.Join(opts.CascadeDir, FrontalFaceCascade))
	}
	if !g.profile.Load(filepath.Join(opts.CascadeDir, ProfileFaceCascade)) {
		g.Close()
		return nil, fmt.Errorf("people guard: cannot load %s", filepath.Join(opts.CascadeDir, ProfileFaceCascade))
	}
	return g, nil
}

// Close frees the detectors.
func (g *Guard) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil
	}
	g.closed = true
	g.hog.Close()
	g.people.Close()
	g.frontal.Close()
	g.profile.Close()
	return nil
}

// find returns the boxes of people and faces in img (BGR, 8-bit), in img
// pixels. Small images are upscaled and large ones downscaled first.
func (g *Guard) find(img gocv.Mat) []image.Rectangle {
	w, h := img.Cols(), img.Rows()
	if w < 8 || h < 8 {
		return nil
	}
	f := 1.0
	if long := max(w, h); long > g.opts.MaxSide {
		f = float64(g.opts.MaxSide) / float64(long)
	} else if short := min(w, h); short < g.opts.MinSide {
		f = math.Min(4, float64(g.opts.MinSide)/float64(short))
		// keep the upscaled image within MaxSide too
		f = math.Min(f, math.Max(1, float64(g.opts.MaxSide)/float64(max(w, h))))
	}
	work := img
	if f != 1 {
		work = gocv.NewMat()
		defer work.Close()
		gocv.Resize(img, &work, image.Pt(int(math.Round(float64(w)*f)), int(math.Round(float64(h)*f))), 0, 0, gocv.InterpolationLinear)
	}
	bgr := work
	if work.Channels() != 3 {
		bgr = gocv.NewMat()
		defer bgr.Close()
		switch work.Channels() {
		case 1:
			gocv.CvtColor(work, &bgr, gocv.ColorGrayToBGR)
		case 4:
			gocv.CvtColor(work, &bgr, gocv.ColorBGRAToBGR)
		}
	}
	var found []image.Rectangle
	gray := gocv.NewMat()
	defer gray.Close()
	gocv.CvtColor(bgr, &gray, gocv.ColorBGRToGray)
	if bgr.Cols() >= 64 && bgr.Rows() >= 128 {
		grad := texture(gray)
		for _, r := range g.hog.DetectMultiScaleWithParams(bgr, hogHitThreshold, image.Pt(8, 8), image.Pt(16, 16), 1.05, 2, false) {
			if meanIn(grad, r) >= minTexture {
				found = append(found, r)
			}
		}
		grad.Close()
	}
	gocv.EqualizeHist(gray, &gray)
	min := image.Pt(20, 20)
	found = append(found, g.frontal.DetectMultiScaleWithParams(gray, 1.1, 3, 0, min, image.Point{})...)
	found = append(found, g.profile.DetectMultiScaleWithParams(gray, 1.1, 3, 0, min, image.Point{})...)
	// The profile cascade knows one side of the face: look at the mirror too.
	flipped := gocv.NewMat()
	defer flipped.Close()
	gocv.Flip(gray, &flipped, 1)
	for _, r := range g.profile.DetectMultiScaleWithParams(flipped, 1.1, 3, 0, min, image.Point{}) {
		found = append(found, image.Rect(gray.Cols()-r.Max.X, r.Min.Y, gray.Cols()-r.Min.X, r.Max.Y))
	}
	bounds := image.Rect(0, 0, w, h)
	out := found[:0]
	for _, r := range found {
		s := image.Rect(int(math.Floor(float64(r.Min.X)/f)), int(math.Floor(float64(r.Min.Y)/f)),
			int(math.Ceil(float64(r.Max.X)/f)), int(math.Ceil(float64(r.Max.Y)/f))).Intersect(bounds)
		if !s.Empty() {
			out = append(out, s)
		}
	}
	return out
}

// texture returns the gradient magnitude of a grey image (3x3 Sobel divided
// by 8: grey levels per pixel), as 32-bit floats.
func texture(gray gocv.Mat) gocv.Mat {
	dx, dy := gocv.NewMat(), gocv.NewMat()
	defer dx.Close()
	defer dy.Close()
	gocv.Sobel(gray, &dx, gocv.MatTypeCV32F, 1, 0, 3, 0.125, 0, gocv.BorderReflect101)
	gocv.Sobel(gray, &dy, gocv.MatTypeCV32F, 0, 1, 3, 0.125, 0, gocv.BorderReflect101)
	out := gocv.NewMat()
	gocv.Magnitude(dx, dy, &out)
	return out
}

// meanIn is the mean of m (one channel) inside r, clipped to m.
func meanIn(m gocv.Mat, r image.Rectangle) float64 {
	r = r.Intersect(image.Rect(0, 0, m.Cols(), m.Rows()))
	if r.Empty() {
		return 0
	}
	roi := m.Region(r)
	defer roi.Close()
	return roi.Mean().Val1
}

// grow enlarges r by frac of its size on each side (at least px pixels).
func grow(r image.Rectangle, frac float64, px int) image.Rectangle {
	dx := max(px, int(math.Round(frac*float64(r.Dx()))))
	dy := max(px, int(math.Round(frac*float64(r.Dy()))))
	return image.Rect(r.Min.X-dx, r.Min.Y-dy, r.Max.X+dx, r.Max.Y+dy)
}

// obliterate makes the area r of img unrecognisable: pixelated into blocks
// of about 1/6 of its shorter side and blurred. Later rounds (for what is
// still detected) blur a larger area ever more strongly, so that no hard
// edges are left for a detector to latch on to.
func obliterate(img *gocv.Mat, r image.Rectangle, round int) {
	if round > 1 {
		r = grow(r, 0.2*float64(round-1), 8)
	}
	r = r.Intersect(image.Rect(0, 0, img.Cols(), img.Rows()))
	if r.Empty() {
		return
	}
	roi := img.Region(r)
	defer roi.Close()
	if r.Dx() < 12 || r.Dy() < 12 {
		roi.SetTo(roi.Mean())
		return
	}
	block := max(6, min(r.Dx(), r.Dy())/(7-min(5, round)))
	small := gocv.NewMat()
	defer small.Close()
	gocv.Resize(roi, &small, image.Pt(max(1, r.Dx()/block), max(1, r.Dy()/block)), 0, 0, gocv.InterpolationArea)
	gocv.Resize(small, &roi, image.Pt(r.Dx(), r.Dy()), 0, 0, gocv.InterpolationLinear)
	k := block*2 + 1
	gocv.GaussianBlur(roi, &roi, image.Pt(k, k), 0, 0, gocv.BorderReflect)
}

// Redact returns a copy of frame's region (a crop, in frame pixels) in which
// every person and face found is blurred beyond recognition. People are
// searched in the whole frame (context) and in the crop itself (upscaled,
// for small people); after blurring, the crop is searched again, up to
// Rounds times. If anything is still found, the crop is refused with
// ErrPeopleRemain. The caller owns the returned Mat.
func (g *Guard) Redact(frame gocv.Mat, region image.Rectangle) (gocv.Mat, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.check(frame); err != nil {
		return gocv.NewMat(), err
	}
	whole := image.Rect(0, 0, frame.Cols(), frame.Rows())
	return g.redact(frame, region, g.find(frame), region.Intersect(whole) != whole)
}

// RedactCamera cuts a crop around a camera box (the box plus Margin on each
// side) and redacts it as Redact does. It refuses with ErrPersonOverlap when
// a person or face overlaps the camera box itself. It returns the crop and
// where it lies in the frame.
func (g *Guard) RedactCamera(frame gocv.Mat, camera image.Rectangle) (gocv.Mat, image.Rectangle, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.check(frame); err != nil {
		return gocv.NewMat(), image.Rectangle{}, err
	}
	bounds := image.Rect(0, 0, frame.Cols(), frame.Rows())
	camera = camera.Intersect(bounds)
	if camera.Empty() {
		return gocv.NewMat(), image.Rectangle{}, errors.New("people guard: camera box outside the frame")
	}
	people := g.find(frame)
	crop := grow(camera, g.opts.Margin, 16).Intersect(bounds)
	// Look closer around the camera too, at full resolution or upscaled:
	// small people near it matter most. The window is tall enough for a
	// standing person next to the camera.
	around := grow(crop, 1, 0)
	if d := 192 - around.Dx(); d > 0 {
		around = image.Rect(around.Min.X-d/2, around.Min.Y, around.Max.X+d-d/2, around.Max.Y)
	}
	if d := 384 - around.Dy(); d > 0 {
		around = image.Rect(around.Min.X, around.Min.Y-d/2, around.Max.X, around.Max.Y+d-d/2)
	}
	around = around.Intersect(bounds)
	near := frame.Region(around)
	for _, r := range g.find(near) {
		people = append(people, r.Add(around.Min))
	}
	near.Close()
	for _, p := range people {
		if p.Overlaps(camera) {
			return gocv.NewMat(), image.Rectangle{}, fmt.Errorf("people guard: crop %v: %w", crop, ErrPersonOverlap)
		}
	}
	out, err := g.redact(frame, crop, people, false)
	return out, crop, err
}

func (g *Guard) check(frame gocv.Mat) error {
	if g.closed {
		return errors.New("people guard: closed")
	}
	if frame.Empty() {
		return errors.New("people guard: empty frame")
	}
	if frame.Type()&7 != gocv.MatTypeCV8U || (frame.Channels() != 3 && frame.Channels() != 1 && frame.Channels() != 4) {
		return fmt.Errorf("people guard: frame type %v: want 8-bit BGR, BGRA or grey", frame.Type())
	}
	return nil
}

// redact crops region out of frame and obliterates people (frame pixels),
// what the detectors find in the crop itself when searchCrop (a crop is
// upscaled, so smaller people are found), and whatever they still find after.
func (g *Guard) redact(frame gocv.Mat, region image.Rectangle, people []image.Rectangle, searchCrop bool) (gocv.Mat, error) {
	region = region.Intersect(image.Rect(0, 0, frame.Cols(), frame.Rows()))
	if region.Empty() {
		return gocv.NewMat(), errors.New("people guard: region outside the frame")
	}
	src := frame.Region(region)
	out := src.Clone()
	src.Close()
	if searchCrop {
		for _, r := range g.find(out) {
			people = append(people, r.Add(region.Min))
		}
	}
	for _, p := range people {
		if p.Overlaps(region) {
			obliterate(&out, grow(p, 0.2, 4).Sub(region.Min), 1)
		}
	}
	for round := 2; round <= g.opts.Rounds+1; round++ {
		remain := g.find(out)
		if len(remain) == 0 {
			return out, nil
		}
		if round > g.opts.Rounds {
			break
		}
		for _, r := range remain {
			obliterate(&out, grow(r, 0.2, 4), round)
		}
	}
	out.Close()
	return gocv.NewMat(), fmt.Errorf("people guard: crop %v: %w", region, ErrPeopleRemain)
}
