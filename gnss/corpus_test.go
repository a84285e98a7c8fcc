package gnss

import (
	"bytes"
	"flag"
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camaudit/camaudit/geo"
)

// The corpus in testdata/ is written by the generators below:
//
//	go test ./gnss -run TestCorpus -update
//
// TestCorpus checks that the files are what the generators write, then
// reads each and checks its fixes and counts.
var update = flag.Bool("update", false, "rewrite gnss/testdata from the corpus generators")

// corpusStart is the first epoch of every corpus file.
var corpusStart = time.Date(2026, 10, 3, 14, 30, 0, 0, time.UTC)

// corpusOrigin is where the corpus walks start (Berlin, Alexanderplatz).
var corpusOrigin = geo.LatLon{Lat: 52.5219, Lon: 13.4132}

// corruptSum returns s (one sentence with CRLF) with a wrong checksum.
func corruptSum(s string) string {
	i := strings.IndexByte(s, '*')
	c, _ := hexByte(s[i+1], s[i+2])
	return fmt.Sprintf("%s*%02X\r\n", s[:i], c^0x5A)
}

// fixAt is a walker's valid fix at epoch i (1 s apart), heading east.
func fixAt(i int) Fix {
	return Fix{Time: corpusStart.Add(time.Duration(i) * time.Second),
		Pos:   geo.Destination(corpusOrigin, 90, 1.3*float64(i)),
		Valid: true, Quality: 1, Speed: 1.3, HasSpeed: true, Course: 90, HasCourse: true,
		HDOP: 1.2, Sats: 7, Alt: 40, AccuracyM: 3.5}
}

// formatGNS writes a GNS sentence with per-system mode letters.
func formatGNS(talker string, f Fix, modes string) string {
	lat, ns := nmeaLat(f.Pos.Lat)
	lon, ew := nmeaLon(f.Pos.Lon)
	return sentence(fmt.Sprintf("%sGNS,%s,%s,%s,%s,%s,%s,%02d,%.1f,%.1f,0.0,,,V",
		talker, f.Time.Format("150405.00"), lat, ns, lon, ew, modes, f.Sats, f.HDOP, f.Alt))
}

// formatGSA writes a GSA sentence; sysID 0 leaves the NMEA 4.11 field out.
func formatGSA(talker string, prns []int, sysID int) string {
	f := make([]string, 12)
	for i, p := range prns {
		f[i] = fmt.Sprintf("%02d", p)
	}
	body := fmt.Sprintf("%sGSA,A,3,%s,1.9,1.2,1.5", talker, strings.Join(f, ","))
	if sysID > 0 {
		body += fmt.Sprintf(",%d", sysID)
	}
	return sentence(body)
}

// corpus lists the generators: file name and contents.
func corpus() []struct {
	name string
	gen  func() []byte
} {
	return []struct {
		name string
		gen  func() []byte
	}{
		{"cold_boot.nmea", genColdBoot},
		{"bad_checksum_gga.nmea", genBadGGA},
		{"interleaved.nmea", genInterleaved},
		{"multi_constellation.nmea", genMulti},
		{"disagree_flags.nmea", genDisagree},
		{"default_dates.nmea", genDefaultDates},
		{"week_rollover.nmea", genRollover},
		{"walk_5min.nmea", genWalk},
		{"misc_rejects.nmea", genMisc},
		{"garbage.bin", genGarbage},
	}
}

