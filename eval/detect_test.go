package eval

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func box(x1, y1, x2, y2 float64) BoxF { return BoxF{x1, y1, x2, y2} }

func near(a Metric, b float64) bool {
	if math.IsNaN(b) {
		return math.IsNaN(float64(a))
	}
	return math.Abs(float64(a)-b) < 1e-9
}

func TestIoU(t *testing.T) {
	cases := []struct {
		a, b BoxF
		want float64
	}{
		{box(0, 0, 10, 10), box(0, 0, 10, 10), 1},
		{box(0, 0, 10, 10), box(10, 0, 20, 10), 0},
		{box(0, 0, 10, 10), box(5, 0, 15, 10), 50.0 / 150},
		{box(0, 0, 10, 10), box(0, 0, 10, 4.9), 0.49},
		{box(0, 0, 10, 10), box(20, 20, 30, 30), 0},
	}
	for _, c := range cases {
		if got := c.a.IoU(c.b); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("IoU(%v, %v) = %g, want %g", c.a, c.b, got, c.want)
		}
	}
}

// image is one image of a test case.
type image struct {
	truth []Truth
	preds []Prediction
}

func TestDetectEval(t *testing.T) {
	g := func(c int, b BoxF) Truth { return Truth{Class: c, Box: b} }
	p := func(c int, s float64, b BoxF) Prediction { return Prediction{Class: c, Score: s, Box: b} }
	b10 := box(100, 100, 110, 110) // 10 px: bucket <16
	b20 := box(200, 200, 220, 210) // 20 px: bucket 16-32
	b40 := box(300, 300, 340, 330) // 40 px: bucket 32+
	nan := math.NaN()
	cases := []struct {
		name                  string
		images                []image
		precision, recall, ap float64
		agnAP, agnRecall      float64
		classAP               []float64 // per class, NaN where no objects
		sizeRecall            [3]float64
	}{
		{
			name: "perfect",
			images: []image{
				{[]Truth{g(0, b10), g(1, b20)}, []Prediction{p(0, 0.9, b10), p(1, 0.8, b20)}},
				{[]Truth{g(2, b40)}, []Prediction{p(2, 0.7, b40)}},
			},
			precision: 1, recall: 1, ap: 1, agnAP: 1, agnRecall: 1,
			classAP: []float64{1, 1, 1, nan}, sizeRecall: [3]float64{1, 1, 1},
		},
		{
			name:      "false positive ranked above the true one",
			images:    []image{{[]Truth{g(0, b10)}, []Prediction{p(0, 0.9, b40), p(0, 0.8, b10)}}},
			precision: 0.5, recall: 1, ap: 0.5, agnAP: 0.5, agnRecall: 1,
			classAP: []float64{0.5, nan, nan, nan}, sizeRecall: [3]float64{1, nan, nan},
		},
		{
			name:      "wrong class is found only class-agnostically",
			images:    []image{{[]Truth{g(0, b20)}, []Prediction{p(1, 0.9, b20)}}},
			precision: 0, recall: 0, ap: 0, agnAP: 1, agnRecall: 1,
			classAP: []float64{0, nan, nan, nan}, sizeRecall: [3]float64{nan, 0, nan},
		},
		{
			name:      "IoU just under 0.5 misses",
			images:    []image{{[]Truth{g(0, box(0, 0, 10, 10))}, []Prediction{p(0, 0.9, box(0, 0, 10, 4.9))}}},
			precision: 0, recall: 0, ap: 0, agnAP: 0, agnRecall: 0,
			classAP: []float64{0, nan, nan, nan}, sizeRecall: [3]float64{0, nan, nan},
		},
		{
			name:      "duplicate detection is a false positive",
			images:    []image{{[]Truth{g(3, b40)}, []Prediction{p(3, 0.9, b40), p(3, 0.85, box(301, 300, 341, 330))}}},
			precision: 0.5, recall: 1, ap: 1, agnAP: 1, agnRecall: 1,
			classAP: []float64{nan, nan, nan, 1}, sizeRecall: [3]float64{nan, nan, 1},
		},
		{
			name:      "below the threshold counts for AP, not for recall",
			images:    []image{{[]Truth{g(0, b10)}, []Prediction{p(0, 0.2, b10)}}},
			precision: nan, recall: 0, ap: 1, agnAP: 1, agnRecall: 0,
			classAP: []float64{1, nan, nan, nan}, sizeRecall: [3]float64{0, nan, nan},
		},
		{
			name: "size buckets",
			images: []image{{[]Truth{g(0, b10), g(0, b20), g(0, b40)},
				[]Prediction{p(0, 0.9, b10), p(0, 0.9, b40)}}},
			precision: 1, recall: 2.0 / 3, ap: 2.0 / 3, agnAP: 2.0 / 3, agnRecall: 2.0 / 3,
			classAP: []float64{2.0 / 3, nan, nan, nan}, sizeRecall: [3]float64{1, 0, 1},
		},
		{
			// PASCAL VOC style: ranks TP FP TP FP TP over 3 objects:
			// AP = 1/3*1 + 1/3*2/3 + 1/3*3/5.
			name: "interpolated AP",
			images: []image{{
				[]Truth{g(0, box(0, 0, 20, 20)), g(0, box(100, 0, 120, 20)), g(0, box(200, 0, 220, 20))},
				[]Prediction{
					p(0, 0.9, box(0, 0, 20, 20)), p(0, 0.8, box(50, 50, 70, 70)),
					p(0, 0.7, box(100, 0, 120, 20)), p(0, 0.6, box(50, 150, 70, 170)),
					p(0, 0.5, box(200, 0, 220, 20)),
				},
			}},
			precision: 0.6, recall: 1, ap: 1.0/3 + 2.0/9 + 0.2, agnAP: 1.0/3 + 2.0/9 + 0.2, agnRecall: 1,
			classAP: []float64{1.0/3 + 2.0/9 + 0.2, nan, nan, nan}, sizeRecall: [3]float64{nan, 1, nan},
		},
		{
			name:      "negative image with a detection",
			images:    []image{{nil, []Prediction{p(0, 0.9, b10)}}, {[]Truth{g(1, b20)}, []Prediction{p(1, 0.9, b20)}}},
			precision: 0.5, recall: 1, ap: 1, agnAP: 0.5, agnRecall: 1,
			classAP: []float64{nan, 1, nan, nan}, sizeRecall: [3]float64{nan, 1, nan},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := NewDetectEval(DefaultClassNames, 0.35)
			for _, im := range c.images {
				if err := e.Add(im.truth, im.preds); err != nil {
					t.Fatal(err)
				}
			}
			r := e.Result()
			if r.Images != len(c.images) {
				t.Errorf("images = %d, want %d", r.Images, len(c.images))
			}
			check := func(what string, got Metric, want float64) {
				t.Helper()
				if !near(got, want) {
					t.Errorf("%s = %v, want %g", what, float64(got), want)
				}
			}
			check("precision", r.Precision, c.precision)
			check("recall", r.Recall, c.recall)
			check("ap50", r.AP50, c.ap)
			check("agnostic ap50", r.AgnosticAP50, c.agnAP)
			check("agnostic recall", r.AgnosticRecall, c.agnRecall)
			for i, want := range c.classAP {
				check("ap50 of "+r.Classes[i].Name, r.Classes[i].AP50, want)
			}
			for i, want := range c.sizeRecall {
				check("recall of size "+r.Sizes[i].Name, r.Sizes[i].Recall, want)
			}
			// Every object not found is missed for one reason, every
			// detection not right is false for one reason.
			det, tp, missed, falses := 0, 0, 0, 0
			for _, cr := range r.Classes {
				det += cr.Detections
				tp += cr.TP
			}
			for _, m := range r.Missed {
				missed += m.Count
			}
			for _, f := range r.False {
				falses += f.Count
			}
			if missed != r.Objects-tp || falses != det-tp {
				t.Errorf("missed %d, false %d; want %d and %d (objects %d, detections %d, tp %d)",
					missed, falses, r.Objects-tp, det-tp, r.Objects, det, tp)
			}
		})
	}
}

