package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"time"
)

// Schema names carried in each payload's "schema" field.
const (
	SchemaSighting  = "camaudit.sighting/1"
	SchemaCounts    = "camaudit.counts/1"
	SchemaCoverage  = "camaudit.coverage/1"
	SchemaTelemetry = "camaudit.telemetry/1"
)

// Camera types of the contract.
var CameraTypes = []string{"dome", "bullet", "ptz", "alpr", "unknown"}

// Mounts of the contract.
var Mounts = []string{"wall", "pole", "ceiling", "street_lamp", "unknown"}

// Earliest is the oldest time a payload may carry. Anything before it comes
// from an unsynchronised clock (a Pi without RTC boots in 1970) or a GNSS
// receiver's default date, and is rejected.
var Earliest = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// MaxClockSkew is how far in the future, relative to the receiver's clock, a
// payload's times may be.
const MaxClockSkew = 10 * time.Minute

// Sighting is one confirmed surveillance camera as estimated by a device.
// Lat/Lon are the camera's position, never the device's.
type Sighting struct {
	Schema     string    `json:"schema"`
	ID         string    `json:"id"`     // UUIDv7, the idempotency key
	Device     string    `json:"device"` // pseudonym, equals the topic's device
	Walk       string    `json:"walk"`   // UUIDv7 of the walk
	Time       time.Time `json:"time"`   // when the sighting was confirmed (UTC)
	Lat        float64   `json:"lat"`
	Lon        float64   `json:"lon"`
	ErrM       float64   `json:"err_m"` // 1-sigma horizontal error estimate, metres
	Type       string    `json:"type"`  // dome|bullet|ptz|alpr|unknown
	Mount      string    `json:"mount,omitempty"`
	Direction  *float64  `json:"direction,omitempty"` // compass degrees the camera faces
	Confidence float64   `json:"confidence"`
	Frames     int       `json:"frames"`
	BaselineM  float64   `json:"baseline_m"`
	Model      string    `json:"model"`
}

// Counts is the number of cameras by type that one walk found in one H3
// resolution-9 cell, with the distance walked inside it.
type Counts struct {
	Schema  string         `json:"schema"`
	Device  string         `json:"device"`
	Walk    string         `json:"walk"`
	Cell    string         `json:"cell"`
	Cameras map[string]int `json:"cameras"`
	WalkedM float64        `json:"walked_m"`
	From    time.Time      `json:"from"`
	To      time.Time      `json:"to"`
}

// Coverage lists the H3 resolution-9 cells a walk passed through. It is the
// only trace of the route that leaves a device.
type Coverage struct {
	Schema  string    `json:"schema"`
	Device  string    `json:"device"`
	Walk    string    `json:"walk"`
	Cells   []string  `json:"cells"`
	WalkedM float64   `json:"walked_m"`
	From    time.Time `json:"from"`
	To      time.Time `json:"to"`
}