// genColdBoot: binary noise and banners at power-up, epochs without time,
// epochs with time but no fix, then a fix.
func genColdBoot() []byte {
	rng := rand.New(rand.NewSource(1))
	var b bytes.Buffer
	b.Write(make([]byte, 20))               // NULs
	b.Write([]byte{0xB5, 0x62, 0x01, 0x07}) // a UBX header
	for i := 0; i < 60; i++ {               // binary noise without '$' or line ends
		c := byte(rng.Intn(256))
		if c == '$' || c == '\r' || c == '\n' || c == ' ' || c == '\t' {
			c = 0xFF
		}
		b.WriteByte(c)
	}
	b.WriteString("\r\n")
	b.WriteString(sentence("PMTK011,MTKGPS"))
	b.WriteString(sentence("PMTK010,001"))
	b.WriteString("$Copyright (c) 2026 Example GNSS Inc. Firmware 3.1\r\n")
	b.WriteString(sentence("GPTXT,01,01,02,ANTSTATUS=OPEN"))
	for i := 0; i < 5; i++ { // no time yet
		b.WriteString(sentence("GPRMC,,V,,,,,,,,,,N"))
		b.WriteString(sentence("GPGGA,,,,,,0,00,99.99,,,,,,"))
		b.WriteString(sentence("GPGSV,1,1,00"))
	}
	for i := 0; i < 5; i++ { // time, no date, no fix
		f := Fix{Time: corpusStart.Add(time.Duration(i) * time.Second)}
		b.WriteString(sentence("GPRMC," + f.Time.Format("150405.00") + ",V,,,,,,,,,,N"))
		b.WriteString(FormatGGA("GP", f))
	}
	for i := 5; i < 25; i++ {
		b.WriteString(FormatEpoch("GP", fixAt(i), false))
	}
	return b.Bytes()
}

// genBadGGA: a receiver whose GGA checksums are all wrong.
func genBadGGA() []byte {
	var b bytes.Buffer
	for i := 0; i < 30; i++ {
		f := fixAt(i)
		b.WriteString(FormatRMC("GP", f))
		b.WriteString(corruptSum(FormatGGA("GP", f)))
		b.WriteString(FormatVTG("GP", f))
	}
	return b.Bytes()
}

// genInterleaved: sentences cut by the next '$', two sentences on one
// line, LF-only and CR-only line ends, fragments of ignored sentences.
func genInterleaved() []byte {
	var b bytes.Buffer
	for i := 0; i < 40; i++ {
		f := fixAt(i)
		rmc, gga, vtg := FormatRMC("GP", f), FormatGGA("GP", f), FormatVTG("GP", f)
		switch i % 5 {
		case 0:
			b.WriteString(sentence("GPGSV,3,1,11,03,03,111,00,04,15,270,00,06,01,010,00,13,06,292,00")[:30])
			b.WriteString(rmc + gga + vtg)
		case 1:
			b.WriteString(rmc[:25] + gga + vtg) // RMC cut: fix from GGA and VTG
		case 2:
			b.WriteString(strings.TrimRight(rmc, "\r\n") + strings.TrimRight(gga, "\r\n") + "\r\n" + vtg)
		case 3:
			b.WriteString(strings.ReplaceAll(rmc+gga+vtg, "\r\n", "\n"))
		case 4:
			b.WriteString(strings.ReplaceAll(rmc+gga+vtg, "\r\n", "\r"))
		}
	}
	return b.Bytes()
}

