package eval

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// MatchIoU is the intersection over union a detection needs with a
// ground-truth box of its class to count as a true positive (the "50" of AP50).
const MatchIoU = 0.5

// Size buckets of ground-truth boxes, by their longest side in pixels:
// surveillance cameras in street imagery are mostly tiny, and the detector
// must be judged on the tiny ones separately.
const (
	SmallMaxPx  = 16 // bucket "<16": longest side < 16 px
	MediumMaxPx = 32 // bucket "16-32": 16 <= longest side < 32 px; "32+" above
)

// BoxF is an axis-aligned box in image pixels (x1, y1) top left, (x2, y2)
// bottom right.
type BoxF struct{ X1, Y1, X2, Y2 float64 }

// Longest returns the box's longest side.
func (b BoxF) Longest() float64 { return math.Max(b.X2-b.X1, b.Y2-b.Y1) }

// IoU returns the intersection over union of two boxes (0 when disjoint).
func (b BoxF) IoU(o BoxF) float64 {
	iw := math.Min(b.X2, o.X2) - math.Max(b.X1, o.X1)
	ih := math.Min(b.Y2, o.Y2) - math.Max(b.Y1, o.Y1)
	if iw <= 0 || ih <= 0 {
		return 0
	}
	inter := iw * ih
	union := (b.X2-b.X1)*(b.Y2-b.Y1) + (o.X2-o.X1)*(o.Y2-o.Y1) - inter
	if union <= 0 {
		return 0
	}
	return inter / union
}

// Truth is one ground-truth object: class id (index into the class names)
// and box.
type Truth struct {
	Class int
	Box   BoxF
}

// Prediction is one detection: class id (-1 when the detector's label has
// no class in the data set), score and box.
type Prediction struct {
	Class int
	Score float64
	Box   BoxF
}

// bucketOf returns the size bucket index of a longest side.
func bucketOf(side float64) int {
	switch {
	case side < SmallMaxPx:
		return 0
	case side < MediumMaxPx:
		return 1
	}
	return 2
}

// bucketNames name the size buckets in results.
var bucketNames = [3]string{"<16", "16-32", "32+"}

// scored is one detection after matching: its score, whether it matched a
// ground-truth box, and the size bucket it counts in (the matched box's, or
// its own when unmatched).
type scored struct {
	score  float64
	tp     bool
	bucket int
	image  int // index of the image in the order added, for Bootstrap
}

// DetectEval accumulates detections and ground truth image by image and
// computes detection metrics. Precision and recall are taken at a score
// threshold; AP50 uses every detection handed in, so detections should be
// collected with a low threshold (say 0.01).
type DetectEval struct {
	names     []string
	threshold float64
	images    int
	// Class-aware records per class, class-agnostic records.
	perClass [][]scored
	agnostic []scored
	// Objects per class and bucket, class-agnostic objects per bucket.
	objects    [][3]int
	objectsAny [3]int
	// Ground truth found at the threshold, per class and bucket.
	foundThr    [][3]int
	foundAnyThr [3]int
	// Detections at or above the threshold without a class (-1).
	unknownThr int
	// Why objects were missed and detections false, at the threshold.
	errors errorTally
	// What each image added, in order, for Bootstrap's resampling.
	tallies []imageTally
}

// NewDetectEval returns an evaluator for the given class names and the
// score threshold at which precision and recall are reported.
func NewDetectEval(names []string, threshold float64) *DetectEval {
	n := len(names)
	return &DetectEval{
		names:     append([]string(nil), names...),
		threshold: threshold,
		perClass:  make([][]scored, n),
		objects:   make([][3]int, n),
		foundThr:  make([][3]int, n),
	}
}

// match greedily matches predictions (highest score first) to unmatched
// truths with IoU >= MatchIoU, taking the best-overlapping truth; when
// classAware, only truths of the prediction's class qualify. It returns, per
// prediction, the index of the matched truth or -1.
func match(truth []Truth, preds []Prediction, classAware bool) []int {
	order := make([]int, len(preds))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return preds[order[a]].Score > preds[order[b]].Score })
	used := make([]bool, len(truth))
	out := make([]int, len(preds))
	for _, i := range order {
		out[i] = -1
		best, bestIoU := -1, MatchIoU
		for j, t := range truth {
			if used[j] || (classAware && t.Class != preds[i].Class) {
				continue
			}
			if iou := preds[i].Box.IoU(t.Box); iou >= bestIoU {
				best, bestIoU = j, iou
			}
		}
		if best >= 0 {
			used[best] = true
			out[i] = best
		}
	}
	return out
}

