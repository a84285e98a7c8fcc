package faulttest

import (
	"math/rand/v2"
	"path/filepath"
	"sort"
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

	dir := t.TempDir()
	jdir, out := filepath.Join(dir, "journal"), filepath.Join(dir, "sightings.geojson")
	args := walk.ReplayArgs("pi-killed", "--broker", b.URL(), "--journal", jdir, "--out", out, "--flush-timeout", "120s")
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0x6b696c6c))
	t.Logf("clean replay: %d sightings in %v; kill times drawn in [5%%, 65%%] of it (seed %d)", len(want), d.Round(time.Millisecond), seed)
	damaged := 0
	for kill := 1; kill <= 20; kill++ {
		p := Start(t, bins.Camaudit, args...)
		at := time.Duration((0.05 + 0.6*rng.Float64()) * float64(d))
		select {
		case <-p.Done():
			t.Fatalf("kill %d: the replay finished within %v, before it could be killed (clean replay took %v):\n%s", kill, at, d, p.Output())
		case <-time.After(at):
		}
		p.Kill()
		if strings.Contains(p.Output(), "damaged region") {
			damaged++
		}
		t.Logf("kill %2d after %4d ms; hub has %d sightings", kill, at.Milliseconds(), len(db.SightingIDs(t, "pi-killed")))
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
		stored = db.SightingIDs(t, "pi-killed")
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
		return db.Count(t, `SELECT count(*) FROM walks WHERE device = ?`, "pi-killed") == 1
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