// genMulti: an NMEA 4.11 multi-constellation receiver (GN talker, GNS, GSA
// per system with system ids, GSV per system, GST, ZDA), then older-style
// GSA with per-system talkers (GP, GL, GA, BD) and QZSS sentences.
func genMulti() []byte {
	var b bytes.Buffer
	for i := 0; i < 30; i++ {
		f := fixAt(i)
		f.Sats = 18
		b.WriteString(FormatRMC("GN", f))
		b.WriteString(formatGNS("GN", f, "AAAAN"))
		b.WriteString(FormatGGA("GN", f))
		if i < 20 {
			b.WriteString(formatGSA("GN", []int{2, 5, 12, 15, 24}, 1))
			b.WriteString(formatGSA("GN", []int{67, 68, 81}, 2))
			b.WriteString(formatGSA("GN", []int{4, 9, 11, 36}, 3))
			b.WriteString(formatGSA("GN", []int{6, 13, 27, 33, 40, 44}, 4))
		} else {
			b.WriteString(formatGSA("GP", []int{2, 5, 12, 15, 24}, 0))
			b.WriteString(formatGSA("GL", []int{67, 68, 81}, 0))
			b.WriteString(formatGSA("GA", []int{4, 9, 11, 36}, 0))
			b.WriteString(formatGSA("BD", []int{6, 13, 27, 33, 40, 44}, 0))
			b.WriteString(sentence("QZGSV,1,1,01,193,45,120,38"))
		}
		b.WriteString(sentence("GPGSV,2,1,05,02,40,083,46,05,22,140,41,12,55,300,44,15,10,020,33"))
		b.WriteString(sentence("GLGSV,1,1,03,67,33,210,40,68,60,100,42,81,12,330,30"))
		b.WriteString(sentence("GAGSV,1,1,04,04,25,045,39,09,70,180,45,11,30,260,41,36,12,300,35"))
		b.WriteString(sentence("GBGSV,2,1,06,06,40,120,40,13,55,200,43,27,20,040,36,33,35,310,38"))
		b.WriteString(FormatGST("GN", f))
		b.WriteString(FormatZDA("GN", f))
		b.WriteString(FormatVTG("GN", f))
	}
	return b.Bytes()
}

// genDisagree: epochs whose sentences disagree about the fix.
func genDisagree() []byte {
	var b bytes.Buffer
	for i := 0; i < 20; i++ {
		f := fixAt(i)
		nofix := Fix{Time: f.Time}
		rmc, gga, gns := FormatRMC("GN", f), FormatGGA("GN", f), formatGNS("GN", f, "AA")
		switch i {
		case 3: // RMC void, GGA has a fix
			rmc = FormatRMC("GN", nofix)
		case 7: // RMC active, GGA quality 0
			gga = FormatGGA("GN", nofix)
		case 11: // RMC active but mode indicator N
			body := strings.TrimPrefix(strings.Split(rmc, "*")[0], "$")
			rmc = sentence(strings.TrimSuffix(body, "A") + "N")
		case 15: // all agree: no fix
			rmc, gga, gns = FormatRMC("GN", nofix), FormatGGA("GN", nofix), sentence("GNGNS,"+f.Time.Format("150405.00")+",,,,,NN,00,,,,,,V")
		case 17: // GNS says no fix for every system
			gns = formatGNS("GN", f, "NN")
		}
		b.WriteString(rmc + gns + gga)
	}
	return b.Bytes()
}

// genDefaultDates: a receiver's own clock before the first fix: 1980-01-06
// (GPS epoch) and 2006 dates with status V, then the real date with a fix.
func genDefaultDates() []byte {
	var b bytes.Buffer
	for i := 0; i < 10; i++ {
		t := time.Date(1980, 1, 6, 0, 0, i, 0, time.UTC)
		b.WriteString(FormatEpoch("GP", Fix{Time: t}, false))
	}
	for i := 0; i < 5; i++ {
		t := time.Date(2006, 8, 27, 23, 59, 58+i, 0, time.UTC) // crosses midnight
		b.WriteString(FormatEpoch("GP", Fix{Time: t}, false))
	}
	for i := 0; i < 20; i++ {
		b.WriteString(FormatEpoch("GP", fixAt(i), false))
	}
	return b.Bytes()
}

// genRollover: a receiver with the GPS week-number rollover bug: valid
// fixes dated 1024 weeks too early.
func genRollover() []byte {
	var b bytes.Buffer
	for i := 0; i < 20; i++ {
		f := fixAt(i)
		f.Time = f.Time.Add(-rolloverPeriod)
		b.WriteString(FormatEpoch("GP", f, true))
	}
	return b.Bytes()
}

