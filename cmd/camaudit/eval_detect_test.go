package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/camaudit/camaudit/detect"
	"github.com/camaudit/camaudit/eval"
)

// shippedModel is the committed default bundle, relative to this package.
const shippedModel = "../../models/camaudit-cams-v1"

func TestEvalDetectUsage(t *testing.T) {
	data := t.TempDir()
	cases := [][]string{
		{},
		{"--data", data, "extra"},
		{"--data", data, "--roi", "0,0,1"},
		{"--data", data, "--roi", "0,0.5,1,0.5"},
		{"--data", data, "--roi", "0,0,1,2"},
		{"--data", data, "--threshold", "1.5"},
		{"--data", data, "--ap-floor", "0"},
		{"--data", data, "--full-frame", "maybe"},
		{"--data", data, "--limit", "-1"},
		{"--data", data, "--resamples", "-5"},
		{"--nonsense"},
	}
	for _, args := range cases {
		var out, errOut bytes.Buffer
		err := cmdEvalDetect(context.Background(), args, &out, &errOut)
		if !errors.Is(err, errUsage) {
			t.Errorf("eval detect %q: err = %v, want a usage error", args, err)
		}
	}
}

// yoloSet writes a data set with the given images (name -> bytes) and
// label files (name -> text) in split val.
func yoloSet(t *testing.T, images map[string][]byte, labels map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"images/val", "labels/val"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for n, b := range images {
		if err := os.WriteFile(filepath.Join(root, "images", "val", n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for n, s := range labels {
		if err := os.WriteFile(filepath.Join(root, "labels", "val", n), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestEvalDetectBadInput(t *testing.T) {
	// A real image to pair with broken labels: the simulator renders one.
	src := t.TempDir()
	var out, errOut bytes.Buffer
	if err := cmdSim(context.Background(), []string{"dataset", "--n", "1", "--seed", "3", "--val-frac", "0", "--neg-frac", "0", "--out", src, "--quiet"}, &out, &errOut); err != nil {
		t.Fatalf("sim dataset: %v (%s)", err, errOut.String())
	}
	jpgs, _ := filepath.Glob(filepath.Join(src, "images", "train", "*.jpg"))
	if len(jpgs) != 1 {
		t.Fatalf("sim dataset wrote %d images, want 1", len(jpgs))
	}
	good, err := os.ReadFile(jpgs[0])
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		images map[string][]byte
		labels map[string]string
		want   string
	}{
		{"unreadable image", map[string][]byte{"a.jpg": []byte("not a jpeg")}, nil, "a.jpg: not a readable image"},
		{"short label line", map[string][]byte{"b.jpg": good}, map[string]string{"b.txt": "0 0.5 0.5 0.1\n"}, "b.txt:1: want \"class cx cy w h\""},
		{"class out of range", map[string][]byte{"c.jpg": good}, map[string]string{"c.txt": "0 0.5 0.5 0.1 0.1\n9 0.5 0.5 0.1 0.1\n"}, "c.txt:2: class \"9\""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := yoloSet(t, c.images, c.labels)
			var out, errOut bytes.Buffer
			err := cmdEvalDetect(context.Background(), []string{"--model", shippedModel, "--data", root, "--quiet"}, &out, &errOut)
			if err == nil || errors.Is(err, errUsage) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one containing %q", err, c.want)
			}
		})
	}
	var o, e bytes.Buffer
	missing := filepath.Join(t.TempDir(), "nowhere")
	if err := cmdEvalDetect(context.Background(), []string{"--model", shippedModel, "--data", missing}, &o, &e); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing data set: err = %v, want one naming %s", err, missing)
	}
}

// TestEvalDetectShippedModel renders a small synthetic set with the
// simulator (a seed the model was not trained on) and evaluates the shipped
// bundle on it through the real detector.
func TestEvalDetectShippedModel(t *testing.T) {
	root := simSet(t, 40, 777)
	var out, errOut bytes.Buffer
	errorsFile := filepath.Join(t.TempDir(), "errors.jsonl")
	if err := cmdEvalDetect(context.Background(), []string{"--model", shippedModel, "--data", root, "--split", "train", "--json", "--errors", errorsFile}, &out, &errOut); err != nil {
		t.Fatalf("eval detect: %v (%s)", err, errOut.String())
	}
	var r struct {
		Model     string   `json:"model"`
		TileScale float64  `json:"tile_scale"`
		Threshold float64  `json:"threshold"`
		Images    int      `json:"images"`
		Objects   int      `json:"objects"`
		Precision *float64 `json:"precision"`
		Recall    *float64 `json:"recall"`
		AP50      *float64 `json:"ap50"`
		AgnAP50   *float64 `json:"agnostic_ap50"`
		Classes   []struct {
			Name string `json:"name"`
		} `json:"classes"`
		Sizes []struct {
			Name    string   `json:"name"`
			Objects int      `json:"objects"`
			Recall  *float64 `json:"recall"`
		} `json:"sizes"`
		Missed    []errorCount `json:"missed"`
		False     []errorCount `json:"false"`
		Intervals *struct {
			Resamples int       `json:"resamples"`
			AP50      []float64 `json:"ap50"`
		} `json:"intervals"`
	}
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("eval detect --json printed %q: %v", out.String(), err)
	}
	checkErrorsFile(t, errorsFile, root, r.Missed, r.False)
	if iv := r.Intervals; iv == nil || iv.Resamples != 1000 || len(iv.AP50) != 2 || r.AP50 == nil ||
		!(iv.AP50[0] <= *r.AP50 && *r.AP50 <= iv.AP50[1] && iv.AP50[0] < iv.AP50[1]) {
		t.Errorf("intervals %+v: want 1000 draws and an AP50 interval around the AP50 %v", iv, r.AP50)
	}
	if r.Model != "camaudit-cams-v1" || r.Images != 40 || r.Objects == 0 {
		t.Fatalf("report: model %q, %d images, %d objects; want camaudit-cams-v1, 40 images, some objects", r.Model, r.Images, r.Objects)
	}
	if len(r.Classes) != 4 || r.Classes[0].Name != "dome" || len(r.Sizes) != 3 || r.Sizes[0].Name != "<16" {
		t.Fatalf("classes %v sizes %v: want dome, bullet, ptz, alpr and <16, 16-32, 32+", r.Classes, r.Sizes)
	}
	if r.Precision == nil || r.Recall == nil || r.AP50 == nil || r.AgnAP50 == nil {
		t.Fatalf("precision, recall, ap50 or agnostic_ap50 missing: %s", out.String())
	}
	// 40 images are noisy, but a model that broke (wrong decode, wrong
	// colour order, wrong scale) falls far below half of what its card
	// reports on the 1,500 held-out images.
	b, err := detect.LoadBundle(shippedModel)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		got  float64
	}{{"precision", *r.Precision}, {"recall", *r.Recall}, {"ap50", *r.AP50}, {"agnostic_ap50", *r.AgnAP50}} {
		card, ok := b.Metrics[c.name]
		if !ok || card <= 0 {
			t.Errorf("model.yaml has no metrics.%s", c.name)
			continue
		}
		if c.got < card/2 {
			t.Errorf("shipped model on 40 synthetic images: %s %.3f, under half the card's %.3f", c.name, c.got, card)
		}
	}
	t.Logf("40 synthetic images: precision %.3f recall %.3f ap50 %.3f agnostic ap50 %.3f", *r.Precision, *r.Recall, *r.AP50, *r.AgnAP50)

	// --tile-scale 0.5 enlarges the image before tiling: the report says
	// so, and more of the cameras under 16 px are found than at scale 1.
	var half struct {
		TileScale float64 `json:"tile_scale"`
		Threshold float64 `json:"threshold"`
		Sizes     []struct {
			Objects int      `json:"objects"`
			Recall  *float64 `json:"recall"`
		} `json:"sizes"`
	}
	out.Reset()
	if err := cmdEvalDetect(context.Background(), []string{"--model", shippedModel, "--data", root, "--split", "train", "--json", "--quiet", "--tile-scale", "0.5"}, &out, &errOut); err != nil {
		t.Fatalf("eval detect --tile-scale 0.5: %v (%s)", err, errOut.String())
	}
	if err := json.Unmarshal(out.Bytes(), &half); err != nil {
		t.Fatalf("eval detect --json printed %q: %v", out.String(), err)
	}
	if r.TileScale != 1 || half.TileScale != 0.5 {
		t.Errorf("tile_scale %g and %g, want 1 (the bundle's) and 0.5", r.TileScale, half.TileScale)
	}
	// Precision and recall are taken at the bundle's threshold for the tile
	// scale (model.yaml's threshold and tile_thresholds).
	for _, c := range []struct {
		scale, got float64
	}{{1, r.Threshold}, {0.5, half.Threshold}} {
		if want := float64(b.ThresholdAt(c.scale)); math.Abs(c.got-want) > 1e-6 {
			t.Errorf("threshold %g at tile scale %g, want the bundle's %g", c.got, c.scale, want)
		}
	}
	if len(half.Sizes) != 3 || half.Sizes[0].Objects != r.Sizes[0].Objects || half.Sizes[0].Recall == nil || r.Sizes[0].Recall == nil {
		t.Fatalf("sizes at tile scale 0.5 %+v, at 1 %+v: want the same buckets", half.Sizes, r.Sizes)
	}
	if *half.Sizes[0].Recall <= *r.Sizes[0].Recall {
		t.Errorf("recall under 16 px: %.3f at tile scale 0.5, %.3f at 1; enlarging should find more", *half.Sizes[0].Recall, *r.Sizes[0].Recall)
	}
	var o, e bytes.Buffer
	if err := cmdEvalDetect(context.Background(), []string{"--model", shippedModel, "--data", root, "--split", "train", "--quiet", "--tile-scale", "-1"}, &o, &e); err == nil || !strings.Contains(err.Error(), "TileScale") {
		t.Errorf("--tile-scale -1: err = %v, want one naming TileScale", err)
	}
}

