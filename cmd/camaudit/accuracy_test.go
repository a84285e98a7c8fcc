package main

import (
	"encoding/json"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/camaudit/camaudit/eval"
	"github.com/camaudit/camaudit/internal/brokertest"
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
// at 5 fps) with the degraded detector. Each walk is rendered once.
//
// The street20-model case is issue 6's integration test with the real
// model: the shipped bundle (models/camaudit-cams-v1, detector and
// verifier) at the tile scale docs/firmware.md recommends for a 1280x720
// camera (0.5: the frame enlarged twice before tiling) and the bundle's
// threshold there, publishing to a real Mosquitto; the subscriber must get
// every confirmed sighting exactly once and eval walk must meet the issue's
// thresholds (measured: precision 0.955, recall 0.913, count error 4.3 %,
// median 2.8 m; one camera less found would fail recall and count). On
// random walks the same model does not reach them everywhere yet
// (docs/firmware.md, make accuracy).

func TestFirmwareAccuracyAcrossScenarios(t *testing.T) {
	model, err := filepath.Abs(shippedModel)
	if err != nil {
		t.Fatal(err)
	}
	issue := walkFloor{recall: 0.9, precision: 0.9, countErr: 0.05, medianM: 5}
	for _, tc := range []struct {
		name     string
		scenario string
		detector []string // replay's detector flags; nil: the truth boxes
		want     walkFloor
	}{
		{"street20", "../../sim/testdata/street20.yaml", nil, issue},
		{"street20-noisy", "../../sim/testdata/street20.yaml", accuracyNoise, issue},
		{"walk22-noisy", "../../firmware/testdata/walk22.yaml", accuracyNoise, issue},
		{"street20-model", "../../sim/testdata/street20.yaml", []string{"--model", model, "--tile-scale", "0.5"}, issue},
	} {
		t.Run(tc.name, func(t *testing.T) {
			walk := simWalk(t, tc.scenario)
			out := filepath.Join(t.TempDir(), "sightings.geojson")
			args := []string{"replay", "--video", filepath.Join(walk, "walk.avi"), "--nmea", filepath.Join(walk, "track.nmea"),
				"--out", out, "--quiet"}
			if len(tc.detector) == 0 || tc.detector[0] != "--model" {
				args = append(args, "--truth", filepath.Join(walk, "frames.jsonl"))
			}
			var col *fwCollector
			if len(tc.detector) > 0 && tc.detector[0] == "--model" {
				b := brokertest.Start(t, "")
				col = fwCollect(t, b.URL(), "sim-model")
				args = append(args, "--broker", b.URL(), "--device", "sim-model")
			}
			t.Logf("%s", fwRun(t, append(args, tc.detector...)...))
			if col != nil {
				col.checkExactlyOnce(t, fwSightingIDs(t, out))
			}
			var r eval.WalkResult
			if err := json.Unmarshal([]byte(fwRun(t, "eval", "walk", "--truth", filepath.Join(walk, "truth.geojson"), "--sightings", out, "--json")), &r); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %d true, %d found, precision %.3f recall %.3f count error %.3f median %.2f m p90 %.2f m, missed %v, false %v",
				tc.name, r.Truth, r.Found, r.Precision, r.Recall, r.CountError, r.MedianErrorM, r.P90ErrorM, r.MissedIDs, r.FalseIDs)
			w := tc.want
			if r.Truth < 20 || r.Recall < w.recall || r.Precision < w.precision || r.CountError > w.countErr || r.MedianErrorM > w.medianM {
				t.Errorf("%s: want >= 20 cameras, recall >= %.2f, precision >= %.2f, count error <= %.0f %%, median error <= %.0f m; got %d cameras, %s",
					tc.name, w.recall, w.precision, 100*w.countErr, w.medianM, r.Truth, strconv.Quote(formatWalkResult(r)))
			}
		})
	}
}

// walkFloor is what a walk's evaluation must reach.
type walkFloor struct {
	recall, precision float64 // at least
	countErr, medianM float64 // at most (fraction, metres)
}

func formatWalkResult(r eval.WalkResult) string {
	b, _ := json.Marshal(struct {
		P, R, CE, Med, P90 float64
	}{r.Precision, r.Recall, r.CountError, r.MedianErrorM, r.P90ErrorM})
	return string(b)
}
