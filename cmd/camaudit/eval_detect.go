package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"gocv.io/x/gocv"

	"github.com/camaudit/camaudit/detect"
	"github.com/camaudit/camaudit/eval"
)

// evalDetectReport is what "camaudit eval detect --json" prints: the
// metrics plus what was evaluated.
type evalDetectReport struct {
	Model        string  `json:"model"`
	ModelVersion string  `json:"model_version"`
	ModelDir     string  `json:"model_dir"`
	Data         string  `json:"data"`
	Split        string  `json:"split"`
	APFloor      float64 `json:"ap_floor"`
	TileScale    float64 `json:"tile_scale"` // frame pixels per model pixel in the tiles
	Seconds      float64 `json:"seconds"`
	MsPerImage   float64 `json:"ms_per_image"`
	eval.DetectResult
}

// cmdEvalDetect runs a model bundle over a YOLO-layout data set (contract C)
// and prints precision, recall and AP50 per class, overall and per size
// bucket of the ground truth (<16, 16-32, 32+ px), then the errors at the
// threshold by reason (eval/errors.go); --errors lists each one.
func cmdEvalDetect(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("eval detect", stderr)
	modelDir := fs.String("model", "", "model bundle folder (default: $CAMAUDIT_MODEL, then models/camaudit-cams-v1 ...)")
	data := fs.String("data", "", "YOLO data set folder with images/<split>, labels/<split> and data.yaml (required)")
	split := fs.String("split", "val", "data set split to evaluate")
	asJSON := fs.Bool("json", false, "print one JSON object instead of a table")
	thr := fs.Float64("threshold", 0, "score threshold for precision and recall (0: the bundle's at the tile scale)")
	apFloor := fs.Float64("ap-floor", 0.01, "lowest score kept for AP50 (detections are collected down to it)")
	roi := fs.String("roi", "0,0,1,1", "region tiled at full resolution, x0,y0,x1,y1 as fractions of the image")
	fullFrame := fs.String("full-frame", "default", "downscaled whole-image pass: on, off or default (the bundle's)")
	tileScale := fs.Float64("tile-scale", 0, "image pixels per model pixel in a tile; below 1 finds smaller cameras for more work (0: the bundle's, else 1)")
	verify := fs.String("verify", "default", "second look at each detection with the bundle's verifier: on, off or default (on when the bundle has one)")
	threads := fs.Int("threads", 0, "OpenCV threads (0: OpenCV's default)")
	limit := fs.Int("limit", 0, "evaluate only the first N images (0: all)")
	quiet := fs.Bool("quiet", false, "no progress on stderr")
	resamples := fs.Int("resamples", 1000, "bootstrap draws of the images for the 95 % intervals of AP50, precision and recall (0: none)")
	errorsOut := fs.String("errors", "", "write each missed object and false detection at the threshold, with its reason, to this file (JSON lines)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	if *data == "" {
		return fmt.Errorf("%w: --data is required", errUsage)
	}
	if *thr < 0 || *thr >= 1 {
		return fmt.Errorf("%w: --threshold %g must be in [0, 1)", errUsage, *thr)
	}
	if *apFloor <= 0 || *apFloor >= 1 {
		return fmt.Errorf("%w: --ap-floor %g must be in (0, 1)", errUsage, *apFloor)
	}
	if *limit < 0 || *threads < 0 || *resamples < 0 {
		return fmt.Errorf("%w: --limit, --threads and --resamples must not be negative", errUsage)
	}
	opts := detect.Options{Threads: *threads, TileScale: *tileScale}
	r, err := parseROI(*roi)
	if err != nil {
		return fmt.Errorf("%w: --roi: %v", errUsage, err)
	}
	opts.ROI = r
	if opts.FullFrame, err = parseToggle("--full-frame", *fullFrame); err != nil {
		return err
	}
	if opts.Verify, err = parseToggle("--verify", *verify); err != nil {
		return err
	}

	set, err := eval.OpenYOLOSet(*data, *split)
	if err != nil {
		return err
	}
	dir := *modelDir
	if dir == "" {
		if dir, err = detect.DefaultModelDir(); err != nil {
			return err
		}
	}
	// Collect detections down to the AP floor; precision and recall are
	// taken at the threshold below.
	b, err := detect.LoadBundle(dir)
	if err != nil {
		return err
	}
	// The manifest's float32 threshold at the tile scale in use, as the
	// decimal it was written as.
	ts := *tileScale
	if ts == 0 {
		ts = b.TileScale()
	}
	threshold, _ := strconv.ParseFloat(strconv.FormatFloat(float64(b.ThresholdAt(ts)), 'g', -1, 32), 64)
	if *thr > 0 {
		threshold = *thr
	}
	opts.Threshold = float32(min(*apFloor, threshold))
	d, err := detect.Open(dir, opts)
	if err != nil {
		return err
	}
	defer d.Close()

	var errLog *errorLog
	if *errorsOut != "" {
		if errLog, err = createErrorLog(*errorsOut, set.Names); err != nil {
			return err
		}
		defer errLog.Close()
	}

	classOf := map[string]int{}
	for i, n := range set.Names {
		classOf[n] = i
	}
	ev := eval.NewDetectEval(set.Names, threshold)
	images := set.Images
	if *limit > 0 && *limit < len(images) {
		images = images[:*limit]
	}
	start := time.Now()
	var detTime time.Duration
	lastProgress := time.Now()
	for i, path := range images {
		if err := ctx.Err(); err != nil {
			return err
		}
		img := gocv.IMRead(path, gocv.IMReadColor)
		if img.Empty() {
			img.Close()
			return fmt.Errorf("reading image %s: not a readable image", path)
		}
		truth, err := set.ReadLabels(path, img.Cols(), img.Rows())
		if err != nil {
			img.Close()
			return err
		}
		t0 := time.Now()
		dets, err := d.Detect(img)
		detTime += time.Since(t0)
		img.Close()
		if err != nil {
			return fmt.Errorf("detecting in %s: %w", path, err)
		}
		preds := make([]eval.Prediction, 0, len(dets))
		for _, x := range dets {
			c, ok := classOf[x.Type]
			if !ok {
				if c, ok = classOf[x.Label]; !ok {
					c = -1
				}
			}
			preds = append(preds, eval.Prediction{Class: c, Score: float64(x.Score), Box: eval.BoxF{
				X1: float64(x.Box.Min.X), Y1: float64(x.Box.Min.Y), X2: float64(x.Box.Max.X), Y2: float64(x.Box.Max.Y)}})
		}
		errs, err := ev.AddExplained(truth, preds)
		if err != nil {
			return fmt.Errorf("evaluating %s: %w", path, err)
		}
		if err := errLog.write(path, errs); err != nil {
			return err
		}
		if !*quiet && (time.Since(lastProgress) > time.Second || i == len(images)-1) {
			lastProgress = time.Now()
			el := time.Since(start).Seconds()
			eta := el / float64(i+1) * float64(len(images)-i-1)
			fmt.Fprintf(stderr, "\reval detect: %d/%d images, %.1f images/s, ETA %.0fs   ", i+1, len(images), float64(i+1)/el, eta)
		}
	}
	if !*quiet {
		fmt.Fprintln(stderr)
	}
	if err := errLog.Close(); err != nil {
		return err
	}
	res := ev.Result()
	res.Intervals = ev.Bootstrap(*resamples)
	bd := d.Bundle()
	rep := evalDetectReport{
		Model: bd.Name, ModelVersion: bd.Version, ModelDir: dir, Data: *data, Split: *split,
		APFloor: *apFloor, TileScale: d.TileScale(), Seconds: time.Since(start).Seconds(),
		MsPerImage:   float64(detTime.Microseconds()) / 1000 / float64(max(1, len(images))),
		DetectResult: res,
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		return enc.Encode(rep)
	}
	return printDetectReport(stdout, rep)
}

