package gnss

import "github.com/camaudit/camaudit/geo"

// parsed is one sentence's contribution to an epoch.
type parsed struct {
	kind   kind
	sys    Systems // the talker's constellation (0 for GN)
	tod    int64
	hasTod bool

	status, mode byte
	pos          posData
	day          civil
	hasDay       bool
	quality      int
	modes        string
	gn           bool
	sats         int
	hasSats      bool
	hdop         float64
	alt          float64
	hasAlt       bool

	speed, course       float64
	hasSpeed, hasCourse bool

	latSig, lonSig float64
	hasSig         bool
	used           Systems // GSA: constellations with satellites in use
}

func parsePos(f []string, i int) (posData, error) {
	lat, ok1, err := parseCoord(field(f, i), field(f, i+1), true)
	if err != nil {
		return posData{}, err
	}
	lon, ok2, err := parseCoord(field(f, i+2), field(f, i+3), false)
	if err != nil {
		return posData{}, err
	}
	if ok1 != ok2 {
		return posData{}, errField
	}
	return posData{pos: geo.LatLon{Lat: lat, Lon: lon}, hasPos: ok1}, nil
}

func parseFixTime(p *parsed, s string) error {
	tod, ok, err := parseTOD(s)
	p.tod, p.hasTod = tod, ok
	return err
}

// singleLetter parses a one-letter field ("" gives 0).
func singleLetter(s string) (byte, error) {
	switch len(s) {
	case 0:
		return 0, nil
	case 1:
		if s[0] >= 'A' && s[0] <= 'Z' {
			return s[0], nil
		}
	}
	return 0, errField
}

// parseRMC: time, status, lat, N/S, lon, E/W, speed kn, course, date, magvar,
// E/W, [mode], [nav status].
func parseRMC(f []string) (parsed, error) {
	p := parsed{kind: kRMC}
	if len(f) < 9 {
		return p, errField
	}
	if err := parseFixTime(&p, f[0]); err != nil {
		return p, err
	}
	switch f[1] {
	case "A", "V":
		p.status = f[1][0]
	default:
		return p, errField
	}
	var err error
	if p.pos, err = parsePos(f, 2); err != nil {
		return p, err
	}
	if p.speed, p.hasSpeed, err = optNum(f[6]); err != nil || p.speed < 0 {
		return p, errField
	}
	p.speed *= Knots
	if p.course, p.hasCourse, err = optNum(f[7]); err != nil || p.course < 0 || p.course > 360 {
		return p, errField
	}
	if p.day, p.hasDay, err = parseDate(f[8]); err != nil {
		return p, err
	}
	if p.mode, err = singleLetter(field(f, 11)); err != nil {
		return p, err
	}
	return p, nil
}

// parseGGA: time, lat, N/S, lon, E/W, quality, sats, hdop, alt, M, sep, M, age, station.
func parseGGA(f []string) (parsed, error) {
	p := parsed{kind: kGGA}
	if len(f) < 6 {
		return p, errField
	}
	if err := parseFixTime(&p, f[0]); err != nil {
		return p, err
	}
	var err error
	if p.pos, err = parsePos(f, 1); err != nil {
		return p, err
	}
	if p.quality, err = parseInt(f[5]); err != nil || p.quality > 9 {
		return p, errField
	}
	return p, parseSatsHdopAlt(&p, f, 6)
}

func parseSatsHdopAlt(p *parsed, f []string, i int) error {
	if s := field(f, i); s != "" {
		n, err := parseInt(s)
		if err != nil || n > 999 {
			return errField
		}
		p.sats, p.hasSats = n, true
	}
	var err error
	var ok bool
	if p.hdop, ok, err = optNum(field(f, i+1)); err != nil || p.hdop < 0 {
		return errField
	}
	if !ok {
		p.hdop = 0
	}
	if p.alt, p.hasAlt, err = optNum(field(f, i+2)); err != nil {
		return err
	}
	return nil
}

// parseGNS: time, lat, N/S, lon, E/W, mode letters (one per constellation),
// sats, hdop, alt, sep, age, station, [nav status].
func parseGNS(f []string, gn bool) (parsed, error) {
	p := parsed{kind: kGNS, gn: gn}
	if len(f) < 6 {
		return p, errField
	}
	if err := parseFixTime(&p, f[0]); err != nil {
		return p, err
	}
	var err error
	if p.pos, err = parsePos(f, 1); err != nil {
		return p, err
	}
	if len(f[5]) > 8 {
		return p, errField
	}
	for i := 0; i < len(f[5]); i++ {
		if c := f[5][i]; c < 'A' || c > 'Z' {
			return p, errField
		}
	}
	p.modes = f[5]
	return p, parseSatsHdopAlt(&p, f, 6)
}

// parseVTG: course T, "T", course M, "M", speed kn, "N", speed km/h, "K",
// [mode]; NMEA 1.5 receivers omit the unit letters (course, course M, kn, km/h).
func parseVTG(f []string) (parsed, error) {
	p := parsed{kind: kVTG}
	crs, kn, kmh := field(f, 0), field(f, 4), field(f, 6)
	if len(f) == 4 && field(f, 1) != "T" {
		kn, kmh = f[2], f[3]
	} else if len(f) < 8 {
		return p, errField
	}
	var err error
	if p.course, p.hasCourse, err = optNum(crs); err != nil || p.course < 0 || p.course > 360 {
		return p, errField
	}
	var ok bool
	if p.speed, ok, err = optNum(kn); err != nil || p.speed < 0 {
		return p, errField
	}
	p.speed *= Knots
	if !ok {
		if p.speed, ok, err = optNum(kmh); err != nil || p.speed < 0 {
			return p, errField
		}
		p.speed /= 3.6
	}
	p.hasSpeed = ok
	if p.mode, err = singleLetter(field(f, 8)); err != nil {
		return p, err
	}
	if p.mode == 'N' {
		p.hasSpeed, p.hasCourse = false, false
	}
	return p, nil
}

