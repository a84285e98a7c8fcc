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

// The guard searches with settings more sensitive than OpenCV's defaults
// (HOG: hit threshold 0, group threshold 2; cascades: 3 neighbours), so that
// an image it lets go is free of people with a margin: what the stock
// detectors would find on any platform, whose floating-point results differ
// slightly (amd64 SSE/AVX, arm64 NEON), the guard finds first. The extra
// sensitivity costs no time (the same windows are scored; fewer are
// dropped). The pyramid steps and the window stride are OpenCV's.
const (
	// guardHit is the HOG SVM score a window needs (OpenCV's default 0).
	guardHit = -0.3
	// guardGroup: a single HOG window is enough (OpenCV's default 2).
	guardGroup = 1
	// guardNeighbours: overlapping cascade hits a face needs (default 3).
	guardNeighbours = 2
	// guardMinFace is the smallest face searched for, in pixels of the
	// searched view (the cascades' own windows are 24 and 20 px).
	guardMinFace = 20
)

// Redaction geometry: what the detectors return is grown before blurring,
// because their boxes are tight (a face box stops at the forehead and chin, a
// HOG window may sit off the person by a stride) and a remnant at the edge
// can still be recognised or detected.
const (
	// growBody and growFace are the margins added on each side of a HOG hit
	// (its window already holds a margin around the person) and of a face
	// hit (which stops at the forehead and chin), as a fraction of its size;
	// a hit found again where the image was already blurred gets n times as
	// much the n-th time.
	growBody = 0.15
	growFace = 0.3
	// feather is the band (fraction of the grown box, each side) over which
	// the blur fades into the untouched image, leaving no hard edge that
	// the detectors would take for the outline of a body.
	feather = 0.2
	// blockDiv: the pixelation blocks are 1/blockDiv of the grown box's
	// shorter side (at least 4 px), so that nothing finer than a quarter
	// of a person survives.
	blockDiv = 4
)

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
	// MaxSide: a frame larger than this is downscaled to this longest side
	// for the frame-wide context search (default 640). It only finds large
	// people around a crop; the crop itself is always searched at full
	// resolution or more.
	MaxSide int
	// MinSide: images smaller than this (crops) are searched a second time
	// upscaled (up to 4x) until their shortest side reaches it, so that small
	// people are found (default 320).
	MinSide int
	// Margin is the context RedactCamera keeps around a camera box, as a
	// fraction of the box size on each side (default 0.5; at least 16 px).
	Margin float64
	// Rounds is how many times Redact blurs what is found (the first time,
	// then what is still found, ever more widely) before it gives up and
	// refuses (default 4).
	Rounds int
}

// Guard finds people and faces (OpenCV's HOG people detector, Haar frontal
// and profile face cascades, the latter in both orientations) and redacts
// them from any image that is to leave the process. It never reports or
// keeps what it found: it only blurs or refuses. Any failure of a detector is
// a refusal. Its methods are serialised.
type Guard struct {
	mu   sync.Mutex
	opts GuardOptions
	net  *guardNet // nil once closed
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
	var paths [2]string
	for i, f := range []string{FrontalFaceCascade, ProfileFaceCascade} {
		paths[i] = filepath.Join(opts.CascadeDir, f)
		if _, err := os.Stat(paths[i]); err != nil {
			return nil, fmt.Errorf("people guard: face cascade %s: %w (Debian package opencv-data installs it)", paths[i], err)
		}
	}
	n, err := openGuardNet(paths[0], paths[1])
	if err != nil {
		return nil, fmt.Errorf("people guard: %w", err)
	}
	return &Guard{opts: opts, net: n}, nil
}

// Close frees the detectors.
func (g *Guard) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.net != nil {
		g.net.close()
		g.net = nil
	}
	return nil
}

// seen is something the detectors found: a person (HOG) or a face.
type seen struct {
	box  image.Rectangle
	face bool
}

