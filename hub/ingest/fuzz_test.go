package ingest

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/camaudit/camaudit/hub/store"
	"github.com/camaudit/camaudit/internal/hostile"
	"github.com/camaudit/camaudit/wire"
)

// FuzzIngest pushes arbitrary messages through the hub's ingest path
// (validation, batching, a real SQLite store) after the hostile corpus's
// baseline is stored. Whatever arrives, the batch is stored and acked, the
// message is counted exactly once (accepted, duplicate or rejected by
// reason), a rejected message changes no stored row, and an accepted
// sighting is stored exactly as decoded.
//
//	go test -run '^$' -fuzz FuzzIngest -fuzztime 1m ./hub/ingest
func FuzzIngest(f *testing.F) {
	now := time.Now().UTC()
	corpus := hostile.New("pi-hostile", now)
	for _, h := range corpus.Hostile {
		f.Add(h.Topic, h.Payload)
	}
	path := filepath.Join(f.TempDir(), "hub.db")
	st, err := store.Open(context.Background(), path)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=query_only(1)&_pragma=busy_timeout(10000)")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	in := New(Config{Broker: "tcp://unused:1", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, st)
	ctx := context.Background()
	base := make([]inbound, len(corpus.Baseline))
	for i, h := range corpus.Baseline {
		base[i] = inbound{topic: h.Topic, payload: h.Payload}
	}
	if !in.flush(ctx, base) {
		f.Fatal("storing the baseline failed")
	}
	if s := in.Stats(); s.Accepted != int64(len(base)) {
		f.Fatalf("baseline: %+v", s)
	}

	f.Fuzz(func(t *testing.T, topic string, payload []byte) {
		before := in.Stats()
		rowsBefore := rowCounts(t, db)
		acked := 0
		t0 := time.Now()
		if !in.flush(ctx, []inbound{{topic: topic, payload: payload, ack: func() { acked++ }}}) {
			t.Fatal("flush failed")
		}
		if acked != 1 {
			t.Fatalf("message acked %d times", acked)
		}
		after := in.Stats()
		var rejected int64
		for r, n := range after.Rejected {
			rejected += n - before.Rejected[r]
		}
		accepted, dup := after.Accepted-before.Accepted, after.Duplicates-before.Duplicates
		if after.Received-before.Received != 1 || accepted+dup+rejected != 1 {
			t.Fatalf("one message counted as accepted %d, duplicate %d, rejected %d", accepted, dup, rejected)
		}
		_, m, derr := wire.Decode(topic, payload, t0)
		if _, _, e := wire.Decode(topic, payload, time.Now()); (e == nil) != (derr == nil) {
			return // a time at the "future" limit while the batch was written: either answer is right
		}
		rowsAfter := rowCounts(t, db)
		if derr != nil || rejected == 1 {
			if rowsAfter != rowsBefore {
				t.Fatalf("a rejected message (%v) changed the store: %v -> %v", derr, rowsBefore, rowsAfter)
			}
			if derr == nil && after.Rejected[wire.ReasonIDConflict]-before.Rejected[wire.ReasonIDConflict] != 1 {
				t.Fatalf("a decodable message rejected for %+v", after.Rejected)
			}
			return
		}
		if s, ok := m.(*wire.Sighting); ok {
			got := storedDigest(t, db, s.ID)
			if got != store.Digest(s) {
				t.Fatalf("sighting %s stored with digest %q, want %q", s.ID, got, store.Digest(s))
			}
			if accepted == 1 && rowsAfter[0] != rowsBefore[0]+1 {
				t.Fatalf("an accepted sighting did not add one row: %v -> %v", rowsBefore, rowsAfter)
			}
			if dup == 1 && rowsAfter[0] != rowsBefore[0] {
				t.Fatalf("a duplicate added a row: %v -> %v", rowsBefore, rowsAfter)
			}
		}
	})
}

// rowCounts returns the number of rows of the tables messages write to.
func rowCounts(t *testing.T, db *sql.DB) [4]int {
	t.Helper()
	var n [4]int
	for i, table := range []string{"sightings", "counts", "walks", "coverage"} {
		if err := db.QueryRow("SELECT count(*) FROM " + table).Scan(&n[i]); err != nil {
			t.Fatalf("counting %s: %v", table, err)
		}
	}
	return n
}

func storedDigest(t *testing.T, db *sql.DB, id string) string {
	t.Helper()
	var d string
	if err := db.QueryRow("SELECT digest FROM sightings WHERE id = ?", id).Scan(&d); err != nil {
		t.Fatalf("reading sighting %s: %v", id, err)
	}
	return d
}
