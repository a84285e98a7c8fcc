package gnss

import (
	"bufio"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"
)

// MaxSentence is the longest sentence the reader accepts, '$' to the
// checksum inclusive. NMEA 0183 allows 82 characters with CR LF; real
// receivers exceed that a little (u-blox high-precision modes, NMEA 4.11
// extra fields), so the reader allows a margin and rejects anything longer
// as overlong without buffering it.
const MaxSentence = 256

// end says how a raw sentence ended.
type end int

const (
	endLine     end = iota // CR or LF
	endDollar              // a '$' started the next sentence: this one was cut
	endEOF                 // end of input without a line end
	endOverlong            // longer than MaxSentence
)

// scanner splits a byte stream into raw sentences, each starting with '$',
// holding at most MaxSentence bytes whatever the input.
type scanner struct {
	br      *bufio.Reader
	buf     [MaxSentence]byte
	n       int
	in      bool // inside a sentence (buf holds it)
	skip    bool // discarding the rest of an overlong sentence
	bytes   int64
	garbage int64
}

func newScanner(r io.Reader) *scanner {
	return &scanner{br: bufio.NewReaderSize(r, 4096)}
}

// next returns the next raw sentence (starting with '$', without line end)
// and how it ended. The slice is valid until the next call. At the end of
// input it returns io.EOF, and other read errors as they come.
func (s *scanner) next() ([]byte, end, error) {
	for {
		c, err := s.br.ReadByte()
		if err != nil {
			if s.in {
				s.in = false
				if errors.Is(err, io.EOF) {
					return s.buf[:s.n], endEOF, nil
				}
				s.n = 0
			}
			s.skip = false
			return nil, 0, err
		}
		s.bytes++
		switch {
		case c == '$':
			if s.in && s.n > 1 {
				// Keep the new '$' for the next call: return the cut one now.
				if err := s.br.UnreadByte(); err == nil {
					s.bytes--
					s.in = false
					return s.buf[:s.n], endDollar, nil
				}
			}
			if s.in { // a lone "$" before this one
				s.garbage++
			}
			s.skip = false
			s.in = true
			s.buf[0] = '$'
			s.n = 1
		case c == '\r' || c == '\n':
			s.skip = false
			if s.in {
				s.in = false
				return s.buf[:s.n], endLine, nil
			}
		case s.skip:
			s.garbage++
		case s.in:
			if s.n == len(s.buf) {
				s.in = false
				s.skip = true
				s.garbage++ // this byte; the rest of the line follows
				return s.buf[:s.n], endOverlong, nil
			}
			s.buf[s.n] = c
			s.n++
		default:
			if c != ' ' && c != '\t' {
				s.garbage++
			}
		}
	}
}

// sentenceClass is what a raw sentence turned out to be.
type sentenceClass int

const (
	classUse         sentenceClass = iota // a valid standard sentence
	classIgnored                          // valid, but nothing the reader uses
	classChecksum                         // wrong or missing checksum
	classTruncated                        // cut short
	classOverlong                         // over MaxSentence
	classMalformed                        // fields that do not parse
	classUnknown                          // unknown talker or sentence type
	classGarbage                          // not a sentence at all
	classProprietary                      // $P... sentences
	classBanner                           // boot banners and other text starting with '$'
)

// split checks a raw sentence and returns its address (talker+type, or the
// proprietary address) and fields after the address.
func split(raw []byte, how end) (addr string, fields []string, class sentenceClass) {
	if how == endOverlong {
		return "", nil, classOverlong
	}
	if len(raw) < 2 {
		return "", nil, classGarbage
	}
	body := raw[1:]
	star := -1
	for i, c := range body {
		if c == '*' {
			star = i
			break
		}
	}
	// The address: up to the first ',' (or '*' / end).
	aend := len(body)
	if star >= 0 {
		aend = star
	}
	for i := 0; i < aend; i++ {
		if body[i] == ',' {
			aend = i
			break
		}
	}
	address := body[:aend]
	proprietary := len(address) > 0 && address[0] == 'P' && validAddress(address[1:], 1)
	standard := len(address) == 5 && validAddress(address, 5)
	if !proprietary && !standard && how != endLine && aend == len(body) && len(address) < 5 && validAddress(address, 1) {
		return "", nil, classTruncated // cut inside the address
	}
	if !proprietary && !standard {
		// Not a sentence: a boot banner if it is text, else binary noise
		// that happened to contain a '$'.
		if how == endDollar && len(body) < 6 || !printable(body) {
			return "", nil, classGarbage
		}
		return "", nil, classBanner
	}
	if star < 0 {
		switch {
		case proprietary:
			return string(address), nil, classProprietary
		case how != endLine:
			return "", nil, classTruncated
		default:
			return "", nil, classChecksum
		}
	}
	sum := body[star+1:]
	if len(sum) < 2 {
		return "", nil, classTruncated
	}
	want, ok := hexByte(sum[0], sum[1])
	if !ok {
		return "", nil, classChecksum
	}
	for _, c := range sum[2:] { // trailing junk after the checksum
		if c != ' ' && c != '\t' {
			return "", nil, classChecksum
		}
	}
	var got byte
	for _, c := range body[:star] {
		got ^= c
	}
	if got != want {
		return "", nil, classChecksum
	}
	for _, c := range body[:star] {
		if c < 0x20 || c > 0x7e {
			return "", nil, classMalformed
		}
	}
	if proprietary {
		return string(address), nil, classProprietary
	}
	rest := ""
	if aend < star {
		rest = string(body[aend+1 : star])
	}
	return string(address), strings.Split(rest, ","), classUse
}