// Add records one image: its ground truth and the detector's predictions.
// Truth with a class outside the names is an error (the image is not
// recorded).
func (e *DetectEval) Add(truth []Truth, preds []Prediction) error {
	_, err := e.AddExplained(truth, preds)
	return err
}

// AddExplained records one image as Add does and also returns its errors
// at the threshold: each object missed and each false detection, with the
// reason (the Miss* and False* constants), so that a developer can look
// at them image by image.
func (e *DetectEval) AddExplained(truth []Truth, preds []Prediction) ([]Error, error) {
	for _, t := range truth {
		if t.Class < 0 || t.Class >= len(e.names) {
			return nil, fmt.Errorf("ground-truth class %d outside 0..%d", t.Class, len(e.names)-1)
		}
	}
	img := e.images
	e.images++
	tally := imageTally{objects: make([][3]int, len(e.names))}
	for _, t := range truth {
		b := bucketOf(t.Box.Longest())
		e.objects[t.Class][b]++
		e.objectsAny[b]++
		tally.objects[t.Class][b]++
	}
	m := match(truth, preds, true)
	errs := explain(truth, preds, m, e.threshold)
	e.errors.add(errs)
	for i, p := range preds {
		s := scored{score: p.Score, tp: m[i] >= 0, bucket: bucketOf(p.Box.Longest()), image: img}
		if p.Score >= e.threshold {
			tally.detections++
		}
		if s.tp {
			t := truth[m[i]]
			s.bucket = bucketOf(t.Box.Longest())
			if p.Score >= e.threshold {
				e.foundThr[t.Class][s.bucket]++
				tally.found[s.bucket]++
			}
		}
		if p.Class >= 0 && p.Class < len(e.names) {
			e.perClass[p.Class] = append(e.perClass[p.Class], s)
		} else if p.Score >= e.threshold {
			e.unknownThr++
		}
	}
	e.tallies = append(e.tallies, tally)
	m = match(truth, preds, false)
	for i, p := range preds {
		s := scored{score: p.Score, tp: m[i] >= 0, bucket: bucketOf(p.Box.Longest()), image: img}
		if s.tp {
			s.bucket = bucketOf(truth[m[i]].Box.Longest())
			if p.Score >= e.threshold {
				e.foundAnyThr[s.bucket]++
			}
		}
		e.agnostic = append(e.agnostic, s)
	}
	return errs, nil
}

// averagePrecision returns the area under the precision/recall curve with
// the precision envelope (all-point interpolation, as PASCAL VOC 2010+ and
// COCO's integral): recs are the detections (any order), nTruth the number
// of ground-truth objects. It is NaN when nTruth is 0.
func averagePrecision(recs []scored, nTruth int) Metric {
	if nTruth == 0 {
		return Metric(math.NaN())
	}
	r := append([]scored(nil), recs...)
	sortByScore(r)
	var buf apBuffers
	return Metric(buf.weightedAP(r, nil, nTruth))
}

// sortByScore sorts records by score, highest first, keeping the order
// of equal scores (the order they were added in).
func sortByScore(r []scored) {
	sort.SliceStable(r, func(a, b int) bool { return r[a].score > r[b].score })
}

// inBucket keeps the records of one size bucket.
func inBucket(recs []scored, b int) []scored {
	var out []scored
	for _, s := range recs {
		if s.bucket == b {
			out = append(out, s)
		}
	}
	return out
}

// countThr counts records at or above the threshold and the true positives
// among them.
func countThr(recs []scored, thr float64) (n, tp int) {
	for _, s := range recs {
		if s.score >= thr {
			n++
			if s.tp {
				tp++
			}
		}
	}
	return n, tp
}

// ClassResult holds the metrics of one class (or of one size bucket).
type ClassResult struct {
	// Name of the class, or of the size bucket ("<16", "16-32", "32+").
	Name string `json:"name"`
	// Objects is the number of ground-truth boxes.
	Objects int `json:"objects"`
	// Detections at or above the threshold, and how many were right.
	Detections int `json:"detections"`
	TP         int `json:"tp"`
	// Precision and Recall at the threshold; AP50 over all scores.
	Precision Metric `json:"precision"`
	Recall    Metric `json:"recall"`
	AP50      Metric `json:"ap50"`
}

// Metric is a ratio in [0, 1], NaN when it has no denominator (no objects,
// no detections). It is written to JSON as a number, or null for NaN
// (encoding/json cannot write NaN).
type Metric float64

// MarshalJSON writes the metric as a number rounded to 5 decimals, or null.
func (m Metric) MarshalJSON() ([]byte, error) {
	f := float64(m)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, math.Round(f*1e5)/1e5, 'f', -1, 64), nil
}

