package gnss

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"github.com/camaudit/camaudit/geo"
)

// Defaults of Options.
const (
	// DefaultMaxSpeed is the fastest plausible movement between two fixes,
	// in metres per second: 50 m/s (180 km/h) is far above a walker, a bike
	// or a bus in town, yet it catches the multipath jumps of hundreds of
	// metres in a second that cheap receivers produce near tall buildings.
	DefaultMaxSpeed = 50.0
	// DefaultJumpSlack is the distance in metres a fix may move beyond
	// MaxSpeed times the elapsed time: GNSS noise between two epochs 0.1 s
	// apart is several metres, which MaxSpeed alone would call a jump.
	DefaultJumpSlack = 30.0
	// reanchorRun is how many consecutive mutually consistent fixes, all
	// implausible against the last accepted one, make the reader accept
	// them: the earlier accepted fix was the outlier.
	reanchorRun = 5
	// rolloverPeriod is the GPS week-number rollover: 1024 weeks.
	rolloverPeriod = 1024 * 7 * 24 * time.Hour
	dayMS          = 24 * 3600 * 1000
)

// DefaultNotBefore and DefaultNotAfter bound the dates the reader believes.
// They are fixed rather than taken from the system clock, which on a
// Raspberry Pi without RTC may read 1970 or the last shutdown.
var (
	DefaultNotBefore = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	DefaultNotAfter  = time.Date(2080, 1, 1, 0, 0, 0, 0, time.UTC)
)

// Options tune a Reader. The zero value uses the defaults.
type Options struct {
	// MaxSpeed in m/s; fixes implying faster movement from the last
	// accepted fix are implausible. 0 means DefaultMaxSpeed.
	MaxSpeed float64
	// JumpSlack in metres is added to MaxSpeed times the elapsed time.
	// 0 means DefaultJumpSlack.
	JumpSlack float64
	// NotBefore and NotAfter bound plausible dates; zero means
	// DefaultNotBefore and DefaultNotAfter.
	NotBefore, NotAfter time.Time
	// NoRollover disables the GPS week-rollover correction: by default a
	// valid fix dated before NotBefore is moved forward by whole 1024-week
	// periods into [NotBefore, NotBefore+1024 weeks), and later epochs get
	// the same correction.
	NoRollover bool
}

func (o Options) withDefaults() Options {
	if o.MaxSpeed <= 0 {
		o.MaxSpeed = DefaultMaxSpeed
	}
	if o.JumpSlack <= 0 {
		o.JumpSlack = DefaultJumpSlack
	}
	if o.NotBefore.IsZero() {
		o.NotBefore = DefaultNotBefore
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = DefaultNotAfter
	}
	return o
}

// Stats counts what a Reader saw. Sentence counts say what happened to each
// sentence; epoch counts say what happened to each fused epoch.
type Stats struct {
	Bytes     int64 `json:"bytes"`         // bytes read
	Garbage   int64 `json:"garbage_bytes"` // bytes outside any sentence (binary noise, NULs)
	Sentences int   `json:"sentences"`     // sentences started ('$' seen)
	Used      int   `json:"used"`          // sentences fused into epochs
	Ignored   int   `json:"ignored"`       // valid but unused: GSV, GLL, TXT, proprietary $P..., boot banners

	// Sentences rejected, by reason.
	Checksum  int `json:"checksum"`  // wrong or missing checksum
	Truncated int `json:"truncated"` // cut short by a '$' or the end of input
	Overlong  int `json:"overlong"`  // longer than MaxSentence
	Malformed int `json:"malformed"` // checksum right, fields wrong (bad numbers, control bytes)
	Unknown   int `json:"unknown"`   // unknown talker or sentence type
	Late      int `json:"late"`      // arrived after its epoch had been emitted

	Epochs         int           `json:"epochs"`            // fused epochs emitted
	Fixes          int           `json:"fixes"`             // epochs with a valid fix
	NoFix          int           `json:"no_fix"`            // epochs without one
	Disagree       int           `json:"disagree"`          // epochs whose sentences disagreed on validity or position
	Implausible    int           `json:"implausible"`       // fixes refused: position jump, time backwards, date out of range
	Undated        int           `json:"undated"`           // fixes refused for want of a date (no RMC or ZDA yet)
	DatesBeforeFix int           `json:"dates_before_fix"`  // dates ignored because no valid fix had been seen yet
	Rollover       int           `json:"rollover"`          // epochs whose date was corrected by 1024-week rollover
	FirstFixEpoch  int           `json:"first_fix_epoch"`   // 1-based epoch of the first valid fix, 0 if none
	TimeToFirstFix time.Duration `json:"time_to_first_fix"` // receiver time from the first timed epoch to the first fix
}

