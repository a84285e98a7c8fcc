package detect

import (
	"math"
	"strings"
	"testing"
)

func testBundle(layout string, labels []string, types map[string]string) *Bundle {
	return &Bundle{Layout: layout, Labels: labels, Types: types}
}

// yolov8Tensor builds a [batch, 4+nc, n] tensor from per-anchor rows
// (cx, cy, w, h, scores...).
func yolov8Tensor(nc int, items ...[][]float32) output {
	n := len(items[0])
	rows := 4 + nc
	data := make([]float32, len(items)*rows*n)
	for b, anchors := range items {
		for j, a := range anchors {
			for r := 0; r < rows; r++ {
				data[b*rows*n+r*n+j] = a[r]
			}
		}
	}
	return output{data: data, shape: []int{len(items), rows, n}}
}

func TestDecodeYOLOv8(t *testing.T) {
	b := testBundle(LayoutYOLOv8, []string{"dome", "bullet", "person"},
		map[string]string{"dome": "dome", "bullet": "bullet", "person": "ignore"})
	d := newDecoder(b)
	out := yolov8Tensor(3, [][]float32{
		{100, 50, 20, 10, 0.9, 0.1, 0.0},  // dome 0.9
		{10, 10, 4, 4, 0.2, 0.3, 0.1},     // below threshold
		{200, 100, 40, 30, 0.1, 0.8, 0.0}, // bullet 0.8
		{50, 50, 10, 10, 0.5, 0.1, 0.95},  // person wins: dropped, never a dome
		{60, 60, 0, 10, 0.9, 0.0, 0.0},    // zero width: dropped
	}, [][]float32{
		{1, 2, 2, 2, 0, 0, 0},
		{30, 40, 10, 20, 0.0, 0.0, 0.0},
		{0, 0, 0, 0, 0, 0, 0},
		{300, 200, 8, 6, 0.7, 0.0, 0.0},
		{0, 0, 0, 0, 0, 0, 0},
	})
	got, err := d.decode(nil, out, 0, 0.35, 7, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []cand{
		{b: box{90, 45, 110, 55}, score: 0.9, class: 0, pass: 7},
		{b: box{180, 85, 220, 115}, score: 0.8, class: 1, pass: 7},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d candidates %+v, want %+v", len(got), got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("candidate %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	got, err = d.decode(nil, out, 1, 0.35, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].b != (box{296, 197, 304, 203}) || got[0].class != 0 {
		t.Errorf("batch item 1: got %+v, want one dome at (296,197)-(304,203)", got)
	}
	if _, err := d.decode(nil, out, 2, 0.35, 0, 0); err == nil {
		t.Error("batch item 2 of 2: no error")
	}
}

func TestDecodeYOLOv5(t *testing.T) {
	b := testBundle(LayoutYOLOv5, []string{"dome", "ptz", "face"},
		map[string]string{"dome": "dome", "ptz": "ptz", "face": "ignore"})
	d := newDecoder(b)
	rows := [][]float32{
		{64, 32, 16, 8, 0.9, 0.9, 0.1, 0.0},   // dome 0.81
		{10, 10, 5, 5, 0.3, 1.0, 0.0, 0.0},    // objectness below threshold
		{100, 80, 30, 20, 0.8, 0.2, 0.5, 0.0}, // ptz 0.4
		{100, 80, 30, 20, 0.6, 0.5, 0.0, 0.0}, // dome 0.3: below
		{20, 20, 10, 10, 0.99, 0.1, 0.1, 0.9}, // face: dropped
	}
	var data []float32
	for _, r := range rows {
		data = append(data, r...)
	}
	out := output{data: data, shape: []int{1, len(rows), 8}}
	got, err := d.decode(nil, out, 0, 0.35, 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []cand{
		{b: box{56, 28, 72, 36}, score: 0.9 * 0.9, class: 0, pass: 3},
		{b: box{85, 70, 115, 90}, score: 0.8 * 0.5, class: 1, pass: 3},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].b != want[i].b || got[i].class != want[i].class || math.Abs(float64(got[i].score-want[i].score)) > 1e-6 {
			t.Errorf("candidate %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestDecodeLimitKeepsBest(t *testing.T) {
	d := newDecoder(testBundle(LayoutYOLOv8, []string{"dome"}, map[string]string{"dome": "dome"}))
	var anchors [][]float32
	for i := 0; i < 10; i++ {
		anchors = append(anchors, []float32{float32(10 * i), 5, 4, 4, 0.5 + float32(i)/100})
	}
	got, err := d.decode(nil, yolov8Tensor(1, anchors), 0, 0.1, 0, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].b.x1 != 88 || got[1].b.x1 != 78 || got[2].b.x1 != 68 {
		t.Errorf("limit 3: got %+v, want the 3 best (0.59, 0.58, 0.57)", got)
	}
}

func TestDecodeShapeErrors(t *testing.T) {
	tests := []struct {
		layout string
		shape  []int
		want   string
	}{
		{LayoutYOLOv8, []int{1, 7, 100}, "wants [batch, 6, N]"},
		{LayoutYOLOv8, []int{1, 100, 6}, "wants [batch, 6, N]"},
		{LayoutYOLOv8, []int{6, 100}, "wants [batch, 6, N]"},
		{LayoutYOLOv5, []int{1, 100, 6}, "wants [batch, N, 7]"},
		{LayoutYOLOv5, []int{1, 1, 100, 7}, "wants [batch, N, 7]"},
	}
	for _, tc := range tests {
		d := newDecoder(testBundle(tc.layout, []string{"dome", "bullet"}, map[string]string{"dome": "dome", "bullet": "bullet"}))
		n := 1
		for _, s := range tc.shape {
			n *= s
		}
		_, err := d.decode(nil, output{data: make([]float32, n), shape: tc.shape}, 0, 0.5, 0, 0)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %v: error %v, want one containing %q", tc.layout, tc.shape, err, tc.want)
		}
	}
}

func TestNMS(t *testing.T) {
	tests := []struct {
		name string
		in   []cand
		iou  float32
		want []float32 // scores kept, in order
	}{
		{"overlapping same class: best kept", []cand{
			{b: box{0, 0, 10, 10}, score: 0.6},
			{b: box{1, 1, 11, 11}, score: 0.9},
			{b: box{50, 50, 60, 60}, score: 0.7},
		}, 0.5, []float32{0.9, 0.7}},
		{"overlapping, other class: both kept", []cand{
			{b: box{0, 0, 10, 10}, score: 0.6, class: 1},
			{b: box{1, 1, 11, 11}, score: 0.9, class: 0},
		}, 0.5, []float32{0.9, 0.6}},
		{"same class, other extent from another tile: dropped", []cand{
			{b: box{557, 318.5, 574.6, 331.8}, score: 0.86, class: 3, pass: 9},
			{b: box{552.5, 311.2, 577.7, 331.2}, score: 0.36, class: 3, pass: 12}, // IoU 0.45, the first lies inside
		}, 0.5, []float32{0.86}},
		{"cut and whole guesses of one tile: the better kept", []cand{
			{b: box{841.4, 457.3, 850.8, 467.5}, score: 0.86, class: 2, pass: 10, cut: true},
			{b: box{841.5, 457.4, 850.9, 467.1}, score: 0.72, class: 2, pass: 10},
		}, 0.5, []float32{0.86}},
		{"two cameras side by side: both kept", []cand{
			{b: box{100, 100, 110, 110}, score: 0.9, class: 0},
			{b: box{108, 100, 118, 110}, score: 0.8, class: 0},
			{b: box{100, 111, 110, 121}, score: 0.7, class: 1},
		}, 0.5, []float32{0.9, 0.8, 0.7}},
		{"IoU at threshold kept", []cand{
			// IoU of these two is exactly 1/3.
			{b: box{0, 0, 10, 10}, score: 0.9},
			{b: box{5, 0, 15, 10}, score: 0.8},
		}, 1.0 / 3, []float32{0.9, 0.8}},
		{"IoU above threshold dropped", []cand{
			{b: box{0, 0, 10, 10}, score: 0.9},
			{b: box{5, 0, 15, 10}, score: 0.8},
		}, 0.3, []float32{0.9}},
		{"chain: suppressed box does not suppress", []cand{
			{b: box{0, 0, 10, 10}, score: 0.9},
			{b: box{4, 0, 14, 10}, score: 0.8},  // IoU 0.43 with first: dropped
			{b: box{10, 0, 20, 10}, score: 0.7}, // IoU 0 with first: kept
		}, 0.4, []float32{0.9, 0.7}},
	}
	for _, tc := range tests {
		got := nms(append([]cand(nil), tc.in...), tc.iou, 0)
		var scores []float32
		for _, c := range got {
			scores = append(scores, c.score)
		}
		if len(scores) != len(tc.want) {
			t.Errorf("%s: kept %v, want %v", tc.name, scores, tc.want)
			continue
		}
		for i := range scores {
			if scores[i] != tc.want[i] {
				t.Errorf("%s: kept %v, want %v", tc.name, scores, tc.want)
				break
			}
		}
	}
	many := make([]cand, 50)
	for i := range many {
		many[i] = cand{b: box{float32(20 * i), 0, float32(20*i + 10), 10}, score: float32(i) / 100}
	}
	if got := nms(many, 0.5, 5); len(got) != 5 || got[0].score != 0.49 {
		t.Errorf("limit 5: got %d boxes, best %v", len(got), got[0].score)
	}
}

func TestMergeCut(t *testing.T) {
	tests := []struct {
		name string
		in   []cand
		want []box
	}{
		{"cut box inside a whole one from another tile: union is the whole one", []cand{
			{b: box{100, 10, 130, 40}, score: 0.8, pass: 0},
			{b: box{100, 10, 115, 40}, score: 0.9, pass: 1, cut: true},
		}, []box{{100, 10, 130, 40}}},
		{"object split by a border, both halves cut: joined", []cand{
			{b: box{90, 10, 120, 40}, score: 0.7, pass: 0, cut: true},
			{b: box{100, 12, 140, 42}, score: 0.6, pass: 1, cut: true},
		}, []box{{90, 10, 140, 42}}},
		{"same tile: never merged", []cand{
			{b: box{100, 10, 130, 40}, score: 0.8, pass: 1},
			{b: box{100, 10, 115, 40}, score: 0.9, pass: 1, cut: true},
		}, []box{{100, 10, 115, 40}, {100, 10, 130, 40}}},
		{"neither cut: left to NMS", []cand{
			{b: box{100, 10, 130, 40}, score: 0.8, pass: 0},
			{b: box{100, 10, 115, 40}, score: 0.9, pass: 1},
		}, []box{{100, 10, 115, 40}, {100, 10, 130, 40}}},
		{"other class: kept apart", []cand{
			{b: box{100, 10, 130, 40}, score: 0.8, pass: 0, class: 1},
			{b: box{100, 10, 115, 40}, score: 0.9, pass: 1, cut: true},
		}, []box{{100, 10, 115, 40}, {100, 10, 130, 40}}},
		{"barely touching: kept apart", []cand{
			{b: box{100, 10, 130, 40}, score: 0.8, pass: 0},
			{b: box{125, 10, 150, 40}, score: 0.9, pass: 1, cut: true},
		}, []box{{125, 10, 150, 40}, {100, 10, 130, 40}}},
	}
	for _, tc := range tests {
		got := mergeCut(append([]cand(nil), tc.in...), 0.5)
		if len(got) != len(tc.want) {
			t.Errorf("%s: got %+v, want boxes %v", tc.name, got, tc.want)
			continue
		}
		for i := range got {
			if got[i].b != tc.want[i] {
				t.Errorf("%s: box %d = %v, want %v", tc.name, i, got[i].b, tc.want[i])
			}
		}
		if len(got) == 1 && got[0].score != max(tc.in[0].score, tc.in[1].score) {
			t.Errorf("%s: merged score %v, want the higher one", tc.name, got[0].score)
		}
	}
}

func TestNMSCutNeverSuppressesWhole(t *testing.T) {
	in := []cand{
		{b: box{685, 292, 733, 320}, score: 0.95, pass: 2, cut: true}, // clipped by its tile's bottom edge
		{b: box{685, 291, 733, 339}, score: 0.9, pass: 10},            // the whole box from the tile below
	}
	got := mergeCut(nms(in, 0.5, 0), 0.5)
	if len(got) != 1 || got[0].b != (box{685, 291, 733, 339}) || got[0].score != 0.95 {
		t.Errorf("got %+v, want the whole box with the best score", got)
	}
}