func TestErrorReasons(t *testing.T) {
	g := func(c int, b BoxF) Truth { return Truth{Class: c, Box: b} }
	p := func(c int, s float64, b BoxF) Prediction { return Prediction{Class: c, Score: s, Box: b} }
	b10 := box(100, 100, 110, 110)
	b40 := box(300, 300, 340, 330)
	loose := box(100, 100, 110, 103) // IoU 0.3 with b10
	cases := []struct {
		name   string
		truth  []Truth
		preds  []Prediction
		missed []string // reasons of the missed objects, in truth order
		falses []string // kinds of the false detections, in prediction order
		sizes  [3]int   // missed objects per size bucket
	}{
		{"found", []Truth{g(0, b10)}, []Prediction{p(0, 0.9, b10)}, nil, nil, [3]int{}},
		{"not found", []Truth{g(0, b10)}, nil, []string{MissNotFound}, nil, [3]int{1, 0, 0}},
		{"far detection: not found and background",
			[]Truth{g(0, b10)}, []Prediction{p(0, 0.9, b40)}, []string{MissNotFound}, []string{FalseBackground}, [3]int{1, 0, 0}},
		{"wrong type", []Truth{g(1, b40)}, []Prediction{p(0, 0.9, b40)},
			[]string{MissWrongType}, []string{FalseWrongType}, [3]int{0, 0, 1}},
		{"loose box", []Truth{g(0, b10)}, []Prediction{p(0, 0.9, loose)},
			[]string{MissLooseBox}, []string{FalseLooseBox}, [3]int{1, 0, 0}},
		{"low score", []Truth{g(0, b10)}, []Prediction{p(0, 0.2, b10)}, []string{MissLowScore}, nil, [3]int{1, 0, 0}},
		{"low score of another type is still low score",
			[]Truth{g(0, b10)}, []Prediction{p(2, 0.2, b10)}, []string{MissLowScore}, nil, [3]int{1, 0, 0}},
		{"wrong type comes before loose box and low score",
			[]Truth{g(0, b10)}, []Prediction{p(0, 0.2, b10), p(0, 0.9, loose), p(3, 0.8, b10)},
			[]string{MissWrongType}, []string{FalseLooseBox, FalseWrongType}, [3]int{1, 0, 0}},
		{"duplicate", []Truth{g(3, b40)}, []Prediction{p(3, 0.9, b40), p(3, 0.8, box(301, 300, 341, 330))},
			nil, []string{FalseDuplicate}, [3]int{}},
		{"one box for two objects: merged",
			[]Truth{g(0, box(0, 0, 20, 20)), g(0, box(1, 0, 21, 20))}, []Prediction{p(0, 0.9, box(0, 0, 20, 20))},
			[]string{MissMerged}, nil, [3]int{0, 1, 0}},
		{"a detection without a class is a wrong type",
			[]Truth{g(0, b10)}, []Prediction{p(-1, 0.9, b10)}, []string{MissWrongType}, []string{FalseWrongType}, [3]int{1, 0, 0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := NewDetectEval(DefaultClassNames, 0.35)
			errs, err := e.AddExplained(c.truth, c.preds)
			if err != nil {
				t.Fatal(err)
			}
			var missed, falses []string
			for _, x := range errs {
				if x.Missed {
					missed = append(missed, x.Reason)
				} else {
					falses = append(falses, x.Reason)
				}
				if x.Reason != MissNotFound && x.Reason != FalseBackground && x.OtherIoU < LooseIoU {
					t.Errorf("%s: other IoU %g, want the overlap that explains it", x.Reason, x.OtherIoU)
				}
			}
			if strings.Join(missed, ",") != strings.Join(c.missed, ",") || strings.Join(falses, ",") != strings.Join(c.falses, ",") {
				t.Errorf("missed %v, false %v; want %v and %v", missed, falses, c.missed, c.falses)
			}
			r := e.Result()
			var sizes [3]int
			for _, m := range r.Missed {
				for b, n := range m.BySize {
					sizes[b] += n
				}
			}
			if sizes != c.sizes {
				t.Errorf("missed by size %v, want %v", sizes, c.sizes)
			}
			if len(r.Missed) != 5 || len(r.False) != 4 {
				t.Errorf("reasons listed: %d missed, %d false; want all 5 and 4", len(r.Missed), len(r.False))
			}
		})
	}
}

