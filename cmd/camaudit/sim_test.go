package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSimCommand(t *testing.T) {
	quick := filepath.Join("..", "..", "sim", "testdata", "quick.yaml")
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	src, err := os.ReadFile(quick)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, bytes.Replace(src, []byte("fps: 5"), []byte("fps: 500"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	walk, ds := filepath.Join(dir, "walk"), filepath.Join(dir, "ds")
	for _, tc := range []struct {
		name    string
		args    []string
		code    int
		stderr  string
		creates []string
	}{
		{"no subcommand", []string{"sim"}, 2, "missing sim command", nil},
		{"unknown", []string{"sim", "fly"}, 2, `unknown sim command "fly"`, nil},
		{"walk needs out", []string{"sim", "walk", "--scenario", quick}, 2, "--scenario and --out are required", nil},
		{"bad scenario", []string{"sim", "walk", "--scenario", bad, "--out", walk}, 1, "bad.yaml:22: device.fps: must be within (0, 120], got 500", nil},
		{"walk", []string{"sim", "walk", "--scenario", quick, "--out", walk, "--frames", "8"}, 0, "sim walk: 8 frames",
			[]string{"walk/walk.avi", "walk/track.nmea", "walk/truth.geojson", "walk/frames.jsonl", "walk/walk.json"}},
		{"dataset bad size", []string{"sim", "dataset", "--n", "2", "--out", ds, "--size", "640"}, 2, "--size must look like 640x640", nil},
		{"dataset bad split", []string{"sim", "dataset", "--n", "2", "--out", ds, "--backgrounds", dir, "--bg-split", "x"}, 2, "--bg-split must be all, train or holdout", nil},
		{"dataset", []string{"sim", "dataset", "--n", "3", "--seed", "4", "--out", ds, "--size", "320x240", "--quiet"}, 0, "",
			[]string{"ds/data.yaml", "ds/dataset.json", "ds/labels/train"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := runMain(tc.args, &out, &errb)
			if code != tc.code || !strings.Contains(errb.String(), tc.stderr) {
				t.Fatalf("exit %d, stderr %q; want exit %d and %q", code, errb.String(), tc.code, tc.stderr)
			}
			for _, f := range tc.creates {
				if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
					t.Fatalf("not written: %v", err)
				}
			}
		})
	}
}