// printable reports whether b is printable ASCII.
func printable(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

// validAddress reports whether a is at least min characters of [A-Z0-9].
func validAddress(a []byte, min int) bool {
	if len(a) < min {
		return false
	}
	for _, c := range a {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func hexByte(a, b byte) (byte, bool) {
	h, ok1 := hexDigit(a)
	l, ok2 := hexDigit(b)
	return h<<4 | l, ok1 && ok2
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// talkerSystems maps the talker ids the reader accepts to constellations;
// GN (several systems) maps to none.
var talkerSystems = map[string]Systems{
	"GP": GPS, "GL": GLONASS, "GA": Galileo, "GB": BeiDou, "BD": BeiDou,
	"GQ": QZSS, "QZ": QZSS, "GI": NavIC, "GN": 0,
}

// errField marks a field that does not parse.
var errField = errors.New("bad field")

// field returns f[i], or "" when there are fewer fields.
func field(f []string, i int) string {
	if i < len(f) {
		return f[i]
	}
	return ""
}

// parseNum parses a plain decimal number ("-12.5"): no exponents, no
// hexadecimal, no NaN or Inf, which strconv.ParseFloat would accept.
func parseNum(s string) (float64, error) {
	if s == "" || len(s) > 20 {
		return 0, errField
	}
	dot := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
		case c == '.' && !dot:
			dot = true
		case (c == '-' || c == '+') && i == 0 && len(s) > 1:
		default:
			return 0, errField
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, errField
	}
	return v, nil
}

// optNum parses an optional number: ok is false for an empty field.
func optNum(s string) (v float64, ok bool, err error) {
	if s == "" {
		return 0, false, nil
	}
	v, err = parseNum(s)
	return v, err == nil, err
}

// parseInt parses an unsigned decimal integer of at most 9 digits.
func parseInt(s string) (int, error) {
	if s == "" || len(s) > 9 {
		return 0, errField
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errField
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, nil
}

// parseTOD parses hhmmss[.s...] into milliseconds of the day. ok is false
// for an empty field (receivers without time yet).
func parseTOD(s string) (ms int64, ok bool, err error) {
	if s == "" {
		return 0, false, nil
	}
	if len(s) < 6 || len(s) > 16 {
		return 0, false, errField
	}
	hh, e1 := parseInt(s[0:2])
	mm, e2 := parseInt(s[2:4])
	ss, e3 := parseInt(s[4:6])
	if e1 != nil || e2 != nil || e3 != nil || hh > 23 || mm > 59 || ss > 60 {
		return 0, false, errField
	}
	frac := 0
	if len(s) > 6 {
		if s[6] != '.' {
			return 0, false, errField
		}
		digits := s[7:]
		scale := 100
		for i := 0; i < len(digits); i++ {
			c := digits[i]
			if c < '0' || c > '9' {
				return 0, false, errField
			}
			frac += int(c-'0') * scale
			scale /= 10
		}
	}
	return int64(((hh*60+mm)*60+ss)*1000 + frac), true, nil
}

// parseCoord parses an NMEA angle ([d]ddmm.mmmm) with its hemisphere letter
// into signed degrees. ok is false when both fields are empty.
func parseCoord(v, hemi string, lat bool) (deg float64, ok bool, err error) {
	if v == "" && hemi == "" {
		return 0, false, nil
	}
	x, err := parseNum(v)
	if err != nil || x < 0 {
		return 0, false, errField
	}
	d := float64(int64(x / 100))
	m := x - d*100
	if m >= 60 {
		return 0, false, errField
	}
	deg = d + m/60
	max := 180.0
	pos, neg := "E", "W"
	if lat {
		max, pos, neg = 90, "N", "S"
	}
	switch hemi {
	case pos:
	case neg:
		deg = -deg
	default:
		return 0, false, errField
	}
	if deg > max || deg < -max {
		return 0, false, errField
	}
	return deg, true, nil
}

// civil is a calendar date.
type civil struct{ y, m, d int }

// parseDate parses RMC's ddmmyy; two-digit years map to 1980-2079.
func parseDate(s string) (civil, bool, error) {
	if s == "" {
		return civil{}, false, nil
	}
	if len(s) != 6 {
		return civil{}, false, errField
	}
	d, e1 := parseInt(s[0:2])
	m, e2 := parseInt(s[2:4])
	y, e3 := parseInt(s[4:6])
	if e1 != nil || e2 != nil || e3 != nil || d < 1 || d > 31 || m < 1 || m > 12 {
		return civil{}, false, errField
	}
	if y < 80 {
		y += 2000
	} else {
		y += 1900
	}
	if !realDate(y, m, d) {
		return civil{}, false, errField
	}
	return civil{y, m, d}, true, nil
}

// realDate reports whether y-m-d exists (no 31 February).
func realDate(y, m, d int) bool {
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	return t.Day() == d && int(t.Month()) == m
}
