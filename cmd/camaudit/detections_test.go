package main

import (
	"errors"
	"fmt"
	"image"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/camaudit/camaudit/detect"
	"github.com/camaudit/camaudit/firmware"
	"github.com/camaudit/camaudit/hw"
	"github.com/camaudit/camaudit/internal/faulttest"
)

const detHeader = `{"detector":"model:m@1","model":"m","threshold":0.3,"tile_scale":0.5,"width":1280,"height":720}` + "\n"

func TestParseDetections(t *testing.T) {
	good := detHeader +
		`{"frame":0,"detections":[{"type":"dome","label":"dome","score":0.9,"box":[10,20,30,40]},{"type":"alpr","score":0.35,"box":[50,60,70,80]}]}` + "\n\n" +
		`{"frame":1,"detections":[]}` + "\n"
	for _, tc := range []struct {
		name, text string
		threshold  float64
		want       string // an error about this; "" for none
		frame0     int    // detections kept in frame 0
	}{
		{name: "all", text: good, frame0: 2},
		{name: "raised threshold", text: good, threshold: 0.5, frame0: 1},
		{name: "the recorded threshold", text: good, threshold: 0.3, frame0: 2},
		{name: "lower threshold", text: good, threshold: 0.2, want: "recorded at threshold 0.3; a replay of it cannot use the lower 0.2"},
		{name: "empty", text: "", want: "empty: not a detections file"},
		{name: "no header", text: `{"frame":0,"detections":[]}` + "\n", want: "f.jsonl:1: not a detections file"},
		{name: "truth boxes", text: `{"frame":0,"boxes":[]}` + "\n", want: "f.jsonl:1: not a detections file"},
		{name: "bad header threshold", text: `{"detector":"x","threshold":1.5}` + "\n", want: "f.jsonl:1: threshold 1.5"},
		{name: "garbage line", text: detHeader + "{not json\n", want: "f.jsonl:2:"},
		{name: "no frame", text: detHeader + `{"detections":[]}` + "\n", want: `f.jsonl:2: no "frame" field`},
		{name: "frame twice", text: detHeader + `{"frame":3,"detections":[]}` + "\n" + `{"frame":3,"detections":[]}` + "\n", want: "f.jsonl:3: frame 3 recorded twice"},
		{name: "bad type", text: detHeader + `{"frame":0,"detections":[{"type":"person","score":0.9,"box":[1,2,3,4]}]}` + "\n", want: `f.jsonl:2: detection 0: type "person"`},
		{name: "bad score", text: detHeader + `{"frame":0,"detections":[{"type":"dome","score":1.5,"box":[1,2,3,4]}]}` + "\n", want: "detection 0: score 1.5"},
		{name: "zero score", text: detHeader + `{"frame":0,"detections":[{"type":"dome","score":0,"box":[1,2,3,4]}]}` + "\n", want: "detection 0: score 0"},
		{name: "inverted box", text: detHeader + `{"frame":0,"detections":[{"type":"dome","score":0.5,"box":[30,2,3,4]}]}` + "\n", want: "detection 0: box [30 2 3 4]"},
		{name: "empty box", text: detHeader + `{"frame":0,"detections":[{"type":"dome","score":0.5,"box":[3,2,3,4]}]}` + "\n", want: "detection 0: box [3 2 3 4]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := parseDetections(strings.NewReader(tc.text), "f.jsonl", tc.threshold)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("err = %v, want one containing %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := d.Detect(firmware.Frame{Seq: 0})
			if err != nil || len(got) != tc.frame0 {
				t.Fatalf("frame 0: %d detections (err %v), want %d", len(got), err, tc.frame0)
			}
			if got[0] != (firmware.Detection{Type: "dome", Label: "dome", Score: 0.9, Box: image.Rect(10, 20, 30, 40)}) {
				t.Errorf("frame 0, first detection = %+v", got[0])
			}
			if got, err := d.Detect(firmware.Frame{Seq: 1}); err != nil || len(got) != 0 {
				t.Errorf("frame 1 = %v, %v; want no detections", got, err)
			}
			if _, err := d.Detect(firmware.Frame{Seq: 2}); !errors.Is(err, errFrameNotRecorded) || !strings.Contains(err.Error(), "f.jsonl: frame 2") {
				t.Errorf("frame 2 (not recorded): err = %v", err)
			}
			if d.header.Model != "m" || d.header.TileScale != 0.5 || d.header.Width != 1280 {
				t.Errorf("header = %+v", d.header)
			}
		})
	}
}

// sightingKeys reads a replay's sightings by content: the ids differ
// between two replays, what they found must not.
func sightingKeys(t *testing.T, path string) []string {
	t.Helper()
	var keys []string
	for _, s := range faulttest.ReadSightings(t, path) {
		keys = append(keys, s.Key())
	}
	return keys
}