// Rejected is the number of sentences rejected for any reason.
func (s Stats) Rejected() int {
	return s.Checksum + s.Truncated + s.Overlong + s.Malformed + s.Unknown + s.Late
}

// Reason is a named count of Stats, for reports.
type Reason struct {
	Name  string
	Count int
}

// Reasons lists the sentence rejection counts and refused-fix counts in a
// fixed order, zero counts included.
func (s Stats) Reasons() []Reason {
	return []Reason{
		{"checksum", s.Checksum}, {"truncated", s.Truncated}, {"overlong", s.Overlong},
		{"malformed", s.Malformed}, {"unknown", s.Unknown}, {"late", s.Late},
		{"disagree", s.Disagree}, {"implausible", s.Implausible}, {"undated", s.Undated},
	}
}

// kinds of sentences the reader fuses, as bits.
type kind uint8

const (
	kRMC kind = 1 << iota
	kGGA
	kGNS
	kVTG
	kGST
	kZDA
	kGSA
	kPos = kRMC | kGGA | kGNS
)

// ignoredTypes are standard sentence types that carry nothing the reader
// needs; they are counted as ignored, not unknown.
var ignoredTypes = map[string]bool{
	"GSV": true, "GLL": true, "TXT": true, "DTM": true, "GBS": true, "GRS": true,
	"VLW": true, "THS": true, "HDT": true, "ROT": true, "RLM": true, "GBQ": true,
	"GLQ": true, "GNQ": true, "GPQ": true, "ALM": true, "RMB": true, "HDG": true,
}

type posData struct {
	pos    geo.LatLon
	hasPos bool
}

// epoch is the sentences of one epoch gathered so far.
type epoch struct {
	open   bool
	hasTod bool
	tod    int64 // milliseconds of the UTC day
	kinds  kind
	talker Systems // constellations named by the talkers of position sentences

	rmcStatus byte
	rmcMode   byte
	rmcPos    posData
	rmcDate   civil
	rmcHasDay bool

	ggaQuality int
	ggaPos     posData
	gnsMode    string
	gnsPos     posData
	gnsGN      bool // gnsPos came from a GN (combined) talker

	sats, hasSats int // hasSats: 0 none, 1 from GNS, 2 from GGA
	hdop          float64
	alt           float64
	hasAlt        bool

	speed, course       float64
	hasSpeed, hasCourse bool

	latSig, lonSig float64
	hasSig         bool

	zdaDate civil
	hasZDA  bool

	gsa Systems
}

// Reader reads NMEA 0183 from a receiver or a log and returns one fused Fix
// per epoch. It never holds more than one sentence and one epoch of input,
// whatever the stream contains.
type Reader struct {
	sc    *scanner
	opt   Options
	st    Stats
	cur   epoch
	queue []Fix
	err   error

	expected   kind // sentence kinds a full epoch of this receiver has
	lastTod    int64
	hasLastTod bool
	firstTod   int64
	hasFirst   bool

	seenFix  bool
	date     civil // date of the last trusted timed epoch, carried to undated ones
	dateTod  int64
	hasDate  bool
	rollover time.Duration

	motion motion
}

// NewReader returns a Reader of the NMEA stream r.
func NewReader(r io.Reader, opts Options) *Reader {
	o := opts.withDefaults()
	return &Reader{sc: newScanner(r), opt: o, queue: make([]Fix, 0, 2),
		motion: motion{maxSpeed: o.MaxSpeed, slack: o.JumpSlack}}
}

// Stats returns the counts so far.
func (r *Reader) Stats() Stats {
	s := r.st
	s.Bytes, s.Garbage = r.sc.bytes, r.sc.garbage
	return s
}

