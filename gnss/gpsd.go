package gnss

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"time"

	"github.com/camaudit/camaudit/geo"
)

// watchCommand asks gpsd for JSON reports (TPV, SKY, ...) of every device.
const watchCommand = "?WATCH={\"enable\":true,\"json\":true};\n"

// maxReport bounds one gpsd JSON line; a SKY report with 60 satellites is
// about 6 KiB. Longer lines are skipped.
const maxReport = 64 << 10

// GPSDStats counts what a GPSD client saw.
type GPSDStats struct {
	Reports    int `json:"reports"`    // JSON lines read
	TPV        int `json:"tpv"`        // time-position-velocity reports
	SKY        int `json:"sky"`        // sky views (HDOP, satellites used)
	Duplicates int `json:"duplicates"` // TPV repeating the time of the last one (gpsd sends one per sentence)
	Bad        int `json:"bad"`        // lines that are not valid JSON or too long
	Reconnects int `json:"reconnects"` // connections re-established after gpsd went away
	Fixes      int `json:"fixes"`      // valid fixes returned
	NoFix      int `json:"no_fix"`     // reports returned without a valid fix
	Refused    int `json:"refused"`    // fixes gpsd called valid that were implausible (jump, date)
}

// GPSD is a client of gpsd's JSON watch protocol, the Linux convention for
// sharing a GNSS receiver. It reconnects when gpsd restarts.
type GPSD struct {
	addr   string
	opt    Options
	log    *slog.Logger
	conn   net.Conn
	br     *bufio.Reader
	st     GPSDStats
	last   time.Time // time of the last TPV returned
	hdop   float64
	sats   int
	sys    Systems
	motion motion
}

// DialGPSD connects to gpsd at addr (host:port; ":2947" or "" means
// localhost:2947) and starts watching. It fails when gpsd cannot be reached
// now; later outages are bridged by Next.
func DialGPSD(ctx context.Context, addr string) (*GPSD, error) {
	if addr == "" {
		addr = "localhost:2947"
	}
	if host, port, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("gpsd address %q: %w", addr, err)
	} else if host == "" {
		addr = net.JoinHostPort("localhost", port)
	}
	o := Options{}.withDefaults()
	g := &GPSD{addr: addr, opt: o, log: slog.Default().With("gpsd", addr),
		motion: motion{maxSpeed: o.MaxSpeed, slack: o.JumpSlack}}
	if err := g.connect(ctx); err != nil {
		return nil, err
	}
	return g, nil
}

func (g *GPSD) connect(ctx context.Context) error {
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := d.DialContext(dctx, "tcp", g.addr)
	if err != nil {
		return fmt.Errorf("connecting to gpsd at %s: %w", g.addr, err)
	}
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, watchCommand); err != nil {
		c.Close()
		return fmt.Errorf("sending WATCH to gpsd at %s: %w", g.addr, err)
	}
	c.SetWriteDeadline(time.Time{})
	g.conn, g.br = c, bufio.NewReaderSize(c, 4096)
	return nil
}

// Stats returns the counts so far.
func (g *GPSD) Stats() GPSDStats { return g.st }

// Close ends the connection.
func (g *GPSD) Close() error {
	if g.conn == nil {
		return nil
	}
	err := g.conn.Close()
	g.conn = nil
	return err
}

// Next returns the next fix gpsd reports (one per receiver epoch; invalid
// when gpsd has no fix). When gpsd goes away it reconnects with backoff
// until ctx ends, and returns ctx's error then.
func (g *GPSD) Next(ctx context.Context) (Fix, error) {
	backoff := 200 * time.Millisecond
	down := false
	for {
		if err := ctx.Err(); err != nil {
			return Fix{}, err
		}
		if g.conn == nil {
			if err := g.connect(ctx); err != nil {
				if !down {
					g.log.Warn("gpsd unreachable, retrying", "err", err)
					down = true
				}
				select {
				case <-ctx.Done():
					return Fix{}, ctx.Err()
				case <-time.After(backoff):
				}
				backoff = min(2*backoff, 5*time.Second)
				continue
			}
			g.st.Reconnects++
			g.log.Info("gpsd connection restored")
			down = false
			backoff = 200 * time.Millisecond
		}
		line, err := g.readLine(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return Fix{}, ctx.Err()
			}
			if !down {
				g.log.Warn("gpsd connection lost, reconnecting", "err", err)
				down = true
			}
			g.Close()
			continue
		}
		if f, ok := g.report(line); ok {
			return f, nil
		}
	}
}

// readLine reads one report line, interrupted by ctx.
func (g *GPSD) readLine(ctx context.Context) ([]byte, error) {
	conn := g.conn
	conn.SetReadDeadline(time.Time{})
	stop := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Now()) })
	defer stop()
	var line []byte
	for {
		chunk, err := g.br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			if len(line)+len(chunk) <= maxReport {
				line = append(line, chunk...)
			} else {
				line = line[:0:0]
				g.st.Bad++
				// Drop the rest of this line.
				for errors.Is(err, bufio.ErrBufferFull) {
					_, err = g.br.ReadSlice('\n')
				}
				if err != nil {
					return nil, err
				}
				continue
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		if line == nil {
			return chunk, nil
		}
		return append(line, chunk...), nil
	}
}

