package faulttest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camaudit/camaudit/firmware/journal"
	"github.com/camaudit/camaudit/internal/brokertest"
	"github.com/camaudit/camaudit/internal/fulldisk"
)

// TestReplayOnFullDisk replays a walk with the journal on a real tmpfs
// that is full to the last byte (the journal's 1 MiB reserve aside): the
// firmware releases the reserve, keeps every sighting, and says so; once
// space is freed, a restart publishes everything to the hub exactly once.
// With the reserve gone too, the replay stops with a clear error.
func TestReplayOnFullDisk(t *testing.T) {
	t.Parallel()
	want := reference(t)
	mnt := fulldisk.Mount(t, 2<<20)
	jdir := filepath.Join(mnt, "journal")
	j, _, err := journal.Open(jdir, nil) // creates the reserve, as on the device's first start
	if err != nil {
		t.Fatal(err)
	}
	j.Close()
	filler, n := fulldisk.Fill(t, mnt)
	out := filepath.Join(t.TempDir(), "sightings.geojson")
	var stderr strings.Builder
	cmd := exec.Command(bins.Camaudit, walk.ReplayArgs("pi-full", "--journal", jdir, "--out", out)...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("replay on a full disk (%d bytes of filler): %v\n%s", n, err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "released the reserve") {
		t.Errorf("the replay did not say it used the reserve:\n%s", stderr.String())
	}
	if _, err := os.Stat(filepath.Join(jdir, "reserve")); err == nil {
		t.Error("the reserve is still there: the disk was not full")
	}
	got := ReadSightings(t, out)
	if !sameKeys(want, got) {
		t.Fatalf("on a full disk the replay kept other sightings than a clean one:\nclean %v\nfull  %v", keys(want), keys(got))
	}

	// Space comes back; the device restarts with a broker and a hub.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	b := brokertest.Start(t, "")
	dbPath := filepath.Join(t.TempDir(), "hub.db")
	StartHub(t, bins.Hub, HubOptions{DB: dbPath, Broker: b.URL(), ClientID: "hub-full"})
	db := OpenDB(t, dbPath)
	if o := Run(t, bins.Camaudit, walk.ReplayArgs("pi-full", "--journal", jdir, "--out", out, "--broker", b.URL())...); !strings.Contains(o, "already replayed") || !strings.Contains(o, "journal empty") {
		t.Errorf("restart after the full disk:\n%s", o)
	}
	checkDelivered(t, db, "pi-full", out, want)

	// No reserve left and no space at all: a clear error, no crash.
	mnt2 := fulldisk.Mount(t, 1<<20)
	jdir2 := filepath.Join(mnt2, "journal")
	if err := os.MkdirAll(jdir2, 0o700); err != nil {
		t.Fatal(err)
	}
	fulldisk.Fill(t, mnt2)
	start := time.Now()
	o, err := exec.Command(bins.Camaudit, walk.ReplayArgs("pi-full-2", "--journal", jdir2, "--out", filepath.Join(t.TempDir(), "s.geojson"))...).CombinedOutput()
	if err == nil || !strings.Contains(string(o), "disk full") || !strings.Contains(string(o), jdir2) {
		t.Errorf("replay on a disk with no space and no reserve: err %v after %v, want a clear disk-full error naming %s:\n%s", err, time.Since(start), jdir2, o)
	}
	t.Logf("full disk: %d of %d sightings kept using the reserve, delivered once after space came back; no space at all: %q",
		len(got), len(want), lastLine(string(o)))
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