// Next returns the next epoch's fused Fix, valid or not. Epochs are emitted
// when the UTC time changes, when all the sentences this receiver sends per
// epoch have arrived, or at the end of input. It returns io.EOF after the
// last epoch, and read errors of the underlying reader as they come.
func (r *Reader) Next() (Fix, error) {
	for len(r.queue) == 0 {
		if r.err != nil {
			return Fix{}, r.err
		}
		raw, how, err := r.sc.next()
		if err != nil {
			r.close(false)
			r.err = err
			continue
		}
		r.handle(raw, how)
	}
	f := r.queue[0]
	copy(r.queue, r.queue[1:])
	r.queue = r.queue[:len(r.queue)-1]
	return f, nil
}

// ReadFile reads a whole NMEA log.
func ReadFile(path string) ([]Fix, Stats, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, Stats{}, fmt.Errorf("reading NMEA log: %w", err)
	}
	defer f.Close()
	r := NewReader(f, Options{})
	var fixes []Fix
	for {
		fx, err := r.Next()
		if errors.Is(err, io.EOF) {
			return fixes, r.Stats(), nil
		}
		if err != nil {
			return fixes, r.Stats(), fmt.Errorf("reading NMEA log %s: %w", path, err)
		}
		fixes = append(fixes, fx)
	}
}

// handle classifies one raw sentence and fuses it.
func (r *Reader) handle(raw []byte, how end) {
	addr, fields, class := split(raw, how)
	if class != classGarbage {
		r.st.Sentences++
	}
	switch class {
	case classGarbage:
		r.sc.garbage += int64(len(raw))
		return
	case classIgnored, classProprietary, classBanner:
		r.st.Ignored++
		return
	case classChecksum:
		r.st.Checksum++
		return
	case classTruncated:
		r.st.Truncated++
		return
	case classOverlong:
		r.st.Overlong++
		return
	case classMalformed:
		r.st.Malformed++
		return
	case classUnknown:
		r.st.Unknown++
		return
	}
	talker, typ := addr[:2], addr[2:]
	sys, ok := talkerSystems[talker]
	if !ok {
		r.st.Unknown++
		return
	}
	var s parsed
	var err error
	switch typ {
	case "RMC":
		s, err = parseRMC(fields)
	case "GGA":
		s, err = parseGGA(fields)
	case "GNS":
		s, err = parseGNS(fields, talker == "GN")
	case "VTG":
		s, err = parseVTG(fields)
	case "GST":
		s, err = parseGST(fields)
	case "ZDA":
		s, err = parseZDA(fields)
	case "GSA":
		s, err = parseGSA(fields, sys)
	default:
		if ignoredTypes[typ] {
			r.st.Ignored++
		} else {
			r.st.Unknown++
		}
		return
	}
	if err != nil {
		r.st.Malformed++
		return
	}
	s.sys = sys
	r.fuse(s)
}

// fuse adds a parsed sentence to the current epoch, closing epochs as the
// time changes or as they complete.
func (r *Reader) fuse(s parsed) {
	if s.kind&(kVTG|kGSA) == 0 && s.hasTod {
		if r.cur.open && (r.cur.hasTod && r.cur.tod != s.tod || !r.cur.hasTod && r.cur.kinds&s.kind != 0) {
			r.close(true)
		}
		if r.hasLastTod && s.tod == r.lastTod && (!r.cur.open || !r.cur.hasTod) {
			r.st.Late++
			if s.kind != kGSA {
				r.expected |= s.kind
			}
			return
		}
		if !r.cur.open {
			r.cur = epoch{open: true}
		}
		r.cur.hasTod, r.cur.tod = true, s.tod
	} else {
		// Timeless sentences (VTG, GSA, and timed ones whose time field is
		// still empty): a second one of a kind starts a new epoch.
		if r.cur.open && r.cur.kinds&s.kind != 0 && s.kind != kGSA {
			r.close(true)
		}
		if !r.cur.open {
			r.cur = epoch{open: true}
		}
	}
	s.mergeInto(&r.cur)
	r.st.Used++
	if r.expected != 0 && r.cur.kinds&r.expected == r.expected {
		r.close(false)
	}
}

