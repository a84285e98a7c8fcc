package faulttest

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camaudit/camaudit/internal/brokertest"
)

// checkDelivered waits until the hub's store holds exactly the sightings
// the device's replay confirmed (its --out file), each once, and its walk's
// counts and coverage; it fails on a missing, doubled or foreign id.
func checkDelivered(t *testing.T, db *DB, device, out string, want []Sighting) {
	t.Helper()
	got := ReadSightings(t, out)
	if !sameKeys(want, got) {
		t.Errorf("%s confirmed other sightings than a clean replay:\nclean %v\ngot   %v", device, keys(want), keys(got))
	}
	ids := map[string]bool{}
	for _, s := range got {
		ids[s.ID] = true
	}
	var stored map[string]int
	WaitFor(t, 150*time.Second, device+"'s sightings at the hub", func() bool {
		stored = db.SightingIDs(t, device)
		return len(stored) >= len(ids)
	})
	for id := range ids {
		if stored[id] != 1 {
			t.Errorf("%s: sighting %s stored %d times, want once", device, id, stored[id])
		}
	}
	for id := range stored {
		if !ids[id] {
			t.Errorf("%s: the hub holds sighting %s the device never confirmed", device, id)
		}
	}
	// Counts and coverage are journalled and sent too: every confirmed
	// camera is counted in one cell of the walk.
	WaitFor(t, 60*time.Second, device+"'s coverage at the hub", func() bool {
		return db.Count(t, `SELECT count(*) FROM walks WHERE device = ?`, device) == 1
	})
	if n := db.Count(t, `SELECT coalesce(sum(total), 0) FROM counts WHERE device = ?`, device); n != len(got) {
		t.Errorf("%s: the hub's counts add up to %d cameras, the walk confirmed %d", device, n, len(got))
	}
}

// TestBrokerOutageSixtySeconds stops Mosquitto for a real 60 s while a
// device replays a walk (once the hub has stored its first sightings, so
// the rest of the walk is confirmed while the broker is away). The device
// keeps everything in its journal and sends it when the broker returns;
// the hub reconnects to its persistent session. Nothing is lost, nothing is
// stored twice.
func TestBrokerOutageSixtySeconds(t *testing.T) {
	t.Parallel()
	want := reference(t)
	b := brokertest.Start(t, "")
	dbPath := filepath.Join(t.TempDir(), "hub.db")
	hub := StartHub(t, bins.Hub, HubOptions{DB: dbPath, Broker: b.URL(), ClientID: "hub-outage"})
	// Once (under a loaded make test) the hub stored nothing after the
	// broker came back: on a failure, say what hub and broker logged.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("hub log:\n%s\nbroker log:\n%s", tail(hub.Proc().Output(), 4000), tail(b.Log(), 2000))
		}
	})
	db := OpenDB(t, dbPath)
	dir := t.TempDir()
	out := filepath.Join(dir, "sightings.geojson")
	dev := Start(t, bins.Camaudit, walk.ReplayArgs("pi-outage", "--broker", b.URL(), "--journal", filepath.Join(dir, "journal"),
		"--out", out, "--flush-timeout", "300s")...)

	WaitFor(t, 60*time.Second, "the hub's first sighting", func() bool {
		if dev.Exited() {
			t.Fatalf("the replay ended before the outage:\n%s", dev.Output())
		}
		return len(db.SightingIDs(t, "pi-outage")) > 0
	})
	b.Stop()
	before := len(db.SightingIDs(t, "pi-outage"))
	if before >= len(want) {
		t.Fatalf("the hub had all %d sightings before the broker stopped: not mid-walk", before)
	}
	t.Logf("broker stopped with %d of %d sightings at the hub (replay still analysing frames: %v)", before, len(want), !dev.Exited())
	time.Sleep(60 * time.Second)
	if dev.Exited() {
		t.Fatalf("the replay gave up while the broker was away:\n%s", dev.Output())
	}
	restarted := time.Now()
	b.Start()
	if err := dev.Wait(240 * time.Second); err != nil {
		t.Fatalf("replay after the outage: %v\n%s", err, dev.Output())
	}
	t.Logf("the device emptied its journal %.1f s after the broker came back", time.Since(restarted).Seconds())
	checkDelivered(t, db, "pi-outage", out, want)
	if log := dev.Output(); !strings.Contains(log, "broker") {
		t.Errorf("the device did not say the broker was unreachable:\n%s", log)
	}
	t.Logf("after the outage the hub has %d sightings of %d (0 lost, 0 doubled); hub ingest %+v", len(db.SightingIDs(t, "pi-outage")), len(want), hub.Ingest())
}

// TestHubDownWhileDevicesPublish crashes the hub (SIGKILL) after it has
// subscribed with its persistent session, lets two devices publish whole
// walks (their journals empty: the broker acknowledged everything), then
// restarts the hub: the broker delivers what it queued for the hub's
// session (QoS 1), and every message is stored once.
func TestHubDownWhileDevicesPublish(t *testing.T) {
	t.Parallel()
	want := reference(t)
	b := brokertest.Start(t, "")
	dbPath := filepath.Join(t.TempDir(), "hub.db")
	hub := StartHub(t, bins.Hub, HubOptions{DB: dbPath, Broker: b.URL(), ClientID: "hub-away"})
	db := OpenDB(t, dbPath)
	hub.Kill()

	devices := []string{"pi-away-1", "pi-away-2"}
	outs := map[string]string{}
	var procs []*Proc
	for _, d := range devices {
		dir := t.TempDir()
		outs[d] = filepath.Join(dir, "sightings.geojson")
		procs = append(procs, Start(t, bins.Camaudit, walk.ReplayArgs(d, "--broker", b.URL(), "--journal", filepath.Join(dir, "journal"),
			"--out", outs[d], "--flush-timeout", "120s")...))
	}
	for i, p := range procs {
		if err := p.Wait(180 * time.Second); err != nil {
			t.Fatalf("%s: %v\n%s", devices[i], err, p.Output())
		}
		if !strings.Contains(p.Output(), "journal empty") {
			t.Fatalf("%s did not empty its journal:\n%s", devices[i], p.Output())
		}
	}
	for _, d := range devices {
		if n := len(db.SightingIDs(t, d)); n != 0 {
			t.Fatalf("the hub stored %d sightings of %s while it was down", n, d)
		}
	}
	hub.Start()
	for _, d := range devices {
		checkDelivered(t, db, d, outs[d], want)
	}
	in := hub.Ingest()
	t.Logf("hub back: received %d queued messages (%d accepted, %d duplicates), %d sightings per device, 0 lost", in.Received, in.Accepted, in.Duplicates, len(want))
	if in.Received == 0 {
		t.Error("the restarted hub received nothing from its persistent session")
	}
}
