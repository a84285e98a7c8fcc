package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/camaudit/camaudit/detect"
	"github.com/camaudit/camaudit/firmware"
	"github.com/camaudit/camaudit/firmware/journal"
	"github.com/camaudit/camaudit/firmware/uplink"
	"github.com/camaudit/camaudit/gnss"
	"github.com/camaudit/camaudit/hw"
)

// walkMeta is the simulator's walk.json (contract C), the parts replay uses.
type walkMeta struct {
	Start   time.Time `json:"start"`
	FPS     float64   `json:"fps"`
	Frames  int       `json:"frames"`
	Width   int       `json:"width"`
	Height  int       `json:"height"`
	HFOVDeg float64   `json:"hfov_deg"`
	// Mount is {yaw_deg, pitch_deg, roll_deg} (contract C); keys
	// "yaw"/"Yaw" etc. are accepted too.
	Mount map[string]float64 `json:"mount"`
	GNSS  struct {
		SigmaM float64 `json:"sigma_m"`
	} `json:"gnss"`
}

// cmdReplay runs the firmware pipeline on a recorded walk.
func cmdReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("replay", stderr)
	video := fs.String("video", "", "recorded walk video `FILE` (e.g. walk.avi from camaudit sim walk)")
	nmea := fs.String("nmea", "", "NMEA 0183 log `FILE` recorded with the video")
	broker := fs.String("broker", "", "publish to this MQTT broker `URL` (tcp://host:port); empty: journal only")
	out := fs.String("out", "", "write the walk's sightings as GeoJSON to `FILE`")
	walkJSON := fs.String("walk-json", "", "walk metadata `FILE` (start, fps, optics); default: walk.json beside the video when present")
	model := fs.String("model", "", "model bundle `DIR` (default: the default bundle lookup)")
	truth := fs.String("truth", "", "use the simulator's truth boxes (frames.jsonl `FILE`) as the detector")
	saveDets := fs.String("save-detections", "", "write each frame's detections (boxes, types, scores; never pixels) to `FILE`, for replays with --detections; with --detections and --verify on, those the verifier keeps")
	dets := fs.String("detections", "", "use the detections a replay of this walk saved with --save-detections (`FILE`) instead of running the model: tunes what follows the detector in seconds; --threshold may raise the recorded one")
	verify := fs.String("verify", "default", "second look at each detection with the bundle's verifier: on, off or default (the config's, else on when the bundle has one); with --detections, on passes a recording made without it through the verifier of the --model (or default) bundle")
	minVisible := fs.Float64("min-visible", 0.3, "with --truth: ignore boxes less visible than this fraction")
	minBox := fs.Int("min-box", 4, "with --truth: ignore boxes whose longer side is shorter than this many `pixels`")
	var noise truthNoise
	fs.Float64Var(&noise.JitterPx, "truth-jitter", 0, "with --truth: move each box edge by Gaussian noise of this many `pixels` (1-sigma)")
	fs.Float64Var(&noise.Drop, "truth-drop", 0, "with --truth: miss this `fraction` of boxes, in bursts of a few frames")
	fs.Float64Var(&noise.Flip, "truth-flip", 0, "with --truth: give this `fraction` of boxes the look-alike type (dome<->ptz, bullet<->alpr)")
	fs.Float64Var(&noise.False, "truth-false", 0, "with --truth: add this `mean` number of spurious boxes per frame")
	fs.Uint64Var(&noise.Seed, "truth-seed", 1, "with --truth: seed of the noise (the same seed gives the same detections)")
	journalDir := fs.String("journal", "", "journal `DIR`; a replay killed and restarted on the same journal continues the same walk with the same ids (default: a temporary one)")
	configPath := fs.String("config", "", "device config `FILE` for device id, thresholds, MQTT credentials (optional)")
	device := fs.String("device", "", "device pseudonym (default: the config's, else replay-dev)")
	hfov := fs.Float64("hfov", 0, "horizontal field of view in degrees (default: walk.json, else the config's, else 66)")
	threshold := fs.Float64("threshold", 0, "detector score threshold (0: the config's, else the bundle's at the tile scale)")
	tileScale := fs.Float64("tile-scale", 0, "frame pixels per model pixel in the detector's tiles; below 1 finds smaller cameras for more work (0: the config's, else the bundle's)")
	flushTimeout := fs.Duration("flush-timeout", 60*time.Second, "how long to wait for the broker to acknowledge everything")
	quiet := fs.Bool("quiet", false, "no progress line")
	verbose := fs.Bool("v", false, "debug logging: each track's fate (located, merged, kept apart, unconfirmed) and why")
	maxFrames := fs.Int("max-frames", 0, "stop after `N` frames (0: the whole video)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: camaudit replay --video V --nmea N [--broker URL] [--out sightings.geojson] [--walk-json walk.json] [--model DIR [--save-detections F] | --detections F [--verify on [--save-detections F]] | --truth frames.jsonl [--truth-jitter PX --truth-drop F --truth-flip F --truth-false N --truth-seed S]] [--journal DIR]")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *video == "" || *nmea == "" || fs.NArg() != 0 {
		return fmt.Errorf("%w: --video and --nmea are required", errUsage)
	}
	vt, err := parseToggle("--verify", *verify)
	if err != nil {
		return err
	}
	verifyRecorded := *dets != "" && vt == detect.On
	if n := countSet(*model, *truth, *dets); n > 1 && !(n == 2 && verifyRecorded && *truth == "") {
		return fmt.Errorf("%w: give one of --model, --truth and --detections (--model goes with --detections only to name the verifier of --verify on)", errUsage)
	}
	if *truth != "" && vt != detect.Default {
		return fmt.Errorf("%w: --verify applies to a model's detections, not to --truth", errUsage)
	}
	if *dets != "" && *tileScale != 0 {
		return fmt.Errorf("%w: --tile-scale does not apply to --detections (the recording's tile scale holds)", errUsage)
	}
	if *dets != "" && *saveDets != "" && !verifyRecorded {
		return fmt.Errorf("%w: --save-detections records a detector (or what --verify on keeps of a recording); --detections replays a recording", errUsage)
	}
	if *threshold < 0 || *threshold >= 1 {
		return fmt.Errorf("%w: --threshold %g must be in [0, 1)", errUsage, *threshold)
	}
	if *tileScale < 0 || *tileScale > 4 {
		return fmt.Errorf("%w: --tile-scale %g must be in [0, 4]", errUsage, *tileScale)
	}
	if err := noise.check(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if !noise.zero() && *truth == "" {
		return fmt.Errorf("%w: --truth-jitter, --truth-drop, --truth-flip and --truth-false degrade --truth boxes; give --truth", errUsage)
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	cfg := firmware.Default()
	cfg.Device = "replay-dev"
	cfg.Journal.Dir = "unused"
	if *configPath != "" {
		c, err := firmware.Load(*configPath)
		if err != nil {
			return err
		}
		cfg = c
	}
	if *device != "" {
		cfg.Device = *device
	}
	if *broker != "" {
		cfg.MQTT.Broker = *broker
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}

	// Walk metadata: start time, fps and optics.
	meta := walkMeta{}
	metaPath := *walkJSON
	if metaPath == "" {
		if p := filepath.Join(filepath.Dir(*video), "walk.json"); replayFileExists(p) {
			metaPath = p
		}
	}
	if metaPath != "" {
		b, err := os.ReadFile(metaPath)
		if err != nil {
			return fmt.Errorf("reading walk metadata: %w", err)
		}
		if err := json.Unmarshal(b, &meta); err != nil {
			return fmt.Errorf("reading walk metadata %s: %w", metaPath, err)
		}
	}
	fixes, st, err := gnss.ReadFile(*nmea)
	if err != nil {
		return fmt.Errorf("reading NMEA log: %w", err)
	}
	if len(fixes) == 0 {
		return fmt.Errorf("NMEA log %s: no fixes (%d sentences rejected)", *nmea, st.Rejected())
	}
	start := meta.Start
	if start.IsZero() {
		for _, f := range fixes {
			if !f.Time.IsZero() {
				start = f.Time
				break
			}
		}
	}
	cam, err := hw.OpenCamera("file:"+*video, hw.CameraOptions{Start: start, FPS: meta.FPS})
	if err != nil {
		return err
	}
	defer cam.Close()
	optics := firmware.Optics{Width: meta.Width, Height: meta.Height, HFOVDeg: cfg.Camera.HFOVDeg, Mount: cfg.Camera.Mount}
	if meta.HFOVDeg > 0 {
		optics.HFOVDeg = meta.HFOVDeg
		optics.Mount = firmware.Mount{YawDeg: mountAngle(meta.Mount, "yaw"), PitchDeg: mountAngle(meta.Mount, "pitch"), RollDeg: mountAngle(meta.Mount, "roll")}
	}
	if *hfov > 0 {
		optics.HFOVDeg = *hfov
	}
	if optics.Width == 0 || optics.Height == 0 {
		probe, err := hw.OpenCamera("file:"+*video, hw.CameraOptions{})
		if err != nil {
			return err
		}
		f, err := probe.Read(ctx)
		if err != nil {
			probe.Close()
			return fmt.Errorf("reading the first frame of %s: %w", *video, err)
		}
		optics.Width, optics.Height = f.Mat.Cols(), f.Mat.Rows()
		f.Close()
		probe.Close()
	}

	var det firmware.Detector
	modelName := "truth"
	identity := "truth:" + *truth
	if !noise.zero() {
		identity += fmt.Sprintf("|noise %+v", noise)
	}
	var header detectionsHeader // for --save-detections
	closeRec := func() error { return nil }
	switch {
	case *truth != "":
		td, err := loadTruth(*truth, *minVisible, *minBox, noise, optics.Width, optics.Height)
		if err != nil {
			return err
		}
		det = td
		header = detectionsHeader{Detector: identity, Model: modelName, Width: optics.Width, Height: optics.Height}
	case *dets != "":
		thr := *threshold // else the config's; 0 keeps every recorded detection
		if thr == 0 {
			thr = cfg.Model.Threshold
		}
		rd, err := loadDetections(*dets, thr)
		if err != nil {
			return err
		}
		h := rd.header
		if h.Width != 0 && (h.Width != optics.Width || h.Height != optics.Height) {
			return fmt.Errorf("%s: recorded from %dx%d frames; %s has %dx%d", *dets, h.Width, h.Height, *video, optics.Width, optics.Height)
		}
		det = rd
		modelName = h.Model
		identity = "detections:" + h.Detector
		if thr != 0 {
			identity += fmt.Sprintf("|threshold %g", thr)
		}
		switch {
		case verifyRecorded && h.Verifier != "":
			return fmt.Errorf("%s: recorded with verifier %s already; --verify on would look twice", *dets, h.Verifier)
		case vt == detect.Off && h.Verifier != "":
			return fmt.Errorf("%s: recorded with verifier %s; --verify off cannot bring back what it dropped (record with --verify off)", *dets, h.Verifier)
		case verifyRecorded:
			m := cfg.Model
			if *model != "" {
				m.Dir = *model
			}
			on := true
			m.Verify = &on
			d, err := openDetector(m)
			if err != nil {
				return err
			}
			defer d.Close()
			det = verifiedDetector{rec: rd, d: d}
			identity += "|verifier " + d.Bundle().Name + "@" + d.Bundle().Version
			// Saved, what the verifier kept is a recording made with it.
			header = h
			header.Threshold = math.Max(h.Threshold, thr)
			header.Verifier = d.Bundle().Name + "@" + d.Bundle().Version
		}
	default:
		m := cfg.Model // --model, --threshold and --tile-scale override it
		if *model != "" {
			m.Dir = *model
		}
		if *threshold != 0 {
			m.Threshold = *threshold
		}
		if *tileScale != 0 {
			m.TileScale = *tileScale
		}
		if vt != detect.Default {
			on := vt == detect.On
			m.Verify = &on
		}
		d, err := openDetector(m)
		if err != nil {
			return err
		}
		defer d.Close()
		det = modelDetector{d}
		modelName = d.Bundle().Name
		identity = "model:" + d.Bundle().Name + "@" + d.Bundle().Version
		header = detectionsHeader{Detector: identity, Model: modelName, Threshold: float64(d.Threshold()),
			TileScale: d.TileScale(), Width: optics.Width, Height: optics.Height}
		if d.Verifying() {
			header.Verifier = d.Bundle().Name + "@" + d.Bundle().Version
			identity += "|verifier"
		}
	}
	if *saveDets != "" {
		rec, err := newDetectionRecorder(*saveDets, det, header)
		if err != nil {
			return err
		}
		defer rec.Close() // on an error path; the good path closes it after the replay
		det = rec
		closeRec = rec.Close
	}

	jdir := *journalDir
	if jdir == "" {
		tmp, err := os.MkdirTemp("", "camaudit-replay-journal-")
		if err != nil {
			return fmt.Errorf("creating a journal: %w", err)
		}
		defer os.RemoveAll(tmp)
		jdir = tmp
	}
	j, rep, err := journal.Open(jdir, log)
	if err != nil {
		return err
	}
	defer j.Close()
	if rep.Corrupt > 0 {
		fmt.Fprintf(stderr, "replay: journal %s had %d damaged region(s) (%d bytes) from a crash; skipped, %d good records kept\n", jdir, rep.Corrupt, rep.BytesLost, rep.Records)
	}

	// The uplink runs alongside the replay and drains the journal.
	upCtx, upCancel := context.WithCancel(context.Background())
	defer upCancel()
	upDone := make(chan struct{})
	var up *uplink.Uplink
	if cfg.MQTT.Broker != "" {
		up, err = newUplink(cfg, j, log)
		if err != nil {
			return err
		}
		go func() { _ = up.Run(upCtx); close(upDone) }()
	} else {
		close(upDone)
	}

	var progress io.Writer = stderr
	if *quiet {
		progress = nil
	}
	source, err := sourceID(*video, *nmea, identity)
	if err != nil {
		return err
	}
	res, err := firmware.Replay(ctx, firmware.ReplayOptions{
		Device: cfg.Device, Model: modelName, Optics: optics, Locate: cfg.Locate,
		SigmaM: replayFirstPositive(meta.GNSS.SigmaM, cfg.GNSS.SigmaM), Camera: limitFrames(hwCamera{cam}, *maxFrames), Detector: det, Fixes: fixes,
		Journal: j, Source: source, Frames: framesOf(cam.Frames(), *maxFrames), Progress: progress, Log: log,
	})
	if err != nil {
		return err
	}
	if err := closeRec(); err != nil {
		return err
	}
	if *out != "" {
		if err := writeSightingsGeoJSON(*out, res.Sightings); err != nil {
			return err
		}
	}
	s := res.Stats
	switch {
	case res.Completed:
		fmt.Fprintf(stdout, "walk %s: already replayed into %s; %d sightings\n", res.Walk, jdir, len(res.Sightings))
	default:
		fps := float64(s.Frames) / max(res.Elapsed.Seconds(), 1e-9)
		fmt.Fprintf(stdout, "walk %s: %d sightings (%d fragments merged, %d duplicates dropped, %d already known, %d tracks unconfirmed), %d frames in %.1f s (%.1f frames/s)\n",
			res.Walk, len(res.Sightings), s.Merged, s.Duplicates, s.Reobserved, s.Unconfirmed, s.Frames, res.Elapsed.Seconds(), fps)
	}
	if up != nil {
		fctx, cancel := context.WithTimeout(ctx, *flushTimeout)
		err := uplink.Flush(fctx, j)
		cancel()
		upCancel()
		<-upDone
		if err != nil {
			return fmt.Errorf("broker %s: %w (they stay in the journal %s)", cfg.MQTT.Broker, err, jdir)
		}
		fmt.Fprintf(stdout, "published to %s: journal empty\n", cfg.MQTT.Broker)
	}
	return nil
}

// limitedCamera ends a recording after n frames.
type limitedCamera struct {
	c firmware.Camera
	n int
}

func limitFrames(c firmware.Camera, n int) firmware.Camera {
	if n <= 0 {
		return c
	}
	return &limitedCamera{c: c, n: n}
}

func (l *limitedCamera) Read(ctx context.Context) (firmware.Frame, error) {
	if l.n <= 0 {
		return firmware.Frame{}, io.EOF
	}
	l.n--
	return l.c.Read(ctx)
}

// newUplink builds the MQTT uplink from the config's credentials.
func newUplink(cfg firmware.Config, j *journal.Journal, log *slog.Logger) (*uplink.Uplink, error) {
	pw, err := uplink.ReadPassword(cfg.MQTT.PasswordFile)
	if err != nil {
		return nil, err
	}
	opt := uplink.Options{Broker: cfg.MQTT.Broker, Device: cfg.Device, Username: cfg.MQTT.Username, Password: pw, Log: log}
	if cfg.MQTT.CAFile != "" || cfg.MQTT.CertFile != "" {
		t, err := uplink.TLSConfig(cfg.MQTT.CAFile, cfg.MQTT.CertFile, cfg.MQTT.KeyFile)
		if err != nil {
			return nil, err
		}
		opt.TLS = t
	}
	return uplink.New(opt, j)
}

// sourceID identifies a recording and detector, so that a restarted replay
// on the same journal continues the same walk.
func sourceID(video, nmea, detector string) (string, error) {
	h := sha256.New()
	for _, p := range []string{video, nmea} {
		abs, err := filepath.Abs(p)
		if err != nil {
			return "", err
		}
		st, err := os.Stat(p)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s|%d|%d\n", abs, st.Size(), st.ModTime().UnixNano())
	}
	fmt.Fprintln(h, detector)
	return "replay:" + hex.EncodeToString(h.Sum(nil))[:24], nil
}

// writeSightingsGeoJSON writes sightings as a GeoJSON FeatureCollection of
// Points whose properties are the sighting's fields (atomically: a
// temporary file renamed into place).
func writeSightingsGeoJSON(path string, ss []journal.Sighting) error {
	type feature struct {
		Type       string `json:"type"`
		Geometry   any    `json:"geometry"`
		Properties any    `json:"properties"`
	}
	fc := struct {
		Type     string    `json:"type"`
		Features []feature `json:"features"`
	}{Type: "FeatureCollection", Features: []feature{}}
	for _, s := range ss {
		fc.Features = append(fc.Features, feature{Type: "Feature",
			Geometry:   map[string]any{"type": "Point", "coordinates": []float64{s.Sighting.Lon, s.Sighting.Lat}},
			Properties: s.Sighting})
	}
	b, err := json.MarshalIndent(fc, "", " ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// mountAngle finds an angle of walk.json's mount by name ("yaw" matches
// yaw_deg, yaw or Yaw).
func mountAngle(m map[string]float64, name string) float64 {
	for k, v := range m {
		if k = strings.ToLower(k); k == name || k == name+"_deg" {
			return v
		}
	}
	return 0
}

func replayFileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func framesOf(total, limit int) int {
	if limit > 0 && (total == 0 || limit < total) {
		return limit
	}
	return total
}

func replayFirstPositive(vs ...float64) float64 {
	for _, v := range vs {
		if v > 0 {
			return v
		}
	}
	return 0
}

// countSet counts the non-empty strings: how many of a set of exclusive
// flags were given.
func countSet(v ...string) int {
	n := 0
	for _, s := range v {
		if s != "" {
			n++
		}
	}
	return n
}
