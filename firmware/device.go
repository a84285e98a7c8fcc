package firmware

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/camaudit/camaudit/firmware/journal"
	"github.com/camaudit/camaudit/firmware/systemd"
	"github.com/camaudit/camaudit/gnss"
	"github.com/camaudit/camaudit/wire"
)

// Uplink is what the device needs from the MQTT uplink (firmware/uplink).
type Uplink interface {
	Run(ctx context.Context) error
	Connected() bool
	Publish(k wire.Kind, payload []byte) bool
}

// Device is the live pipeline on the Pi: camera frames through the
// scheduler to the detector and the walk, GNSS fixes to the walk and the
// clock, the button and LEDs, the journal and the uplink, telemetry,
// /metrics and the systemd watchdog.
type Device struct {
	Config   Config
	Camera   Camera
	Detector Detector
	GNSS     GNSS
	Clock    Clock // nil: a FixClock learning from the GNSS fixes
	Panel    Panel // nil: no panel
	Journal  *journal.Journal
	Uplink   Uplink // nil: no broker configured
	Model    string // model name for sightings
	Width    int    // frame size, for the optics
	Height   int
	Log      *slog.Logger
	Metrics  *Metrics
	// Events lets the CLI or a test drive the walk state (start, stop, ...).
	Events <-chan Event
	// Now returns local time (monotonic); nil means time.Now. Tests replace it.
	Now func() time.Time
	// Checkpoint is how often a walk in progress saves the cells walked so
	// far (optional journal records); 0 means once a minute.
	Checkpoint time.Duration
}

// FixObserver is a Clock that learns UTC from the fixes the device reads
// (FixClock, or an adapter of gnss.Clock); Run feeds it every fix with the
// local time it arrived.
type FixObserver interface {
	Observe(f gnss.Fix, local time.Time)
}

type fixAt struct {
	fix   gnss.Fix
	local time.Time
}

