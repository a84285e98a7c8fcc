package gnss

import (
	"fmt"
	"math"
	"strings"
)

// Checksum returns the NMEA checksum of a sentence body: the XOR of every byte
// between '$' and '*', exclusive.
func Checksum(body string) byte {
	var c byte
	for i := 0; i < len(body); i++ {
		c ^= body[i]
	}
	return c
}

// sentence wraps a body as "$body*HH\r\n".
func sentence(body string) string {
	return fmt.Sprintf("$%s*%02X\r\n", body, Checksum(body))
}

// nmeaLat formats a latitude as NMEA ddmm.mmmmm and hemisphere.
func nmeaLat(lat float64) (string, string) {
	h := "N"
	if lat < 0 {
		h, lat = "S", -lat
	}
	d := math.Floor(lat)
	m := (lat - d) * 60
	if m >= 59.999995 { // avoid "60.00000" from rounding
		d, m = d+1, 0
	}
	return fmt.Sprintf("%02d%08.5f", int(d), m), h
}

// nmeaLon formats a longitude as NMEA dddmm.mmmmm and hemisphere.
func nmeaLon(lon float64) (string, string) {
	h := "E"
	if lon < 0 {
		h, lon = "W", -lon
	}
	d := math.Floor(lon)
	m := (lon - d) * 60
	if m >= 59.999995 {
		d, m = d+1, 0
	}
	return fmt.Sprintf("%03d%08.5f", int(d), m), h
}

// FormatRMC returns an RMC sentence (with CRLF) for f, from talker (e.g. "GP", "GN").
func FormatRMC(talker string, f Fix) string {
	t := f.Time.UTC()
	status, mode := "V", "N"
	lat, ns, lon, ew := "", "", "", ""
	spd, crs := "", ""
	if f.Valid {
		status, mode = "A", "A"
		lat, ns = nmeaLat(f.Pos.Lat)
		lon, ew = nmeaLon(f.Pos.Lon)
		spd = fmt.Sprintf("%.2f", f.Speed/Knots)
		if f.HasCourse {
			crs = fmt.Sprintf("%.1f", f.Course)
		}
	}
	body := fmt.Sprintf("%sRMC,%s,%s,%s,%s,%s,%s,%s,%s,%s,,,%s",
		talker, t.Format("150405.00"), status, lat, ns, lon, ew, spd, crs, t.Format("020106"), mode)
	return sentence(body)
}

// FormatGGA returns a GGA sentence (with CRLF) for f.
func FormatGGA(talker string, f Fix) string {
	t := f.Time.UTC()
	lat, ns, lon, ew := "", "", "", ""
	q, sats, hdop, alt := 0, "00", "", ""
	if f.Valid {
		lat, ns = nmeaLat(f.Pos.Lat)
		lon, ew = nmeaLon(f.Pos.Lon)
		q = f.Quality
		if q == 0 {
			q = 1
		}
		sats = fmt.Sprintf("%02d", f.Sats)
		hdop = fmt.Sprintf("%.1f", f.HDOP)
		alt = fmt.Sprintf("%.1f", f.Alt)
	}
	body := fmt.Sprintf("%sGGA,%s,%s,%s,%s,%s,%d,%s,%s,%s,M,0.0,M,,",
		talker, t.Format("150405.00"), lat, ns, lon, ew, q, sats, hdop, alt)
	return sentence(body)
}

// FormatVTG returns a VTG sentence (with CRLF) for f: course and speed.
func FormatVTG(talker string, f Fix) string {
	crs, kn, kmh, mode := "", "", "", "N"
	if f.Valid {
		mode = "A"
		if f.HasCourse {
			crs = fmt.Sprintf("%.1f", f.Course)
		}
		kn = fmt.Sprintf("%.2f", f.Speed/Knots)
		kmh = fmt.Sprintf("%.2f", f.Speed*3.6)
	}
	return sentence(fmt.Sprintf("%sVTG,%s,T,,M,%s,N,%s,K,%s", talker, crs, kn, kmh, mode))
}

// FormatEpoch returns the sentences a typical receiver emits for one epoch:
// RMC and GGA, and VTG when withVTG is set.
func FormatEpoch(talker string, f Fix, withVTG bool) string {
	var b strings.Builder
	b.WriteString(FormatRMC(talker, f))
	b.WriteString(FormatGGA(talker, f))
	if withVTG {
		b.WriteString(FormatVTG(talker, f))
	}
	return b.String()
}

// FormatZDA returns a ZDA sentence (with CRLF) for f: UTC time and the date
// with a four-digit year.
func FormatZDA(talker string, f Fix) string {
	t := f.Time.UTC()
	return sentence(fmt.Sprintf("%sZDA,%s,%02d,%02d,%04d,00,00",
		talker, t.Format("150405.00"), t.Day(), int(t.Month()), t.Year()))
}

// FormatGST returns a GST sentence (with CRLF) for f: the error ellipse is
// a circle whose latitude and longitude sigmas make up f.AccuracyM.
func FormatGST(talker string, f Fix) string {
	t := f.Time.UTC()
	s := f.AccuracyM / math.Sqrt2
	return sentence(fmt.Sprintf("%sGST,%s,%.1f,%.1f,%.1f,0.0,%.2f,%.2f,%.2f",
		talker, t.Format("150405.00"), f.AccuracyM, s, s, s, s, 2*s))
}
