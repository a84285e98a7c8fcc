package detect

import (
	"errors"
	"fmt"
	"image"
	"math"
	"path/filepath"
	"sync"

	"gocv.io/x/gocv"
)

// Detection is one surveillance camera found in a frame.
type Detection struct {
	// Type is the camera type: dome, bullet, ptz, alpr or unknown.
	Type string
	// Label is the model's class name (the bundle maps it to Type).
	Label string
	// Score is the model's confidence in [0, 1].
	Score float32
	// Box is the camera's box in original-frame pixels.
	Box image.Rectangle
}

// Toggle is an on/off option whose zero value means "the default".
type Toggle int

// Toggle values.
const (
	Default Toggle = iota
	On
	Off
)

// Defaults of Options.
const (
	// DefaultOverlap is the share of a tile that overlaps its neighbour: at
	// 320 px tiles, 64 px, twice the size of a typical small camera.
	DefaultOverlap = 0.2
	// DefaultMaxDetections caps the detections of one frame.
	DefaultMaxDetections = 300
	// DefaultMaxBatch caps how many tiles go through the network at once
	// when batching works (memory grows with the batch).
	DefaultMaxBatch = 8
)

// DefaultROIBottom is where the tiled region of interest ends by default, as
// a fraction of the frame height: the upper 65 % of the frame, where cameras
// are mounted, is tiled (the full-frame pass still sees the rest).
const DefaultROIBottom = 0.65

// Options tune a Detector. The zero value uses the bundle's values and then
// the package defaults.
type Options struct {
	// Threshold overrides the bundle's score threshold when > 0. Otherwise
	// the bundle's threshold at the tile scale in use applies
	// (Bundle.ThresholdAt), or its plain threshold when only the whole-frame
	// pass runs.
	Threshold float32
	// NMSIoU overrides the bundle's NMS IoU when > 0.
	NMSIoU float32
	// ROI is the region tiled at full resolution, [x0, y0, x1, y1] as
	// fractions of the frame; nil uses the bundle's tiling.roi, else the
	// upper part of the frame down to DefaultROIBottom.
	ROI []float64
	// Overlap is the fraction of a tile shared with its neighbour; 0 uses
	// the bundle's tiling.overlap, else DefaultOverlap.
	Overlap float64
	// TileScale is frame pixels per model pixel inside a tile: 1 tiles at
	// full resolution, 2 tiles at half resolution (four times fewer tiles).
	// 0 uses the bundle's tiling.scale, else 1.
	TileScale float64
	// Tiles turns the ROI tiling on (default) or off. With Tiles Off only the
	// whole-frame pass runs: the frame letterboxed into the model input, as
	// when evaluating on images already at the model's scale.
	Tiles Toggle
	// FullFrame adds a pass of the whole frame downscaled into the model
	// input, so that large (close) cameras are found too; on by default
	// (or as the bundle's tiling.full_frame says).
	FullFrame Toggle
	// Threads, when > 0, sets OpenCV's worker threads for the whole process
	// (1 = one core).
	Threads int
	// Batch runs the tiles of a frame through the network in batches when
	// the model accepts a batch (probed at Open). Off by default: with
	// OpenCV 4.6 on one CPU thread, batches measured slower per tile than
	// single forwards (docs/detect.md), and YOLOv8 exports whose anchor
	// constants have batch 1 refuse batches anyway.
	Batch bool
	// MaxBatch caps tiles per forward when batching (0: DefaultMaxBatch).
	MaxBatch int
	// MaxDetections caps the detections of one frame (0:
	// DefaultMaxDetections).
	MaxDetections int
	// Verify gives every detection a second look with the bundle's
	// verifier (Bundle.Verifier) and drops those it takes for background:
	// on by default when the bundle has one; On with a bundle without one
	// is an error.
	Verify Toggle
}

// tilingConfig is Options and the bundle's tiling resolved.
type tilingConfig struct {
	roi       [4]float64
	overlap   float64
	scale     float64
	tiles     bool
	fullFrame bool
}