// Run runs the device until ctx is cancelled (SIGTERM): then it ends the
// walk in progress (its counts and coverage are journalled), flushes the
// outbox for a few seconds, says STOPPING=1 and returns nil.
func (d *Device) Run(ctx context.Context) error {
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Panel == nil {
		d.Panel = NoPanel{}
	}
	if d.Metrics == nil {
		d.Metrics = &Metrics{}
	}
	if d.Clock == nil {
		d.Clock = NewFixClock()
	}
	fc, _ := d.Clock.(FixObserver)
	log := d.Log
	cfg := d.Config
	optics := Optics{Width: d.Width, Height: d.Height, HFOVDeg: cfg.Camera.HFOVDeg, Mount: cfg.Camera.Mount}

	runCtx, cancel := context.WithCancel(context.Background())
	defer cancel()

	upDone := make(chan struct{})
	if d.Uplink != nil {
		go func() { _ = d.Uplink.Run(runCtx); close(upDone) }()
		d.Panel.Set(LEDUplink, SlowBlink)
	}
	if cfg.Metrics.Addr != "" {
		ln, err := net.Listen("tcp", cfg.Metrics.Addr)
		if err != nil {
			log.Error("metrics endpoint not started", "addr", cfg.Metrics.Addr, "err", err)
		} else {
			mux := http.NewServeMux()
			mux.Handle("/metrics", d.Metrics)
			srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
			go func() { _ = srv.Serve(ln) }()
			defer srv.Close()
			log.Info("metrics endpoint", "url", "http://"+ln.Addr().String()+"/metrics")
		}
	}

	// Camera: read continuously, offer to the scheduler (which drops).
	sched := NewScheduler(2)
	camErr := make(chan error, 1)
	go func() {
		var minGap time.Duration
		if cfg.Camera.FPS > 0 {
			minGap = time.Duration(float64(time.Second) / cfg.Camera.FPS)
		}
		var last time.Time
		for runCtx.Err() == nil {
			f, err := d.Camera.Read(runCtx)
			if err != nil {
				camErr <- err
				return
			}
			if minGap > 0 && !last.IsZero() && f.Time.Sub(last) < minGap {
				f.Close()
				continue
			}
			last = f.Time
			sched.Offer(f)
		}
	}()
	// GNSS.
	fixes := make(chan fixAt, 64)
	go func() {
		quiet := false
		for runCtx.Err() == nil {
			f, err := d.GNSS.Next(runCtx)
			if err != nil {
				if runCtx.Err() != nil {
					return
				}
				if !quiet {
					log.Warn("GNSS source failed; retrying", "err", err)
					quiet = true
				}
				if errors.Is(err, io.EOF) {
					return
				}
				select {
				case <-time.After(time.Second):
				case <-runCtx.Done():
					return
				}
				continue
			}
			quiet = false
			select {
			case fixes <- fixAt{f, d.Now()}:
			case <-runCtx.Done():
				return
			}
		}
	}()

	state := Idle
	var walk *Walk
	var jw journal.Walk
	lastFix := time.Time{}
	// Resume a walk interrupted by a crash or power cut.
	if ow, ok := d.Journal.OpenWalk(); ok {
		st, _ := ParseState(ow.State)
		if st == Walking || st == Paused {
			var err error
			walk, err = d.newWalk(ow.ID, optics)
			if err != nil {
				return err
			}
			jw, state = ow, st
			log.Info("continuing the walk interrupted by a restart", "walk", ow.ID, "state", st)
		}
	}
	setLEDs := func() {
		switch state {
		case Walking:
			d.Panel.Set(LEDRecording, On)
		case Paused:
			d.Panel.Set(LEDRecording, SlowBlink)
		default:
			d.Panel.Set(LEDRecording, Off)
		}
	}
	setLEDs()
	d.Panel.Set(LEDFix, SlowBlink)

	endWalk := func() {
		if walk == nil {
			return
		}
		sum := walk.Finish(jw.Cells, jw.Started)
		msgs, err := SummaryMessages(sum)
		if err != nil {
			log.Error("encoding the walk summary", "err", err)
		}
		if err := d.Journal.EndWalk(jw, msgs...); err != nil {
			log.Error("journalling the end of the walk", "err", err)
			d.Panel.Set(LEDFault, FastBlink)
		}
		st := walk.Stats()
		log.Info("walk ended", "walk", walk.ID(), "sightings", st.Confirmed, "frames", st.Frames, "cells", len(sum.Counts))
		walk = nil
	}
	transition := func(e Event) {
		next, ok := state.Next(e)
		if !ok {
			return
		}
		log.Info("walk state", "from", state, "to", next, "by", e)
		switch {
		case next == Walking && (state == Idle || state == Ended):
			started := time.Time{}
			if u, ok := d.Clock.UTC(d.Now()); ok {
				started = u
			}
			id := newID(started)
			if started.IsZero() {
				id = newID(d.Now())
			}
			var err error
			walk, err = d.newWalk(id, optics)
			if err != nil {
				log.Error("starting a walk", "err", err)
				d.Panel.Set(LEDFault, FastBlink)
				return
			}
			jw = journal.Walk{ID: id, State: "walking", Started: started}
		case next == Ended:
			state = next
			endWalk()
			setLEDs()
			return
		}
		state = next
		if walk != nil {
			jw.State = state.String()
			if err := d.Journal.SaveWalk(jw, false); err != nil {
				log.Error("journalling the walk state", "err", err)
			}
		}
		if state == Paused {
			sched.Discard()
			if walk != nil {
				walk.Pause()
			}
		}
		setLEDs()
	}

	wd := systemd.WatchdogInterval()
	var wdC <-chan time.Time
	if wd > 0 {
		t := time.NewTicker(wd)
		defer t.Stop()
		wdC = t.C
	}
	var telC <-chan time.Time
	if cfg.Telemetry.Interval > 0 && d.Uplink != nil {
		t := time.NewTicker(cfg.Telemetry.Interval.Duration())
		defer t.Stop()
		telC = t.C
	}
	check := time.NewTicker(time.Second)
	defer check.Stop()
	every := d.Checkpoint
	if every <= 0 {
		every = time.Minute
	}
	checkpoint := time.NewTicker(every)
	defer checkpoint.Stop()
	if _, err := systemd.Notify("READY=1\nSTATUS=" + state.String()); err != nil {
		log.Warn("systemd notify", "err", err)
	}
	framesAtTel, telAt := int64(0), d.Now()
	camFailed := false
	for {
		select {
		case <-ctx.Done():
			_, _ = systemd.Notify("STOPPING=1")
			log.Info("stopping: ending the walk and flushing the journal")
			endWalk()
			d.flush(runCtx)
			cancel()
			if d.Uplink != nil {
				select { // let the uplink say "offline" and disconnect cleanly
				case <-upDone:
				case <-time.After(3 * time.Second):
				}
			}
			return nil
		case e := <-d.Events:
			transition(e)
		case p := <-d.Panel.Presses():
			if p == LongPress {
				transition(EventHold)
			} else {
				transition(EventPress)
			}
		case fa := <-fixes:
			if fc != nil {
				fc.Observe(fa.fix, fa.local)
			}
			if fa.fix.Valid {
				d.Metrics.Fixes.Add(1)
				lastFix = fa.local
			}
			if walk != nil && state == Walking {
				walk.AddFix(fa.fix)
			}
		case err := <-camErr:
			if !camFailed {
				log.Error("camera failed", "err", err)
				camFailed = true
			}
			d.Panel.Set(LEDFault, FastBlink)
		case <-sched.Ready():
			f, ok := sched.TryTake()
			if !ok {
				continue
			}
			if state != Walking || walk == nil {
				f.Close()
				continue
			}
			t0 := time.Now()
			dets, err := d.Detector.Detect(f)
			f.Close()
			d.Metrics.DetectNS.Add(int64(time.Since(t0)))
			if err != nil {
				log.Error("detector failed on a frame", "seq", f.Seq, "err", err)
				d.Panel.Set(LEDFault, FastBlink)
				continue
			}
			d.Metrics.Frames.Add(1)
			d.Metrics.Detections.Add(int64(len(dets)))
			walk.AddFrame(f.Seq, f.Time, dets)
			if len(sched.Ready()) > 0 || sched.Depth() > 0 {
				// More frames wait: loop again without blocking.
				select {
				case sched.ready <- struct{}{}:
				default:
				}
			}
		case <-check.C:
			d.Metrics.Dropped.Store(sched.Dropped())
			d.Metrics.Queue.Store(int64(sched.Depth()))
			d.Metrics.Pending.Store(int64(d.Journal.PendingCount()))
			d.Metrics.JournalDropped.Store(int64(d.Journal.Dropped()))
			if d.Journal.DiskFull() {
				if d.Metrics.DiskFull.Swap(1) == 0 {
					log.Error("the journal's disk is full: sightings use the reserve, optional data is dropped; free some space", "dir", d.Journal.Dir())
				}
				d.Panel.Set(LEDFault, FastBlink)
			} else {
				d.Metrics.DiskFull.Store(0)
			}
			_, synced := d.Clock.UTC(d.Now())
			switch {
			case !lastFix.IsZero() && d.Now().Sub(lastFix) < 3*time.Second && synced:
				d.Panel.Set(LEDFix, On)
			default:
				d.Panel.Set(LEDFix, SlowBlink)
			}
			if d.Uplink != nil {
				switch {
				case d.Uplink.Connected():
					d.Panel.Set(LEDUplink, On)
				case d.Journal.PendingCount() > 0:
					d.Panel.Set(LEDUplink, SlowBlink)
				default:
					d.Panel.Set(LEDUplink, Off)
				}
			}
			if walk != nil && jw.Started.IsZero() {
				if u, ok := d.Clock.UTC(d.Now()); ok {
					jw.Started = u
				}
			}
		case <-checkpoint.C:
			if walk != nil {
				cells := walk.WalkedCells()
				for c, m := range jw.Cells {
					cells[c] += m
				}
				cp := jw
				cp.Cells = cells
				_ = d.Journal.SaveWalk(cp, true)
			}
		case <-wdC:
			_, _ = systemd.Notify("WATCHDOG=1")
		case <-telC:
			utc, ok := d.Clock.UTC(d.Now())
			if !ok {
				continue
			}
			frames := d.Metrics.Frames.Load()
			el := d.Now().Sub(telAt).Seconds()
			t := wire.Telemetry{Schema: wire.SchemaTelemetry, Device: cfg.Device, Time: utc.Truncate(time.Second),
				State: state.String(), Frames: frames, Dropped: sched.Dropped(), Detections: d.Metrics.Detections.Load(),
				Queue: sched.Depth(), Fix: "none", JournalPending: d.Journal.PendingCount(),
				JournalDropped: int64(d.Journal.Dropped()), DiskFull: d.Journal.DiskFull()}
			if el > 0 {
				t.FPS = min(1000, round(float64(frames-framesAtTel)/el, 2))
			}
			if c, ok := cpuTemp(); ok {
				t.TempC = c
			}
			framesAtTel, telAt = frames, d.Now()
			if !lastFix.IsZero() && d.Now().Sub(lastFix) < 3*time.Second {
				t.Fix = "2d"
			}
			if p, err := wire.Encode(&t, time.Time{}); err == nil {
				d.Uplink.Publish(wire.KindTelemetry, p)
			}
		}
	}
}

