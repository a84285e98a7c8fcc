package main

// The simulator's truth boxes as a detector (replay --truth), optionally
// degraded the way a real detector degrades them, to measure tracking and
// location alone and their robustness to detector noise.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"os"
	"sort"
	"strings"

	"github.com/camaudit/camaudit/firmware"
)

// truthNoise degrades truth boxes like a real detector: box jitter, missed
// detections (in short bursts, as a detector loses a camera for a few
// frames), type confusions between look-alike types, and spurious boxes.
// The same seed always gives the same detections.
type truthNoise struct {
	JitterPx float64 // 1-sigma noise of each box edge, pixels
	Drop     float64 // share of boxes missed, 0..1
	Flip     float64 // share of boxes given the look-alike type (dome<->ptz, bullet<->alpr)
	False    float64 // mean number of spurious boxes per frame
	Seed     uint64
}

func (n truthNoise) zero() bool { return n.JitterPx == 0 && n.Drop == 0 && n.Flip == 0 && n.False == 0 }

// check reports the first out-of-range setting, naming its flag.
func (n truthNoise) check() error {
	switch {
	case !(n.JitterPx >= 0 && n.JitterPx <= 100):
		return fmt.Errorf("--truth-jitter %v: want 0..100 pixels", n.JitterPx)
	case !(n.Drop >= 0 && n.Drop < 1):
		return fmt.Errorf("--truth-drop %v: want a fraction in [0, 1)", n.Drop)
	case !(n.Flip >= 0 && n.Flip <= 1):
		return fmt.Errorf("--truth-flip %v: want a fraction in [0, 1]", n.Flip)
	case !(n.False >= 0 && n.False <= 50):
		return fmt.Errorf("--truth-false %v: want 0..50 boxes per frame", n.False)
	}
	return nil
}

// lookAlike is the type a detector most often confuses each type with.
var lookAlike = map[string]string{"dome": "ptz", "ptz": "dome", "bullet": "alpr", "alpr": "bullet"}

// dropBurst is the mean length, in frames, of a run of missed detections.
const dropBurst = 2.5

// truthDetector is a detector that returns the simulator's per-frame truth
// boxes (frames.jsonl, contract C), possibly degraded by truthNoise.
type truthDetector struct {
	frames map[int64][]firmware.Detection
	// ids[seq][i] is the true camera behind frames[seq][i] ("" for a
	// spurious box); for diagnostics.
	ids map[int64][]string
}

type truthRecord struct {
	Frame *int64 `json:"frame"`
	Boxes []struct {
		ID      string    `json:"id"`
		Type    string    `json:"type"`
		Box     []float64 `json:"box"`
		Visible float64   `json:"visible"`
	} `json:"boxes"`
}

