package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/camaudit/camaudit/geo"
	"github.com/camaudit/camaudit/gnss"
)

// cmdGNSS reads a GNSS source (an NMEA log, gpsd, or a serial receiver),
// prints one line per epoch and closes with a summary of what was read,
// what was rejected and why: the tool to check a receiver before a walk.
func cmdGNSS(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("gnss", stderr)
	nmea := fs.String("nmea", "", "read an NMEA 0183 log `FILE`")
	gpsd := fs.String("gpsd", "", "read gpsd at `HOST:PORT` (until Ctrl-C, --max or --for)")
	serialSpec := fs.String("serial", "", "read a receiver on serial port `DEV[@BAUD]` (default baud 9600)")
	asJSON := fs.Bool("json", false, "print JSON lines; the summary is the last line, with \"summary\": true")
	maxEpochs := fs.Int("max", 0, "stop after `N` epochs (0: no limit)")
	dur := fs.Duration("for", 0, "stop after this long (live sources; 0: no limit)")
	quiet := fs.Bool("quiet", false, "print only the summary")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: camaudit gnss (--nmea FILE | --gpsd HOST:PORT | --serial DEV[@BAUD]) [--json] [--max N] [--for D]")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	n := 0
	for _, s := range []string{*nmea, *gpsd, *serialSpec} {
		if s != "" {
			n++
		}
	}
	if n != 1 || fs.NArg() != 0 {
		return fmt.Errorf("%w: give exactly one of --nmea FILE, --gpsd HOST:PORT, --serial DEV[@BAUD]", errUsage)
	}
	if *maxEpochs < 0 || *dur < 0 {
		return fmt.Errorf("%w: --max and --for must not be negative", errUsage)
	}
	if *dur > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *dur)
		defer cancel()
	}

	rep := &gnssReport{w: stdout, json: *asJSON, quiet: *quiet, start: time.Now()}
	var (
		next  func(context.Context) (gnss.Fix, error)
		stats func() any
	)
	switch {
	case *nmea != "":
		f, err := os.Open(*nmea)
		if err != nil {
			return fmt.Errorf("reading NMEA log: %w", err)
		}
		defer f.Close()
		rep.source, rep.live = "nmea:"+*nmea, false
		r := gnss.NewReader(f, gnss.Options{})
		next = func(ctx context.Context) (gnss.Fix, error) {
			if err := ctx.Err(); err != nil {
				return gnss.Fix{}, err
			}
			return r.Next()
		}
		stats = func() any { return r.Stats() }
	case *gpsd != "":
		g, err := gnss.DialGPSD(ctx, *gpsd)
		if err != nil {
			return err
		}
		defer g.Close()
		rep.source, rep.live = "gpsd:"+*gpsd, true
		next = g.Next
		stats = func() any { return g.Stats() }
	default:
		dev, baud, err := gnss.ParseSerial(*serialSpec)
		if err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		port, err := gnss.OpenSerial(dev, baud)
		if err != nil {
			return err
		}
		s := gnss.NewStream(port, gnss.Options{})
		defer s.Close()
		rep.source, rep.live = fmt.Sprintf("serial:%s@%d", dev, baud), true
		next = s.Next
		stats = func() any { return s.Stats() }
	}

	var readErr error
	for *maxEpochs == 0 || rep.epochs < *maxEpochs {
		f, err := next(ctx)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				readErr = err
			}
			break
		}
		if err := rep.fix(f); err != nil {
			return err
		}
	}
	st := stats()
	if readErr != nil {
		if rs, ok := st.(gnss.Stats); ok && rs.Bytes == 0 {
			return fmt.Errorf("reading %s: %w", rep.source, readErr)
		}
		fmt.Fprintf(stderr, "camaudit gnss: reading %s stopped: %v\n", rep.source, readErr)
	}
	return rep.summary(st, readErr)
}