// walkFixes is the truth of genWalk: 300 epochs at 1 Hz with noise, a
// 10 s dropout, one multipath jump and three corrupted sentences.
const (
	walkEpochs      = 300
	walkDropFrom    = 100
	walkDropTo      = 110 // exclusive
	walkJump        = 200
	walkNoiseSigmaM = 2.0
)

func genWalk() []byte {
	rng := rand.New(rand.NewSource(5))
	var b bytes.Buffer
	e := geo.NewENU(corpusOrigin)
	brg := 60.0
	x, y := 0.0, 0.0
	for i := 0; i < walkEpochs; i++ {
		if i%60 == 59 {
			brg += 90 // turn a corner every minute
		}
		x += 1.4 * math.Sin(brg*math.Pi/180)
		y += 1.4 * math.Cos(brg*math.Pi/180)
		f := Fix{Time: corpusStart.Add(time.Duration(i) * time.Second),
			Pos:   e.FromLocal(x+rng.NormFloat64()*walkNoiseSigmaM, y+rng.NormFloat64()*walkNoiseSigmaM),
			Valid: true, Quality: 1, Speed: 1.4, HasSpeed: true, Course: math.Mod(brg, 360), HasCourse: true,
			HDOP: 0.9 + rng.Float64(), Sats: 6 + rng.Intn(6), Alt: 35 + rng.NormFloat64(), AccuracyM: 2.8}
		if i >= walkDropFrom && i < walkDropTo {
			f = Fix{Time: f.Time}
		}
		if i == walkJump {
			f.Pos = geo.Destination(f.Pos, 300, 400) // multipath off a tower
		}
		rmc, gga, gst := FormatRMC("GP", f), FormatGGA("GP", f), FormatGST("GP", f)
		switch i {
		case 50:
			rmc = corruptSum(rmc)
		case 150:
			gga = corruptSum(gga)
		case 250:
			gst = corruptSum(gst)
		}
		b.WriteString(rmc + gga + gst)
	}
	return b.Bytes()
}

// genMisc: one of each kind of thing the reader rejects or ignores.
func genMisc() []byte {
	var b bytes.Buffer
	f := fixAt(0)
	b.WriteString(FormatEpoch("GP", f, false))
	b.WriteString("$GPTXT,01,01,02," + strings.Repeat("X", 300) + "*00\r\n") // overlong
	b.WriteString(sentence("PUBX,00,143000.00,5231.31400,N,01324.79200,E,40.0,G3,2.1,2.0,0.000,0.00,0.000,,0.92,1.19,0.77,9,0,0"))
	b.WriteString("$PUBX,40,GLL,0,0,0,0,0,0\r\n")                                          // proprietary, no checksum: ignored
	b.WriteString(sentence("IIXDR,C,12.5,C,AIRTEMP"))                                      // unknown talker
	b.WriteString(sentence("GPXYZ,1,2,3"))                                                 // unknown sentence type
	b.WriteString("!AIVDM,1,1,,A,13aEOK?P00PD2wVMdLDRhgvL289?,0*26\r\n")                   // AIS: not '$'
	b.WriteString("$GPGLL,5231.31400,N,01324.79200,E,143000.00,A,A*ZZ\r\n")                // bad hex checksum
	b.WriteString(sentence("GPGGA,143000.50,52x1.314,N,01324.792,E,1,08,0.9,40.0,M,,M,,")) // bad number
	b.WriteString(sentence("GPRMC,256000.00,A,5231.314,N,01324.792,E,0.0,,031026,,,A"))    // hour 25
	b.WriteString(sentence("GPZDA,143000.70,31,02,2026,00,00"))                            // no such date
	b.WriteString("$GPRMC,143001.00,A,5231.31400,N,01324.79200,E,2.5\r\n")                 // no checksum
	f1 := fixAt(1)
	b.WriteString(lowerSum(FormatRMC("GP", f1)))
	b.WriteString(FormatGGA("GP", f1))
	for i := 2; i < 5; i++ {
		b.WriteString(FormatEpoch("GP", fixAt(i), false))
	}
	return b.Bytes()
}

