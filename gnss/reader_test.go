package gnss

import (
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/camaudit/camaudit/geo"
)

// walk returns n fixes of a walker heading north-east at 1.4 m/s, dt apart.
func walk(n int, start time.Time, dt time.Duration) []Fix {
	origin := geo.LatLon{Lat: 52.52, Lon: 13.405}
	out := make([]Fix, n)
	for i := range out {
		p := geo.Destination(origin, 45, 1.4*dt.Seconds()*float64(i))
		out[i] = Fix{
			Time: start.Add(time.Duration(i) * dt), Pos: p, Alt: 34.5, Valid: true, Quality: 1,
			Speed: 1.4, HasSpeed: true, Course: 45, HasCourse: true, HDOP: 0.9, Sats: 9,
		}
	}
	return out
}

// readAll reads every fix of s.
func readAll(t *testing.T, s string, opts Options) ([]Fix, Stats) {
	t.Helper()
	r := NewReader(strings.NewReader(s), opts)
	var fixes []Fix
	for {
		f, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		fixes = append(fixes, f)
		if len(fixes) > 1e6 {
			t.Fatal("runaway reader")
		}
	}
	return fixes, r.Stats()
}

func sameFix(t *testing.T, i int, got, want Fix) {
	t.Helper()
	if !got.Time.Equal(want.Time) || got.Valid != want.Valid {
		t.Fatalf("fix %d: time %v valid %v, want %v %v", i, got.Time, got.Valid, want.Time, want.Valid)
	}
	if !want.Valid {
		return
	}
	if math.Abs(got.Pos.Lat-want.Pos.Lat) > 1e-6 || math.Abs(got.Pos.Lon-want.Pos.Lon) > 1e-6 {
		t.Fatalf("fix %d: pos %v, want %v", i, got.Pos, want.Pos)
	}
	if math.Abs(got.Speed-want.Speed) > 0.01 || !got.HasSpeed || math.Abs(got.Course-want.Course) > 0.05 || !got.HasCourse {
		t.Fatalf("fix %d: speed %v course %v, want %v %v", i, got.Speed, got.Course, want.Speed, want.Course)
	}
	if got.Sats != want.Sats || math.Abs(got.HDOP-want.HDOP) > 0.05 || math.Abs(got.Alt-want.Alt) > 0.05 {
		t.Fatalf("fix %d: sats %d hdop %v alt %v, want %d %v %v", i, got.Sats, got.HDOP, got.Alt, want.Sats, want.HDOP, want.Alt)
	}
}

