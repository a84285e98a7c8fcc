package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gocv.io/x/gocv"
)

// markerBundle is detect's engineered test model: it finds pure red squares
// (dome) and pure blue squares (bullet) with tight boxes.
const markerBundle = "../../detect/testdata/marker"

// writeSquares writes a w x h image with coloured squares to path.
func writeSquares(t *testing.T, path string, w, h int, squares map[image.Rectangle]color.RGBA) {
	t.Helper()
	m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(180, 190, 200, 0), h, w, gocv.MatTypeCV8UC3)
	defer m.Close()
	for r, c := range squares {
		gocv.Rectangle(&m, r, c, -1)
	}
	if !gocv.IMWrite(path, m) {
		t.Fatalf("writing %s", path)
	}
}

func TestDetectCommand(t *testing.T) {
	dir := t.TempDir()
	red, blue := color.RGBA{R: 255, A: 255}, color.RGBA{B: 255, A: 255}
	writeSquares(t, filepath.Join(dir, "a.png"), 1280, 720, map[image.Rectangle]color.RGBA{
		image.Rect(100, 80, 124, 104): red, image.Rect(900, 300, 924, 324): blue})
	writeSquares(t, filepath.Join(dir, "b.jpg"), 1920, 1080, map[image.Rectangle]color.RGBA{
		image.Rect(1500, 200, 1530, 230): red})
	writeSquares(t, filepath.Join(dir, "c.png"), 640, 480, nil)
	if err := os.WriteFile(filepath.Join(dir, "broken.jpg"), []byte("\xff\xd8\xff\xe0 this is not a JPEG"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("ignored: not an image name"), 0o644); err != nil {
		t.Fatal(err)
	}
	draw := filepath.Join(t.TempDir(), "drawn")

	var stdout, stderr bytes.Buffer
	code := runMain([]string{"detect", "--json", "--model", markerBundle, "--draw", draw, dir}, &stdout, &stderr)
	if code != 1 {
		t.Errorf("exit %d with an unreadable image, want 1; stderr:\n%s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "broken.jpg") || !strings.Contains(stderr.String(), "not a readable image") ||
		!strings.Contains(stderr.String(), "1 of 4 inputs could not be read") {
		t.Errorf("stderr does not name the unreadable image and the count:\n%s", stderr.String())
	}

	type rec struct {
		Type, Label string
		Score       float64
		Box         []int
	}
	type line struct {
		Image         string
		Width, Height int
		Detections    []rec
	}
	got := map[string]line{}
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		raw := sc.Bytes()
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(raw, &fields); err != nil {
			t.Fatalf("line %q is not JSON: %v", raw, err)
		}
		for _, f := range []string{"image", "width", "height", "detections"} {
			if _, ok := fields[f]; !ok {
				t.Errorf("line %q lacks %q", raw, f)
			}
		}
		var l line
		if err := json.Unmarshal(raw, &l); err != nil {
			t.Fatal(err)
		}
		got[filepath.Base(l.Image)] = l
	}
	if len(got) != 3 {
		t.Fatalf("got %d JSON lines (%v), want 3 (a.png, b.jpg, c.png)", len(got), got)
	}
	a := got["a.png"]
	if a.Width != 1280 || a.Height != 720 || len(a.Detections) != 2 {
		t.Errorf("a.png: %+v", a)
	}
	want := map[string][]int{"dome": {100, 80, 124, 104}, "bullet": {900, 300, 924, 324}}
	for _, d := range a.Detections {
		w, ok := want[d.Type]
		if !ok || d.Label != d.Type || d.Score < 0.9 || len(d.Box) != 4 {
			t.Errorf("a.png: unexpected detection %+v", d)
			continue
		}
		for i := range w {
			if diff := d.Box[i] - w[i]; diff < -1 || diff > 1 {
				t.Errorf("a.png: %s box %v, want %v", d.Type, d.Box, w)
				break
			}
		}
	}
	if b := got["b.jpg"]; b.Width != 1920 || len(b.Detections) != 1 || b.Detections[0].Type != "dome" {
		t.Errorf("b.jpg: %+v", b)
	}
	if c := got["c.png"]; c.Detections == nil || len(c.Detections) != 0 {
		t.Errorf("c.png: %+v, want an empty (not null) detections list", c)
	}
	for _, f := range []string{"a.png", "b.jpg", "c.png"} {
		img := gocv.IMRead(filepath.Join(draw, f), gocv.IMReadColor)
		if img.Empty() {
			t.Errorf("--draw did not write %s", f)
		}
		img.Close()
	}

	// Readable output, all images fine: exit 0.
	stdout.Reset()
	stderr.Reset()
	code = runMain([]string{"detect", "--model", markerBundle, filepath.Join(dir, "a.png"), filepath.Join(dir, "c.png")}, &stdout, &stderr)
	if code != 0 {
		t.Errorf("exit %d, stderr %s", code, stderr.String())
	}
	out := stdout.String()
	if !strings.Contains(out, "a.png: 1280x720, 2 cameras: ") || !strings.Contains(out, "c.png: 640x480, no cameras") {
		t.Errorf("readable output:\n%s", out)
	}
}

func TestDetectCommandErrors(t *testing.T) {
	img := filepath.Join(t.TempDir(), "x.png")
	writeSquares(t, img, 64, 64, nil)
	model, err := filepath.Abs(markerBundle)
	if err != nil {
		t.Fatal(err)
	}
	badPerson, err := filepath.Abs("../../detect/testdata/bad-person")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		env  string
		code int
		want string
	}{
		{"no arguments", []string{"detect", "--model", model}, "", 2, "no IMAGE or DIR"},
		{"bad threshold", []string{"detect", "--model", model, "--threshold", "2", img}, "", 2, "--threshold"},
		{"bad roi", []string{"detect", "--model", model, "--roi", "0,0,1", img}, "", 2, "--roi"},
		{"bad toggle", []string{"detect", "--model", model, "--tiles", "maybe", img}, "", 2, "--tiles"},
		{"missing file", []string{"detect", "--model", model, "/nonexistent/y.png"}, "", 1, "/nonexistent/y.png"},
		{"bad bundle", []string{"detect", "--model", badPerson, img}, "", 1, "must map to ignore"},
		{"no bundle anywhere", []string{"detect", img}, "", 1, "no model bundle found"},
		{"bundle from env", []string{"detect", img}, model, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("CAMAUDIT_MODEL", tc.env)
			t.Chdir(t.TempDir()) // no models/ here
			var stdout, stderr bytes.Buffer
			code := runMain(tc.args, &stdout, &stderr)
			if code != tc.code || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("exit %d (want %d), stderr %q (want it to contain %q)", code, tc.code, stderr.String(), tc.want)
			}
		})
	}
}