// parseGST: time, rms, semi-major, semi-minor, orientation, lat σ, lon σ, alt σ.
func parseGST(f []string) (parsed, error) {
	p := parsed{kind: kGST}
	if len(f) < 7 {
		return p, errField
	}
	if err := parseFixTime(&p, f[0]); err != nil {
		return p, err
	}
	lat, ok1, err1 := optNum(f[5])
	lon, ok2, err2 := optNum(f[6])
	if err1 != nil || err2 != nil || lat < 0 || lon < 0 {
		return p, errField
	}
	p.latSig, p.lonSig, p.hasSig = lat, lon, ok1 && ok2
	return p, nil
}

// parseZDA: time, day, month, year (4 digits), zone hours, zone minutes.
func parseZDA(f []string) (parsed, error) {
	p := parsed{kind: kZDA}
	if len(f) < 4 {
		return p, errField
	}
	if err := parseFixTime(&p, f[0]); err != nil {
		return p, err
	}
	if f[1] == "" && f[2] == "" && f[3] == "" {
		return p, nil
	}
	d, e1 := parseInt(f[1])
	m, e2 := parseInt(f[2])
	y, e3 := parseInt(f[3])
	if e1 != nil || e2 != nil || e3 != nil || len(f[3]) != 4 || !realDate(y, m, d) {
		return p, errField
	}
	p.day, p.hasDay = civil{y, m, d}, true
	return p, nil
}

// parseGSA: mode, fix type, 12 PRNs, PDOP, HDOP, VDOP, [system id]. Only
// which constellations have satellites in use is kept.
func parseGSA(f []string, talker Systems) (parsed, error) {
	p := parsed{kind: kGSA}
	if len(f) < 17 {
		return p, errField
	}
	var id Systems
	if s := field(f, 17); s != "" {
		n, err := parseInt(s)
		if err != nil {
			return p, errField
		}
		if n >= 1 && n <= 6 {
			id = 1 << (n - 1)
		}
	}
	for _, s := range f[2:14] {
		if s == "" {
			continue
		}
		prn, err := parseInt(s)
		if err != nil {
			return p, errField
		}
		switch {
		case id != 0:
			p.used |= id
		case talker != 0:
			p.used |= talker
		default:
			p.used |= prnSystem(prn)
		}
	}
	return p, nil
}

// prnSystem guesses a constellation from a satellite number as receivers
// number them in GNGSA without a system id (NMEA 4.0, u-blox extended).
func prnSystem(prn int) Systems {
	switch {
	case prn >= 1 && prn <= 32:
		return GPS
	case prn >= 65 && prn <= 96:
		return GLONASS
	case prn >= 193 && prn <= 202:
		return QZSS
	case prn >= 301 && prn <= 336:
		return Galileo
	case prn >= 201 && prn <= 237, prn >= 401 && prn <= 437:
		return BeiDou
	}
	return 0
}

// mergeInto adds the sentence to the epoch.
func (p *parsed) mergeInto(e *epoch) {
	e.kinds |= p.kind
	switch p.kind {
	case kRMC:
		e.rmcStatus, e.rmcMode, e.rmcPos = p.status, p.mode, p.pos
		e.rmcDate, e.rmcHasDay = p.day, p.hasDay
		e.talker |= p.sys
		if p.hasSpeed {
			e.speed, e.hasSpeed = p.speed, true
		}
		if p.hasCourse {
			e.course, e.hasCourse = p.course, true
		}
	case kVTG:
		if p.hasSpeed && !e.hasSpeed {
			e.speed, e.hasSpeed = p.speed, true
		}
		if p.hasCourse && !e.hasCourse {
			e.course, e.hasCourse = p.course, true
		}
	case kGGA:
		e.ggaQuality, e.ggaPos = p.quality, p.pos
		e.talker |= p.sys
		if p.hasSats {
			e.sats, e.hasSats = p.sats, 2
		}
		e.hdop = p.hdop
		if p.hasAlt {
			e.alt, e.hasAlt = p.alt, true
		}
	case kGNS:
		e.talker |= p.sys
		// A GN sentence (all constellations) wins over per-system ones.
		if p.gn || !e.gnsGN {
			e.gnsMode, e.gnsPos, e.gnsGN = p.modes, p.pos, p.gn
			if p.hasSats && e.hasSats < 2 {
				e.sats, e.hasSats = p.sats, 1
			}
			if e.kinds&kGGA == 0 {
				e.hdop = p.hdop
				if p.hasAlt {
					e.alt, e.hasAlt = p.alt, true
				}
			}
		}
	case kGST:
		e.latSig, e.lonSig, e.hasSig = p.latSig, p.lonSig, p.hasSig
	case kZDA:
		if p.hasDay {
			e.zdaDate, e.hasZDA = p.day, true
		}
	case kGSA:
		e.gsa |= p.used
	}
}
