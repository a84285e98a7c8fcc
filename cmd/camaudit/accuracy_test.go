package main

import (
	"encoding/json"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/camaudit/camaudit/eval"
)

// accuracyNoise is the degraded truth detector the accuracy tests use: a
// few pixels of box jitter, a fifth of the boxes missed in short bursts, one
// in ten given the look-alike type, and a spurious box every third frame,
// as a real detector would (replay --truth-jitter/-drop/-flip/-false).
var accuracyNoise = []string{"--truth-jitter", "2", "--truth-drop", "0.2", "--truth-flip", "0.1", "--truth-false", "0.3", "--truth-seed", "1"}

// TestFirmwareAccuracyAcrossScenarios checks issue 6's thresholds (recall
// and precision >= 0.9, count error <= 5 %, median position error <= 5 m,
// GNSS noise sigma 3 m) beyond the integration test's walk: on the
// simulator's street20 (the walk the issue and make demo use: a corner, a
// pause, a dropout, cameras 1.5-15 m from the route) with the truth boxes
// and with the degraded truth detector, and on walk22 (another town, 640x360
// at 5 fps) with the degraded detector; and on street20 with the shipped
// model (models/camaudit-cams-v1) as the detector, as the device runs. Each
// walk is rendered once.
func TestFirmwareAccuracyAcrossScenarios(t *testing.T) {
	model, err := filepath.Abs(shippedModel)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		scenario string
		detector []string // replay's detector flags; nil: the truth boxes
	}{
		{"street20", "../../sim/testdata/street20.yaml", nil},
		{"street20-noisy", "../../sim/testdata/street20.yaml", accuracyNoise},
		{"walk22-noisy", "../../firmware/testdata/walk22.yaml", accuracyNoise},
		{"street20-model", "../../sim/testdata/street20.yaml", []string{"--model", model}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			walk := simWalk(t, tc.scenario)
			out := filepath.Join(t.TempDir(), "sightings.geojson")
			args := []string{"replay", "--video", filepath.Join(walk, "walk.avi"), "--nmea", filepath.Join(walk, "track.nmea"),
				"--out", out, "--quiet"}
			if len(tc.detector) == 0 || tc.detector[0] != "--model" {
				args = append(args, "--truth", filepath.Join(walk, "frames.jsonl"))
			}
			t.Logf("%s", fwRun(t, append(args, tc.detector...)...))
			var r eval.WalkResult
			if err := json.Unmarshal([]byte(fwRun(t, "eval", "walk", "--truth", filepath.Join(walk, "truth.geojson"), "--sightings", out, "--json")), &r); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %d true, %d found, precision %.3f recall %.3f count error %.3f median %.2f m p90 %.2f m, missed %v, false %v",
				tc.name, r.Truth, r.Found, r.Precision, r.Recall, r.CountError, r.MedianErrorM, r.P90ErrorM, r.MissedIDs, r.FalseIDs)
			if r.Truth < 20 || r.Recall < 0.9 || r.Precision < 0.9 || r.CountError > 0.05 || r.MedianErrorM > 5 {
				t.Errorf("%s: want >= 20 cameras, recall >= 0.9, precision >= 0.9, count error <= 5 %%, median error <= 5 m; got %d cameras, %s",
					tc.name, r.Truth, strconv.Quote(formatWalkResult(r)))
			}
		})
	}
}

func formatWalkResult(r eval.WalkResult) string {
	b, _ := json.Marshal(struct {
		P, R, CE, Med, P90 float64
	}{r.Precision, r.Recall, r.CountError, r.MedianErrorM, r.P90ErrorM})
	return string(b)
}