// Detector finds cameras in frames with one model bundle. Its methods may
// be called from several goroutines (they are serialised).
type Detector struct {
	mu       sync.Mutex
	b        *Bundle
	n        *net
	dec      decoder
	cfg      tilingConfig
	thr, iou float32
	maxDet   int
	maxBatch int
	batched  bool
	plan     plan
	cands    []cand
	ver      *verifier // nil: no second look
}

// Open loads the bundle in dir (manifest checks, sha256), loads the ONNX
// network and probes it with a blank input, checking that its output has the
// manifest's layout and class count. Any failure, including a graph OpenCV
// cannot import, is returned as an error naming the bundle.
func Open(dir string, opts Options) (*Detector, error) {
	b, err := LoadBundle(dir)
	if err != nil {
		return nil, err
	}
	cfg, err := resolveOptions(b, &opts)
	if err != nil {
		return nil, fmt.Errorf("model bundle %s: %w", dir, err)
	}
	if opts.Threads > 0 {
		SetThreads(opts.Threads)
	}
	restore := quietOpenCV()
	defer restore()
	n, err := openNet(filepath.Join(dir, ModelFile))
	if err != nil {
		return nil, fmt.Errorf("model bundle %s: OpenCV cannot load %s: %w", dir, ModelFile, err)
	}
	d := &Detector{
		b: b, n: n, dec: newDecoder(b), cfg: cfg,
		thr: b.Threshold, iou: b.NMSIoU,
		maxDet: DefaultMaxDetections, maxBatch: DefaultMaxBatch,
	}
	if cfg.tiles {
		d.thr = b.ThresholdAt(cfg.scale)
	}
	if opts.Threshold > 0 {
		d.thr = opts.Threshold
	}
	if opts.NMSIoU > 0 {
		d.iou = opts.NMSIoU
	}
	if opts.MaxDetections > 0 {
		d.maxDet = opts.MaxDetections
	}
	if opts.MaxBatch > 0 {
		d.maxBatch = opts.MaxBatch
	}
	if err := d.probe(opts.Batch); err != nil {
		n.close()
		return nil, fmt.Errorf("model bundle %s: %w", dir, err)
	}
	switch {
	case opts.Verify == On && b.Verifier == nil:
		n.close()
		return nil, fmt.Errorf("model bundle %s: no verifier to turn on (model.yaml has no verifier block)", dir)
	case opts.Verify != Off && b.Verifier != nil:
		if d.ver, err = openVerifier(b); err != nil {
			n.close()
			return nil, fmt.Errorf("model bundle %s: %w", dir, err)
		}
	}
	return d, nil
}

func resolveOptions(b *Bundle, o *Options) (tilingConfig, error) {
	cfg := tilingConfig{roi: [4]float64{0, 0, 1, DefaultROIBottom}, overlap: DefaultOverlap, scale: b.TileScale(), tiles: true, fullFrame: true}
	if t := b.Tiling; t != nil {
		if t.ROI != nil {
			copy(cfg.roi[:], t.ROI)
		}
		if t.Overlap > 0 {
			cfg.overlap = t.Overlap
		}
		if t.FullFrame != nil {
			cfg.fullFrame = *t.FullFrame
		}
	}
	var errs []error
	if o.ROI != nil {
		if err := checkROI(o.ROI); err != nil {
			errs = append(errs, fmt.Errorf("option ROI: %w", err))
		} else {
			copy(cfg.roi[:], o.ROI)
		}
	}
	switch {
	case o.Overlap < 0 || o.Overlap >= 0.9:
		errs = append(errs, fmt.Errorf("option Overlap: %g must be in [0, 0.9)", o.Overlap))
	case o.Overlap > 0:
		cfg.overlap = o.Overlap
	}
	switch {
	case o.TileScale < 0 || o.TileScale > 16:
		errs = append(errs, fmt.Errorf("option TileScale: %g must be in (0, 16]", o.TileScale))
	case o.TileScale > 0:
		cfg.scale = o.TileScale
	}
	if o.Threshold < 0 || o.Threshold >= 1 {
		errs = append(errs, fmt.Errorf("option Threshold: %g must be in (0, 1)", o.Threshold))
	}
	if o.NMSIoU < 0 || o.NMSIoU > 1 {
		errs = append(errs, fmt.Errorf("option NMSIoU: %g must be in (0, 1]", o.NMSIoU))
	}
	if o.Threads < 0 || o.MaxBatch < 0 || o.MaxDetections < 0 {
		errs = append(errs, errors.New("options Threads, MaxBatch and MaxDetections must not be negative"))
	}
	switch o.Tiles {
	case On:
		cfg.tiles = true
	case Off:
		cfg.tiles = false
	}
	switch o.FullFrame {
	case On:
		cfg.fullFrame = true
	case Off:
		cfg.fullFrame = false
	}
	if !cfg.tiles && !cfg.fullFrame {
		errs = append(errs, errors.New("options turn off both the tiles and the full-frame pass: nothing would run"))
	}
	return cfg, errors.Join(errs...)
}

