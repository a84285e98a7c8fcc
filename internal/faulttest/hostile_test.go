package faulttest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/camaudit/camaudit/internal/brokertest"
	"github.com/camaudit/camaudit/internal/hostile"
	"github.com/camaudit/camaudit/wire"
)

func mqttClient(t *testing.T, url, id string) mqtt.Client {
	t.Helper()
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID(id).SetAutoReconnect(false))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connecting %s to %s: %v", id, url, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

func publish(t *testing.T, c mqtt.Client, topic string, payload []byte) {
	t.Helper()
	if tok := c.Publish(topic, 1, false, payload); !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
		t.Fatalf("publishing to %.60q: %v", topic, tok.Error())
	}
}

// TestHostilePayloads publishes the hostile corpus (internal/hostile: more
// than 80 malformed, spoofed, replayed and out-of-range messages) through
// a real Mosquitto to a running hub. The hub keeps running (healthz), counts
// every reject under the reason the corpus names (/api/stats), stores
// nothing wrongly (the store holds exactly the valid messages, as sent) and
// its read-only API and exports stay well-formed.
func TestHostilePayloads(t *testing.T) {
	t.Parallel()
	b := brokertest.Start(t, "")
	dbPath := filepath.Join(t.TempDir(), "hub.db")
	hub := StartHub(t, bins.Hub, HubOptions{DB: dbPath, Broker: b.URL(), ClientID: "hub-hostile"})
	db := OpenDB(t, dbPath)
	c := hostile.New("pi-hostile", time.Now())
	pub := mqttClient(t, b.URL(), "attacker")

	for _, h := range c.Baseline {
		publish(t, pub, h.Topic, h.Payload)
	}
	WaitFor(t, 30*time.Second, "the baseline", func() bool {
		return hub.Ingest().Received >= int64(len(c.Baseline))
	})
	base := hub.Stats()
	for _, h := range c.Hostile {
		publish(t, pub, h.Topic, h.Payload)
	}
	total := int64(len(c.Baseline) + len(c.Hostile))
	WaitFor(t, 60*time.Second, "every hostile message to be counted", func() bool {
		return hub.Ingest().Received >= total
	})
	time.Sleep(300 * time.Millisecond) // a stray extra message would show now
	in := hub.Ingest()
	if in.Received != total {
		t.Errorf("the hub received %d messages, %d were published", in.Received, total)
	}
	st := hub.Stats()
	wantRej := c.Rejects()
	for r, n := range wantRej {
		if got := st.Rejected[string(r)]; got != int64(n) {
			t.Errorf("rejected as %s: %d, want %d", r, got, n)
		}
	}
	for r, n := range st.Rejected {
		if _, ok := wantRej[wire.Reason(r)]; !ok {
			t.Errorf("unexpected reject reason %s (%d)", r, n)
		}
	}
	if d := st.Duplicates - base.Duplicates; d != int64(c.Count(hostile.Duplicate)) {
		t.Errorf("duplicates %d, want %d", d, c.Count(hostile.Duplicate))
	}

	// Stored: the baseline sighting untouched, plus the valid odd ones, verbatim.
	wantIDs := map[string]bool{c.SightingID: true}
	for _, h := range append(c.Baseline, c.Hostile...) {
		if h.Want != hostile.Accept || !strings.HasSuffix(h.Topic, "/sightings") {
			continue
		}
		var s wire.Sighting
		if err := json.Unmarshal(h.Payload, &s); err != nil {
			t.Fatal(err)
		}
		wantIDs[s.ID] = true
		var model string
		var lat float64
		if err := db.QueryRow(`SELECT model, lat FROM sightings WHERE id = ?`, s.ID).Scan(&model, &lat); err != nil {
			t.Errorf("%s: valid sighting %s not stored: %v", h.Name, s.ID, err)
		} else if model != s.Model || lat != s.Lat {
			t.Errorf("%s: stored model %q lat %v, sent %q %v", h.Name, model, lat, s.Model, s.Lat)
		}
	}
	ids := db.SightingIDs(t, "pi-hostile")
	if len(ids) != len(wantIDs) || db.Count(t, `SELECT count(*) FROM sightings`) != len(wantIDs) {
		t.Errorf("the store holds sightings %v, want exactly %v", ids, wantIDs)
	}
	var lat float64
	if err := db.QueryRow(`SELECT lat FROM sightings WHERE id = ?`, c.SightingID).Scan(&lat); err != nil || lat != 40.7128 {
		t.Errorf("the baseline sighting was changed by a replay of its id: lat %v, %v", lat, err)
	}
	for table, n := range map[string]int{"counts": 1, "walks": 1, "coverage": 1} {
		if got := db.Count(t, `SELECT count(*) FROM `+table); got != n {
			t.Errorf("table %s has %d rows, want %d (only the baseline)", table, got, n)
		}
	}
	var cell string
	if err := db.QueryRow(`SELECT cell FROM coverage`).Scan(&cell); err != nil || cell != hostile.ValidCell {
		t.Errorf("coverage cell %q (%v), want %s", cell, err, hostile.ValidCell)
	}
	var tel string
	if err := db.QueryRow(`SELECT telemetry FROM devices WHERE device = ?`, "pi-hostile").Scan(&tel); err != nil {
		t.Errorf("telemetry not stored: %v", err)
	} else if strings.Contains(tel, `"lat"`) || strings.Contains(tel, "40.1") {
		t.Errorf("telemetry stored with a position: %s", tel)
	}
	if n := db.Count(t, `SELECT count(*) FROM devices WHERE device <> ?`, "pi-hostile"); n != 0 {
		t.Errorf("%d devices other than pi-hostile were recorded (spoofed ids)", n)
	}

	// Still serving, every public endpoint answers well-formed output.
	for _, p := range []string{"/healthz", "/api/cameras", "/api/cells", "/api/coverage", "/api/devices", "/api/stats",
		"/export/cameras.geojson", "/export/cameras.csv", "/export/cameras.osm"} {
		code, body, err := hub.Do(http.MethodGet, p, "", nil)
		if err != nil || code != http.StatusOK {
			t.Errorf("GET %s after the attack: %d %v", p, code, err)
			continue
		}
		if strings.HasSuffix(p, ".csv") || strings.HasSuffix(p, ".osm") {
			continue
		}
		if !json.Valid(body) {
			t.Errorf("GET %s: not valid JSON: %.200s", p, body)
		}
	}
	if hub.Proc().Exited() {
		t.Fatalf("the hub died:\n%s", hub.Logs())
	}
	t.Logf("%d hostile payloads (+%d valid baseline) through Mosquitto: %d rejected by reason %v, %d duplicate, %d odd but valid stored verbatim; hub healthy",
		len(c.Hostile), len(c.Baseline), sum(wantRej), st.Rejected, c.Count(hostile.Duplicate), c.Count(hostile.Accept))
}

