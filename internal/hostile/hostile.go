// Package hostile is a corpus of malformed and hostile MQTT messages for the
// hub: wrong JSON types, huge strings, NaN and infinite coordinates, deep
// nesting, spoofed device ids, replayed ids with other content, unicode
// tricks, SQL-ish strings, negative counts, oversized arrays, invalid H3
// cells, 1970 dates and more. Each case says what the hub must do with it:
// reject it and count it under a wire.Reason, count it as a duplicate, or
// accept it (valid messages with odd but harmless content, which must be
// stored exactly as sent).
//
// The end-to-end test in internal/faulttest publishes the corpus through a
// real Mosquitto to a running hub; the fuzz targets of wire and hub/ingest
// use it as seeds.
package hostile

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/camaudit/camaudit/wire"
)

// What the receiver must do with a case besides the wire reject reasons.
const (
	// Accept: a valid message; stored exactly as sent.
	Accept wire.Reason = ""
	// Duplicate: a redelivery of a stored sighting; stored once, counted as a duplicate.
	Duplicate wire.Reason = "duplicate"
)

// Case is one message and what the hub must do with it.
type Case struct {
	Name    string
	Topic   string
	Payload []byte
	// Want is the reject reason the hub must count it under, or Accept or Duplicate.
	Want wire.Reason
}

// Corpus is a set of cases for one device.
type Corpus struct {
	Device string
	// Baseline are valid messages (sighting, counts, coverage, telemetry,
	// status) to publish and see stored before the hostile ones, which
	// replay and vary them.
	Baseline []Case
	// Hostile are the malformed and hostile messages.
	Hostile []Case
	// SightingID is the id of the baseline sighting.
	SightingID string
}

// ValidCell is an H3 resolution-9 cell (Manhattan) used by the corpus.
const ValidCell = "892a100d2c3ffff"

// Ids of the corpus's valid messages.
const (
	baseID      = "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
	walkID      = "0193a1b2-0000-7000-8000-000000000001"
	sqlishID    = "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a60"
	extraID     = "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a61"
	bidiModelID = "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a62"
)

// SQLishModel is a valid (≤ 64 bytes) model name that looks like an SQL
// injection; the hub must store it verbatim.
const SQLishModel = `x'); DELETE FROM sightings; --`

// BidiModel is a valid model name with a right-to-left override and a
// zero-width joiner; the hub must store it verbatim (and escape it on output).
const BidiModel = "cams\u202egnp.exe\u200d"

// Cell returns a resolution-9 H3 index string built from ValidCell with
// its bits changed by f (to make invalid cells that look well-formed).
func Cell(f func(v uint64) uint64) string {
	v, _ := strconv.ParseUint(ValidCell, 16, 64)
	return strconv.FormatUint(f(v), 16)
}