// probe runs a blank input through the net and checks the output's layout;
// with tryBatch it also checks whether a batch of two gives the same results
// as two single forwards, and uses batches from then on if so.
func (d *Detector) probe(tryBatch bool) error {
	in := d.b.Input
	shape := [4]int{1, 3, in.Height, in.Width}
	per := 3 * in.Height * in.Width
	blob := make([]float32, 2*per)
	out, err := d.n.forwardBlob(blob[:per], shape)
	if err != nil {
		return fmt.Errorf("test forward of a blank %dx%d input failed (input size wrong for this model?): %w", in.Width, in.Height, err)
	}
	batch, _, err := d.dec.checkShape(out.shape)
	if err != nil {
		return err
	}
	if batch != 1 {
		return fmt.Errorf("model output has batch %d for an input of batch 1 (shape %v)", batch, out.shape)
	}
	if !tryBatch {
		return nil
	}
	// Two different, smooth inputs: single forwards, then one batch of two.
	for i := 0; i < per; i++ {
		x := float64(i%in.Width) / float64(in.Width)
		y := float64(i/in.Width%in.Height) / float64(in.Height)
		blob[i] = float32(0.5 + 0.4*math.Sin(7*x+3*y))
		blob[per+i] = float32(0.5 + 0.4*math.Cos(5*y-4*x))
	}
	var want [][]float32
	for k := 0; k < 2; k++ {
		o, err := d.n.forwardBlob(blob[k*per:(k+1)*per], shape)
		if err != nil {
			return fmt.Errorf("test forward failed: %w", err)
		}
		want = append(want, append([]float32(nil), o.data...))
	}
	shape[0] = 2
	o, err := d.n.forwardBlob(blob, shape)
	if err != nil || len(o.shape) == 0 || o.shape[0] != 2 || len(o.data) != 2*len(want[0]) {
		return nil // the model wants batch 1: one forward per tile
	}
	for k := 0; k < 2; k++ {
		if !close32(o.data[k*len(want[0]):(k+1)*len(want[0])], want[k]) {
			return nil
		}
	}
	d.batched = true
	return nil
}

func close32(a, b []float32) bool {
	for i := range a {
		diff := math.Abs(float64(a[i] - b[i]))
		if diff > 1e-3*(1+math.Abs(float64(b[i]))) || math.IsNaN(float64(a[i])) != math.IsNaN(float64(b[i])) {
			return false
		}
	}
	return true
}

// Bundle returns the model bundle's manifest.
func (d *Detector) Bundle() *Bundle { return d.b }

// Batched reports whether tiles go through the network in batches (the model
// accepted a batch of two in the probe with the same results).
func (d *Detector) Batched() bool { return d.batched }

// Threshold reports the score threshold in use.
func (d *Detector) Threshold() float32 { return d.thr }

// TileScale reports the frame pixels per model pixel in the tiles in use
// (the option's, else the bundle's, else 1), so that reports can say it.
func (d *Detector) TileScale() float64 { return d.cfg.scale }