// close ends the current epoch and queues its fix. learn says the epoch is
// known to be complete (the next one started), so its sentence kinds are
// what this receiver sends per epoch.
func (r *Reader) close(learn bool) {
	if !r.cur.open {
		return
	}
	e := r.cur
	r.cur = epoch{}
	if learn && e.kinds&kPos != 0 {
		r.expected = e.kinds &^ kGSA
	}
	if e.hasTod {
		r.lastTod, r.hasLastTod = e.tod, true
	}
	if f, ok := r.finalize(&e); ok {
		r.queue = append(r.queue, f)
	}
}

// rmcModeValid reports whether an RMC/GNS mode letter means a usable fix:
// autonomous, differential, estimated, float/fixed RTK or precise.
func modeValid(c byte) bool {
	switch c {
	case 'A', 'D', 'E', 'F', 'P', 'R':
		return true
	}
	return false
}

// modeQuality maps a mode letter to the GGA quality it corresponds to.
func modeQuality(c byte) int {
	switch c {
	case 'A':
		return 1
	case 'D':
		return 2
	case 'P':
		return 3
	case 'R':
		return 4
	case 'F':
		return 5
	case 'E':
		return 6
	}
	return 0
}

// maxDisagreeM is how far the positions of one epoch's sentences may differ.
const maxDisagreeM = 30.0

// finalize turns a closed epoch into a Fix, applying the validity rules.
func (r *Reader) finalize(e *epoch) (Fix, bool) {
	if e.kinds&kPos == 0 {
		return Fix{}, false
	}
	r.st.Epochs++
	if e.hasTod && !r.hasFirst {
		r.firstTod, r.hasFirst = e.tod, true
	}
	var f Fix
	anyValid, anyInvalid := false, false
	vote := func(ok bool) {
		if ok {
			anyValid = true
		} else {
			anyInvalid = true
		}
	}
	if e.kinds&kRMC != 0 {
		vote(e.rmcStatus == 'A' && (e.rmcMode == 0 || modeValid(e.rmcMode)))
	}
	if e.kinds&kGGA != 0 {
		vote(e.ggaQuality >= 1 && e.ggaQuality <= 6)
	}
	gnsValid := false
	for i := 0; i < len(e.gnsMode); i++ {
		if modeValid(e.gnsMode[i]) {
			gnsValid = true
		}
	}
	if e.kinds&kGNS != 0 {
		vote(gnsValid)
	}
	valid := anyValid && !anyInvalid
	disagree := anyValid && anyInvalid

	var pos posData
	switch {
	case e.ggaPos.hasPos:
		pos = e.ggaPos
	case e.gnsPos.hasPos:
		pos = e.gnsPos
	default:
		pos = e.rmcPos
	}
	if !pos.hasPos {
		valid = false
	}
	for _, other := range []posData{e.gnsPos, e.rmcPos} {
		if valid && other.hasPos && geo.Distance(pos.pos, other.pos) > maxDisagreeM {
			valid, disagree = false, true
		}
	}
	if disagree {
		r.st.Disagree++
	}
	f.Pos = pos.pos
	f.Alt = e.alt
	f.HDOP = e.hdop
	f.Sats = e.sats
	switch {
	case e.kinds&kGGA != 0:
		f.Quality = e.ggaQuality
	case e.rmcMode != 0:
		f.Quality = modeQuality(e.rmcMode)
	case len(e.gnsMode) > 0:
		for i := 0; i < len(e.gnsMode) && f.Quality == 0; i++ {
			f.Quality = modeQuality(e.gnsMode[i])
		}
	}
	if valid && f.Quality == 0 {
		f.Quality = 1
	}
	f.Speed, f.HasSpeed = e.speed, e.hasSpeed
	f.Course, f.HasCourse = e.course, e.hasCourse
	if e.hasSig {
		f.AccuracyM = math.Hypot(e.latSig, e.lonSig)
	}
	switch {
	case e.gsa != 0:
		f.Systems = e.gsa
	default:
		f.Systems = e.talker
		if e.gnsGN {
			for i := 0; i < len(e.gnsMode) && i < len(systemNames); i++ {
				if e.gnsMode[i] != 'N' {
					f.Systems |= 1 << i
				}
			}
		}
	}

	// Time: a date from ZDA or RMC, or the last trusted date carried over.
	var (
		day    civil
		hasDay bool
	)
	switch {
	case e.hasZDA:
		day, hasDay = e.zdaDate, true
	case e.rmcHasDay:
		day, hasDay = e.rmcDate, true
	}
	if hasDay && !r.seenFix && !valid {
		r.st.DatesBeforeFix++
		hasDay = false
	}
	if e.hasTod && hasDay {
		t := time.Date(day.y, time.Month(day.m), day.d, 0, 0, 0, 0, time.UTC).Add(time.Duration(e.tod) * time.Millisecond)
		if t, ok := r.plausible(t, valid); ok {
			f.Time = t
			r.date = civil{t.Year(), int(t.Month()), t.Day()}
			r.dateTod, r.hasDate = e.tod, true
		} else if valid {
			valid = false
			r.st.Implausible++
		}
	} else if e.hasTod && r.hasDate && (r.seenFix || valid) {
		d := time.Date(r.date.y, time.Month(r.date.m), r.date.d, 0, 0, 0, 0, time.UTC)
		if e.tod < r.dateTod-dayMS/2 { // past midnight since the date was seen
			d = d.AddDate(0, 0, 1)
			r.date = civil{d.Year(), int(d.Month()), d.Day()}
		}
		r.dateTod = e.tod
		f.Time = d.Add(time.Duration(e.tod) * time.Millisecond)
	}
	if valid && f.Time.IsZero() {
		valid = false
		r.st.Undated++
	}
	if valid && !r.motion.accept(f) {
		valid = false
		r.st.Implausible++
	}
	f.Valid = valid
	if !valid {
		f.HasSpeed, f.HasCourse = false, false
		r.st.NoFix++
		return f, true
	}
	r.st.Fixes++
	if !r.seenFix {
		r.seenFix = true
		r.st.FirstFixEpoch = r.st.Epochs
		if e.hasTod && r.hasFirst {
			r.st.TimeToFirstFix = time.Duration((e.tod-r.firstTod+dayMS)%dayMS) * time.Millisecond
		}
	}
	return f, true
}

