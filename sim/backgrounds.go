package sim

import (
	"fmt"
	"hash/fnv"
	"image"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gocv.io/x/gocv"
)

// Backgrounds is a set of street photographs used as facade textures and
// dataset backgrounds. They are read from their folder at run time and
// never copied anywhere. Only the upper part of each photo is used by
// default (facades above head height), which keeps passers-by out of the
// synthetic images.
type Backgrounds struct {
	Names  []string
	images []gocv.Mat
}

// BackgroundSplit selects which photos of a folder to use: all, or a
// deterministic "train" / "holdout" split by file name (about one in five
// files is held out), so that a detector can be evaluated on backgrounds
// it never saw.
type BackgroundSplit string

// Background splits.
const (
	SplitAll     BackgroundSplit = "all"
	SplitTrain   BackgroundSplit = "train"
	SplitHoldout BackgroundSplit = "holdout"
)

// heldOut says whether a file name belongs to the holdout split.
func heldOut(name string) bool {
	h := fnv.New32a()
	h.Write([]byte(strings.ToLower(filepath.Base(name))))
	return h.Sum32()%5 == 0
}

// LoadBackgrounds reads every .jpg/.jpeg/.png in dir (sorted by name) that
// belongs to split. maxSide caps the longest side (0 = 1600 px) to bound memory.
func LoadBackgrounds(dir string, split BackgroundSplit, maxSide int) (*Backgrounds, error) {
	if maxSide <= 0 {
		maxSide = 1600
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading backgrounds: %w", err)
	}
	var names []string
	for _, e := range ents {
		ext := strings.ToLower(filepath.Ext(e.Name()))
		if e.IsDir() || (ext != ".jpg" && ext != ".jpeg" && ext != ".png") {
			continue
		}
		if split == SplitTrain && heldOut(e.Name()) || split == SplitHoldout && !heldOut(e.Name()) {
			continue
		}
		names = append(names, e.Name())
	}
	sort.Strings(names)
	if len(names) == 0 {
		return nil, fmt.Errorf("reading backgrounds: no .jpg or .png images in %s (split %s)", dir, split)
	}
	b := &Backgrounds{}
	for _, n := range names {
		p := filepath.Join(dir, n)
		m := gocv.IMRead(p, gocv.IMReadColor)
		if m.Empty() {
			m.Close()
			b.Close()
			return nil, fmt.Errorf("reading background %s: not a readable image", p)
		}
		if s := max(m.Cols(), m.Rows()); s > maxSide {
			f := float64(maxSide) / float64(s)
			r := gocv.NewMat()
			gocv.Resize(m, &r, image.Pt(int(float64(m.Cols())*f), int(float64(m.Rows())*f)), 0, 0, gocv.InterpolationArea)
			m.Close()
			m = r
		}
		b.Names = append(b.Names, p)
		b.images = append(b.images, m)
	}
	return b, nil
}

// Len returns the number of photos.
func (b *Backgrounds) Len() int {
	if b == nil {
		return 0
	}
	return len(b.images)
}

// Close frees the decoded photos.
func (b *Backgrounds) Close() {
	if b == nil {
		return
	}
	for i := range b.images {
		b.images[i].Close()
	}
	b.images = nil
}

// photoTop is the share of a photo's height that crops may come from:
// street photos are taken at eye height, so people stand across the middle
// and lower part while the upper part holds facades, poles and sky.
const photoTop = 0.42

// photoCrop is a region of one photo, possibly mirrored.
type photoCrop struct {
	img  int
	r    image.Rectangle
	flip bool
}

// pickCrop draws a random crop with the aspect of w×h from the upper part
// of a random photo (photoTop), where facades, poles and sky are and
// pedestrians are not.
func (b *Backgrounds) pickCrop(rng *rand.Rand, w, h int) photoCrop {
	i := rng.IntN(len(b.images))
	src := b.images[i]
	sw, sh := src.Cols(), src.Rows()
	maxH := int(float64(sh) * photoTop)
	// crop size: keep the target aspect, 65..100 % of what fits
	aspect := float64(w) / float64(h)
	ch := maxH
	cw := int(float64(ch) * aspect)
	if cw > sw {
		cw = sw
		ch = int(float64(cw) / aspect)
	}
	f := 0.65 + 0.35*rng.Float64()
	cw, ch = max(int(float64(cw)*f), 8), max(int(float64(ch)*f), 8)
	x := rng.IntN(sw - cw + 1)
	y := rng.IntN(maxH - ch + 1)
	return photoCrop{img: i, r: image.Rect(x, y, x+cw, y+ch), flip: rng.IntN(2) == 0}
}

// render returns crop c resized to w×h.
func (b *Backgrounds) render(c photoCrop, w, h int) gocv.Mat {
	roi := b.images[c.img].Region(c.r)
	defer roi.Close()
	out := gocv.NewMat()
	interp := gocv.InterpolationLinear
	if w < c.r.Dx() {
		interp = gocv.InterpolationArea
	}
	gocv.Resize(roi, &out, image.Pt(w, h), 0, 0, interp)
	if c.flip {
		gocv.Flip(out, &out, 1)
	}
	return out
}

// crop returns a random crop of a random photo resized to w×h (pickCrop).
func (b *Backgrounds) crop(rng *rand.Rand, w, h int) gocv.Mat {
	return b.render(b.pickCrop(rng, w, h), w, h)
}