// TestReplaySavedDetections replays a simulated walk with a degraded truth
// detector while saving its detections, then replays the saved detections:
// the sightings must be the same. A raised threshold keeps fewer, a
// recording cut short is refused at the first frame it lacks, and the
// exclusive flags are refused.
func TestReplaySavedDetections(t *testing.T) {
	walk := simWalk(t, "../../firmware/testdata/walk22.yaml")
	video, nmea := filepath.Join(walk, "walk.avi"), filepath.Join(walk, "track.nmea")
	dir := t.TempDir()
	dets, first, second := filepath.Join(dir, "d.jsonl"), filepath.Join(dir, "a.geojson"), filepath.Join(dir, "b.geojson")
	base := []string{"replay", "--video", video, "--nmea", nmea, "--quiet"}
	fwRun(t, append(base, "--truth", filepath.Join(walk, "frames.jsonl"), "--truth-jitter", "1.5", "--truth-flip", "0.1",
		"--truth-false", "0.3", "--save-detections", dets, "--out", first)...)
	fwRun(t, append(base, "--detections", dets, "--out", second)...)
	a, b := sightingKeys(t, first), sightingKeys(t, second)
	if len(a) < 10 || !reflect.DeepEqual(a, b) {
		t.Fatalf("replay of saved detections differs:\n%v\n%v", a, b)
	}

	rd, err := loadDetections(dets, 0)
	if err != nil {
		t.Fatal(err)
	}
	high, err := loadDetections(dets, 0.9)
	if err != nil {
		t.Fatal(err)
	}
	all, kept := 0, 0
	for seq := range rd.frames {
		all += len(rd.frames[seq])
		kept += len(high.frames[seq])
		for _, d := range high.frames[seq] {
			if d.Score < 0.9 {
				t.Fatalf("frame %d: kept %+v under threshold 0.9", seq, d)
			}
		}
	}
	if all == 0 || kept == 0 || kept >= all {
		t.Errorf("threshold 0.9 kept %d of %d detections", kept, all)
	}

	short := filepath.Join(dir, "short.jsonl")
	fwRun(t, append(base, "--truth", filepath.Join(walk, "frames.jsonl"), "--max-frames", "40", "--save-detections", short)...)
	var out, errb strings.Builder
	err = cmdReplay(t.Context(), append(base[1:], "--detections", short), &out, &errb)
	if !errors.Is(err, errFrameNotRecorded) || !strings.Contains(err.Error(), "frame 40") {
		t.Errorf("replaying a recording of 40 frames: err = %v, want frame 40 not recorded", err)
	}

	// A full disk stops the replay at the frame whose line could not be
	// written (the 4 KiB buffer fills within the first frames), not at its end.
	err = cmdReplay(t.Context(), append(base[1:], "--truth", filepath.Join(walk, "frames.jsonl"), "--save-detections", "/dev/full"), &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "saving detections to /dev/full") || !strings.Contains(err.Error(), "no space left") {
		t.Errorf("saving detections to /dev/full: err = %v, want a write error naming the file", err)
	} else if n := len(rd.frames); !strings.Contains(err.Error(), "detecting in frame ") || strings.Contains(err.Error(), fmt.Sprintf("frame %d:", n-1)) {
		t.Errorf("saving detections to /dev/full: err = %v, want the replay stopped before its last frame %d", err, n-1)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--detections", dets, "--model", "m"}, "give one of --model, --truth and --detections"},
		{[]string{"--detections", dets, "--truth", "f.jsonl"}, "give one of"},
		{[]string{"--detections", dets, "--tile-scale", "0.5"}, "--tile-scale does not apply to --detections"},
		{[]string{"--detections", dets, "--save-detections", short}, "--save-detections records a detector"},
		{[]string{"--detections", dets, "--verify", "off", "--save-detections", short}, "--save-detections records a detector"},
		{[]string{"--truth", "f.jsonl", "--verify", "on"}, "--verify applies to a model's detections"},
		{[]string{"--detections", dets, "--verify", "maybe"}, "--verify must be on, off or default"},
	} {
		err := cmdReplay(t.Context(), append(base[1:], tc.args...), &out, &errb)
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("replay %v: err = %v, want a usage error about %s", tc.args, err, tc.want)
		}
	}
}