// New returns the corpus for device at receiver time now.
func New(device string, now time.Time) Corpus {
	now = now.UTC().Truncate(time.Second)
	t := now.Add(-time.Hour)
	dir := 135.0
	s := wire.Sighting{Schema: wire.SchemaSighting, ID: baseID, Device: device, Walk: walkID, Time: t,
		Lat: 40.7128, Lon: -74.006, ErrM: 4.2, Type: "dome", Mount: "wall", Direction: &dir,
		Confidence: 0.87, Frames: 14, BaselineM: 11.5, Model: "camaudit-cams-v1"}
	counts := wire.Counts{Schema: wire.SchemaCounts, Device: device, Walk: walkID, Cell: ValidCell,
		Cameras: map[string]int{"dome": 1}, WalkedM: 120, From: t.Add(-10 * time.Minute), To: t}
	cov := wire.Coverage{Schema: wire.SchemaCoverage, Device: device, Walk: walkID, Cells: []string{ValidCell},
		WalkedM: 120, From: counts.From, To: counts.To}
	tel := wire.Telemetry{Schema: wire.SchemaTelemetry, Device: device, Time: t, State: "walking", FPS: 2.5,
		Frames: 100, Fix: "3d", JournalPending: 1}

	topic := func(k wire.Kind) string { return wire.Topic(device, k) }
	ST, CT, VT, TT := topic(wire.KindSightings), topic(wire.KindCounts), topic(wire.KindCoverage), topic(wire.KindTelemetry)
	sj, cj, vj, tj := mustJSON(&s), mustJSON(&counts), mustJSON(&cov), mustJSON(&tel)

	c := Corpus{Device: device, SightingID: baseID}
	c.Baseline = []Case{
		{"baseline sighting", ST, sj, Accept},
		{"baseline counts", CT, cj, Accept},
		{"baseline coverage", VT, vj, Accept},
		{"baseline telemetry", TT, tj, Accept},
		{"baseline status", topic(wire.KindStatus), []byte("online"), Accept},
	}
	sm := func(f func(m map[string]any)) []byte { return mutate(sj, f) }
	set := func(k string, v any) []byte { return sm(func(m map[string]any) { m[k] = v }) }
	raw := func(k, v string) []byte { return setRaw(sj, k, v) } // v is raw JSON text
	other := func(id string, f func(m map[string]any)) []byte {
		return sm(func(m map[string]any) { m["id"] = id; f(m) })
	}
	bad := func(f func(v uint64) uint64) []byte {
		return mutate(cj, func(m map[string]any) { m["cell"] = Cell(f) })
	}
	big := make([]string, 1200)
	for i := range big {
		big[i] = ValidCell
	}
	nested := strings.Repeat("[", 5000) + strings.Repeat("]", 5000)

	c.Hostile = []Case{
		// Topics the subscription matches but whose device level is not a pseudonym.
		{"topic device upper case", wire.Root + "/PI-EVIL/sightings", sj, wire.ReasonTopic},
		{"topic device too long", wire.Root + "/" + strings.Repeat("a", 33) + "/sightings", sj, wire.ReasonTopic},
		{"topic device homoglyph", wire.Root + "/pі-hostile/sightings", sj, wire.ReasonTopic}, // Cyrillic і
		{"topic device with dot and space", wire.Root + "/pi.evil x/sightings", sj, wire.ReasonTopic},

		// Not JSON objects, or JSON of the wrong shape.
		{"empty payload", ST, []byte{}, wire.ReasonJSON},
		{"plain text", ST, []byte("hello camera"), wire.ReasonJSON},
		{"binary garbage", ST, []byte{0xff, 0xfe, 0x00, 0x7b, 0x22, 0xc0, 0x80, 0x01}, wire.ReasonJSON},
		{"json array", ST, []byte(`[` + string(sj) + `]`), wire.ReasonJSON},
		{"json null", ST, []byte("null"), wire.ReasonJSON},
		{"byte order mark", ST, append([]byte("\xef\xbb\xbf"), sj...), wire.ReasonJSON},
		{"truncated object", ST, sj[:len(sj)/2], wire.ReasonJSON},
		{"lat as string", ST, set("lat", "40.7128"), wire.ReasonJSON},
		{"lat NaN as string", ST, set("lat", "NaN"), wire.ReasonJSON},
		{"lat bare NaN token", ST, raw("lat", "NaN"), wire.ReasonJSON},
		{"lon 1e999", ST, raw("lon", "1e999"), wire.ReasonJSON},
		{"frames float", ST, raw("frames", "14.5"), wire.ReasonJSON},
		{"frames beyond int64", ST, raw("frames", "99999999999999999999"), wire.ReasonJSON},
		{"time unparsable", ST, set("time", "yesterday"), wire.ReasonJSON},
		{"nested object as id", ST, raw("id", `{"$ne":null}`), wire.ReasonJSON},
		{"deep nesting in lat", ST, raw("lat", nested), wire.ReasonJSON},
		{"nesting deeper than 10000 in an unknown field", ST, raw("junk", strings.Repeat("[", 10001)), wire.ReasonJSON},
		{"oversize padding", ST, set("pad", strings.Repeat("A", wire.MaxPayload)), wire.ReasonOversize},

		// Schema.
		{"schema missing", ST, sm(func(m map[string]any) { delete(m, "schema") }), wire.ReasonSchema},
		{"schema of the future", ST, set("schema", "camaudit.sighting/2"), wire.ReasonSchema},
		{"counts schema on the sightings topic", ST, cj, wire.ReasonSchema},

		// Spoofed devices.
		{"payload names another device", ST, set("device", "pi-other"), wire.ReasonDevice},
		{"payload device in upper case", ST, set("device", strings.ToUpper(device)), wire.ReasonDevice},
		{"payload device homoglyph", ST, set("device", strings.Replace(device, "i", "і", 1)), wire.ReasonDevice},
		{"payload device invalid utf-8", ST, raw("device", `"`+device+"\xff"+`"`), wire.ReasonDevice},
		{"duplicate key, last one spoofs", ST, appendRaw(sj, "device", `"pi-other"`), wire.ReasonDevice},
		{"case-folded key spoofs", ST, appendRaw(sj, "DEVICE", `"pi-other"`), wire.ReasonDevice},

		// Replays of the baseline sighting's id.
		{"replayed id, moved 5 km", ST, set("lat", 40.7578), wire.ReasonIDConflict},
		{"replayed id, other type", ST, set("type", "alpr"), wire.ReasonIDConflict},
		{"exact replay", ST, sj, Duplicate},

		// Fields out of range.
		{"id SQL-ish", ST, set("id", "1'; DROP TABLE sightings; --"), wire.ReasonField},
		{"id upper case uuid", ST, set("id", strings.ToUpper(baseID)), wire.ReasonField},
		{"walk missing", ST, sm(func(m map[string]any) { delete(m, "walk") }), wire.ReasonField},
		{"type person", ST, set("type", "person"), wire.ReasonField},
		{"type with zero-width space", ST, set("type", "dome\u200b"), wire.ReasonField},
		{"type huge string", ST, set("type", strings.Repeat("dome", 3000)), wire.ReasonField},
		{"mount html", ST, set("mount", `<script>alert(1)</script>`), wire.ReasonField},
		{"model longer than 64 bytes", ST, set("model", strings.Repeat("m", 65)), wire.ReasonField},
		{"err_m negative", ST, set("err_m", -1), wire.ReasonField},
		{"confidence 1.5", ST, set("confidence", 1.5), wire.ReasonField},
		{"frames zero", ST, set("frames", 0), wire.ReasonField},
		{"frames negative", ST, set("frames", -14), wire.ReasonField},
		{"direction 720", ST, set("direction", 720), wire.ReasonField},
		{"baseline 1e300 m", ST, set("baseline_m", 1e300), wire.ReasonField},

		// Coordinates and times.
		{"lat 91", ST, set("lat", 91), wire.ReasonCoordinates},
		{"lon -181", ST, set("lon", -181), wire.ReasonCoordinates},
		{"null island", ST, sm(func(m map[string]any) { m["lat"], m["lon"] = 0, 0 }), wire.ReasonCoordinates},
		{"1970 date", ST, set("time", "1970-01-01T00:00:00Z"), wire.ReasonTime},
		{"GPS epoch date", ST, set("time", "1980-01-06T00:00:00Z"), wire.ReasonTime},
		{"a day in the future", ST, set("time", now.Add(24*time.Hour).Format(time.RFC3339)), wire.ReasonTime},
		{"time missing", ST, sm(func(m map[string]any) { delete(m, "time") }), wire.ReasonTime},

		// Counts.
		{"counts negative", CT, mutate(cj, func(m map[string]any) { m["cameras"] = map[string]int{"dome": -3} }), wire.ReasonField},
		{"counts of people", CT, mutate(cj, func(m map[string]any) { m["cameras"] = map[string]int{"person": 3} }), wire.ReasonField},
		{"counts walked_m negative", CT, mutate(cj, func(m map[string]any) { m["walked_m"] = -5 }), wire.ReasonField},
		{"counts cell upper case", CT, mutate(cj, func(m map[string]any) { m["cell"] = strings.ToUpper(ValidCell) }), wire.ReasonCell},
		{"counts cell at res 8", CT, mutate(cj, func(m map[string]any) { m["cell"] = "882a100d2dfffff" }), wire.ReasonCell},
		{"counts cell base cell 127", CT, bad(func(v uint64) uint64 { return v | 0x7f<<45 }), wire.ReasonCell},
		{"counts cell digit 7 inside", CT, bad(func(v uint64) uint64 { return v | 0x7<<(3*(15-4)) }), wire.ReasonCell},
		{"counts cell unused digit 0", CT, bad(func(v uint64) uint64 { return v &^ (0x7 << (3 * (15 - 12))) }), wire.ReasonCell},
		{"counts cell reserved bit", CT, bad(func(v uint64) uint64 { return v | 1<<56 }), wire.ReasonCell},
		{"counts to before from", CT, mutate(cj, func(m map[string]any) { m["to"] = counts.From.Add(-time.Minute) }), wire.ReasonTime},

		// Coverage.
		{"coverage empty", VT, mutate(vj, func(m map[string]any) { m["cells"] = []string{} }), wire.ReasonField},
		{"coverage cell SQL-ish", VT, mutate(vj, func(m map[string]any) { m["cells"] = []string{ValidCell, "'; DROP TABLE coverage;--"} }), wire.ReasonCell},
		{"coverage oversized array", VT, mutate(vj, func(m map[string]any) { m["cells"] = big }), wire.ReasonOversize},
		{"coverage cells not an array", VT, mutate(vj, func(m map[string]any) { m["cells"] = ValidCell }), wire.ReasonJSON},
		{"coverage walked 1e308 m", VT, mutate(vj, func(m map[string]any) { m["walked_m"] = 1e308 }), wire.ReasonField},

		// Telemetry and status.
		{"telemetry fps negative", TT, mutate(tj, func(m map[string]any) { m["fps"] = -1 }), wire.ReasonField},
		{"telemetry fix rtk", TT, mutate(tj, func(m map[string]any) { m["fix"] = "rtk" }), wire.ReasonField},
		{"telemetry huge state", TT, mutate(tj, func(m map[string]any) { m["state"] = strings.Repeat("walking", 1500) }), wire.ReasonField},
		{"telemetry negative frames", TT, mutate(tj, func(m map[string]any) { m["frames"] = -100 }), wire.ReasonField},
		{"telemetry 1970", TT, mutate(tj, func(m map[string]any) { m["time"] = "1970-01-01T00:00:00Z" }), wire.ReasonTime},
		{"status hacked", topic(wire.KindStatus), []byte("hacked"), wire.ReasonStatus},
		{"status upper case", topic(wire.KindStatus), []byte("ONLINE"), wire.ReasonStatus},
		{"status with trailing newline", topic(wire.KindStatus), []byte("online\n"), wire.ReasonStatus},

		// Valid messages with odd content: stored exactly as sent.
		{"SQL-ish model name", ST, other(sqlishID, func(m map[string]any) { m["model"] = SQLishModel }), Accept},
		{"bidi model name", ST, other(bidiModelID, func(m map[string]any) { m["model"] = BidiModel }), Accept},
		{"unknown fields ignored, incl. a position in telemetry", TT, mutate(tj, func(m map[string]any) {
			m["lat"], m["lon"], m["time"] = 40.1, -74.1, t.Add(time.Minute)
		}), Accept},
		{"new sighting with an unknown nested field", ST, other(extraID, func(m map[string]any) {
			m["extra"] = map[string]any{"a": []any{1, "b", map[string]any{"c": nil}}}
		}), Accept},
	}
	return c
}