// plausible checks a date against the options, correcting a GPS week
// rollover when a valid fix shows one.
func (r *Reader) plausible(t time.Time, valid bool) (time.Time, bool) {
	o := r.opt
	if t.Before(o.NotBefore) {
		if r.rollover == 0 && valid && !o.NoRollover {
			for k := 1; k <= 3; k++ {
				c := t.Add(time.Duration(k) * rolloverPeriod)
				if !c.Before(o.NotBefore) && c.Before(o.NotBefore.Add(rolloverPeriod)) {
					r.rollover = time.Duration(k) * rolloverPeriod
					break
				}
			}
		}
		if r.rollover != 0 {
			t = t.Add(r.rollover)
			r.st.Rollover++
		}
	}
	if t.Before(o.NotBefore) || t.After(o.NotAfter) {
		return time.Time{}, false
	}
	return t, true
}

// motion refuses fixes that jump: a fix must be reachable from the last
// accepted one at MaxSpeed (plus JumpSlack). A run of reanchorRun mutually
// consistent fixes that all jump is accepted: the earlier reference was the
// outlier.
type motion struct {
	maxSpeed, slack float64
	ref, cand       Fix
	hasRef          bool
	candRun         int
}

// accept reports whether f is plausible and, if so, makes it the reference.
func (m *motion) accept(f Fix) bool {
	ok := !m.hasRef || m.reachable(m.ref, f)
	if !ok {
		if m.candRun > 0 && m.reachable(m.cand, f) {
			m.candRun++
		} else {
			m.candRun = 1
		}
		m.cand = f
		ok = m.candRun >= reanchorRun
	}
	if ok {
		m.ref, m.hasRef, m.candRun = f, true, 0
	}
	return ok
}

// reachable reports whether b can follow a: later in time and no faster
// than maxSpeed (plus slack).
func (m *motion) reachable(a, b Fix) bool {
	dt := b.Time.Sub(a.Time).Seconds()
	if dt <= 0 {
		return false
	}
	return geo.Distance(a.Pos, b.Pos) <= m.maxSpeed*dt+m.slack
}
