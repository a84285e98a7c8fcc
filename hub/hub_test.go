package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math/rand"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/google/uuid"

	"github.com/camaudit/camaudit/geo"
	"github.com/camaudit/camaudit/hub/registry"
	"github.com/camaudit/camaudit/internal/brokertest"
	"github.com/camaudit/camaudit/internal/pgtest"
	"github.com/camaudit/camaudit/wire"
)

var origin = geo.LatLon{Lat: 40.7128, Lon: -74.0060}

// eachStore runs f with a SQLite file and with a PostgreSQL database.
func eachStore(t *testing.T, f func(t *testing.T, db string)) {
	t.Run("sqlite", func(t *testing.T) { f(t, filepath.Join(t.TempDir(), "hub.db")) })
	t.Run("postgres", func(t *testing.T) { f(t, pgtest.Start(t).NewDatabase(t)) })
}

type running struct {
	url  string
	hub  *Hub
	stop func()
}

func startHub(t testing.TB, cfg Config) *running {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listener = ln
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	h, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	r := &running{url: "http://" + ln.Addr().String(), hub: h}
	stopped := false
	r.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("hub Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("the hub did not shut down within 30 s")
		}
	}
	t.Cleanup(r.stop)
	return r
}

func (r *running) get(t testing.TB, path string, v any) {
	t.Helper()
	resp, err := http.Get(r.url + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// device is a simulated camaudit device publishing over MQTT.
type device struct {
	t    *testing.T
	name string
	c    mqtt.Client
	rng  *rand.Rand
}

func newDevice(t *testing.T, broker, name string, seed int64) *device {
	opts := mqtt.NewClientOptions().AddBroker(broker).SetClientID(name).
		SetWill(wire.Topic(name, wire.KindStatus), wire.StatusOffline, 1, true)
	c := mqtt.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("%s connect: %v", name, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	d := &device{t: t, name: name, c: c, rng: rand.New(rand.NewSource(seed))}
	d.raw(wire.Topic(name, wire.KindStatus), []byte(wire.StatusOnline), true)
	return d
}

func (d *device) raw(topic string, payload []byte, retain bool) {
	d.t.Helper()
	if tok := d.c.Publish(topic, 1, retain, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		d.t.Fatalf("%s publish: %v", d.name, tok.Error())
	}
}

func (d *device) send(m wire.Message) {
	d.t.Helper()
	b, err := wire.Encode(m, time.Now())
	if err != nil {
		d.t.Fatal(err)
	}
	d.raw(wire.Topic(d.name, wire.KindOf(m)), b, false)
}

// camera positions along three streets, metres east/north of origin.
func street(n int) [][2]float64 {
	var out [][2]float64
	for i := 0; i < 5; i++ {
		out = append(out, [2]float64{float64(i) * 40, float64(n) * 300})
	}
	return out
}

// walk publishes one walk along a street: a sighting per camera (with a few
// metres of error), counts and coverage. It returns the sightings sent.
func (d *device) walk(streetN int, types []string) []*wire.Sighting {
	walkID := uuid.Must(uuid.NewV7()).String()
	enu := geo.NewENU(origin)
	start := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	var sent []*wire.Sighting
	for i, p := range street(streetN) {
		ll := enu.FromLocal(p[0]+d.rng.NormFloat64()*2, p[1]+d.rng.NormFloat64()*2)
		dir := 180.0
		s := &wire.Sighting{Schema: wire.SchemaSighting, ID: uuid.Must(uuid.NewV7()).String(), Device: d.name, Walk: walkID,
			Time: start.Add(time.Duration(i) * time.Minute), Lat: ll.Lat, Lon: ll.Lon, ErrM: 3, Type: types[i%len(types)],
			Mount: "wall", Direction: &dir, Confidence: 0.9, Frames: 12, BaselineM: 9, Model: "camaudit-cams-v1"}
		d.send(s)
		sent = append(sent, s)
	}
	line := []geo.LatLon{enu.FromLocal(-20, float64(streetN)*300), enu.FromLocal(180, float64(streetN)*300)}
	cells := geo.CellsAlong(line, geo.CellRes)
	for _, c := range cells {
		d.send(&wire.Counts{Schema: wire.SchemaCounts, Device: d.name, Walk: walkID, Cell: c, Cameras: map[string]int{"dome": 1}, WalkedM: 100, From: start, To: start.Add(time.Hour)})
	}
	d.send(&wire.Coverage{Schema: wire.SchemaCoverage, Device: d.name, Walk: walkID, Cells: cells, WalkedM: 200, From: start, To: start.Add(time.Hour)})
	return sent
}

type cameraFC struct {
	Features []struct {
		Properties struct {
			ID     string `json:"id"`
			Status string `json:"status"`
			Walks  int    `json:"walks"`
		} `json:"properties"`
	} `json:"features"`
}

type stats struct {
	Cameras         int            `json:"cameras"`
	Sightings       int            `json:"sightings"`
	Duplicates      int            `json:"duplicates"`
	Rejected        map[string]int `json:"rejected_messages"`
	CamerasByStatus map[string]int `json:"cameras_by_status"`
	ByDevice        map[string]struct {
		Sightings int `json:"sightings"`
	} `json:"by_device"`
	Walks int `json:"walks"`
}

// TestThreeDevicesEndToEnd: sightings from three simulated devices published
// through a real Mosquitto appear in the API; duplicates are stored once; a
// second walk of a street upgrades its cameras to confirmed; malformed and
// oversized payloads are rejected and counted.
func TestThreeDevicesEndToEnd(t *testing.T) {
	eachStore(t, func(t *testing.T, db string) {
		b := brokertest.Start(t, "")
		h := startHub(t, Config{DB: db, Broker: b.URL(), ClientID: "hub-e2e", Token: "0123456789abcdef-token"})
		waitFor(t, "the hub to subscribe", func() bool { return h.hub.Ingester().Stats().Connected })

		devs := []*device{newDevice(t, b.URL(), "pi-north", 1), newDevice(t, b.URL(), "pi-south", 2), newDevice(t, b.URL(), "pi-east", 3)}
		first := devs[0].walk(0, []string{"dome", "bullet"})
		devs[1].walk(1, []string{"ptz"})
		devs[2].walk(2, []string{"alpr", "dome"})
		// Redeliveries: the first device sends its sightings again.
		for _, s := range first {
			devs[0].send(s)
		}
		var st stats
		waitFor(t, "15 sightings and 5 duplicates", func() bool {
			h.get(t, "/api/stats", &st)
			return st.Sightings == 15 && st.Duplicates == 5
		})
		var fc cameraFC
		h.get(t, "/api/cameras", &fc)
		if len(fc.Features) != 15 || st.Cameras != 15 || st.CamerasByStatus["single"] != 15 {
			t.Fatalf("after one walk per street: %d cameras in the API, stats %+v; want 15 single", len(fc.Features), st)
		}
		for _, d := range devs {
			if st.ByDevice[d.name].Sightings != 5 {
				t.Errorf("stats by device %s = %+v, want 5 sightings", d.name, st.ByDevice[d.name])
			}
		}

		// A second walk of street 0, by another device: same 5 cameras, now confirmed.
		devs[1].walk(0, []string{"dome", "bullet"})
		waitFor(t, "5 confirmed cameras", func() bool {
			h.get(t, "/api/stats", &st)
			return st.Sightings == 20 && st.CamerasByStatus["confirmed"] == 5
		})
		h.get(t, "/api/cameras?status=confirmed", &fc)
		if st.Cameras != 15 || len(fc.Features) != 5 {
			t.Fatalf("after the second walk: %d cameras, %d confirmed in the API; want 15 and 5", st.Cameras, len(fc.Features))
		}
		for _, f := range fc.Features {
			if f.Properties.Walks != 2 {
				t.Errorf("confirmed camera %+v, want 2 walks", f.Properties)
			}
		}

		// Hostile and broken input: counted by reason, never stored, the hub carries on.
		bad := devs[2]
		bad.raw(wire.Topic(bad.name, wire.KindSightings), []byte(`{"schema":"camaudit.sighting/1","id":`), false)
		bad.raw(wire.Topic(bad.name, wire.KindSightings), bytes.Repeat([]byte("x"), wire.MaxPayload+100), false)
		bad.raw(wire.Topic(bad.name, wire.KindSightings), []byte("\x00\xff not json"), false)
		spoof := *first[0]
		spoof.ID = uuid.Must(uuid.NewV7()).String()
		b2, _ := json.Marshal(spoof) // says pi-north on pi-east's topic
		bad.raw(wire.Topic(bad.name, wire.KindSightings), b2, false)
		waitFor(t, "4 rejects", func() bool {
			h.get(t, "/api/stats", &st)
			return st.Rejected["bad_json"] == 2 && st.Rejected["oversize"] == 1 && st.Rejected["device_mismatch"] == 1
		})
		if st.Sightings != 20 {
			t.Errorf("rejected messages were stored: %d sightings, want 20", st.Sightings)
		}
		// The hub still ingests after the garbage.
		devs[2].walk(2, []string{"alpr", "dome"})
		waitFor(t, "street 2 confirmed", func() bool {
			h.get(t, "/api/stats", &st)
			return st.CamerasByStatus["confirmed"] == 10
		})
		var cov struct {
			Features []struct {
				Properties struct {
					Walks int `json:"walks"`
				} `json:"properties"`
			} `json:"features"`
		}
		h.get(t, "/api/coverage", &cov)
		maxWalks := 0
		for _, f := range cov.Features {
			maxWalks = max(maxWalks, f.Properties.Walks)
		}
		if len(cov.Features) == 0 || maxWalks != 2 {
			t.Errorf("coverage: %d cells, most walked %d times; want some, 2", len(cov.Features), maxWalks)
		}

		// A review through the API, then a restart: everything comes back from the store.
		req, _ := http.NewRequest("POST", h.url+"/api/cameras/"+first[0].ID+"/review", strings.NewReader(`{"decision":"reject"}`))
		req.Header.Set("Authorization", "Bearer 0123456789abcdef-token")
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("review: %v %v", err, resp.Status)
		}
		resp.Body.Close()
		h.stop()
		h2 := startHub(t, Config{DB: db})
		var st2 stats
		h2.get(t, "/api/stats", &st2)
		if st2.Sightings != 25 || st2.CamerasByStatus["rejected"] != 1 || st2.Cameras != 14 {
			t.Errorf("after restart: %+v; want 25 sightings, 1 rejected, 14 cameras", st2)
		}
	})
}

// TestSharedStoreInstancesAgree: two hubs on one PostgreSQL database, each
// taking half of the messages through a shared subscription, show the same
// cameras.
func TestSharedStoreInstancesAgree(t *testing.T) {
	db := pgtest.Start(t).NewDatabase(t)
	b := brokertest.Start(t, "")
	h1 := startHub(t, Config{DB: db, Broker: b.URL(), ClientID: "hub-1", Group: "hubs", Poll: 100 * time.Millisecond})
	h2 := startHub(t, Config{DB: db, Broker: b.URL(), ClientID: "hub-2", Group: "hubs", Poll: 100 * time.Millisecond})
	waitFor(t, "both hubs to subscribe", func() bool {
		return h1.hub.Ingester().Stats().Connected && h2.hub.Ingester().Stats().Connected
	})
	d1, d2 := newDevice(t, b.URL(), "pi-one", 1), newDevice(t, b.URL(), "pi-two", 2)
	for i := 0; i < 4; i++ {
		d1.walk(i, []string{"dome"})
		d2.walk(i, []string{"dome"})
	}
	var s1, s2 stats
	waitFor(t, "both hubs to see 40 sightings", func() bool {
		h1.get(t, "/api/stats", &s1)
		h2.get(t, "/api/stats", &s2)
		return s1.Sightings == 40 && s2.Sightings == 40
	})
	if r1, r2 := h1.hub.Ingester().Stats().Received, h2.hub.Ingester().Stats().Received; r1 == 0 || r2 == 0 {
		t.Errorf("the shared subscription did not split the load: hub 1 got %d, hub 2 %d messages", r1, r2)
	}
	var c1, c2 json.RawMessage
	h1.get(t, "/api/cameras", &c1)
	h2.get(t, "/api/cameras", &c2)
	if !bytes.Equal(c1, c2) {
		t.Errorf("the two hubs disagree:\n%s\n%s", c1, c2)
	}
	if s1.CamerasByStatus["confirmed"] != 20 {
		t.Errorf("stats %+v, want 20 confirmed cameras", s1)
	}
}

// registryAll selects the cameras the map shows (all but rejected).
func registryAll() registry.Filter {
	return registry.Filter{Statuses: []string{registry.StatusSingle, registry.StatusConfirmed}}
}
