package firmware

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/camaudit/camaudit/firmware/journal"
	"github.com/camaudit/camaudit/gnss"
	"github.com/camaudit/camaudit/wire"
)

// ReplayOptions configures Replay.
type ReplayOptions struct {
	Device   string
	Model    string
	Optics   Optics
	Locate   LocateConfig
	SigmaM   float64
	Camera   Camera     // frames stamped in UTC (start + i/fps)
	Detector Detector   // the model, or the simulator's truth boxes
	Fixes    []gnss.Fix // the whole NMEA log
	Journal  *journal.Journal
	// Source identifies the recording (e.g. a hash of the video and NMEA
	// paths and sizes): a replay of the same source into the same journal
	// continues the same walk after a crash instead of starting a new one.
	Source   string
	Frames   int       // total frames, for progress (0 = unknown)
	Progress io.Writer // progress lines (nil = none)
	Log      *slog.Logger
	Metrics  *Metrics
}

// ReplayResult says what a replay did.
type ReplayResult struct {
	Walk      string
	Stats     WalkStats
	Resumed   bool // a walk interrupted earlier was continued
	Completed bool // the walk had already ended in this journal: nothing was re-run
	Sightings []journal.Sighting
	Counts    int // counts messages queued
	Elapsed   time.Duration
}

// Replay runs the walk pipeline on a recorded video and NMEA log, as fast
// as the CPU allows: every frame is analysed (nothing is dropped), the
// whole track is smoothed forward and backward, and sightings, counts and
// coverage go into the journal exactly as on the device. It is
// deterministic, so a replay killed at any point and started again on the
// same journal confirms the same sightings with the same ids.
func Replay(ctx context.Context, opt ReplayOptions) (ReplayResult, error) {
	start := time.Now()
	log := opt.Log
	if log == nil {
		log = slog.Default()
	}
	j := opt.Journal
	var res ReplayResult
	var prior []KeyedSighting
	walkID := ""
	if w, ok := j.WalkBySource(opt.Source); ok {
		walkID = w.ID
		for _, s := range j.Sightings(w.ID) {
			prior = append(prior, KeyedSighting{Key: s.Key, Sighting: s.Sighting})
		}
		if w.State == "ended" {
			res.Walk, res.Completed, res.Sightings = w.ID, true, j.Sightings(w.ID)
			log.Info("this recording was already replayed into the journal; only unsent messages will be published", "walk", w.ID)
			return res, nil
		}
		res.Resumed = true
		log.Info("continuing an interrupted replay", "walk", w.ID, "sightings_already_confirmed", len(prior))
	}
	var first time.Time
	for _, f := range opt.Fixes {
		if f.Valid && !f.Time.IsZero() {
			first = f.Time
			break
		}
	}
	if first.IsZero() {
		return res, errors.New("replay: the NMEA log has no valid fix")
	}
	if walkID == "" {
		walkID = newID(first)
		if err := j.SaveWalk(journal.Walk{ID: walkID, Source: opt.Source, State: "walking", Started: first.UTC()}, false); err != nil {
			return res, fmt.Errorf("replay: recording the walk: %w", err)
		}
	}
	res.Walk = walkID
	var known []KnownCamera
	for _, s := range j.Sightings("") {
		if s.Sighting.Walk != walkID {
			known = append(known, KnownCamera{ID: s.Sighting.ID, Walk: s.Sighting.Walk, Type: s.Sighting.Type,
				Lat: s.Sighting.Lat, Lon: s.Sighting.Lon, ErrM: s.Sighting.ErrM})
		}
	}
	w, err := NewWalk(WalkOptions{
		Device: opt.Device, WalkID: walkID, Model: opt.Model, Optics: opt.Optics, Locate: opt.Locate,
		SigmaM: opt.SigmaM, Clock: UTCClock{}, Known: known, Prior: prior, Log: log,
		Emit: JournalEmitter(j, opt.Metrics),
	})
	if err != nil {
		return res, err
	}
	for _, f := range opt.Fixes {
		w.AddFix(f)
	}
	prog := newProgress(opt.Progress, opt.Frames)
	for {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		f, err := opt.Camera.Read(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return res, fmt.Errorf("replay: reading frame %d: %w", w.Stats().Frames, err)
		}
		t0 := time.Now()
		dets, err := opt.Detector.Detect(f)
		f.Close()
		if err != nil {
			return res, fmt.Errorf("replay: detecting in frame %d: %w", f.Seq, err)
		}
		if opt.Metrics != nil {
			opt.Metrics.Frames.Add(1)
			opt.Metrics.Detections.Add(int64(len(dets)))
			opt.Metrics.DetectNS.Add(int64(time.Since(t0)))
		}
		w.AddFrame(f.Seq, f.Time, dets)
		prog.update(w.Stats())
	}
	sum := w.Finish(nil, time.Time{})
	msgs, err := SummaryMessages(sum)
	if err != nil {
		return res, err
	}
	if err := j.EndWalk(journal.Walk{ID: walkID, Source: opt.Source, Started: first.UTC()}, msgs...); err != nil {
		return res, fmt.Errorf("replay: ending the walk: %w", err)
	}
	prog.done(w.Stats())
	res.Stats = w.Stats()
	res.Sightings = j.Sightings(walkID)
	res.Counts = len(sum.Counts)
	res.Elapsed = time.Since(start)
	return res, nil
}

