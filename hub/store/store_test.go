package store

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camaudit/camaudit/internal/pgtest"
	"github.com/camaudit/camaudit/wire"
)

var t0 = time.Date(2026, 11, 26, 18, 0, 0, 0, time.UTC)

// eachDialect runs f against a fresh SQLite file and a fresh PostgreSQL
// database: the same suite for both stores.
func eachDialect(t *testing.T, f func(t *testing.T, url string)) {
	t.Run("sqlite", func(t *testing.T) {
		f(t, filepath.Join(t.TempDir(), "hub.db"))
	})
	t.Run("postgres", func(t *testing.T) {
		c := pgtest.Start(t)
		f(t, c.NewDatabase(t))
	})
}

func open(t *testing.T, url string) *Store {
	t.Helper()
	s, err := Open(context.Background(), url)
	if err != nil {
		t.Fatalf("Open(%s): %v", url, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func sighting(n int, device, walk string) *wire.Sighting {
	d := float64(n % 360)
	return &wire.Sighting{
		Schema: wire.SchemaSighting, ID: fmt.Sprintf("0193a1b2-c3d4-7e5f-8a9b-%012x", n), Device: device,
		Walk: walk, Time: t0.Add(time.Duration(n) * time.Second), Lat: 52.52 + float64(n)*1e-4, Lon: 13.40,
		ErrM: 4, Type: "dome", Mount: "wall", Direction: &d, Confidence: 0.9, Frames: 10, BaselineM: 8, Model: "m",
	}
}

const walkA = "0193a1b2-0000-7000-8000-00000000000a"

func TestStore(t *testing.T) {
	eachDialect(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s := open(t, url)
		if v, err := s.Version(ctx); err != nil || v != SchemaVersion() {
			t.Fatalf("Version = %d, %v; want %d", v, err, SchemaVersion())
		}

		t.Run("sightings are idempotent by id", func(t *testing.T) {
			a, b := sighting(1, "pi-aaa", walkA), sighting(2, "pi-aaa", walkA)
			changed := *a
			changed.Lat += 0.01
			res, err := s.Write(ctx, []Message{{"pi-aaa", a}, {"pi-aaa", b}, {"pi-aaa", a}}, nil, t0)
			if err != nil {
				t.Fatal(err)
			}
			first := res
			if res.Inserted != 2 || res.Duplicates != 1 || res.Conflicts != 0 {
				t.Fatalf("first write = %+v, want 2 inserted, 1 duplicate", res)
			}
			res, err = s.Write(ctx, []Message{{"pi-aaa", b}, {"pi-aaa", &changed}}, map[wire.Reason]int{wire.ReasonJSON: 2}, t0)
			if err != nil {
				t.Fatal(err)
			}
			if res.Inserted != 0 || res.Duplicates != 1 || res.Conflicts != 1 {
				t.Fatalf("second write = %+v, want 1 duplicate, 1 conflict", res)
			}
			got, err := s.SightingsAfter(ctx, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 || got[0].ID != a.ID || got[1].ID != b.ID || got[0].Seq >= got[1].Seq {
				t.Fatalf("SightingsAfter(0) = %+v, want a then b", got)
			}
			if len(first.Stored) != 2 || first.Stored[0].Seq != got[0].Seq || first.Stored[1].Seq != got[1].Seq || first.Stored[1].ID != b.ID {
				t.Errorf("Result.Stored = %+v, want a and b with their seqs %d, %d", first.Stored, got[0].Seq, got[1].Seq)
			}
			if got[0].Lat != a.Lat || *got[0].Direction != *a.Direction || !got[0].Time.Equal(a.Time) || got[0].Mount != "wall" {
				t.Errorf("stored sighting %+v differs from %+v", got[0].Sighting, *a)
			}
			if Digest(&got[0].Sighting) != Digest(a) {
				t.Errorf("digest of the stored sighting differs from the published one")
			}
			rest, err := s.SightingsAfter(ctx, got[0].Seq, 100)
			if err != nil || len(rest) != 1 || rest[0].ID != b.ID {
				t.Fatalf("SightingsAfter(first) = %v, %v; want only b", rest, err)
			}
			c, err := s.Counters(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if c.Duplicates != 2 || c.Rejected[string(wire.ReasonIDConflict)] != 1 || c.Rejected[string(wire.ReasonJSON)] != 2 || c.Accepted["sightings"] != 2 {
				t.Errorf("counters = %+v; want 2 duplicates, 1 id_conflict, 2 bad_json, 2 sightings", c)
			}
		})

		t.Run("counts coverage status telemetry", func(t *testing.T) {
			cellA, cellB := "891f1d48177ffff", "891f1d4817bffff"
			walkB := "0193a1b2-0000-7000-8000-00000000000b"
			msgs := []Message{
				{"pi-aaa", &wire.Counts{Schema: wire.SchemaCounts, Device: "pi-aaa", Walk: walkA, Cell: cellA, Cameras: map[string]int{"dome": 3, "bullet": 1}, WalkedM: 300, From: t0, To: t0.Add(time.Minute)}},
				{"pi-aaa", &wire.Coverage{Schema: wire.SchemaCoverage, Device: "pi-aaa", Walk: walkA, Cells: []string{cellA, cellB}, WalkedM: 900, From: t0, To: t0.Add(time.Hour)}},
				{"pi-bbb", &wire.Coverage{Schema: wire.SchemaCoverage, Device: "pi-bbb", Walk: walkB, Cells: []string{cellA}, WalkedM: 400, From: t0.Add(24 * time.Hour), To: t0.Add(25 * time.Hour)}},
				{"pi-aaa", wire.Status(wire.StatusOnline)},
				{"pi-aaa", &wire.Telemetry{Schema: wire.SchemaTelemetry, Device: "pi-aaa", Time: t0, FPS: 4, Fix: "3d"}},
			}
			// Delivered twice: a redelivery changes nothing.
			for i := 0; i < 2; i++ {
				if _, err := s.Write(ctx, msgs, nil, t0.Add(2*time.Hour)); err != nil {
					t.Fatal(err)
				}
			}
			cov, err := s.Coverage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(cov) != 2 || cov[0].Cell != cellA || cov[0].Walks != 2 || cov[0].Devices != 2 || !cov[0].First.Equal(t0) || !cov[0].Last.Equal(t0.Add(25*time.Hour)) || cov[1].Walks != 1 {
				t.Fatalf("Coverage = %+v", cov)
			}
			cnt, err := s.Counts(ctx)
			if err != nil || len(cnt) != 1 || cnt[0].MaxSeen != 4 || cnt[0].Walks != 1 {
				t.Fatalf("Counts = %+v, %v", cnt, err)
			}
			devs, err := s.Devices(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(devs) != 2 || devs[0].Device != "pi-aaa" || devs[0].Status != "online" || devs[0].Telemetry == nil || devs[0].Telemetry.FPS != 4 || devs[0].Walks != 1 {
				t.Fatalf("Devices = %+v", devs)
			}
			if n, err := s.Walks(ctx); err != nil || n != 2 {
				t.Fatalf("Walks = %d, %v; want 2", n, err)
			}
		})

		t.Run("reviews", func(t *testing.T) {
			id := sighting(1, "pi-aaa", walkA).ID
			r1, err := s.AddReview(ctx, Review{Camera: id, Decision: DecisionReject, Note: "a lamp"})
			if err != nil {
				t.Fatal(err)
			}
			r2, err := s.AddReview(ctx, Review{Camera: id, Decision: DecisionConfirm})
			if err != nil {
				t.Fatal(err)
			}
			if r2.Seq <= r1.Seq {
				t.Fatalf("review seqs %d, %d not increasing", r1.Seq, r2.Seq)
			}
			got, err := s.ReviewsAfter(ctx, r1.Seq)
			if err != nil || len(got) != 1 || got[0].Decision != DecisionConfirm {
				t.Fatalf("ReviewsAfter = %+v, %v", got, err)
			}
			if _, err := s.AddReview(ctx, Review{Camera: id, Decision: "delete"}); err == nil || !strings.Contains(err.Error(), "delete") {
				t.Errorf("bad decision: err = %v, want one naming it", err)
			}
		})

		t.Run("districts", func(t *testing.T) {
			d := []District{{Name: "Mitte", Geometry: json.RawMessage(`{"type":"Polygon","coordinates":[[[13,52],[14,52],[14,53],[13,52]]]}`)}}
			for i := 0; i < 2; i++ {
				if err := s.ReplaceDistricts(ctx, d, t0); err != nil {
					t.Fatal(err)
				}
			}
			got, err := s.Districts(ctx)
			if err != nil || len(got) != 1 || got[0].Name != "Mitte" || string(got[0].Properties) != "{}" {
				t.Fatalf("Districts = %+v, %v", got, err)
			}
		})

		t.Run("reopen keeps data and schema", func(t *testing.T) {
			s2 := open(t, url)
			got, err := s2.SightingsAfter(ctx, 0, 10)
			if err != nil || len(got) != 2 {
				t.Fatalf("after reopen: %d sightings, %v; want 2", len(got), err)
			}
		})

		t.Run("concurrent writers are followed without gaps", func(t *testing.T) {
			// Several writers (as several hub instances would be) and one
			// follower reading "after seq": the follower must see every
			// sighting, because seqs become visible in allocation order.
			writers := []*Store{open(t, url), open(t, url), open(t, url)}
			const perWriter, batch = 300, 10
			var wg sync.WaitGroup
			for w, st := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < perWriter; i += batch {
						var msgs []Message
						for j := i; j < i+batch; j++ {
							msgs = append(msgs, Message{"pi-ccc", sighting(1000+w*perWriter+j, "pi-ccc", walkA)})
						}
						if _, err := st.Write(ctx, msgs, nil, t0); err != nil {
							t.Error(err)
							return
						}
					}
				}()
			}
			seen := map[string]bool{}
			var cursor int64
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			finished := false
			for !finished {
				select {
				case <-done:
					finished = true
				default:
				}
				for {
					got, err := s.SightingsAfter(ctx, cursor, 50)
					if err != nil {
						t.Fatal(err)
					}
					for _, g := range got {
						if g.Device == "pi-ccc" {
							seen[g.ID] = true
						}
						cursor = g.Seq
					}
					if len(got) < 50 {
						break
					}
				}
			}
			if want := len(writers) * perWriter; len(seen) != want {
				t.Fatalf("follower saw %d new sightings, want %d", len(seen), want)
			}
		})
	})
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct{ url, want string }{
		{"", "empty"},
		{"mysql://db/x", "unsupported scheme"},
		{"/nonexistent-dir/x/hub.db", "does not exist"},
		{"postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2", "connecting"},
	} {
		_, err := Open(ctx, tc.url)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%q) = %v, want an error containing %q", tc.url, err, tc.want)
		}
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hub.db")
	s := open(t, path)
	if _, err := s.w.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied) VALUES (999, 0)`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(ctx, path); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Open of a newer schema = %v, want a clear error", err)
	}
}
