package wire

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 11, 26, 19, 0, 0, 0, time.UTC)

func validSighting() *Sighting {
	dir := 135.0
	return &Sighting{
		Schema: SchemaSighting, ID: "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", Device: "pi-7f3a",
		Walk: "0193a1b2-0000-7000-8000-000000000001", Time: time.Date(2026, 11, 26, 18, 42, 14, 0, time.UTC),
		Lat: 40.7128, Lon: -74.006, ErrM: 4.2, Type: "dome", Mount: "wall", Direction: &dir,
		Confidence: 0.87, Frames: 14, BaselineM: 11.5, Model: "camaudit-cams-v1",
	}
}

func TestParseTopic(t *testing.T) {
	tests := []struct {
		topic  string
		device string
		kind   Kind
		ok     bool
	}{
		{"camaudit/v1/pi-7f3a/sightings", "pi-7f3a", KindSightings, true},
		{"camaudit/v1/pi-7f3a/status", "pi-7f3a", KindStatus, true},
		{"camaudit/v2/pi-7f3a/sightings", "", "", false},
		{"camaudit/v1/PI/sightings", "", "", false},
		{"camaudit/v1/ab/sightings", "", "", false},
		{"camaudit/v1/pi-7f3a/sightings/x", "", "", false},
		{"camaudit/v1/pi-7f3a/photos", "", "", false},
		{"camaudit/v1/pi-7f3a", "", "", false},
	}
	for _, tc := range tests {
		d, k, err := ParseTopic(tc.topic)
		if (err == nil) != tc.ok || d != tc.device || k != tc.kind {
			t.Errorf("ParseTopic(%q) = %q, %q, %v; want %q, %q, ok=%v", tc.topic, d, k, err, tc.device, tc.kind, tc.ok)
		}
		if err != nil && ReasonOf(err) != ReasonTopic {
			t.Errorf("ParseTopic(%q) reason %q, want %q", tc.topic, ReasonOf(err), ReasonTopic)
		}
	}
	if got := Filter(KindSightings, "hubs"); got != "$share/hubs/camaudit/v1/+/sightings" {
		t.Errorf("Filter with group = %q", got)
	}
}

func TestDecodeSighting(t *testing.T) {
	good, err := Encode(validSighting(), now)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	mutate := func(f func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(good, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, _ := json.Marshal(m)
		return b
	}
	tests := []struct {
		name    string
		topic   string
		payload []byte
		reason  Reason // "" = accepted
	}{
		{"valid", "camaudit/v1/pi-7f3a/sightings", good, ""},
		{"unknown field ignored", "camaudit/v1/pi-7f3a/sightings", mutate(func(m map[string]any) { m["extra"] = []int{1, 2} }), ""},
		{"spoofed device", "camaudit/v1/pi-0000/sightings", good, ReasonDevice},
		{"oversize", "camaudit/v1/pi-7f3a/sightings", []byte(`{"pad":"` + strings.Repeat("x", MaxPayload) + `"}`), ReasonOversize},
		{"not json", "camaudit/v1/pi-7f3a/sightings", []byte("hello"), ReasonJSON},
		{"array", "camaudit/v1/pi-7f3a/sightings", []byte("[1,2]"), ReasonJSON},
		{"wrong type", "camaudit/v1/pi-7f3a/sightings", mutate(func(m map[string]any) { m["lat"] = "40.7" }), ReasonJSON},
		{"wrong schema", "camaudit/v1/pi-7f3a/sightings", mutate(func(m map[string]any) { m["schema"] = "camaudit.sighting/2" }), ReasonSchema},
		{"no schema", "camaudit/v1/pi-7f3a/sightings", mutate(func(m map[string]any) { delete(m, "schema") }), ReasonSchema},
		{"bad id", "camaudit/v1/pi-7f3a/sightings", mutate(func(m map[string]any) { m["id"] = "1; DROP TABLE" }), ReasonField},
		{"lat out of range", "camaudit/v1/pi-7f3a/sightings", mutate(func(m map[string]any) { m["lat"] = 91 }), ReasonCoordinates},
		{"null island", "camaudit/v1/pi-7f3a/sightings", mutate(func(m map[string]any) { m["lat"] = 0; m["lon"] = 0 }), ReasonCoordinates},
		{"1970", "camaudit/v1/pi-7f3a/sightings", mutate(func(m map[string]any) { m["time"] = "1970-01-01T00:00:05Z" }), ReasonTime},
		{"future", "camaudit/v1/pi-7f3a/sightings", mutate(func(m map[string]any) { m["time"] = "2027-01-01T00:00:00Z" }), ReasonTime},
		{"bad time", "camaudit/v1/pi-7f3a/sightings", mutate(func(m map[string]any) { m["time"] = "yesterday" }), ReasonJSON},
		{"person type", "camaudit/v1/pi-7f3a/sightings", mutate(func(m map[string]any) { m["type"] = "person" }), ReasonField},
		{"bad mount", "camaudit/v1/pi-7f3a/sightings", mutate(func(m map[string]any) { m["mount"] = "tree" }), ReasonField},
		{"direction 400", "camaudit/v1/pi-7f3a/sightings", mutate(func(m map[string]any) { m["direction"] = 400 }), ReasonField},
		{"negative err", "camaudit/v1/pi-7f3a/sightings", mutate(func(m map[string]any) { m["err_m"] = -1 }), ReasonField},
		{"zero frames", "camaudit/v1/pi-7f3a/sightings", mutate(func(m map[string]any) { m["frames"] = 0 }), ReasonField},
		{"deep nesting", "camaudit/v1/pi-7f3a/sightings", []byte(strings.Repeat(`{"a":`, 2000) + "1" + strings.Repeat("}", 2000)), ReasonSchema},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, m, err := Decode(tc.topic, tc.payload, now)
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				if s := m.(*Sighting); s.Lat != 40.7128 || s.Type != "dome" {
					t.Fatalf("decoded %+v", s)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted, want reject %q", tc.reason)
			}
			if got := ReasonOf(err); got != tc.reason {
				t.Fatalf("reason %q (%v), want %q", got, err, tc.reason)
			}
		})
	}
}

