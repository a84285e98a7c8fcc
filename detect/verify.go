package detect

import (
	"errors"
	"fmt"
	"image"
	"math"
	"path/filepath"

	"gocv.io/x/gocv"
)

// verifier runs a bundle's Verifier network on detection crops. It is not
// safe for concurrent use (the Detector serialises it).
type verifier struct {
	n     *net
	v     Verifier
	in    Input // the crop input: Size x Size, the detector's colour and scale
	tiles []tile
}

// openVerifier loads the bundle's verifier network and probes it with a
// grey crop: the output must be one probability per verifier label.
func openVerifier(b *Bundle) (*verifier, error) {
	path := filepath.Join(b.Dir, b.Verifier.File)
	n, err := openNet(path)
	if err != nil {
		return nil, fmt.Errorf("verifier %s: OpenCV cannot load it: %w", b.Verifier.File, err)
	}
	vr := &verifier{n: n, v: *b.Verifier, in: Input{Width: b.Verifier.Size, Height: b.Verifier.Size, Color: b.Input.Color, Scale: b.Input.Scale}}
	grey := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(padValue, padValue, padValue, 0), vr.v.Size, vr.v.Size, gocv.MatTypeCV8UC3)
	defer grey.Close()
	p, err := vr.probs(grey, image.Rect(0, 0, vr.v.Size/2, vr.v.Size/2))
	if err != nil {
		n.close()
		return nil, fmt.Errorf("verifier %s: %w", b.Verifier.File, err)
	}
	var sum float32
	for _, x := range p {
		sum += x
	}
	if math.Abs(float64(sum)-1) > 0.01 {
		n.close()
		return nil, fmt.Errorf("verifier %s: outputs sum to %g, not 1: want probabilities (a softmax) over %v", b.Verifier.File, sum, b.Verifier.Labels)
	}
	return vr, nil
}

func (vr *verifier) close() { vr.n.close() }

// probs returns the verifier's probabilities for the box in frame (valid
// until the next call).
func (vr *verifier) probs(frame gocv.Mat, box image.Rectangle) ([]float32, error) {
	src, dst, ok := cropRects(box, frame.Cols(), frame.Rows(), vr.v.Size, vr.v.Context, vr.v.MinSide)
	if !ok {
		return nil, fmt.Errorf("box %v lies outside the %dx%d frame", box, frame.Cols(), frame.Rows())
	}
	vr.tiles = append(vr.tiles[:0], tile{src: src, dst: dst})
	out, err := vr.n.run(frame, vr.tiles, vr.in, false)
	if err != nil {
		return nil, err
	}
	if want := len(vr.v.Labels); len(out.data) != want {
		return nil, fmt.Errorf("output of shape %v, want [1 %d] (one probability per verifier label)", out.shape, want)
	}
	return out.data, nil
}

// cameraProb is the probability that box shows a camera: 1 - background.
func (vr *verifier) cameraProb(frame gocv.Mat, box image.Rectangle) (float32, error) {
	p, err := vr.probs(frame, box)
	if err != nil {
		return 0, err
	}
	return 1 - p[0], nil
}

// cropRects returns the frame rectangle a box's verifier crop reads and
// where it lands in the size x size input: a square of side the box's longer
// side times context (at least minSide) centred on the box, clipped to the
// frame, the clipped part mapped to the matching part of the input (the
// rest stays grey). ok is false when the square misses the frame.
// detect/train/verify.py's crop_rects computes the same rectangles; the
// verifier was trained on its crops.
func cropRects(box image.Rectangle, width, height, size int, context, minSide float64) (src, dst image.Rectangle, ok bool) {
	side := math.Max(float64(max(box.Dx(), box.Dy()))*context, minSide)
	cx, cy := float64(box.Min.X+box.Max.X)/2, float64(box.Min.Y+box.Max.Y)/2
	left, top := cx-side/2, cy-side/2
	x0, y0 := max(0, int(math.Floor(left))), max(0, int(math.Floor(top)))
	x1, y1 := min(width, int(math.Ceil(left+side))), min(height, int(math.Ceil(top+side)))
	if x1 <= x0 || y1 <= y0 {
		return image.Rectangle{}, image.Rectangle{}, false
	}
	// Not image.Rect: it would swap the corners of an inverted rectangle.
	src = image.Rectangle{Min: image.Pt(x0, y0), Max: image.Pt(x1, y1)}
	k := float64(size) / side
	// Python's round() rounds halves to even; so does math.RoundToEven.
	d0x := min(max(int(math.RoundToEven((float64(src.Min.X)-left)*k)), 0), size-1)
	d0y := min(max(int(math.RoundToEven((float64(src.Min.Y)-top)*k)), 0), size-1)
	d1x := max(min(int(math.RoundToEven((float64(src.Max.X)-left)*k)), size), d0x+1)
	d1y := max(min(int(math.RoundToEven((float64(src.Max.Y)-top)*k)), size), d0y+1)
	dst = image.Rectangle{Min: image.Pt(d0x, d0y), Max: image.Pt(d1x, d1y)}
	return src, dst, true
}

// Verify gives each detection a second look with the bundle's verifier and
// returns those whose camera probability reaches the verifier's threshold
// (in place: dets' backing array is reused). Without a verifier in the
// bundle it returns dets unchanged. It is what Detect does when the
// verifier is on, exported for detections recorded without it.
func (d *Detector) Verify(frame gocv.Mat, dets []Detection) ([]Detection, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.verify(frame, dets)
}

func (d *Detector) verify(frame gocv.Mat, dets []Detection) ([]Detection, error) {
	if d.ver == nil || len(dets) == 0 {
		return dets, nil
	}
	if frame.Empty() {
		return nil, errors.New("verify: empty frame")
	}
	keep := dets[:0]
	for _, x := range dets {
		p, err := d.ver.cameraProb(frame, x.Box)
		if err != nil {
			return nil, fmt.Errorf("verify: model %s: %w", d.b.Name, err)
		}
		if p >= d.ver.v.Threshold {
			keep = append(keep, x)
		}
	}
	return keep, nil
}

// Verifying reports whether Detect gives its detections a second look with
// the bundle's verifier.
func (d *Detector) Verifying() bool { return d.ver != nil }