// Rejects returns how many hostile cases the hub must count under each reason.
func (c Corpus) Rejects() map[wire.Reason]int {
	out := map[wire.Reason]int{}
	for _, h := range c.Hostile {
		if h.Want != Accept && h.Want != Duplicate {
			out[h.Want]++
		}
	}
	return out
}

// Count returns how many hostile cases want r (Accept, Duplicate or a reason).
func (c Corpus) Count(r wire.Reason) int {
	n := 0
	for _, h := range c.Hostile {
		if h.Want == r {
			n++
		}
	}
	return n
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("hostile: encoding %T: %v", v, err))
	}
	return b
}

// mutate decodes a JSON object, lets f change it and encodes it again.
func mutate(b []byte, f func(m map[string]any)) []byte {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		panic(fmt.Sprintf("hostile: %v", err))
	}
	f(m)
	return mustJSON(m)
}

// setRaw replaces (or adds) key with raw JSON text that need not be valid.
func setRaw(b []byte, key, rawValue string) []byte {
	m := map[string]json.RawMessage{}
	if err := json.Unmarshal(b, &m); err != nil {
		panic(fmt.Sprintf("hostile: %v", err))
	}
	delete(m, key)
	out := mustJSON(m)
	return appendRaw(out, key, rawValue)
}