func sum(m map[wire.Reason]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// TestReviewTokenAndReadOnlyAPI: the review endpoints refuse requests
// without the right bearer token (and change nothing); every public path
// refuses POST, PUT, PATCH and DELETE; a hub without a token refuses
// reviews altogether.
func TestReviewTokenAndReadOnlyAPI(t *testing.T) {
	t.Parallel()
	const token = "0123456789abcdef-review-token"
	b := brokertest.Start(t, "")
	dbPath := filepath.Join(t.TempDir(), "hub.db")
	hub := StartHub(t, bins.Hub, HubOptions{DB: dbPath, Broker: b.URL(), ClientID: "hub-token", Token: token})
	c := hostile.New("pi-token", time.Now())
	pub := mqttClient(t, b.URL(), "device")
	for _, h := range c.Baseline {
		publish(t, pub, h.Topic, h.Payload)
	}
	var cams struct {
		Features []struct {
			ID string `json:"id"`
		} `json:"features"`
	}
	WaitFor(t, 30*time.Second, "the camera", func() bool {
		_, err := hub.GetJSON("/api/cameras", &cams)
		return err == nil && len(cams.Features) == 1
	})
	cam := cams.Features[0].ID
	review := "/api/cameras/" + cam + "/review"
	body := []byte(`{"decision":"reject","note":"not a camera"}`)
	districts := []byte(`{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"x"},"geometry":{"type":"Polygon","coordinates":[[[-74.01,40.71],[-74.0,40.71],[-74.0,40.72],[-74.01,40.71]]]}}]}`)
	for _, tc := range []struct {
		name, method, path, auth string
		body                     []byte
	}{
		{"review without a token", "POST", review, "", body},
		{"review with a wrong token", "POST", review, "Bearer wrong-token-0123456789", body},
		{"review with the token as basic auth", "POST", review, "Basic " + token, body},
		{"review with a token prefix", "POST", review, "Bearer " + token[:10], body},
		{"review with the token lower-case scheme", "POST", review, "bearer " + token, body},
		{"districts without a token", "POST", "/api/districts", "", districts},
		{"auth check without a token", "GET", "/api/auth", "", nil},
	} {
		code, resp := rawDo(t, hub, tc.method, tc.path, tc.auth, tc.body)
		if code != http.StatusUnauthorized {
			t.Errorf("%s: %d %s, want 401", tc.name, code, resp)
		}
	}
	var one struct {
		Properties struct {
			Status string `json:"status"`
			Review string `json:"review"`
		} `json:"properties"`
	}
	if _, err := hub.GetJSON("/api/cameras/"+cam, &one); err != nil || one.Properties.Review != "" {
		t.Fatalf("refused reviews changed the camera: %+v %v", one, err)
	}
	if code, resp := rawDo(t, hub, "POST", review, "Bearer "+token, body); code != http.StatusOK {
		t.Fatalf("review with the token: %d %s", code, resp)
	}
	if _, err := hub.GetJSON("/api/cameras/"+cam, &one); err != nil || one.Properties.Review != "reject" {
		t.Errorf("the accepted review is not applied: %+v %v", one, err)
	}

	public := []string{"/healthz", "/api/cameras", "/api/cameras/" + cam, "/api/cells", "/api/coverage", "/api/stats",
		"/api/devices", "/api/districts", "/export/cameras.geojson", "/export/cameras.csv", "/export/cameras.osm",
		"/", "/index.html", "/review.html", "/config.json"}
	refused := 0
	for _, p := range public {
		for _, m := range []string{"POST", "PUT", "PATCH", "DELETE"} {
			if (p == "/api/districts" && m == "POST") || p == "/api/exposure" {
				continue // a token endpoint (above)
			}
			code, resp := rawDo(t, hub, m, p, "", []byte(`{"type":"FeatureCollection","features":[]}`))
			if code != http.StatusMethodNotAllowed && code != http.StatusUnauthorized {
				t.Errorf("%s %s: %d %.100s, want 405 or 401", m, p, code, resp)
			}
			refused++
		}
	}
	if code, resp := rawDo(t, hub, "POST", "/api/nothing", "", nil); code != http.StatusNotFound {
		t.Errorf("POST to an unknown API path: %d %s, want 404", code, resp)
	}
	if _, err := hub.GetJSON("/api/cameras/"+cam, &one); err != nil || one.Properties.Review != "reject" {
		t.Errorf("writes to public paths changed the camera: %+v %v", one, err)
	}

	// A hub without a token has reviews off.
	noTok := StartHub(t, bins.Hub, HubOptions{DB: filepath.Join(t.TempDir(), "hub.db")})
	if code, resp := rawDo(t, noTok, "POST", review, "Bearer "+token, body); code != http.StatusForbidden {
		t.Errorf("review on a hub without a token: %d %s, want 403", code, resp)
	}
	t.Logf("7 unauthorised review/upload requests refused with 401; %d writes to %d public paths refused with 405/401", refused, len(public))
}

func rawDo(t *testing.T, h *Hub, method, path, auth string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, h.URL+path, strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 512)
	n, _ := resp.Body.Read(buf)
	b.Write(buf[:n])
	return resp.StatusCode, fmt.Sprintf("%.200s", b.String())
}