// gnssReport prints epochs and the closing summary.
type gnssReport struct {
	w          io.Writer
	json       bool
	quiet      bool
	source     string
	live       bool
	start      time.Time
	epochs     int
	fixes      int
	firstFix   time.Duration // wall time to the first fix (live sources)
	firstEpoch int
	dist       float64
	anchor     geo.LatLon
	lastPos    geo.LatLon
	hasLast    bool
	recent     []gnss.Fix // valid fixes of the last gnssSmooth, at most 64
}

// gnssSmooth is the window over which positions are averaged for the
// distance covered.
const gnssSmooth = 5 * time.Second

// smooth returns the mean position of the valid fixes of the last
// gnssSmooth, f included.
func (r *gnssReport) smooth(f gnss.Fix) geo.LatLon {
	keep := r.recent[:0]
	for _, x := range r.recent {
		if f.Time.Sub(x.Time) < gnssSmooth {
			keep = append(keep, x)
		}
	}
	r.recent = append(keep, f)
	if len(r.recent) > 64 {
		r.recent = r.recent[len(r.recent)-64:]
	}
	e := geo.NewENU(f.Pos)
	var sx, sy float64
	for _, x := range r.recent {
		dx, dy := e.ToLocal(x.Pos)
		sx, sy = sx+dx, sy+dy
	}
	n := float64(len(r.recent))
	return e.FromLocal(sx/n, sy/n)
}

// gnssStepM is the least movement that counts towards the distance covered.
const gnssStepM = 10.0

// distance is the distance covered, including the way from the last anchor.
func (r *gnssReport) distance() float64 {
	if !r.hasLast {
		return 0
	}
	return r.dist + geo.Distance(r.anchor, r.lastPos)
}

// gnssFixLine is one epoch in --json output.
type gnssFixLine struct {
	Time      *time.Time `json:"time,omitempty"`
	Valid     bool       `json:"valid"`
	Lat       *float64   `json:"lat,omitempty"`
	Lon       *float64   `json:"lon,omitempty"`
	Alt       *float64   `json:"alt_m,omitempty"`
	Speed     *float64   `json:"speed_mps,omitempty"`
	Course    *float64   `json:"course_deg,omitempty"`
	HDOP      float64    `json:"hdop,omitempty"`
	AccuracyM float64    `json:"accuracy_m,omitempty"`
	Sats      int        `json:"sats,omitempty"`
	Quality   int        `json:"quality"`
	Systems   string     `json:"systems,omitempty"`
}

func (r *gnssReport) fix(f gnss.Fix) error {
	r.epochs++
	if f.Valid {
		r.fixes++
		if r.fixes == 1 {
			r.firstEpoch, r.firstFix = r.epochs, time.Since(r.start)
		}
		// Distance along the average position of the last 5 s, with
		// anchors at least gnssStepM apart, so that noise does not add up.
		p := r.smooth(f)
		if !r.hasLast {
			r.anchor, r.hasLast = p, true
		} else if d := geo.Distance(r.anchor, p); d >= gnssStepM {
			r.dist += d
			r.anchor = p
		}
		r.lastPos = p
	}
	if r.quiet {
		return nil
	}
	if r.json {
		l := gnssFixLine{Valid: f.Valid, HDOP: f.HDOP, AccuracyM: f.AccuracyM, Sats: f.Sats, Quality: f.Quality, Systems: f.Systems.String()}
		if !f.Time.IsZero() {
			l.Time = &f.Time
		}
		if f.Valid {
			l.Lat, l.Lon, l.Alt = &f.Pos.Lat, &f.Pos.Lon, &f.Alt
			if f.HasSpeed {
				l.Speed = &f.Speed
			}
			if f.HasCourse {
				l.Course = &f.Course
			}
		}
		return gnssWriteJSON(r.w, l)
	}
	ts := "(no time)"
	if !f.Time.IsZero() {
		ts = f.Time.Format("2006-01-02T15:04:05.00Z")
	}
	if !f.Valid {
		_, err := fmt.Fprintf(r.w, "%s  no fix\n", ts)
		return err
	}
	speed, course := "-", "-"
	if f.HasSpeed {
		speed = fmt.Sprintf("%.1f m/s", f.Speed)
	}
	if f.HasCourse {
		course = fmt.Sprintf("%.0f°", f.Course)
	}
	acc := ""
	if f.AccuracyM > 0 {
		acc = fmt.Sprintf("  ±%.1f m", f.AccuracyM)
	}
	sys := f.Systems.String()
	if sys == "" {
		sys = "-"
	}
	_, err := fmt.Fprintf(r.w, "%s  %.6f %.6f  %s  %s  hdop %.1f%s  sats %d  %s\n",
		ts, f.Pos.Lat, f.Pos.Lon, speed, course, f.HDOP, acc, f.Sats, sys)
	return err
}