// String formats the metric with 3 decimals, or "-" for NaN.
func (m Metric) String() string {
	if math.IsNaN(float64(m)) {
		return "-"
	}
	return strconv.FormatFloat(float64(m), 'f', 3, 64)
}

// DetectResult is the outcome of a detection evaluation. Ratios with no
// denominator (no objects, no detections) are NaN in Go and null in JSON.
type DetectResult struct {
	// Images and Objects evaluated.
	Images  int `json:"images"`
	Objects int `json:"objects"`
	// Threshold is the score threshold of Precision and Recall.
	Threshold float64 `json:"threshold"`
	// Precision, Recall and F1 at the threshold, class-aware (a detection
	// must have the right class), over all classes.
	Precision Metric `json:"precision"`
	Recall    Metric `json:"recall"`
	F1        Metric `json:"f1"`
	// AP50 is the mean of the classes' AP50 (classes with objects only).
	AP50 Metric `json:"ap50"`
	// AgnosticAP50, AgnosticPrecision and AgnosticRecall ignore the class:
	// a camera found with the wrong type still counts as found.
	AgnosticAP50      Metric `json:"agnostic_ap50"`
	AgnosticPrecision Metric `json:"agnostic_precision"`
	AgnosticRecall    Metric `json:"agnostic_recall"`
	// Classes holds per-class metrics, in class-id order.
	Classes []ClassResult `json:"classes"`
	// Sizes holds class-aware metrics per ground-truth size bucket: "<16",
	// "16-32", "32+" px (longest side). An unmatched detection counts in
	// the bucket of its own size.
	Sizes []ClassResult `json:"sizes"`
	// Missed counts the objects not found at the threshold by reason
	// (merged, wrong_type, loose_box, low_score, not_found; see the Miss*
	// constants), False the false detections at the threshold by kind
	// (duplicate, wrong_type, loose_box, background).
	Missed []ErrorCount `json:"missed"`
	False  []ErrorCount `json:"false"`
	// Intervals, when computed (Bootstrap), say how far the figures
	// above could move on another set of images like these.
	Intervals *Intervals `json:"intervals,omitempty"`
}

func ratio(a, b int) Metric {
	if b == 0 {
		return Metric(math.NaN())
	}
	return Metric(float64(a) / float64(b))
}

// Result computes the metrics of everything added so far.
func (e *DetectEval) Result() DetectResult {
	r := DetectResult{Images: e.images, Threshold: e.threshold}
	var all []scored
	var sumAP Metric
	nAP := 0
	totalDet, totalTP := e.unknownThr, 0
	var bucketObj, bucketFound [3]int
	for c, name := range e.names {
		objs := e.objects[c][0] + e.objects[c][1] + e.objects[c][2]
		n, tp := countThr(e.perClass[c], e.threshold)
		cr := ClassResult{Name: name, Objects: objs, Detections: n, TP: tp,
			Precision: ratio(tp, n), Recall: ratio(tp, objs), AP50: averagePrecision(e.perClass[c], objs)}
		if objs > 0 {
			sumAP += cr.AP50
			nAP++
		}
		r.Classes = append(r.Classes, cr)
		r.Objects += objs
		totalDet += n
		totalTP += tp
		all = append(all, e.perClass[c]...)
		for b := 0; b < 3; b++ {
			bucketObj[b] += e.objects[c][b]
			bucketFound[b] += e.foundThr[c][b]
		}
	}
	r.Precision = ratio(totalTP, totalDet)
	r.Recall = ratio(totalTP, r.Objects)
	r.F1 = Metric(math.NaN())
	if p, q := r.Precision, r.Recall; p+q > 0 {
		r.F1 = 2 * p * q / (p + q)
	}
	r.AP50 = Metric(math.NaN())
	if nAP > 0 {
		r.AP50 = sumAP / Metric(nAP)
	}
	objsAny := e.objectsAny[0] + e.objectsAny[1] + e.objectsAny[2]
	r.AgnosticAP50 = averagePrecision(e.agnostic, objsAny)
	n, tp := countThr(e.agnostic, e.threshold)
	r.AgnosticPrecision = ratio(tp, n)
	r.AgnosticRecall = ratio(tp, objsAny)
	for b := 0; b < 3; b++ {
		recs := inBucket(all, b)
		n, tp := countThr(recs, e.threshold)
		r.Sizes = append(r.Sizes, ClassResult{
			Name: bucketNames[b], Objects: bucketObj[b], Detections: n, TP: tp,
			Precision: ratio(tp, n), Recall: ratio(bucketFound[b], bucketObj[b]),
			AP50: averagePrecision(recs, bucketObj[b]),
		})
	}
	r.Missed, r.False = e.errors.counts()
	return r
}

