package main

// Recorded detections (replay --save-detections, replay --detections): the
// detector is nearly all of a replay's time, and tuning what comes after it
// (tracking, fusion, location, the threshold) does not change what it
// finds. A replay can therefore write each frame's detections to a file and
// a later replay of the same walk can read them back instead of running the
// model: seconds instead of minutes per walk. The file holds boxes, types and
// scores only, never pixels.

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"math"
	"os"
	"strings"

	"github.com/camaudit/camaudit/firmware"
)

// detectionsHeader is the first line of a detections file: what made the
// detections, so that a replay can say what it is replaying and refuse a
// threshold below the one they were cut at.
type detectionsHeader struct {
	Detector  string  `json:"detector"` // the replay's detector identity, e.g. model:camaudit-cams-v1@1.0.0
	Model     string  `json:"model"`    // the model name sightings carry
	Threshold float64 `json:"threshold"`
	TileScale float64 `json:"tile_scale,omitempty"`
	Width     int     `json:"width,omitempty"`
	Height    int     `json:"height,omitempty"`
	// Verifier names the bundle whose verifier already passed these
	// detections ("" = none did: a replay may apply one with --verify on).
	Verifier string `json:"verifier,omitempty"`
}

// detectionsLine is one frame's detections; every replayed frame has a
// line, also when nothing was found in it.
type detectionsLine struct {
	Frame      *int64          `json:"frame"`
	Detections []detectionJSON `json:"detections"`
}

type detectionJSON struct {
	Type  string  `json:"type"`
	Label string  `json:"label,omitempty"`
	Score float32 `json:"score"`
	Box   [4]int  `json:"box"` // x0, y0, x1, y1 in frame pixels
}

// detectionRecorder wraps a detector and writes what it returns, frame by
// frame, as JSON lines.
type detectionRecorder struct {
	det    firmware.Detector
	w      *bufio.Writer
	f      *os.File
	err    error // the first write error: returned by Detect from then on, and by Close
	closed bool
}

// newDetectionRecorder creates path and writes the header.
func newDetectionRecorder(path string, det firmware.Detector, h detectionsHeader) (*detectionRecorder, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("saving detections: %w", err)
	}
	r := &detectionRecorder{det: det, w: bufio.NewWriter(f), f: f}
	r.write(h)
	return r, nil
}

func (r *detectionRecorder) write(v any) {
	if r.err != nil {
		return
	}
	b, err := json.Marshal(v)
	if err == nil {
		b = append(b, '\n')
		_, err = r.w.Write(b)
	}
	if err != nil {
		r.err = fmt.Errorf("saving detections to %s: %w", r.f.Name(), err)
	}
}

// Detect runs the wrapped detector and records its answer. Once writing
// the file has failed (a full disk), it returns that error, so the replay
// stops there instead of running to its end for an incomplete recording.
func (r *detectionRecorder) Detect(f firmware.Frame) ([]firmware.Detection, error) {
	if r.err != nil {
		return nil, r.err
	}
	dets, err := r.det.Detect(f)
	if err != nil {
		return nil, err
	}
	seq := f.Seq
	line := detectionsLine{Frame: &seq, Detections: make([]detectionJSON, 0, len(dets))}
	for _, d := range dets {
		line.Detections = append(line.Detections, toDetectionJSON(d))
	}
	r.write(line)
	if r.err != nil {
		return nil, r.err
	}
	return dets, nil
}

// toDetectionJSON is how a detection is written: boxes, types and scores.
func toDetectionJSON(d firmware.Detection) detectionJSON {
	return detectionJSON{Type: d.Type, Label: d.Label, Score: d.Score, Box: [4]int{d.Box.Min.X, d.Box.Min.Y, d.Box.Max.X, d.Box.Max.Y}}
}

// Close flushes the file and reports the first error in writing it; later
// calls report the same.
func (r *detectionRecorder) Close() error {
	if r.closed {
		return r.err
	}
	r.closed = true
	if err := r.w.Flush(); err != nil && r.err == nil {
		r.err = fmt.Errorf("saving detections to %s: %w", r.f.Name(), err)
	}
	if err := r.f.Close(); err != nil && r.err == nil {
		r.err = fmt.Errorf("saving detections to %s: %w", r.f.Name(), err)
	}
	return r.err
}