// summary prints the closing summary; st is gnss.Stats or gnss.GPSDStats.
func (r *gnssReport) summary(st any, readErr error) error {
	var ttff time.Duration
	switch s := st.(type) {
	case gnss.Stats:
		ttff = s.TimeToFirstFix
	}
	if r.live && r.fixes > 0 {
		ttff = r.firstFix
	}
	if r.json {
		out := map[string]any{
			"summary":             true,
			"source":              r.source,
			"epochs":              r.epochs,
			"epochs_fix":          r.fixes,
			"epochs_no_fix":       r.epochs - r.fixes,
			"first_fix_epoch":     r.firstEpoch,
			"distance_m":          gnssRound1(r.distance()),
			"time_to_first_fix_s": nil,
		}
		if r.fixes > 0 {
			out["time_to_first_fix_s"] = ttff.Seconds()
		}
		switch s := st.(type) {
		case gnss.Stats:
			rej := map[string]int{}
			for _, x := range s.Reasons() {
				rej[x.Name] = x.Count
			}
			out["sentences"], out["used"], out["ignored"] = s.Sentences, s.Used, s.Ignored
			out["rejected"], out["rejected_total"] = rej, s.Rejected()
			out["garbage_bytes"], out["bytes"] = s.Garbage, s.Bytes
			out["dates_before_fix"], out["rollover_corrected"] = s.DatesBeforeFix, s.Rollover
		case gnss.GPSDStats:
			out["gpsd"] = s
		}
		if readErr != nil {
			out["error"] = readErr.Error()
		}
		return gnssWriteJSON(r.w, out)
	}
	w := r.w
	fmt.Fprintf(w, "summary of %s:\n", r.source)
	switch s := st.(type) {
	case gnss.Stats:
		fmt.Fprintf(w, "  sentences read %d: used %d, ignored %d, rejected %d\n", s.Sentences, s.Used, s.Ignored, s.Rejected())
		fmt.Fprintf(w, "  rejected by reason:")
		for _, x := range s.Reasons() {
			fmt.Fprintf(w, " %s %d", x.Name, x.Count)
		}
		fmt.Fprintf(w, "\n  garbage bytes %d of %d; dates ignored before first fix %d; week-rollover corrected %d\n",
			s.Garbage, s.Bytes, s.DatesBeforeFix, s.Rollover)
	case gnss.GPSDStats:
		fmt.Fprintf(w, "  gpsd reports %d: TPV %d, SKY %d, duplicates %d, bad %d, refused %d, reconnects %d\n",
			s.Reports, s.TPV, s.SKY, s.Duplicates, s.Bad, s.Refused, s.Reconnects)
	}
	fmt.Fprintf(w, "  epochs %d: with fix %d, without fix %d\n", r.epochs, r.fixes, r.epochs-r.fixes)
	if r.fixes > 0 {
		fmt.Fprintf(w, "  first fix at epoch %d, time to first fix %s\n", r.firstEpoch, ttff.Round(time.Millisecond))
	} else {
		fmt.Fprintf(w, "  no fix\n")
	}
	_, err := fmt.Fprintf(w, "  distance covered %.1f m (smoothed over %s, steps of %.0f m or more)\n", r.distance(), gnssSmooth, gnssStepM)
	return err
}

func gnssRound1(x float64) float64 { return float64(int64(x*10+0.5)) / 10 }

func gnssWriteJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding JSON: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