// genGarbage: random bytes.
func genGarbage() []byte {
	rng := rand.New(rand.NewSource(9))
	p := make([]byte, 16<<10)
	rng.Read(p)
	return p
}

// TestCorpus reads every corpus file and checks fixes and counts.
func TestCorpus(t *testing.T) {
	for _, c := range corpus() {
		path := filepath.Join("testdata", c.name)
		want := c.gen()
		if *update {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./gnss -run TestCorpus -update)", err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s differs from its generator (run go test ./gnss -run TestCorpus -update)", path)
		}
	}
	type check struct {
		epochs, fixes int
		stats         func(Stats) string // "" when fine
		fixesOK       func([]Fix) string
	}
	checks := map[string]check{
		"cold_boot.nmea": {30, 20, func(s Stats) string {
			if s.Ignored != 4+5 || s.FirstFixEpoch != 11 || s.TimeToFirstFix != 5*time.Second || s.Garbage != 84 || s.Rejected() != 0 {
				return "want 9 ignored (PMTK x2, banner, TXT, GSV x5), first fix at epoch 11 after 5 s, 84 garbage bytes"
			}
			return ""
		}, func(f []Fix) string {
			for i := 0; i < 10; i++ {
				if !f[i].Time.IsZero() {
					return fmt.Sprintf("epoch %d before any fix has time %v", i, f[i].Time)
				}
			}
			return sameWalk(f[10:], 5)
		}},
		"bad_checksum_gga.nmea": {30, 30, func(s Stats) string {
			if s.Checksum != 30 || s.Used != 60 {
				return "want 30 checksum rejects, 60 used"
			}
			return ""
		}, func(f []Fix) string {
			if f[0].Sats != 0 || f[0].HDOP != 0 || f[0].Quality != 1 {
				return "fix without GGA must have no sats/HDOP and quality from the RMC mode"
			}
			return sameWalk(f, 0)
		}},
		"interleaved.nmea": {40, 40, func(s Stats) string {
			if s.Truncated != 16 || s.Rejected() != 16 {
				return "want 16 truncated (8 GSV fragments, 8 cut RMC), nothing else rejected"
			}
			return ""
		}, func(f []Fix) string { return sameWalk(f, 0) }},
		"multi_constellation.nmea": {30, 30, func(s Stats) string {
			if s.Ignored != 30*4+10 || s.Rejected() != 0 {
				return "want 130 ignored GSV, no rejects"
			}
			return ""
		}, func(f []Fix) string {
			for i, x := range f {
				if x.Systems != GPS|GLONASS|Galileo|BeiDou || math.Abs(x.AccuracyM-3.5) > 0.02 || x.Sats != 18 {
					return fmt.Sprintf("epoch %d: systems %v accuracy %v sats %d", i, x.Systems, x.AccuracyM, x.Sats)
				}
			}
			return sameWalk(f, 0)
		}},
		"disagree_flags.nmea": {20, 15, func(s Stats) string {
			if s.Disagree != 4 || s.NoFix != 5 {
				return "want 4 disagreeing epochs and 5 without fix"
			}
			return ""
		}, func(f []Fix) string {
			for _, i := range []int{3, 7, 11, 15, 17} {
				if f[i].Valid {
					return fmt.Sprintf("epoch %d valid", i)
				}
			}
			return ""
		}},
		"default_dates.nmea": {35, 20, func(s Stats) string {
			if s.DatesBeforeFix != 15 || s.Implausible != 0 || s.FirstFixEpoch != 16 {
				return "want 15 dates ignored before the first fix at epoch 16"
			}
			return ""
		}, func(f []Fix) string {
			for i := 0; i < 15; i++ {
				if !f[i].Time.IsZero() || f[i].Valid {
					return fmt.Sprintf("epoch %d: %v valid %v", i, f[i].Time, f[i].Valid)
				}
			}
			return sameWalk(f[15:], 0)
		}},
		"week_rollover.nmea": {20, 20, func(s Stats) string {
			if s.Rollover != 20 {
				return "want 20 dates corrected"
			}
			return ""
		}, func(f []Fix) string { return sameWalk(f, 0) }},
		"walk_5min.nmea": {walkEpochs, walkEpochs - (walkDropTo - walkDropFrom) - 1, func(s Stats) string {
			if s.Checksum != 3 || s.Implausible != 1 || s.NoFix != 11 || s.Disagree != 0 {
				return "want 3 checksum rejects, 1 implausible jump, 11 epochs without fix"
			}
			return ""
		}, func(f []Fix) string {
			if f[walkJump].Valid || !f[walkJump+1].Valid || !f[walkDropTo].Valid || !f[50].Valid || !f[150].Valid {
				return "jump must be refused; the fixes after it, after the dropout and with a corrupt sentence kept"
			}
			if f[50].Sats == 0 || f[150].Sats != 0 || f[250].AccuracyM != 0 || f[249].AccuracyM == 0 {
				return "corrupt RMC keeps GGA data; corrupt GGA loses sats; corrupt GST loses accuracy"
			}
			var pts []geo.LatLon
			for _, x := range f {
				if x.Valid {
					pts = append(pts, x.Pos)
				}
			}
			// 298 s of walking at 1.4 m/s, plus the noise.
			if d := geo.PathLength(pts); d < 400 || d > 1200 {
				return fmt.Sprintf("path %v m", d)
			}
			return ""
		}},
		"misc_rejects.nmea": {5, 5, func(s Stats) string {
			if s.Overlong != 1 || s.Unknown != 2 || s.Checksum != 2 || s.Malformed != 3 || s.Ignored != 2 || s.Garbage != 63+47 {
				return "want 1 overlong, 2 unknown, 2 checksum, 3 malformed, 2 ignored, 110 garbage bytes (the overlong tail and the AIS line)"
			}
			return ""
		}, func(f []Fix) string { return sameWalk(f, 0) }},
		"garbage.bin": {0, 0, func(s Stats) string {
			if s.Used != 0 || s.Garbage < 15000 {
				return "want nothing used, nearly all bytes garbage"
			}
			return ""
		}, nil},
	}
	for _, c := range corpus() {
		t.Run(c.name, func(t *testing.T) {
			ch, ok := checks[c.name]
			if !ok {
				t.Fatal("no checks for this corpus file")
			}
			fixes, st, err := ReadFile(filepath.Join("testdata", c.name))
			if err != nil {
				t.Fatal(err)
			}
			valid := 0
			for _, f := range fixes {
				if f.Valid {
					valid++
				}
			}
			if len(fixes) != ch.epochs || valid != ch.fixes || st.Epochs != ch.epochs || st.Fixes != ch.fixes {
				t.Fatalf("%d epochs, %d fixes; want %d, %d (stats %+v)", len(fixes), valid, ch.epochs, ch.fixes, st)
			}
			if msg := ch.stats(st); msg != "" {
				t.Fatalf("%s; stats %+v", msg, st)
			}
			if ch.fixesOK != nil {
				if msg := ch.fixesOK(fixes); msg != "" {
					t.Fatal(msg)
				}
			}
		})
	}
}

// sameWalk checks valid fixes against fixAt(first+i).
func sameWalk(f []Fix, first int) string {
	for i, x := range f {
		w := fixAt(first + i)
		if !x.Valid {
			continue
		}
		if !x.Time.Equal(w.Time) || geo.Distance(x.Pos, w.Pos) > 0.05 {
			return fmt.Sprintf("fix %d: %v %v, want %v %v", i, x.Time, x.Pos, w.Time, w.Pos)
		}
	}
	return ""
}