func TestDetectEvalRejectsUnknownTruthClass(t *testing.T) {
	e := NewDetectEval(DefaultClassNames, 0.35)
	err := e.Add([]Truth{{Class: 4, Box: box(0, 0, 5, 5)}}, nil)
	if err == nil || !strings.Contains(err.Error(), "class 4") {
		t.Fatalf("Add with class 4 of 4 classes: err = %v, want one naming class 4", err)
	}
	if r := e.Result(); r.Images != 0 || r.Objects != 0 {
		t.Errorf("rejected image was recorded: %+v", r)
	}
}

func TestResultJSONWritesNullForNaN(t *testing.T) {
	e := NewDetectEval(DefaultClassNames, 0.5)
	if err := e.Add([]Truth{{Class: 0, Box: box(0, 0, 10, 10)}}, nil); err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(e.Result())
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if m["precision"] != nil {
		t.Errorf("precision with no detections = %v, want null", m["precision"])
	}
	if m["recall"] != 0.0 || m["ap50"] != 0.0 {
		t.Errorf("recall, ap50 = %v, %v; want 0, 0", m["recall"], m["ap50"])
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestYOLOSet(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "data.yaml"), "path: x\nnames: {0: cctv, 1: alpr}\n")
	writeFile(t, filepath.Join(root, "images", "val", "b.jpg"), "")
	writeFile(t, filepath.Join(root, "images", "val", "a.png"), "")
	writeFile(t, filepath.Join(root, "images", "val", "notes.txt"), "")
	writeFile(t, filepath.Join(root, "labels", "val", "a.txt"), "1 0.5 0.25 0.1 0.2\n\n0 0.1 0.1 0.02 0.02\n")
	writeFile(t, filepath.Join(root, "labels", "val", "bad.txt"), "0 0.5 0.5 0.1\n")
	writeFile(t, filepath.Join(root, "labels", "val", "badclass.txt"), "2 0.5 0.5 0.1 0.1\n")

	s, err := OpenYOLOSet(root, "val")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(s.Names, ",") != "cctv,alpr" {
		t.Errorf("names = %v, want [cctv alpr]", s.Names)
	}
	if len(s.Images) != 2 || filepath.Base(s.Images[0]) != "a.png" || filepath.Base(s.Images[1]) != "b.jpg" {
		t.Fatalf("images = %v, want a.png, b.jpg", s.Images)
	}
	got, err := s.ReadLabels(s.Images[0], 200, 100)
	if err != nil {
		t.Fatal(err)
	}
	want := []Truth{{1, box(90, 15, 110, 35)}, {0, box(18, 9, 22, 11)}}
	if len(got) != len(want) {
		t.Fatalf("labels = %v, want %v", got, want)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Class != w.Class || math.Abs(g.Box.X1-w.Box.X1) > 1e-9 || math.Abs(g.Box.Y1-w.Box.Y1) > 1e-9 ||
			math.Abs(g.Box.X2-w.Box.X2) > 1e-9 || math.Abs(g.Box.Y2-w.Box.Y2) > 1e-9 {
			t.Errorf("label %d = %+v, want %+v", i, g, w)
		}
	}
	if got, err := s.ReadLabels(s.Images[1], 10, 10); err != nil || len(got) != 0 {
		t.Errorf("image without a label file: %v, %v; want no objects, no error", got, err)
	}
	for _, c := range []struct{ image, want string }{
		{"bad.jpg", "bad.txt:1: want \"class cx cy w h\""},
		{"badclass.jpg", "badclass.txt:1: class \"2\" is not an id in 0..1"},
	} {
		_, err := s.ReadLabels(filepath.Join(root, "images", "val", c.image), 10, 10)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("labels of %s: err = %v, want it to contain %q", c.image, err, c.want)
		}
	}

	if _, err := OpenYOLOSet(root, "train"); err == nil || !strings.Contains(err.Error(), root) {
		t.Errorf("missing split: err = %v, want one naming the data set", err)
	}
	writeFile(t, filepath.Join(root, "data.yaml"), "names: [a, b\n")
	if _, err := OpenYOLOSet(root, "val"); err == nil || !strings.Contains(err.Error(), "data.yaml") {
		t.Errorf("broken data.yaml: err = %v, want one naming data.yaml", err)
	}
}