// loadTruth reads frames.jsonl. Boxes whose visible fraction is below
// minVisible, or whose longer side is below minPx pixels, are left out: a
// camera mostly hidden, or a few pixels across, is not detectable. width
// and height (when positive) bound jittered and spurious boxes.
func loadTruth(path string, minVisible float64, minPx int, noise truthNoise, width, height int) (*truthDetector, error) {
	if err := noise.check(); err != nil {
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading truth boxes: %w", err)
	}
	defer f.Close()
	var recs []truthRecord
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	line := 0
	for sc.Scan() {
		line++
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var rec truthRecord
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		if rec.Frame == nil {
			return nil, fmt.Errorf("%s:%d: no \"frame\" field", path, line)
		}
		for i, b := range rec.Boxes {
			if len(b.Box) != 4 {
				return nil, fmt.Errorf("%s:%d: box %d has %d numbers, want x1,y1,x2,y2", path, line, i, len(b.Box))
			}
		}
		recs = append(recs, rec)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if line == 0 {
		return nil, fmt.Errorf("%s: no frames", path)
	}
	// Degrade in frame order whatever order the file has, so that the
	// result depends on the seed alone.
	sort.SliceStable(recs, func(i, j int) bool { return *recs[i].Frame < *recs[j].Frame })
	if width <= 0 || height <= 0 {
		width, height = math.MaxInt32, math.MaxInt32
	}
	rng := rand.New(rand.NewPCG(noise.Seed, 0x63616d6175646974))
	missing := map[string]bool{} // cameras in a burst of missed detections
	// A two-state chain per camera: the miss rate is noise.Drop, the mean
	// burst dropBurst frames.
	stay := 1 - 1/dropBurst
	enter := 0.0
	if noise.Drop > 0 {
		enter = noise.Drop * (1 - stay) / (1 - noise.Drop)
	}
	td := &truthDetector{frames: map[int64][]firmware.Detection{}, ids: map[int64][]string{}}
	for _, rec := range recs {
		var dets []firmware.Detection
		var ids []string
		for _, b := range rec.Boxes {
			if b.Visible < minVisible {
				continue
			}
			x1, y1, x2, y2 := b.Box[0], b.Box[1], b.Box[2], b.Box[3]
			if r := image.Rect(int(x1+0.5), int(y1+0.5), int(x2+0.5), int(y2+0.5)); r.Empty() || max(r.Dx(), r.Dy()) < minPx {
				continue
			}
			typ, score := b.Type, b.Visible
			if noise.Drop > 0 {
				p := enter
				if missing[b.ID] {
					p = stay
				}
				missing[b.ID] = rng.Float64() < p
				if missing[b.ID] {
					continue
				}
			}
			if noise.JitterPx > 0 {
				x1, x2 = x1+noise.JitterPx*rng.NormFloat64(), x2+noise.JitterPx*rng.NormFloat64()
				y1, y2 = y1+noise.JitterPx*rng.NormFloat64(), y2+noise.JitterPx*rng.NormFloat64()
			}
			if noise.Flip > 0 && rng.Float64() < noise.Flip && lookAlike[typ] != "" {
				typ = lookAlike[typ]
			}
			if !noise.zero() {
				score *= 0.55 + 0.4*rng.Float64()
			}
			r, ok := clampBox(x1, y1, x2, y2, width, height)
			if !ok {
				continue
			}
			dets = append(dets, firmware.Detection{Type: typ, Label: typ, Score: float32(score), Box: r})
			ids = append(ids, b.ID)
		}
		if noise.False > 0 && width < math.MaxInt32 {
			for k := poisson(rng, noise.False); k > 0; k-- {
				s := 4 + rng.Float64()*16
				x := rng.Float64() * (float64(width) - s)
				y := rng.Float64() * (0.6*float64(height) - s)
				types := []string{"dome", "bullet", "ptz", "alpr"}
				typ := types[rng.IntN(len(types))]
				r, ok := clampBox(x, y, x+s, y+s*(0.6+0.6*rng.Float64()), width, height)
				if !ok {
					continue
				}
				dets = append(dets, firmware.Detection{Type: typ, Label: typ, Score: float32(0.35 + 0.25*rng.Float64()), Box: r})
				ids = append(ids, "")
			}
		}
		td.frames[*rec.Frame] = dets
		td.ids[*rec.Frame] = ids
	}
	return td, nil
}

// clampBox rounds a box to pixels inside a width×height frame; it fails
// when nothing is left.
func clampBox(x1, y1, x2, y2 float64, width, height int) (image.Rectangle, bool) {
	if x2 < x1 {
		x1, x2 = x2, x1
	}
	if y2 < y1 {
		y1, y2 = y2, y1
	}
	r := image.Rect(int(x1+0.5), int(y1+0.5), int(x2+0.5), int(y2+0.5)).Intersect(image.Rect(0, 0, width, height))
	return r, !r.Empty()
}

// poisson draws from a Poisson distribution of mean lambda (Knuth; lambda is small).
func poisson(rng *rand.Rand, lambda float64) int {
	l, k, p := math.Exp(-lambda), 0, 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

func (t *truthDetector) Detect(f firmware.Frame) ([]firmware.Detection, error) {
	return t.frames[f.Seq], nil
}