// Tiles returns the model inputs a frame of the given size is cut into:
// source rectangles in frame pixels, the full-frame pass (if any) last.
func (d *Detector) Tiles(size image.Point) []image.Rectangle {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := makePlan(size.X, size.Y, d.b.Input, d.cfg)
	r := make([]image.Rectangle, len(p.tiles))
	for i, t := range p.tiles {
		r[i] = t.src
	}
	return r
}

// Close frees the network.
func (d *Detector) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.n.close()
	if d.ver != nil {
		d.ver.close()
	}
	return nil
}

// Detect finds cameras in a BGR frame of any size (8-bit, 1, 3 or 4
// channels): it tiles the ROI, adds the full-frame pass, decodes, drops
// ignore labels, maps boxes to frame pixels and merges them with
// class-aware NMS. Boxes are in frame pixels, best first.
func (d *Detector) Detect(frame gocv.Mat) ([]Detection, error) {
	if frame.Empty() {
		return nil, errors.New("detect: empty frame")
	}
	if frame.Type()&7 != gocv.MatTypeCV8U {
		return nil, fmt.Errorf("detect: frame type %v is not 8-bit", frame.Type())
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.n.p == nil {
		return nil, errors.New("detect: detector is closed")
	}
	fw, fh := frame.Cols(), frame.Rows()
	if d.plan.frame != image.Pt(fw, fh) {
		d.plan = makePlan(fw, fh, d.b.Input, d.cfg)
	}
	p := &d.plan
	d.cands = d.cands[:0]
	step := 1
	if d.batched {
		step = d.maxBatch
	}
	for lo := 0; lo < len(p.tiles); lo += step {
		hi := min(lo+step, len(p.tiles))
		out, err := d.n.run(frame, p.tiles[lo:hi], d.b.Input, d.batched)
		if err != nil {
			return nil, fmt.Errorf("detect: running model %s: %w", d.b.Name, err)
		}
		for i := lo; i < hi; i++ {
			start := len(d.cands)
			d.cands, err = d.dec.decode(d.cands, out, i-lo, d.thr, i, 4*d.maxDet)
			if err != nil {
				return nil, fmt.Errorf("detect: model %s: %w", d.b.Name, err)
			}
			t := p.tiles[i]
			for k := start; k < len(d.cands); k++ {
				d.cands[k].b, d.cands[k].cut = t.toFrame(d.cands[k].b, p.inner[i])
			}
			kept := nms(d.cands[start:], d.iou, d.maxDet)
			d.cands = d.cands[:start+len(kept)]
		}
	}
	c := nms(d.cands, d.iou, 0)
	c = mergeCut(c, 0.5)
	c = nms(c, d.iou, d.maxDet)
	dets := make([]Detection, 0, len(c))
	for _, x := range c {
		r := x.b.rect().Intersect(image.Rect(0, 0, fw, fh))
		if r.Empty() {
			continue
		}
		l := d.b.Labels[x.class]
		dets = append(dets, Detection{Type: d.b.Types[l], Label: l, Score: x.score, Box: r})
	}
	return d.verify(frame, dets)
}

// ForwardBlob runs the network on an NCHW float32 blob (already scaled and
// in the model's channel order) and returns a copy of the raw output and its
// shape. It is for checking an exported model against the framework it was
// trained in.
func (d *Detector) ForwardBlob(blob []float32, shape [4]int) ([]float32, []int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out, err := d.n.forwardBlob(blob, shape)
	if err != nil {
		return nil, nil, fmt.Errorf("forward of model %s: %w", d.b.Name, err)
	}
	return append([]float32(nil), out.data...), out.shape, nil
}

// rawLetterbox runs the whole frame letterboxed as one input and returns a
// copy of the raw output (tests compare it with Python's).
func (d *Detector) rawLetterbox(frame gocv.Mat) ([]float32, []int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	t := []tile{{src: image.Rect(0, 0, frame.Cols(), frame.Rows()), dst: letterbox(frame.Cols(), frame.Rows(), d.b.Input)}}
	out, err := d.n.run(frame, t, d.b.Input, false)
	if err != nil {
		return nil, nil, err
	}
	return append([]float32(nil), out.data...), out.shape, nil
}
