// Package gnss turns satellite receivers into trustworthy fixes: an NMEA 0183
// reader and writer, a gpsd client, fusion of the sentences of one epoch into
// one Fix, and UTC from GNSS for a Raspberry Pi that has no real-time clock.
package gnss

import (
	"time"

	"github.com/camaudit/camaudit/geo"
)

// Fix is one epoch of a receiver's solution. Fields a source does not provide
// are zero; HasCourse and HasSpeed say whether Course and Speed are known.
type Fix struct {
	Time      time.Time  // UTC of the epoch, from the receiver
	Pos       geo.LatLon // WGS84
	Alt       float64    // metres above mean sea level
	Valid     bool       // the receiver reports a usable position fix
	Quality   int        // GGA fix quality: 0 none, 1 GPS, 2 DGPS, 4 RTK, 5 float RTK, 6 dead reckoning
	Speed     float64    // metres per second over ground
	HasSpeed  bool
	Course    float64 // degrees true, direction of travel
	HasCourse bool
	HDOP      float64 // horizontal dilution of precision, 0 when unknown
	AccuracyM float64 // 1-sigma horizontal accuracy in metres (GST or gpsd eph), 0 when unknown
	Sats      int     // satellites used
	Systems   Systems // constellations used, when the receiver says
}

// Knots is metres per second in knots, the unit of NMEA speeds.
const Knots = 1852.0 / 3600.0

// Systems is a set of satellite constellations, e.g. the ones a fix used.
// Receivers report them through talker ids (GP, GL, GA, GB/BD, GQ/QZ, GI),
// the per-system mode letters of GNS and the system id of GSA.
type Systems uint8

// The constellations, in the order NMEA 4.10 lists them in a GNS mode field.
const (
	GPS Systems = 1 << iota
	GLONASS
	Galileo
	BeiDou
	QZSS
	NavIC
)

var systemNames = [...]string{"GPS", "GLONASS", "Galileo", "BeiDou", "QZSS", "NavIC"}

// String lists the constellations joined by "+", e.g. "GPS+Galileo", or ""
// for none.
func (s Systems) String() string {
	var b []byte
	for i, n := range systemNames {
		if s&(1<<i) != 0 {
			if len(b) > 0 {
				b = append(b, '+')
			}
			b = append(b, n...)
		}
	}
	return string(b)
}

// Count is the number of constellations in s.
func (s Systems) Count() int {
	n := 0
	for ; s != 0; s &= s - 1 {
		n++
	}
	return n
}

// MarshalText writes s as String does, so that JSON shows names.
func (s Systems) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