// recordedDetector answers with the detections a replay saved, keeping
// those at or above its threshold.
type recordedDetector struct {
	path   string
	header detectionsHeader
	frames map[int64][]firmware.Detection
}

// validTypes are the camera types a detections file may name.
var validTypes = map[string]bool{"dome": true, "bullet": true, "ptz": true, "alpr": true, "unknown": true}

// loadDetections reads a file written by --save-detections. threshold 0
// keeps every recorded detection; a higher one drops those below it (what
// the model would have reported at that threshold, but for the rare box
// that tile merging would have scored differently); one below the
// recording's is an error, as those detections were never recorded.
func loadDetections(path string, threshold float64) (*recordedDetector, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading detections: %w", err)
	}
	defer f.Close()
	return parseDetections(f, path, threshold)
}

func parseDetections(r io.Reader, path string, threshold float64) (*recordedDetector, error) {
	d := &recordedDetector{path: path, frames: map[int64][]firmware.Detection{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	line, header := 0, false
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		if !header {
			dec := json.NewDecoder(strings.NewReader(text))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&d.header); err != nil || d.header.Detector == "" {
				return nil, fmt.Errorf("%s:%d: not a detections file (want a header line with \"detector\" first, as replay --save-detections writes)", path, line)
			}
			if !(d.header.Threshold >= 0 && d.header.Threshold < 1) {
				return nil, fmt.Errorf("%s:%d: threshold %g: want [0, 1)", path, line, d.header.Threshold)
			}
			if threshold != 0 && threshold < d.header.Threshold-1e-6 {
				return nil, fmt.Errorf("%s: recorded at threshold %g; a replay of it cannot use the lower %g", path, d.header.Threshold, threshold)
			}
			header = true
			continue
		}
		var rec detectionsLine
		if err := json.Unmarshal([]byte(text), &rec); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		if rec.Frame == nil {
			return nil, fmt.Errorf("%s:%d: no \"frame\" field", path, line)
		}
		if _, dup := d.frames[*rec.Frame]; dup {
			return nil, fmt.Errorf("%s:%d: frame %d recorded twice", path, line, *rec.Frame)
		}
		dets := make([]firmware.Detection, 0, len(rec.Detections))
		for i, x := range rec.Detections {
			box := image.Rect(x.Box[0], x.Box[1], x.Box[2], x.Box[3])
			switch {
			case !validTypes[x.Type]:
				return nil, fmt.Errorf("%s:%d: detection %d: type %q: want dome, bullet, ptz, alpr or unknown", path, line, i, x.Type)
			case !(x.Score > 0 && x.Score <= 1) || math.IsNaN(float64(x.Score)):
				return nil, fmt.Errorf("%s:%d: detection %d: score %g: want (0, 1]", path, line, i, x.Score)
			case box.Empty() || box.Min != image.Pt(x.Box[0], x.Box[1]):
				return nil, fmt.Errorf("%s:%d: detection %d: box %v: want x0 < x1 and y0 < y1", path, line, i, x.Box)
			}
			if float64(x.Score) < threshold {
				continue
			}
			dets = append(dets, firmware.Detection{Type: x.Type, Label: x.Label, Score: x.Score, Box: box})
		}
		d.frames[*rec.Frame] = dets
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if !header {
		return nil, fmt.Errorf("%s: empty: not a detections file", path)
	}
	return d, nil
}

// errFrameNotRecorded says a replay went past what was recorded (a
// recording made with --max-frames, or of another video).
var errFrameNotRecorded = errors.New("frame not recorded")

// Detect returns the recorded detections of the frame.
func (d *recordedDetector) Detect(f firmware.Frame) ([]firmware.Detection, error) {
	dets, ok := d.frames[f.Seq]
	if !ok {
		return nil, fmt.Errorf("%s: frame %d: %w (recorded from another video, or with --max-frames?)", d.path, f.Seq, errFrameNotRecorded)
	}
	return dets, nil
}