// TestRoundTrip writes epochs with FormatEpoch and reads every one back.
func TestRoundTrip(t *testing.T) {
	start := time.Date(2026, 3, 14, 23, 59, 50, 0, time.UTC) // crosses midnight
	for _, tc := range []struct {
		name   string
		talker string
		dt     time.Duration
		vtg    bool
		eol    string
	}{
		{"1Hz GP CRLF", "GP", time.Second, false, "\r\n"},
		{"1Hz GN VTG LF", "GN", time.Second, true, "\n"},
		{"10Hz GN CR", "GN", 100 * time.Millisecond, true, "\r"},
		{"5Hz GL", "GL", 200 * time.Millisecond, false, "\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := walk(300, start, tc.dt)
			want[100].Valid = false // a dropout
			want[101].Valid = false
			var b strings.Builder
			for _, f := range want {
				b.WriteString(strings.ReplaceAll(FormatEpoch(tc.talker, f, tc.vtg), "\r\n", tc.eol))
			}
			got, st := readAll(t, b.String(), Options{})
			if len(got) != len(want) {
				t.Fatalf("got %d fixes, want %d (stats %+v)", len(got), len(want), st)
			}
			for i := range want {
				sameFix(t, i, got[i], want[i])
			}
			if st.Fixes != 298 || st.NoFix != 2 || st.Rejected() != 0 || st.FirstFixEpoch != 1 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// TestSentences checks single inputs and the counts they leave.
func TestSentences(t *testing.T) {
	good := FormatEpoch("GP", walk(1, time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC), time.Second)[0], false)
	rmc := strings.SplitAfter(good, "\n")[0]
	for _, tc := range []struct {
		name  string
		in    string
		fixes int
		check func(Stats) bool
	}{
		{"empty", "", 0, func(s Stats) bool { return s.Sentences == 0 }},
		{"nul bytes", "\x00\x00\x00" + good + "\x00", 1, func(s Stats) bool { return s.Garbage == 4 }},
		{"bad checksum", strings.Replace(rmc, "*", "0*", 1), 0, func(s Stats) bool { return s.Checksum == 1 }},
		{"lowercase checksum", lowerSum(rmc), 1, func(s Stats) bool { return s.Rejected() == 0 && s.Used == 1 }},
		{"no checksum", strings.Split(rmc, "*")[0] + "\r\n", 0, func(s Stats) bool { return s.Checksum == 1 }},
		{"truncated by $", rmc[:30] + good, 1, func(s Stats) bool { return s.Truncated == 1 && s.Used == 2 }},
		{"truncated at EOF", good + rmc[:40], 1, func(s Stats) bool { return s.Truncated == 1 }},
		{"no final newline", strings.TrimRight(good, "\r\n"), 1, func(s Stats) bool { return s.Used == 2 && s.Rejected() == 0 }},
		{"overlong", "$GPTXT," + strings.Repeat("A", 400) + "\r\n" + good, 1, func(s Stats) bool { return s.Overlong == 1 }},
		{"overlong no newline then $", "$GPTXT," + strings.Repeat("B", 1000) + good, 1, func(s Stats) bool { return s.Overlong == 1 }},
		{"proprietary", "$PMTK251,38400*27\r\n$PUBX,00,foo\r\n" + good, 1, func(s Stats) bool { return s.Ignored == 2 && s.Rejected() == 0 }},
		{"banner", "$Version 1.2 build 7\r\n$$$\r\n" + good, 1, func(s Stats) bool { return s.Ignored == 1 && s.Rejected() == 0 }},
		{"gsv ignored", sentence("GPGSV,1,1,01,05,40,083,46") + good, 1, func(s Stats) bool { return s.Ignored == 1 }},
		{"unknown talker", sentence("XXRMC,1") + good, 1, func(s Stats) bool { return s.Unknown == 1 }},
		{"unknown type", sentence("GPXYZ,1") + good, 1, func(s Stats) bool { return s.Unknown == 1 }},
		{"malformed number", sentence("GPGGA,100000.00,52x1.2,N,01324.3,E,1,08,0.9,1.0,M,,M,,") + good, 1, func(s Stats) bool { return s.Malformed == 1 }},
		{"NaN", sentence("GPGGA,100000.00,NaN,N,01324.3,E,1,08,0.9,1.0,M,,M,,") + good, 1, func(s Stats) bool { return s.Malformed == 1 }},
		{"control char", sentence("GPGGA,100000.00,5211.2,N,01324.3,E,1,08,0.9,1\x01,M,,M,,") + good, 1, func(s Stats) bool { return s.Malformed == 1 }},
		{"minutes 60", sentence("GPGGA,100000.00,5260.0,N,01324.3,E,1,08,0.9,1.0,M,,M,,") + good, 1, func(s Stats) bool { return s.Malformed == 1 }},
		{"gga only has no date", strings.SplitAfter(good, "\n")[1], 1, func(s Stats) bool { return s.Undated == 1 && s.Fixes == 0 }},
		{"garbage", "\xff\xfe\x01binary\x00$\x80\x81\r\n", 0, func(s Stats) bool { return s.Fixes == 0 && s.Epochs == 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, st := readAll(t, tc.in, Options{})
			if len(got) != tc.fixes {
				t.Fatalf("got %d epochs, want %d; stats %+v", len(got), tc.fixes, st)
			}
			if !tc.check(st) {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// TestValidity checks the rules that decide whether a fix is valid.
func TestValidity(t *testing.T) {
	day := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	fixes := walk(10, day, time.Second)
	epochs := func(mod func(i int, rmc, gga string) (string, string)) string {
		var b strings.Builder
		for i, f := range fixes {
			r, g := mod(i, FormatRMC("GP", f), FormatGGA("GP", f))
			b.WriteString(r + g)
		}
		return b.String()
	}
	for _, tc := range []struct {
		name    string
		in      string
		opts    Options
		valid   []bool // per epoch; nil = all valid
		check   func(Stats) bool
		timeAdd time.Duration
	}{
		{
			name: "rmc V disagrees with gga 1",
			in: epochs(func(i int, r, g string) (string, string) {
				if i == 3 {
					r = FormatRMC("GP", Fix{Time: fixes[i].Time})
				}
				return r, g
			}),
			valid: []bool{true, true, true, false, true, true, true, true, true, true},
			check: func(s Stats) bool { return s.Disagree == 1 },
		},
		{
			name: "gga quality 0 disagrees with rmc A",
			in: epochs(func(i int, r, g string) (string, string) {
				if i == 5 {
					g = FormatGGA("GP", Fix{Time: fixes[i].Time})
				}
				return r, g
			}),
			valid: []bool{true, true, true, true, true, false, true, true, true, true},
			check: func(s Stats) bool { return s.Disagree == 1 },
		},
		{
			name: "rmc mode N",
			in: epochs(func(i int, r, g string) (string, string) {
				if i == 2 {
					body := strings.TrimPrefix(strings.Split(r, "*")[0], "$")
					r = sentence(strings.TrimSuffix(body, "A") + "N")
				}
				return r, g
			}),
			valid: []bool{true, true, false, true, true, true, true, true, true, true},
			check: func(s Stats) bool { return s.Disagree == 1 },
		},
		{
			name: "jump of 2 km",
			in: epochs(func(i int, r, g string) (string, string) {
				if i == 4 {
					f := fixes[i]
					f.Pos = geo.Destination(f.Pos, 90, 2000)
					r, g = FormatRMC("GP", f), FormatGGA("GP", f)
				}
				return r, g
			}),
			valid: []bool{true, true, true, true, false, true, true, true, true, true},
			check: func(s Stats) bool { return s.Implausible == 1 },
		},
		{
			name:  "max speed below walking speed",
			in:    epochs(func(i int, r, g string) (string, string) { return r, g }),
			opts:  Options{MaxSpeed: 0.5, JumpSlack: 0.1},
			valid: []bool{true, false, false, false, false, false, false, false, false, false},
			check: func(s Stats) bool { return s.Implausible == 9 },
		},
		{
			name: "first fix an outlier: re-anchored after a consistent run",
			in: epochs(func(i int, r, g string) (string, string) {
				if i == 0 {
					f := fixes[i]
					f.Pos = geo.Destination(f.Pos, 200, 5000)
					r, g = FormatRMC("GP", f), FormatGGA("GP", f)
				}
				return r, g
			}),
			valid: []bool{true, false, false, false, false, true, true, true, true, true},
			check: func(s Stats) bool { return s.Implausible == 4 && s.FirstFixEpoch == 1 },
		},
		{
			name: "positions of rmc and gga disagree",
			in: epochs(func(i int, r, g string) (string, string) {
				if i == 7 {
					f := fixes[i]
					f.Pos = geo.Destination(f.Pos, 0, 100)
					r = FormatRMC("GP", f)
				}
				return r, g
			}),
			valid: []bool{true, true, true, true, true, true, true, false, true, true},
			check: func(s Stats) bool { return s.Disagree == 1 },
		},
		{
			name: "week rollover corrected",
			in: epochs(func(i int, r, g string) (string, string) {
				f := fixes[i]
				f.Time = f.Time.Add(-rolloverPeriod)
				return FormatRMC("GP", f), FormatGGA("GP", f)
			}),
			check: func(s Stats) bool { return s.Rollover == 10 },
		},
		{
			name: "rollover off: dates implausible",
			in: epochs(func(i int, r, g string) (string, string) {
				f := fixes[i]
				f.Time = f.Time.Add(-rolloverPeriod)
				return FormatRMC("GP", f), FormatGGA("GP", f)
			}),
			opts:  Options{NoRollover: true},
			valid: make([]bool, 10),
			check: func(s Stats) bool { return s.Implausible == 10 },
		},
		{
			name: "far future (ZDA)",
			in: epochs(func(i int, r, g string) (string, string) {
				f := fixes[i]
				f.Time = f.Time.AddDate(70, 0, 0)
				return FormatZDA("GP", f), FormatGGA("GP", f)
			}),
			valid: make([]bool, 10),
			check: func(s Stats) bool { return s.Implausible == 10 },
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, st := readAll(t, tc.in, tc.opts)
			if len(got) != len(fixes) {
				t.Fatalf("got %d epochs, want %d; %+v", len(got), len(fixes), st)
			}
			for i, f := range got {
				want := true
				if tc.valid != nil {
					want = tc.valid[i]
				}
				if f.Valid != want {
					t.Errorf("epoch %d: valid %v, want %v", i, f.Valid, want)
				}
				if f.Valid && !f.Time.Equal(fixes[i].Time) {
					t.Errorf("epoch %d: time %v, want %v", i, f.Time, fixes[i].Time)
				}
			}
			if !tc.check(st) {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// lowerSum rewrites a sentence's checksum in lower case.
func lowerSum(s string) string {
	i := strings.IndexByte(s, '*')
	return s[:i] + strings.ToLower(s[i:])
}

func TestSystems(t *testing.T) {
	for _, tc := range []struct {
		s    Systems
		want string
	}{{0, ""}, {GPS, "GPS"}, {GPS | Galileo | BeiDou, "GPS+Galileo+BeiDou"}, {GLONASS | QZSS | NavIC, "GLONASS+QZSS+NavIC"}} {
		if got := tc.s.String(); got != tc.want {
			t.Errorf("%d: %q, want %q", tc.s, got, tc.want)
		}
	}
	if n := (GPS | GLONASS | Galileo).Count(); n != 3 {
		t.Errorf("Count %d", n)
	}
}