// errorCount is one entry of the report's missed and false lists.
type errorCount struct {
	Reason string `json:"reason"`
	Count  int    `json:"count"`
	BySize [3]int `json:"by_size"`
}

// checkErrorsFile checks that the --errors file lists every error the
// report counts, each with a known reason and an image of the set.
func checkErrorsFile(t *testing.T, path, root string, missed, falses []errorCount) {
	t.Helper()
	if len(missed) != 5 || len(falses) != 4 {
		t.Fatalf("report lists %d reasons for misses and %d for false detections, want 5 and 4", len(missed), len(falses))
	}
	want := map[string]int{}
	total := 0
	for kind, list := range map[string][]errorCount{"missed": missed, "false": falses} {
		for _, c := range list {
			if c.Count != c.BySize[0]+c.BySize[1]+c.BySize[2] {
				t.Errorf("%s %s: count %d, by size %v", kind, c.Reason, c.Count, c.BySize)
			}
			want[kind+" "+c.Reason] = c.Count
			total += c.Count
		}
	}
	if total == 0 {
		t.Fatal("no errors at all on 40 images: the error counts are not filled in")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for i, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var rec struct {
			Image, Kind, Reason, Class string
			Box                        [4]float64
			SizePx                     float64 `json:"size_px"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("%s:%d: %v", path, i+1, err)
		}
		if !strings.HasPrefix(rec.Image, root) || rec.Box[2] <= rec.Box[0] || rec.SizePx <= 0 {
			t.Errorf("%s:%d: %s", path, i+1, line)
		}
		got[rec.Kind+" "+rec.Reason]++
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s: %d lines for %q, the report counts %d", path, got[k], k, n)
		}
	}
}

func TestEvalDetectErrorTable(t *testing.T) {
	root := simSet(t, 4, 778)
	var out, errOut bytes.Buffer
	if err := cmdEvalDetect(context.Background(), []string{"--model", shippedModel, "--data", root, "--split", "train", "--quiet"}, &out, &errOut); err != nil {
		t.Fatalf("eval detect: %v (%s)", err, errOut.String())
	}
	for _, want := range []string{"missed objects", "not_found", "low_score", "false detections", "background", "<16  16-32  32+",
		"95 % intervals over the images (1000 bootstrap draws): AP50 ", ", recall <16 px "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	bad := filepath.Join(t.TempDir(), "no", "such", "dir", "errors.jsonl")
	err := cmdEvalDetect(context.Background(), []string{"--model", shippedModel, "--data", root, "--split", "train", "--quiet", "--errors", bad}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("--errors in a missing folder: err = %v, want one naming %s", err, bad)
	}
}

// simSet renders a synthetic data set of n images (all in split train)
// with the simulator and returns its folder.
func simSet(t *testing.T, n, seed int) string {
	t.Helper()
	root := t.TempDir()
	var out, errOut bytes.Buffer
	args := []string{"dataset", "--n", strconv.Itoa(n), "--seed", strconv.Itoa(seed), "--val-frac", "0", "--out", root, "--quiet"}
	if err := cmdSim(context.Background(), args, &out, &errOut); err != nil {
		t.Fatalf("sim dataset: %v (%s)", err, errOut.String())
	}
	return root
}

func TestPrintDetectReportIntervals(t *testing.T) {
	nan := eval.Metric(math.NaN())
	r := evalDetectReport{Model: "m", DetectResult: eval.DetectResult{
		Sizes: []eval.ClassResult{{Name: "<16"}, {Name: "16-32"}, {Name: "32+"}},
		Intervals: &eval.Intervals{Resamples: 1000, Level: 0.95, AP50: eval.Interval{0.5, 0.55},
			SizeRecall: []eval.Interval{{nan, nan}, {0.2, 0.3}, {0.6, 0.7}}},
	}}
	var out bytes.Buffer
	if err := printDetectReport(&out, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"95 % intervals over the images (1000 bootstrap draws): AP50 0.500-0.550,",
		"recall <16 px -, recall 16-32 px 0.200-0.300, recall 32+ px 0.600-0.700\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}