// TestReplayVerifiedDetections passes recorded detections through a
// bundle's verifier (the marker test bundle's, which takes crops with much
// green for background): it keeps a subset, and a recording made with a
// verifier already is refused by --verify on (it would look twice) and by
// --verify off (what it dropped is gone).
func TestReplayVerifiedDetections(t *testing.T) {
	walk := simWalk(t, "../../firmware/testdata/walk22.yaml")
	video, nmea := filepath.Join(walk, "walk.avi"), filepath.Join(walk, "track.nmea")
	dir := t.TempDir()
	dets, plain, verified := filepath.Join(dir, "d.jsonl"), filepath.Join(dir, "a.geojson"), filepath.Join(dir, "b.geojson")
	marker := "../../detect/testdata/marker-verified"
	base := []string{"replay", "--video", video, "--nmea", nmea, "--quiet", "--max-frames", "120"}
	fwRun(t, append(base, "--truth", filepath.Join(walk, "frames.jsonl"), "--truth-false", "0.5", "--save-detections", dets, "--out", plain)...)
	kept := filepath.Join(dir, "kept.jsonl")
	fwRun(t, append(base, "--detections", dets, "--model", marker, "--verify", "on", "--out", verified, "--save-detections", kept)...)
	rec, err := loadDetections(dets, 0)
	if err != nil {
		t.Fatal(err)
	}
	all := 0
	for _, f := range rec.frames {
		all += len(f)
	}
	// What the verifier keeps, frame by frame, through the same detector
	// the replay used.
	d, err := detect.Open(marker, detect.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	cam, err := hw.OpenCamera("file:"+video, hw.CameraOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer cam.Close()
	var want []detectionJSON // what the verifier keeps, in frame order
	for seq := int64(0); seq < 120; seq++ {
		f, err := cam.Read(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if f.Seq != seq {
			t.Fatalf("frame %d read as %d", seq, f.Seq)
		}
		in := make([]detect.Detection, 0, len(rec.frames[seq]))
		for _, x := range rec.frames[seq] {
			in = append(in, detect.Detection{Type: x.Type, Label: x.Label, Score: x.Score, Box: x.Box})
		}
		out, err := d.Verify(f.Mat, in)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range firmwareDetections(out) {
			want = append(want, toDetectionJSON(x))
		}
	}
	if all == 0 || len(want) == 0 || len(want) >= all {
		t.Fatalf("the marker verifier kept %d of %d recorded detections: want some dropped, some kept", len(want), all)
	}
	// Saved, the verified replay's detections are exactly those, in a
	// recording that says it was verified.
	saved, err := loadDetections(kept, 0)
	if err != nil {
		t.Fatal(err)
	}
	if saved.header.Verifier != "test-marker-verified@0.0.1" || saved.header.Detector != rec.header.Detector {
		t.Errorf("saved verified detections: header %+v, want the recording's detector with verifier test-marker-verified@0.0.1", saved.header)
	}
	var got []detectionJSON
	for seq := int64(0); seq < 120; seq++ {
		for _, x := range saved.frames[seq] {
			got = append(got, toDetectionJSON(x))
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("saved verified detections: %d, want the %d the verifier keeps", len(got), len(want))
	}
	if len(sightingKeys(t, verified)) > len(sightingKeys(t, plain)) {
		t.Errorf("verified replay has more sightings than the unverified one")
	}

	// A recording of a model run with the verifier on says so.
	withVer := filepath.Join(dir, "v.jsonl")
	fwRun(t, append(base, "--model", marker, "--max-frames", "5", "--save-detections", withVer)...)
	h, err := loadDetections(withVer, 0)
	if err != nil {
		t.Fatal(err)
	}
	if h.header.Verifier != "test-marker-verified@0.0.1" {
		t.Errorf("recording of a verified model run: header verifier %q", h.header.Verifier)
	}
	var out, errb strings.Builder
	for _, v := range []string{"on", "off"} {
		err := cmdReplay(t.Context(), append(base[1:], "--detections", withVer, "--model", marker, "--verify", v), &out, &errb)
		if v == "off" {
			err = cmdReplay(t.Context(), append(base[1:], "--detections", withVer, "--verify", v), &out, &errb)
		}
		if err == nil || !strings.Contains(err.Error(), "recorded with verifier test-marker-verified@0.0.1") {
			t.Errorf("--verify %s on a verified recording: %v", v, err)
		}
	}
}

// FuzzParseDetections: any input is either refused with an error naming
// the file, or gives detections that are all valid: a known type, a score
// in (0, 1] at or above the threshold, a non-empty box.
func FuzzParseDetections(f *testing.F) {
	f.Add(detHeader+`{"frame":0,"detections":[{"type":"dome","score":0.9,"box":[10,20,30,40]}]}`+"\n", 0.0)
	f.Add(detHeader+`{"frame":1,"detections":[]}`+"\n"+`{"frame":1}`, 0.5)
	f.Add(`{"detector":"x","threshold":0}`+"\n"+`{"frame":-3,"detections":[{"type":"alpr","score":1,"box":[0,0,1,1]}]}`, 0.0)
	f.Add("{\"frame\":0}\n", 0.0)
	f.Fuzz(func(t *testing.T, text string, threshold float64) {
		if !(threshold >= 0 && threshold < 1) {
			return
		}
		d, err := parseDetections(strings.NewReader(text), "f.jsonl", threshold)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.jsonl") && !strings.HasPrefix(err.Error(), "reading f.jsonl") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		for seq, dets := range d.frames {
			for _, x := range dets {
				if !validTypes[x.Type] || !(x.Score > 0 && x.Score <= 1) || float64(x.Score) < threshold || x.Box.Empty() {
					t.Fatalf("frame %d: accepted %+v at threshold %g", seq, x, threshold)
				}
			}
		}
	})
}