// tpv and sky are the fields of gpsd's reports that camaudit uses.
type tpv struct {
	Class  string   `json:"class"`
	Mode   int      `json:"mode"`
	Status int      `json:"status"`
	Time   string   `json:"time"`
	Lat    *float64 `json:"lat"`
	Lon    *float64 `json:"lon"`
	Alt    *float64 `json:"alt"`
	AltMSL *float64 `json:"altMSL"`
	Speed  *float64 `json:"speed"`
	Track  *float64 `json:"track"`
	Eph    *float64 `json:"eph"`
	Epx    *float64 `json:"epx"`
	Epy    *float64 `json:"epy"`
	HDOP   *float64 `json:"hdop"`
	USat   *int     `json:"uSat"`
	Sats   []struct {
		Used   bool `json:"used"`
		GNSSID *int `json:"gnssid"`
		PRN    int  `json:"PRN"`
	} `json:"satellites"`
}

// gnssIDs maps gpsd's (u-blox) gnssid to constellations.
var gnssIDs = map[int]Systems{0: GPS, 2: Galileo, 3: BeiDou, 5: QZSS, 6: GLONASS, 7: NavIC}

// report handles one JSON line, returning a Fix for a new TPV.
func (g *GPSD) report(line []byte) (Fix, bool) {
	g.st.Reports++
	var r tpv
	if err := json.Unmarshal(line, &r); err != nil {
		g.st.Bad++
		return Fix{}, false
	}
	switch r.Class {
	case "SKY":
		g.st.SKY++
		g.sky(&r)
		return Fix{}, false
	case "TPV":
		g.st.TPV++
	default:
		return Fix{}, false
	}
	var f Fix
	if r.Time != "" {
		t, err := time.Parse(time.RFC3339Nano, r.Time)
		if err == nil {
			f.Time = t.UTC()
		}
	}
	if !f.Time.IsZero() && f.Time.Equal(g.last) {
		g.st.Duplicates++
		return Fix{}, false
	}
	if r.Lat != nil && r.Lon != nil && !math.IsNaN(*r.Lat) && !math.IsNaN(*r.Lon) {
		f.Pos = geo.LatLon{Lat: *r.Lat, Lon: *r.Lon}
	}
	switch {
	case r.AltMSL != nil:
		f.Alt = *r.AltMSL
	case r.Alt != nil:
		f.Alt = *r.Alt
	}
	if r.Speed != nil {
		f.Speed, f.HasSpeed = *r.Speed, true
	}
	if r.Track != nil {
		f.Course, f.HasCourse = *r.Track, true
	}
	switch {
	case r.Eph != nil:
		f.AccuracyM = *r.Eph
	case r.Epx != nil && r.Epy != nil:
		f.AccuracyM = math.Hypot(*r.Epx, *r.Epy)
	}
	f.HDOP, f.Sats, f.Systems = g.hdop, g.sats, g.sys
	valid := r.Mode >= 2 && r.Lat != nil && r.Lon != nil && !f.Time.IsZero() &&
		math.Abs(f.Pos.Lat) <= 90 && math.Abs(f.Pos.Lon) <= 180
	if valid && (f.Time.Before(g.opt.NotBefore) || f.Time.After(g.opt.NotAfter) || !g.motion.accept(f)) {
		valid = false
		g.st.Refused++
	}
	if valid {
		f.Valid = true
		f.Quality = gpsdQuality(r.Status)
		g.st.Fixes++
	} else {
		f.HasSpeed, f.HasCourse = false, false
		g.st.NoFix++
	}
	if !f.Time.IsZero() {
		g.last = f.Time
	}
	return f, true
}

// sky keeps the HDOP, satellites used and constellations of a SKY report.
func (g *GPSD) sky(r *tpv) {
	if r.HDOP != nil {
		g.hdop = *r.HDOP
	}
	used := 0
	var sys Systems
	for _, s := range r.Sats {
		if !s.Used {
			continue
		}
		used++
		if s.GNSSID != nil {
			sys |= gnssIDs[*s.GNSSID]
		} else {
			sys |= prnSystem(s.PRN)
		}
	}
	switch {
	case r.USat != nil:
		g.sats = *r.USat
	case len(r.Sats) > 0:
		g.sats = used
	}
	if len(r.Sats) > 0 {
		g.sys = sys
	}
}

// gpsdQuality maps TPV status to GGA fix quality.
func gpsdQuality(status int) int {
	switch status {
	case 2:
		return 2 // DGPS
	case 3:
		return 4 // RTK fixed
	case 4:
		return 5 // RTK float
	case 5, 6:
		return 6 // dead reckoning
	}
	return 1
}