// YOLOSet is a YOLO-layout data set split: images and their label files.
type YOLOSet struct {
	// Root is the data set folder, Split the split name (train, val...).
	Root, Split string
	// Names are the class names (data.yaml's names, or the default
	// dome, bullet, ptz, alpr).
	Names []string
	// Images are the image paths, sorted.
	Images []string
}

// DefaultClassNames are the classes of camaudit's data sets (contract C).
var DefaultClassNames = []string{"dome", "bullet", "ptz", "alpr"}

// OpenYOLOSet lists the images of root/images/split and reads the class
// names from root/data.yaml (names as a list or an id -> name map) if it
// exists.
func OpenYOLOSet(root, split string) (*YOLOSet, error) {
	s := &YOLOSet{Root: root, Split: split, Names: DefaultClassNames}
	if raw, err := os.ReadFile(filepath.Join(root, "data.yaml")); err == nil {
		names, err := parseNames(raw)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", filepath.Join(root, "data.yaml"), err)
		}
		if len(names) > 0 {
			s.Names = names
		}
	}
	dir := filepath.Join(root, "images", split)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading data set %s: %w", root, err)
	}
	for _, e := range ents {
		switch strings.ToLower(filepath.Ext(e.Name())) {
		case ".jpg", ".jpeg", ".png", ".bmp":
			if !e.IsDir() {
				s.Images = append(s.Images, filepath.Join(dir, e.Name()))
			}
		}
	}
	sort.Strings(s.Images)
	if len(s.Images) == 0 {
		return nil, fmt.Errorf("reading data set %s: no images in %s", root, dir)
	}
	return s, nil
}

// parseNames reads the names field of a YOLO data.yaml.
func parseNames(raw []byte) ([]string, error) {
	var doc struct {
		Names yaml.Node `yaml:"names"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	switch doc.Names.Kind {
	case 0:
		return nil, nil
	case yaml.SequenceNode:
		var l []string
		if err := doc.Names.Decode(&l); err != nil {
			return nil, fmt.Errorf("names: %w", err)
		}
		return l, nil
	case yaml.MappingNode:
		var m map[int]string
		if err := doc.Names.Decode(&m); err != nil {
			return nil, fmt.Errorf("names: %w", err)
		}
		l := make([]string, len(m))
		for id, n := range m {
			if id < 0 || id >= len(m) {
				return nil, fmt.Errorf("names: ids must be 0..%d, got %d", len(m)-1, id)
			}
			l[id] = n
		}
		return l, nil
	}
	return nil, fmt.Errorf("line %d: names must be a list or a map", doc.Names.Line)
}

// LabelPath returns the label file of an image: images/<split>/x.jpg ->
// labels/<split>/x.txt.
func (s *YOLOSet) LabelPath(image string) string {
	base := strings.TrimSuffix(filepath.Base(image), filepath.Ext(image))
	return filepath.Join(s.Root, "labels", s.Split, base+".txt")
}

// ReadLabels reads the YOLO label file of an image of size w x h: one
// "class cx cy w h" line per object, normalised to the image. A missing
// or empty file means no objects. Errors name the file and line.
func (s *YOLOSet) ReadLabels(image string, w, h int) ([]Truth, error) {
	path := s.LabelPath(image)
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading labels: %w", err)
	}
	defer f.Close()
	var out []Truth
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if len(fields) != 5 {
			return nil, fmt.Errorf("%s:%d: want \"class cx cy w h\", got %q", path, n, sc.Text())
		}
		c, err := strconv.Atoi(fields[0])
		if err != nil || c < 0 || c >= len(s.Names) {
			return nil, fmt.Errorf("%s:%d: class %q is not an id in 0..%d", path, n, fields[0], len(s.Names)-1)
		}
		var v [4]float64
		for i := range v {
			if v[i], err = strconv.ParseFloat(fields[i+1], 64); err != nil || math.IsNaN(v[i]) || v[i] < -0.01 || v[i] > 1.01 {
				return nil, fmt.Errorf("%s:%d: value %q is not a number in [0, 1]", path, n, fields[i+1])
			}
		}
		if v[2] <= 0 || v[3] <= 0 {
			return nil, fmt.Errorf("%s:%d: box width and height must be > 0", path, n)
		}
		fw, fh := float64(w), float64(h)
		out = append(out, Truth{Class: c, Box: BoxF{
			X1: (v[0] - v[2]/2) * fw, Y1: (v[1] - v[3]/2) * fh,
			X2: (v[0] + v[2]/2) * fw, Y2: (v[1] + v[3]/2) * fh,
		}})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return out, nil
}