// parseROI parses "x0,y0,x1,y1" fractions.
func parseROI(s string) ([]float64, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 4 {
		return nil, fmt.Errorf("want x0,y0,x1,y1, got %q", s)
	}
	r := make([]float64, 4)
	for i, p := range parts {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || v < 0 || v > 1 {
			return nil, fmt.Errorf("%q is not a fraction in [0, 1]", p)
		}
		r[i] = v
	}
	if r[2] <= r[0] || r[3] <= r[1] {
		return nil, fmt.Errorf("%q is empty (want x0 < x1 and y0 < y1)", s)
	}
	return r, nil
}

// printDetectReport writes the metrics as a table.
func printDetectReport(w io.Writer, r evalDetectReport) error {
	fmt.Fprintf(w, "model %s %s on %s (%s): %d images, %d objects, threshold %g, tile scale %g, %.1f ms/image\n\n",
		r.Model, r.ModelVersion, r.Data, r.Split, r.Images, r.Objects, r.Threshold, r.TileScale, r.MsPerImage)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\tobjects\tdetections\ttp\tprecision\trecall\tap50\t")
	row := func(c eval.ClassResult) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%v\t%v\t%v\t\n", c.Name, c.Objects, c.Detections, c.TP, c.Precision, c.Recall, c.AP50)
	}
	for _, c := range r.Classes {
		row(c)
	}
	fmt.Fprintf(tw, "all classes\t%d\t\t\t%v\t%v\t%v\t\n", r.Objects, r.Precision, r.Recall, r.AP50)
	fmt.Fprintf(tw, "any class\t%d\t\t\t%v\t%v\t%v\t\n", r.Objects, r.AgnosticPrecision, r.AgnosticRecall, r.AgnosticAP50)
	fmt.Fprintln(tw, "\t\t\t\t\t\t\t")
	for _, c := range r.Sizes {
		c.Name = "size " + c.Name + " px"
		row(c)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if iv := r.Intervals; iv != nil {
		span := func(v eval.Interval) string {
			if math.IsNaN(float64(v[0])) {
				return "-" // no denominator (no objects of this size)
			}
			return v[0].String() + "-" + v[1].String()
		}
		fmt.Fprintf(w, "\n%g %% intervals over the images (%d bootstrap draws): AP50 %s, any class %s, precision %s, recall %s",
			iv.Level*100, iv.Resamples, span(iv.AP50), span(iv.AgnosticAP50), span(iv.Precision), span(iv.Recall))
		for i, c := range r.Sizes {
			if i < len(iv.SizeRecall) {
				fmt.Fprintf(w, ", recall %s px %s", c.Name, span(iv.SizeRecall[i]))
			}
		}
		fmt.Fprintln(w)
	}
	return printErrorCounts(w, r.Missed, r.False)
}