// findAt searches img (8-bit, 1, 3 or 4 channels) viewed at f times its size
// and returns what it finds, in img pixels.
func (g *Guard) findAt(img gocv.Mat, f float64) ([]seen, error) {
	w, h := img.Cols(), img.Rows()
	if w < 8 || h < 8 {
		return nil, nil
	}
	bgr := img
	if img.Channels() != 3 {
		bgr = gocv.NewMat()
		defer bgr.Close()
		if img.Channels() == 1 {
			gocv.CvtColor(img, &bgr, gocv.ColorGrayToBGR)
		} else {
			gocv.CvtColor(img, &bgr, gocv.ColorBGRAToBGR)
		}
	}
	if f != 1 {
		scaled := gocv.NewMat()
		defer scaled.Close()
		gocv.Resize(bgr, &scaled, image.Pt(int(math.Round(float64(w)*f)), int(math.Round(float64(h)*f))), 0, 0, gocv.InterpolationLinear)
		bgr = scaled
	}
	gray := gocv.NewMat()
	defer gray.Close()
	gocv.CvtColor(bgr, &gray, gocv.ColorBGRToGray)
	flipped := gocv.NewMat()
	defer flipped.Close()
	gocv.Flip(gray, &flipped, 1)

	var found []seen
	people, err := g.net.people(bgr, hogParams{hit: guardHit, stride: 8, scale: 1.05, group: guardGroup})
	if err != nil {
		return nil, err
	}
	for _, p := range people {
		found = append(found, seen{box: p.r})
	}
	for _, s := range []struct {
		img               gocv.Mat
		profile, mirrored bool
	}{{gray, false, false}, {gray, true, false}, {flipped, true, true}} {
		// The profile cascade knows one side of the face: the mirror
		// image shows it the other.
		faces, err := g.net.faces(s.profile, s.img, faceParams{scale: 1.1, neighbours: guardNeighbours, min: guardMinFace})
		if err != nil {
			return nil, err
		}
		for _, r := range faces {
			b := r.r
			if s.mirrored {
				b = image.Rect(gray.Cols()-b.Max.X, b.Min.Y, gray.Cols()-b.Min.X, b.Max.Y)
			}
			found = append(found, seen{box: b, face: true})
		}
	}
	bounds := image.Rect(0, 0, w, h)
	out := found[:0]
	for _, s := range found {
		r := s.box
		s.box = image.Rect(int(math.Floor(float64(r.Min.X)/f)), int(math.Floor(float64(r.Min.Y)/f)),
			int(math.Ceil(float64(r.Max.X)/f)), int(math.Ceil(float64(r.Max.Y)/f))).Intersect(bounds)
		if !s.box.Empty() {
			out = append(out, s)
		}
	}
	return out, nil
}

// check searches an image that is to leave the process: at its own
// resolution (where anyone looking at it would search) and, when it is
// small, upscaled up to 4x until its shorter side reaches MinSide (where
// small people become detectable), the upscaled view kept within 2 MaxSide.
func (g *Guard) check(img gocv.Mat) ([]seen, error) {
	found, err := g.findAt(img, 1)
	if err != nil {
		return nil, err
	}
	w, h := img.Cols(), img.Rows()
	up := math.Min(4, float64(g.opts.MinSide)/float64(min(w, h)))
	up = math.Min(up, float64(2*g.opts.MaxSide)/float64(max(w, h)))
	if up >= 1.25 {
		more, err := g.findAt(img, up)
		if err != nil {
			return nil, err
		}
		found = append(found, more...)
	}
	return found, nil
}

// context searches a whole frame for large people, downscaled to MaxSide.
func (g *Guard) context(frame gocv.Mat) ([]seen, error) {
	f := math.Min(1, float64(g.opts.MaxSide)/float64(max(frame.Cols(), frame.Rows())))
	return g.findAt(frame, f)
}

// grow enlarges r by frac of its size on each side (at least px pixels).
func grow(r image.Rectangle, frac float64, px int) image.Rectangle {
	dx := max(px, int(math.Round(frac*float64(r.Dx()))))
	dy := max(px, int(math.Round(frac*float64(r.Dy()))))
	return image.Rect(r.Min.X-dx, r.Min.Y-dy, r.Max.X+dx, r.Max.Y+dy)
}

// scrub blurs everything in people (img pixels) out of img, then searches img
// again and blurs what is still found, for up to Rounds rounds. Something
// found again where img was already blurred is blurred over a wider area
// each time (level n grows the box n times as much), so that remnants at the
// edges go; something found elsewhere is new and treated as such. It returns
// ErrPeopleRemain if something is still found after the last round.
func (g *Guard) scrub(img gocv.Mat, people []seen) error {
	type blurred struct {
		box   image.Rectangle
		level int
	}
	var done []blurred
	for round := 1; ; round++ {
		if len(people) == 0 {
			return nil
		}
		if round > g.opts.Rounds {
			return ErrPeopleRemain
		}
		for _, p := range people {
			level := 1
			for _, d := range done {
				if d.box.Overlaps(p.box) {
					level = max(level, d.level+1)
				}
			}
			frac := growBody
			if p.face {
				frac = growFace
			}
			inner := grow(p.box, frac*float64(level), 4)
			outer := grow(inner, feather, 4)
			block := max(4, min(inner.Dx(), inner.Dy())/blockDiv)
			if err := obliterate(img, outer, inner, block); err != nil {
				return fmt.Errorf("people guard: %w", err)
			}
			done = append(done, blurred{inner, level})
		}
		var err error
		if people, err = g.check(img); err != nil {
			return fmt.Errorf("people guard: %w", err)
		}
	}
}

