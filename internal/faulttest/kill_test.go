package faulttest

import (
	"math/rand/v2"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/camaudit/camaudit/internal/brokertest"
)

// TestKill9ReplayTwentyTimes kills the firmware (a replay publishing to a
// real Mosquitto, with a journal directory) with SIGKILL at 20 random
// moments, restarting it each time on the same journal, then lets it
// finish. Every sighting a clean, uninterrupted replay confirms must reach
// the hub exactly once: the hub stores the same sightings (by content) and
// exactly the ids the resumed walk confirmed, no orphan id from before a
// crash, none twice.
func TestKill9ReplayTwentyTimes(t *testing.T) {
	t.Parallel()
	b := brokertest.Start(t, "")
	dbPath := filepath.Join(t.TempDir(), "hub.db")
	hub := StartHub(t, bins.Hub, HubOptions{DB: dbPath, Broker: b.URL(), ClientID: "hub-kill9"})
	db := OpenDB(t, dbPath)

	// Reference: the same walk replayed twice without interruption. Both
	// runs confirm the same sightings (the pipeline is deterministic); the
	// faster one sets the time scale of the kills.
	var want []Sighting
	var d time.Duration
	for i := 0; i < 2; i++ {
		out := filepath.Join(t.TempDir(), "clean.geojson")
		t0 := time.Now()
		Run(t, bins.Camaudit, walk.ReplayArgs("pi-clean", "--out", out)...)
		if el := time.Since(t0); i == 0 || el < d {
			d = el
		}
		got := ReadSightings(t, out)
		if i == 1 && !sameKeys(want, got) {
			t.Fatalf("two clean replays disagree:\n%v\n%v", keys(want), keys(got))
		}
		want = got
	}
	if len(want) < 15 {
		t.Fatalf("the clean replay confirmed %d sightings, want >= 15", len(want))
	}

	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0x6b696c6c))
	t.Logf("clean replay: %d sightings in %v; kill times drawn in [5%%, 65%%] of it (seed %d)", len(want), d.Round(time.Millisecond), seed)
	// The clean replays set the time scale under whatever load the machine
	// had then; if it eases, a restarted replay can finish before its kill
	// is due, and the walk is over with fewer than 20 kills. Then the
	// series starts again on a fresh journal as another device, at half
	// the time scale (three series at most).
	var dev string
	var args []string
	var out string
	damaged := 0
	for series := 1; ; series++ {
		dev = "pi-killed-" + strconv.Itoa(series)
		dir := t.TempDir()
		out = filepath.Join(dir, "sightings.geojson")
		args = walk.ReplayArgs(dev, "--broker", b.URL(), "--journal", filepath.Join(dir, "journal"), "--out", out, "--flush-timeout", "120s")
		kills, early := 0, false
		for kills < 20 && !early {
			p := Start(t, bins.Camaudit, args...)
			at := time.Duration((0.05 + 0.6*rng.Float64()) * float64(d))
			select {
			case <-p.Done():
				early = true
				t.Logf("series %d, kill %d: the replay finished within %v, before it could be killed:\n%s", series, kills+1, at, p.Output())
				continue
			case <-time.After(at):
			}
			p.Kill()
			kills++
			if strings.Contains(p.Output(), "damaged region") {
				damaged++
			}
			t.Logf("series %d, kill %2d after %4d ms; hub has %d sightings", series, kills, at.Milliseconds(), len(db.SightingIDs(t, dev)))
		}
		if !early {
			break
		}
		if series == 3 {
			t.Fatalf("three series of kills ended early (time scale now %v): cannot kill the replay 20 times", d)
		}
		d /= 2
	}
	final := Run(t, bins.Camaudit, args...)
	if !strings.Contains(final, "journal empty") {
		t.Fatalf("the final replay did not empty its journal:\n%s", final)
	}
	got := ReadSightings(t, out)
	if !sameKeys(want, got) {
		t.Errorf("after 20 kills the walk confirmed other sightings than a clean replay:\nclean  %v\nkilled %v", keys(want), keys(got))
	}
	ids := map[string]bool{}
	for _, s := range got {
		ids[s.ID] = true
	}
	var stored map[string]int
	WaitFor(t, 60*time.Second, "the hub to store every sighting", func() bool {
		stored = db.SightingIDs(t, dev)
		return len(stored) >= len(ids)
	})
	lost, extra := 0, 0
	for id := range ids {
		if stored[id] != 1 {
			lost++
			t.Errorf("sighting %s stored %d times, want exactly once", id, stored[id])
		}
	}
	for id := range stored {
		if !ids[id] {
			extra++
			t.Errorf("the hub holds sighting %s, which the resumed walk does not have: a restart minted a new id", id)
		}
	}
	WaitFor(t, 30*time.Second, "the walk's coverage", func() bool {
		return db.Count(t, `SELECT count(*) FROM walks WHERE device = ?`, dev) == 1
	})
	st := hub.Stats()
	t.Logf("20 kills survived (%d restarts found a damaged journal record and skipped it): %d sightings confirmed as in a clean replay, %d stored, %d lost, %d orphans; %d redeliveries absorbed by the hub",
		damaged, len(got), len(stored), lost, extra, st.Duplicates)
}

func keys(ss []Sighting) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.Key()
	}
	sort.Strings(out)
	return out
}

func sameKeys(a, b []Sighting) bool {
	ka, kb := keys(a), keys(b)
	if len(ka) != len(kb) {
		return false
	}
	for i := range ka {
		if ka[i] != kb[i] {
			return false
		}
	}
	return true
}