// JournalEmitter returns the Emit function that validates a confirmed
// sighting against the wire contract and stores it durably in j.
func JournalEmitter(j *journal.Journal, m *Metrics) func(KeyedSighting) error {
	return func(ks KeyedSighting) error {
		payload, err := wire.Encode(&ks.Sighting, time.Time{})
		if err != nil {
			return err
		}
		if err := j.AddSighting(journal.Sighting{Key: ks.Key, Sighting: ks.Sighting}, payload); err != nil {
			return err
		}
		if m != nil {
			m.Sightings.Add(1)
		}
		return nil
	}
}

// SummaryMessages encodes a walk's counts and coverage as outbox messages,
// with ids stable per walk and cell (a re-send is recognisably the same).
func SummaryMessages(sum Summary) ([]journal.Message, error) {
	var out []journal.Message
	for i := range sum.Counts {
		c := &sum.Counts[i]
		p, err := wire.Encode(c, time.Time{})
		if err != nil {
			return nil, err
		}
		out = append(out, journal.Message{ID: "counts:" + c.Walk + ":" + c.Cell, Kind: wire.KindCounts, Payload: p})
	}
	if sum.Coverage != nil {
		p, err := wire.Encode(sum.Coverage, time.Time{})
		if err != nil {
			return nil, err
		}
		out = append(out, journal.Message{ID: "coverage:" + sum.Coverage.Walk, Kind: wire.KindCoverage, Payload: p})
	}
	return out, nil
}

// progress prints a line to stderr about once a second.
type progress struct {
	w     io.Writer
	total int
	start time.Time
	last  time.Time
}

func newProgress(w io.Writer, total int) *progress {
	return &progress{w: w, total: total, start: time.Now(), last: time.Now()}
}

func (p *progress) update(s WalkStats) {
	if p.w == nil || time.Since(p.last) < time.Second {
		return
	}
	p.last = time.Now()
	p.line(s, "\r")
}

func (p *progress) line(s WalkStats, end string) {
	el := time.Since(p.start).Seconds()
	fps := float64(s.Frames) / max(el, 1e-9)
	if p.total > 0 {
		fmt.Fprintf(p.w, "%sreplay: frame %d/%d (%.0f%%), %.1f frames/s, %d sightings", end, s.Frames, p.total,
			100*float64(s.Frames)/float64(p.total), fps, s.Confirmed)
	} else {
		fmt.Fprintf(p.w, "%sreplay: frame %d, %.1f frames/s, %d sightings", end, s.Frames, fps, s.Confirmed)
	}
}

func (p *progress) done(s WalkStats) {
	if p.w == nil {
		return
	}
	p.line(s, "\r")
	fmt.Fprintf(p.w, " (%.1f s)\n", time.Since(p.start).Seconds())
}