// Redact returns a copy of frame's region (a crop, in frame pixels) in which
// every person and face found is blurred beyond recognition. People are
// searched in the crop itself (at full resolution and, if small, upscaled)
// and, for a part of the frame, in the whole frame too (context: someone
// mostly outside the crop). After blurring, the crop is searched again, up to
// Rounds times; if anything is still found, the crop is refused with
// ErrPeopleRemain. The caller owns the returned Mat.
func (g *Guard) Redact(frame gocv.Mat, region image.Rectangle) (gocv.Mat, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.usable(frame); err != nil {
		return gocv.NewMat(), err
	}
	whole := image.Rect(0, 0, frame.Cols(), frame.Rows())
	region = region.Intersect(whole)
	if region.Empty() {
		return gocv.NewMat(), errors.New("people guard: region outside the frame")
	}
	var people []seen
	if region != whole {
		ctx, err := g.context(frame)
		if err != nil {
			return gocv.NewMat(), fmt.Errorf("people guard: %w", err)
		}
		people = inside(ctx, region)
	}
	return g.redact(frame, region, people)
}

// RedactCamera cuts a crop around a camera box (the box plus Margin on each
// side) and redacts it as Redact does. It refuses with ErrPersonOverlap when
// a person or face overlaps the camera box itself. It returns the crop and
// where it lies in the frame.
func (g *Guard) RedactCamera(frame gocv.Mat, camera image.Rectangle) (gocv.Mat, image.Rectangle, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.usable(frame); err != nil {
		return gocv.NewMat(), image.Rectangle{}, err
	}
	bounds := image.Rect(0, 0, frame.Cols(), frame.Rows())
	camera = camera.Intersect(bounds)
	if camera.Empty() {
		return gocv.NewMat(), image.Rectangle{}, errors.New("people guard: camera box outside the frame")
	}
	crop := grow(camera, g.opts.Margin, 16).Intersect(bounds)
	refuse := func(people []seen) error {
		for _, p := range people {
			if p.box.Overlaps(camera) {
				return fmt.Errorf("people guard: crop %v: %w", crop, ErrPersonOverlap)
			}
		}
		return nil
	}
	people, err := g.context(frame)
	if err != nil {
		return gocv.NewMat(), image.Rectangle{}, fmt.Errorf("people guard: %w", err)
	}
	if err := refuse(people); err != nil {
		return gocv.NewMat(), image.Rectangle{}, err
	}
	// Look closer around the camera too, at full resolution and upscaled:
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
	found, err := g.check(near)
	near.Close()
	if err != nil {
		return gocv.NewMat(), image.Rectangle{}, fmt.Errorf("people guard: %w", err)
	}
	for _, p := range found {
		p.box = p.box.Add(around.Min)
		people = append(people, p)
	}
	if err := refuse(people); err != nil {
		return gocv.NewMat(), image.Rectangle{}, err
	}
	out, err := g.redact(frame, crop, inside(people, crop))
	return out, crop, err
}

// usable refuses a closed guard and frames it cannot search.
func (g *Guard) usable(frame gocv.Mat) error {
	if g.net == nil {
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

// inside returns the people (frame pixels) that overlap region, in region's
// pixels.
func inside(people []seen, region image.Rectangle) []seen {
	var out []seen
	for _, p := range people {
		if p.box.Overlaps(region) {
			out = append(out, seen{box: p.box.Sub(region.Min), face: p.face})
		}
	}
	return out
}

// redact copies region (frame pixels, within the frame) out of frame, adds
// what the detectors find in the copy to people (region pixels) and scrubs
// them all.
func (g *Guard) redact(frame gocv.Mat, region image.Rectangle, people []seen) (gocv.Mat, error) {
	src := frame.Region(region)
	out := src.Clone()
	src.Close()
	found, err := g.check(out)
	if err == nil {
		err = g.scrub(out, append(people, found...))
	}
	if err != nil {
		out.Close()
		if errors.Is(err, ErrPeopleRemain) {
			err = fmt.Errorf("people guard: crop %v: %w", region, err)
		}
		return gocv.NewMat(), err
	}
	return out, nil
}