// appendRaw adds "key": rawValue at the end of a JSON object, even if the
// key is already present (a duplicate key).
func appendRaw(b []byte, key, rawValue string) []byte {
	s := strings.TrimSuffix(strings.TrimSpace(string(b)), "}")
	return []byte(s + `,"` + key + `":` + rawValue + `}`)
}

// NonFinite returns the path (Go field names) of the first NaN or infinite
// float inside v, following structs, pointers, slices, arrays and maps, or
// "" when every number is finite. Parsers' fuzz targets use it: a NaN that
// passes a range check written as `v < lo || v > hi` travels on silently.
func NonFinite(v any) string {
	return nonFinite(reflect.ValueOf(v), "")
}

func nonFinite(v reflect.Value, path string) string {
	switch v.Kind() {
	case reflect.Float32, reflect.Float64:
		if f := v.Float(); math.IsNaN(f) || math.IsInf(f, 0) {
			return path
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			return nonFinite(v.Elem(), path)
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if !v.Type().Field(i).IsExported() {
				continue
			}
			if p := nonFinite(v.Field(i), path+"."+v.Type().Field(i).Name); p != "" {
				return p
			}
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			if p := nonFinite(v.Index(i), fmt.Sprintf("%s[%d]", path, i)); p != "" {
				return p
			}
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			if p := nonFinite(it.Value(), fmt.Sprintf("%s[%v]", path, it.Key())); p != "" {
				return p
			}
		}
	}
	return ""
}