// Telemetry is a device's health report. It carries no position.
type Telemetry struct {
	Schema         string    `json:"schema"`
	Device         string    `json:"device"`
	Time           time.Time `json:"time"`
	State          string    `json:"state,omitempty"` // idle|walking|paused|ended
	FPS            float64   `json:"fps"`
	Frames         int64     `json:"frames"`
	Dropped        int64     `json:"dropped"`
	Detections     int64     `json:"detections"`
	Queue          int       `json:"queue"`
	Fix            string    `json:"fix"` // none|2d|3d
	HDOP           float64   `json:"hdop,omitempty"`
	TempC          float64   `json:"temp_c,omitempty"`
	JournalPending int       `json:"journal_pending"`
	// JournalDropped counts optional records the device dropped because its
	// disk was full; DiskFull says the disk is full now (sightings are kept).
	JournalDropped int64 `json:"journal_dropped,omitempty"`
	DiskFull       bool  `json:"disk_full,omitempty"`
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// ValidID reports whether s is a lower-case canonical UUID (any version).
func ValidID(s string) bool { return uuidRE.MatchString(s) }

func oneOf(s string, set []string) bool {
	for _, v := range set {
		if s == v {
			return true
		}
	}
	return false
}

func checkTime(field string, t time.Time, now time.Time) error {
	if t.IsZero() {
		return fieldErr(ReasonTime, field, "missing")
	}
	if t.Before(Earliest) {
		return fieldErr(ReasonTime, field, "%s is before %s: unsynchronised clock?", t.UTC().Format(time.RFC3339), Earliest.Format("2006-01-02"))
	}
	if !now.IsZero() && t.After(now.Add(MaxClockSkew)) {
		return fieldErr(ReasonTime, field, "%s is in the future", t.UTC().Format(time.RFC3339))
	}
	return nil
}

func checkRange(field string, v, lo, hi float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < lo || v > hi {
		return fieldErr(ReasonField, field, "%v is outside [%v, %v]", v, lo, hi)
	}
	return nil
}

func checkHeader(schema, want, device, walk string) error {
	if schema != want {
		return fieldErr(ReasonSchema, "schema", "%q, want %q", clip(schema), want)
	}
	if !ValidDevice(device) {
		return fieldErr(ReasonField, "device", "%q is not [a-z0-9-]{3,32}", clip(device))
	}
	if walk != "" && !ValidID(walk) {
		return fieldErr(ReasonField, "walk", "%q is not a UUID", clip(walk))
	}
	return nil
}

// CheckLatLon rejects coordinates that are not finite, out of range, or at
// (0, 0), the "null island" of uninitialised receivers.
func CheckLatLon(lat, lon float64) error {
	if math.IsNaN(lat) || math.IsNaN(lon) || math.IsInf(lat, 0) || math.IsInf(lon, 0) ||
		lat < -90 || lat > 90 || lon < -180 || lon > 180 {
		return fieldErr(ReasonCoordinates, "lat", "(%v, %v) is not a position", lat, lon)
	}
	if lat == 0 && lon == 0 {
		return fieldErr(ReasonCoordinates, "lat", "(0, 0) is null island")
	}
	return nil
}

// Validate checks s against the contract; now is the receiver's clock, used to
// reject times in the future (zero skips that check).
func (s *Sighting) Validate(now time.Time) error {
	if err := checkHeader(s.Schema, SchemaSighting, s.Device, s.Walk); err != nil {
		return err
	}
	if !ValidID(s.ID) {
		return fieldErr(ReasonField, "id", "%q is not a UUID", clip(s.ID))
	}
	if s.Walk == "" {
		return fieldErr(ReasonField, "walk", "missing")
	}
	if err := checkTime("time", s.Time, now); err != nil {
		return err
	}
	if err := CheckLatLon(s.Lat, s.Lon); err != nil {
		return err
	}
	if err := checkRange("err_m", s.ErrM, 0, 1000); err != nil {
		return err
	}
	if !oneOf(s.Type, CameraTypes) {
		return fieldErr(ReasonField, "type", "%q is not one of %v", clip(s.Type), CameraTypes)
	}
	if s.Mount != "" && !oneOf(s.Mount, Mounts) {
		return fieldErr(ReasonField, "mount", "%q is not one of %v", clip(s.Mount), Mounts)
	}
	if s.Direction != nil {
		if err := checkRange("direction", *s.Direction, 0, 360); err != nil {
			return err
		}
	}
	if err := checkRange("confidence", s.Confidence, 0, 1); err != nil {
		return err
	}
	if s.Frames < 1 || s.Frames > 1_000_000 {
		return fieldErr(ReasonField, "frames", "%d is outside [1, 1000000]", s.Frames)
	}
	if err := checkRange("baseline_m", s.BaselineM, 0, 100_000); err != nil {
		return err
	}
	if len(s.Model) > 64 {
		return fieldErr(ReasonField, "model", "longer than 64 bytes")
	}
	return nil
}

// Validate checks c against the contract (see Sighting.Validate for now).
func (c *Counts) Validate(now time.Time) error {
	if err := checkHeader(c.Schema, SchemaCounts, c.Device, c.Walk); err != nil {
		return err
	}
	if c.Walk == "" {
		return fieldErr(ReasonField, "walk", "missing")
	}
	if err := CheckCell(c.Cell); err != nil {
		return err
	}
	for k, v := range c.Cameras {
		if !oneOf(k, CameraTypes) {
			return fieldErr(ReasonField, "cameras", "type %q is not one of %v", clip(k), CameraTypes)
		}
		if v < 0 || v > 100_000 {
			return fieldErr(ReasonField, "cameras", "%s count %d is outside [0, 100000]", k, v)
		}
	}
	if err := checkRange("walked_m", c.WalkedM, 0, 1_000_000); err != nil {
		return err
	}
	return checkSpan(c.From, c.To, now)
}

// Validate checks c against the contract (see Sighting.Validate for now).
func (c *Coverage) Validate(now time.Time) error {
	if err := checkHeader(c.Schema, SchemaCoverage, c.Device, c.Walk); err != nil {
		return err
	}
	if c.Walk == "" {
		return fieldErr(ReasonField, "walk", "missing")
	}
	if len(c.Cells) == 0 {
		return fieldErr(ReasonField, "cells", "empty")
	}
	for _, cell := range c.Cells {
		if err := CheckCell(cell); err != nil {
			return err
		}
	}
	if err := checkRange("walked_m", c.WalkedM, 0, 1_000_000); err != nil {
		return err
	}
	return checkSpan(c.From, c.To, now)
}

// Validate checks t against the contract (see Sighting.Validate for now).
func (t *Telemetry) Validate(now time.Time) error {
	if err := checkHeader(t.Schema, SchemaTelemetry, t.Device, ""); err != nil {
		return err
	}
	if err := checkTime("time", t.Time, now); err != nil {
		return err
	}
	if t.Fix != "" && !oneOf(t.Fix, []string{"none", "2d", "3d"}) {
		return fieldErr(ReasonField, "fix", "%q is not none|2d|3d", clip(t.Fix))
	}
	if t.State != "" && !oneOf(t.State, []string{"idle", "walking", "paused", "ended"}) {
		return fieldErr(ReasonField, "state", "%q is not idle|walking|paused|ended", clip(t.State))
	}
	for _, c := range []struct {
		field string
		v     int64
	}{{"frames", t.Frames}, {"dropped", t.Dropped}, {"detections", t.Detections}, {"queue", int64(t.Queue)}, {"journal_pending", int64(t.JournalPending)}, {"journal_dropped", t.JournalDropped}} {
		if c.v < 0 {
			return fieldErr(ReasonField, c.field, "%d is negative", c.v)
		}
	}
	if err := checkRange("hdop", t.HDOP, 0, 100); err != nil {
		return err
	}
	if err := checkRange("temp_c", t.TempC, -60, 150); err != nil {
		return err
	}
	return checkRange("fps", t.FPS, 0, 1000)
}

func checkSpan(from, to, now time.Time) error {
	if err := checkTime("from", from, now); err != nil {
		return err
	}
	if err := checkTime("to", to, now); err != nil {
		return err
	}
	if to.Before(from) {
		return fieldErr(ReasonTime, "to", "before from")
	}
	return nil
}

// CheckCell accepts only the canonical lower-case hex form of an H3 cell
// index at resolution 9 (the contract's coverage and counts grain).
func CheckCell(cell string) error {
	if len(cell) != 15 {
		return fieldErr(ReasonCell, "cell", "%q is not a 15-digit hex H3 index", clip(cell))
	}
	v, err := strconv.ParseUint(cell, 16, 64)
	if err != nil || cell != strconv.FormatUint(v, 16) {
		return fieldErr(ReasonCell, "cell", "%q is not lower-case hex", clip(cell))
	}
	mode := (v >> 59) & 0xf
	res := (v >> 52) & 0xf
	if mode != 1 || res != 9 {
		return fieldErr(ReasonCell, "cell", "%q is not an H3 cell at resolution 9 (mode %d, res %d)", cell, mode, res)
	}
	if !validCellBits(v, int(res)) {
		return fieldErr(ReasonCell, "cell", "%q is not a valid H3 cell (base cell or digits out of range)", cell)
	}
	return nil
}

// h3Pentagons are the H3 base cells that are pentagons.
var h3Pentagons = [...]int{4, 14, 24, 38, 49, 58, 63, 72, 83, 97, 107, 117}

// validCellBits checks the rest of an H3 cell index as h3's isValidCell
// does: reserved bits clear, one of the 122 base cells, digits 1..res in
// 0..6, unused digits 7, and no deleted k-axis subsequence under a
// pentagon. Without it a well-formed hex string naming no cell on Earth
// would be stored as coverage.
func validCellBits(v uint64, res int) bool {
	if v>>63 != 0 || (v>>56)&0x7 != 0 {
		return false
	}
	base := int((v >> 45) & 0x7f)
	if base >= 122 {
		return false
	}
	pentagon := false
	for _, p := range h3Pentagons {
		pentagon = pentagon || p == base
	}
	for r := 1; r <= 15; r++ {
		d := (v >> (3 * (15 - r))) & 0x7
		switch {
		case r > res:
			if d != 7 {
				return false
			}
		case d == 7:
			return false
		case pentagon && d != 0:
			if d == 1 { // the first non-zero digit of a pentagon's descendant is never the k axis
				return false
			}
			pentagon = false
		}
	}
	return true
}

// Message is any decoded payload: *Sighting, *Counts, *Coverage, *Telemetry,
// or Status for the status topic.
type Message interface{ kind() Kind }

// Status is the decoded payload of a status topic.
type Status string

func (*Sighting) kind() Kind  { return KindSightings }
func (*Counts) kind() Kind    { return KindCounts }
func (*Coverage) kind() Kind  { return KindCoverage }
func (*Telemetry) kind() Kind { return KindTelemetry }
func (Status) kind() Kind     { return KindStatus }

// Decode parses and validates one received message. It returns the device of
// the topic and the payload as one of the Message types, or an *Error whose
// Reason says why the message must be rejected. It never panics on any input.
func Decode(topic string, payload []byte, now time.Time) (device string, m Message, err error) {
	device, k, err := ParseTopic(topic)
	if err != nil {
		return "", nil, err
	}
	if len(payload) > MaxPayload {
		return device, nil, &Error{Reason: ReasonOversize, Msg: fmt.Sprintf("payload is %d bytes, limit %d", len(payload), MaxPayload)}
	}
	switch k {
	case KindStatus:
		s := Status(payload)
		if s != StatusOnline && s != StatusOffline {
			return device, nil, &Error{Reason: ReasonStatus, Msg: fmt.Sprintf("status %q is not online|offline", clip(string(payload)))}
		}
		return device, s, nil
	case KindSightings:
		var s Sighting
		return device, &s, decodeInto(payload, &s, &s.Schema, SchemaSighting, &s.Device, device, func() error { return s.Validate(now) })
	case KindCounts:
		var c Counts
		return device, &c, decodeInto(payload, &c, &c.Schema, SchemaCounts, &c.Device, device, func() error { return c.Validate(now) })
	case KindCoverage:
		var c Coverage
		return device, &c, decodeInto(payload, &c, &c.Schema, SchemaCoverage, &c.Device, device, func() error { return c.Validate(now) })
	default:
		var t Telemetry
		return device, &t, decodeInto(payload, &t, &t.Schema, SchemaTelemetry, &t.Device, device, func() error { return t.Validate(now) })
	}
}

func decodeInto(payload []byte, v any, schema *string, wantSchema string, payloadDevice *string, topicDevice string, validate func() error) error {
	p := bytes.TrimSpace(payload)
	if len(p) == 0 || p[0] != '{' {
		return &Error{Reason: ReasonJSON, Msg: "payload is not a JSON object"}
	}
	if err := json.Unmarshal(p, v); err != nil {
		return &Error{Reason: ReasonJSON, Msg: clip(err.Error())}
	}
	if *schema != wantSchema {
		return fieldErr(ReasonSchema, "schema", "%q, want %q", clip(*schema), wantSchema)
	}
	if *payloadDevice != topicDevice {
		return fieldErr(ReasonDevice, "device", "payload says %q, topic says %q", clip(*payloadDevice), topicDevice)
	}
	return validate()
}

// Encode validates m and marshals it. Devices call it before publishing so
// that a bug on the device never sends a message the hub would reject.
func Encode(m Message, now time.Time) ([]byte, error) {
	var err error
	switch v := m.(type) {
	case *Sighting:
		err = v.Validate(now)
	case *Counts:
		err = v.Validate(now)
	case *Coverage:
		err = v.Validate(now)
	case *Telemetry:
		err = v.Validate(now)
	case Status:
		return []byte(v), nil
	default:
		return nil, fmt.Errorf("wire: cannot encode %T", m)
	}
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", m.kind(), err)
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", m.kind(), err)
	}
	if len(b) > MaxPayload {
		return nil, &Error{Reason: ReasonOversize, Msg: fmt.Sprintf("%s payload is %d bytes, limit %d", m.kind(), len(b), MaxPayload)}
	}
	return b, nil
}

// KindOf returns the topic kind a message is published under.
func KindOf(m Message) Kind { return m.kind() }