func (d *Device) newWalk(id string, optics Optics) (*Walk, error) {
	var known []KnownCamera
	var prior []KeyedSighting
	for _, s := range d.Journal.Sightings("") {
		if s.Sighting.Walk == id {
			prior = append(prior, KeyedSighting{Key: s.Key, Sighting: s.Sighting})
			continue
		}
		known = append(known, KnownCamera{ID: s.Sighting.ID, Walk: s.Sighting.Walk, Type: s.Sighting.Type,
			Lat: s.Sighting.Lat, Lon: s.Sighting.Lon, ErrM: s.Sighting.ErrM})
	}
	return NewWalk(WalkOptions{
		Device: d.Config.Device, WalkID: id, Model: d.Model, Optics: optics, Locate: d.Config.Locate,
		SigmaM: d.Config.GNSS.SigmaM, Clock: d.Clock, Known: known, Prior: prior, Log: d.Log,
		Emit: JournalEmitter(d.Journal, d.Metrics),
	})
}

// cpuTemp reads the SoC temperature (a Pi throttles above 80 °C).
func cpuTemp() (float64, bool) {
	b, err := os.ReadFile("/sys/class/thermal/thermal_zone0/temp")
	if err != nil {
		return 0, false
	}
	milli, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, false
	}
	return round(float64(milli)/1000, 1), true
}

// flush gives the uplink a few seconds to empty the outbox before exit.
func (d *Device) flush(ctx context.Context) {
	if d.Uplink == nil || d.Journal.PendingCount() == 0 {
		return
	}
	deadline := time.Now().Add(5 * time.Second)
	for d.Journal.PendingCount() > 0 && time.Now().Before(deadline) && d.Uplink.Connected() {
		time.Sleep(50 * time.Millisecond)
	}
	if n := d.Journal.PendingCount(); n > 0 {
		d.Log.Info("messages stay in the journal for the next start", "pending", n)
	}
}
