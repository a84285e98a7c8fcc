package journal

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/camaudit/camaudit/wire"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func sighting(i int) Sighting {
	return Sighting{Key: fmt.Sprintf("dome@%d", i), Sighting: wire.Sighting{
		Schema: wire.SchemaSighting, ID: fmt.Sprintf("0190a000-0000-7000-8000-%012d", i), Device: "pi-test",
		Walk: "0190a000-0000-7000-8000-000000000000", Time: time.Date(2026, 5, 1, 12, 0, i, 0, time.UTC),
		Lat: 52.5 + float64(i)*1e-4, Lon: 13.4, ErrM: 2, Type: "dome", Confidence: 0.8, Frames: 7, BaselineM: 6, Model: "m",
	}}
}

func mustOpen(t *testing.T, dir string) (*Journal, Report) {
	t.Helper()
	j, rep, err := Open(dir, quiet())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return j, rep
}

func addN(t *testing.T, j *Journal, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		s := sighting(i)
		p, _ := json.Marshal(s.Sighting)
		if err := j.AddSighting(s, p); err != nil {
			t.Fatalf("AddSighting %d: %v", i, err)
		}
	}
}

func TestPutAckReopen(t *testing.T) {
	dir := t.TempDir()
	j, _ := mustOpen(t, dir)
	addN(t, j, 0, 5)
	if err := j.Put(Message{ID: "counts:w:c1", Kind: wire.KindCounts, Payload: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if err := j.Ack(sighting(1).Sighting.ID); err != nil {
		t.Fatal(err)
	}
	if err := j.Ack("unknown-id"); err != nil {
		t.Fatal(err)
	}
	j.Close()

	j2, rep := mustOpen(t, dir)
	defer j2.Close()
	if rep.Corrupt != 0 {
		t.Errorf("clean journal reported %d corrupt regions", rep.Corrupt)
	}
	p := j2.Pending()
	if len(p) != 5 {
		t.Fatalf("pending after reopen = %d, want 5 (6 queued, 1 acked)", len(p))
	}
	if p[0].ID != sighting(0).Sighting.ID || p[4].ID != "counts:w:c1" {
		t.Errorf("pending order = %v ... %v", p[0].ID, p[4].ID)
	}
	for _, m := range p {
		if m.ID == sighting(1).Sighting.ID {
			t.Errorf("acked message %s still pending", m.ID)
		}
	}
	if got := len(j2.Sightings("")); got != 5 {
		t.Errorf("sightings kept for dedup = %d, want 5 (acked ones too)", got)
	}
}

// TestDamage cuts and garbles the log the ways a crash or a bad disk can,
// and checks that every good record survives and the damage is reported.
func TestDamage(t *testing.T) {
	build := func(t *testing.T) (string, []byte, []int) {
		dir := t.TempDir()
		j, _ := mustOpen(t, dir)
		var ends []int
		for i := 0; i < 6; i++ {
			addN(t, j, i, i+1)
			ends = append(ends, int(j.Size()))
		}
		j.Close()
		data, err := os.ReadFile(filepath.Join(dir, logName))
		if err != nil {
			t.Fatal(err)
		}
		return dir, data, ends
	}
	tests := []struct {
		name       string
		damage     func(data []byte, ends []int) []byte
		want       int // sightings surviving
		wantRegion int
		wantExtra  int // pending messages beyond want (the damage hit a sighting record, not its message)
	}{
		{"torn last record", func(d []byte, e []int) []byte { return d[:e[4]+17] }, 5, 1, 0},
		{"header only", func(d []byte, e []int) []byte { return d[:e[4]+5] }, 5, 1, 0},
		{"garbage tail", func(d []byte, e []int) []byte { return append(d, []byte("\x00\xffgarbage\xc4\x7a\x01\x02")...) }, 6, 1, 0},
		{"zeroed tail (preallocated blocks)", func(d []byte, e []int) []byte { return append(d, make([]byte, 4096)...) }, 6, 1, 0},
		{"flipped bit in the middle", func(d []byte, e []int) []byte {
			c := bytes.Clone(d)
			c[e[2]+40] ^= 0x10
			return c
		}, 5, 1, 1},
		{"torn middle record followed by good ones", func(d []byte, e []int) []byte {
			return append(bytes.Clone(d[:e[1]+30]), d[e[2]:]...)
		}, 5, 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, data, ends := build(t)
			bad := tc.damage(data, ends)
			if err := os.WriteFile(filepath.Join(dir, logName), bad, 0o600); err != nil {
				t.Fatal(err)
			}
			j, rep := mustOpen(t, dir)
			if rep.Corrupt != tc.wantRegion || rep.BytesLost == 0 {
				t.Errorf("report = %+v, want %d damaged region(s) with bytes lost", rep, tc.wantRegion)
			}
			if got := len(j.Sightings("")); got != tc.want {
				t.Errorf("sightings surviving = %d, want %d", got, tc.want)
			}
			if got := j.PendingCount(); got != tc.want+tc.wantExtra {
				t.Errorf("pending surviving = %d, want %d", got, tc.want+tc.wantExtra)
			}
			// Appending after repair works, and a reopen is clean.
			addN(t, j, 100, 101)
			j.Close()
			j2, rep2 := mustOpen(t, dir)
			defer j2.Close()
			if rep2.Corrupt != 0 {
				t.Errorf("journal still damaged after repair: %+v", rep2)
			}
			if got := len(j2.Sightings("")); got != tc.want+1 {
				t.Errorf("after repair and append: %d sightings, want %d", got, tc.want+1)
			}
		})
	}
}

func TestWalkState(t *testing.T) {
	dir := t.TempDir()
	j, _ := mustOpen(t, dir)
	w := Walk{ID: "w1", Source: "replay:abc", State: "walking", Started: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	if err := j.SaveWalk(w, false); err != nil {
		t.Fatal(err)
	}
	w.Cells = map[string]float64{"891f1d48177ffff": 42}
	if err := j.SaveWalk(w, true); err != nil {
		t.Fatal(err)
	}
	j.Close()
	j, _ = mustOpen(t, dir)
	got, ok := j.OpenWalk()
	if !ok || got.ID != "w1" || got.Cells["891f1d48177ffff"] != 42 || !got.Started.Equal(w.Started) {
		t.Fatalf("OpenWalk = %+v, %v", got, ok)
	}
	if err := j.EndWalk(got, Message{ID: "coverage:w1", Kind: wire.KindCoverage, Payload: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	j.Close()
	j, _ = mustOpen(t, dir)
	defer j.Close()
	if _, ok := j.OpenWalk(); ok {
		t.Error("ended walk still open")
	}
	if w, ok := j.WalkBySource("replay:abc"); !ok || w.State != "ended" {
		t.Errorf("WalkBySource = %+v, %v; want ended", w, ok)
	}
	if j.PendingCount() != 1 {
		t.Errorf("coverage not queued with the walk end")
	}
}

func TestCompaction(t *testing.T) {
	dir := t.TempDir()
	j, _ := mustOpen(t, dir)
	j.compactAfter = 50
	addN(t, j, 0, 110)
	for i := 0; i < 100; i++ {
		if err := j.Ack(sighting(i).Sighting.ID); err != nil {
			t.Fatal(err)
		}
	}
	if j.PendingCount() != 10 {
		t.Fatalf("pending = %d", j.PendingCount())
	}
	size := j.Size()
	j.Close()
	st, _ := os.Stat(filepath.Join(dir, logName))
	if st.Size() != size {
		t.Errorf("size mismatch %d vs %d", st.Size(), size)
	}
	j, rep := mustOpen(t, dir)
	defer j.Close()
	if j.PendingCount() != 10 || len(j.Sightings("")) != 110 || rep.Corrupt != 0 {
		t.Errorf("after compaction: pending %d, sightings %d, report %+v", j.PendingCount(), len(j.Sightings("")), rep)
	}
	// The acks were compacted away: the log holds 110 sightings, the pending
	// msgs and the acks since the last compaction, far fewer than
	// 110 sightings + 110 msgs + 100 acks.
	if rep.Records > 110+60+50 {
		t.Errorf("log not compacted: %d records", rep.Records)
	}
}

func TestDiskFull(t *testing.T) {
	dir := t.TempDir()
	j, _ := mustOpen(t, dir)
	defer j.Close()
	full := true
	j.write = func(f *os.File, b []byte) (int, error) {
		if full {
			// A partial write, then ENOSPC, as a real full disk does.
			n, _ := f.Write(b[:len(b)/2])
			return n, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
		}
		return f.Write(b)
	}
	// Optional data is dropped and said so.
	err := j.Put(Message{ID: "evidence-1", Kind: wire.KindSightings, Payload: []byte(`{}`), Optional: true})
	if err == nil || j.Dropped() != 1 {
		t.Fatalf("optional put on a full disk: err %v, dropped %d", err, j.Dropped())
	}
	// A sighting: the reserve is released and the write retried.
	released := false
	j.write = func(f *os.File, b []byte) (int, error) {
		if _, err := os.Stat(filepath.Join(dir, "reserve")); err != nil {
			released = true
			return f.Write(b)
		}
		return 0, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	}
	addN(t, j, 0, 1)
	if !released || j.PendingCount() != 1 {
		t.Fatalf("sighting on a full disk: released %v, pending %d", released, j.PendingCount())
	}
	// Still full with no reserve: a clear error, nothing half-written.
	j.write = func(f *os.File, b []byte) (int, error) {
		n, _ := f.Write(b[:3])
		return n, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	}
	s := sighting(1)
	if err := j.AddSighting(s, []byte(`{}`)); err == nil {
		t.Fatal("AddSighting on a full disk without reserve succeeded")
	}
	j.write = func(f *os.File, b []byte) (int, error) { return f.Write(b) }
	addN(t, j, 2, 3)
	j.Close()
	j2, rep := mustOpen(t, dir)
	defer j2.Close()
	if rep.Corrupt != 0 || j2.PendingCount() != 2 {
		t.Errorf("after disk-full episode: report %+v, pending %d, want clean with 2", rep, j2.PendingCount())
	}
}