func TestCheckCell(t *testing.T) {
	tests := []struct {
		cell string
		ok   bool
	}{
		{"892a100d2c3ffff", true},  // res 9
		{"882a100d2dfffff", false}, // res 8
		{"892A100D2C3FFFF", false}, // upper case
		{"892a100d2c3fff", false},
		{"zz2a100d2c3ffff", false},
	}
	for _, tc := range tests {
		if err := CheckCell(tc.cell); (err == nil) != tc.ok {
			t.Errorf("CheckCell(%q) = %v, want ok=%v", tc.cell, err, tc.ok)
		}
	}
}

func TestDecodeOthers(t *testing.T) {
	from := now.Add(-time.Hour)
	counts := &Counts{Schema: SchemaCounts, Device: "pi-7f3a", Walk: "0193a1b2-0000-7000-8000-000000000001",
		Cell: "892a100d2c3ffff", Cameras: map[string]int{"dome": 3, "bullet": 1}, WalkedM: 420, From: from, To: now}
	cov := &Coverage{Schema: SchemaCoverage, Device: "pi-7f3a", Walk: counts.Walk,
		Cells: []string{"892a100d2c3ffff"}, WalkedM: 420, From: from, To: now}
	tel := &Telemetry{Schema: SchemaTelemetry, Device: "pi-7f3a", Time: now, FPS: 9.5, Fix: "3d"}
	for _, m := range []Message{counts, cov, tel, Status(StatusOnline)} {
		b, err := Encode(m, now)
		if err != nil {
			t.Fatalf("Encode %T: %v", m, err)
		}
		if _, got, err := Decode(Topic("pi-7f3a", KindOf(m)), b, now); err != nil || KindOf(got) != KindOf(m) {
			t.Fatalf("Decode %T: %v, %v", m, got, err)
		}
	}
	counts.Cameras["person"] = 1
	if _, err := Encode(counts, now); err == nil {
		t.Fatal("counts with a person type encoded")
	}
	if _, _, err := Decode("camaudit/v1/pi-7f3a/status", []byte("hacked"), now); ReasonOf(err) != ReasonStatus {
		t.Fatalf("bad status: %v", err)
	}
}
