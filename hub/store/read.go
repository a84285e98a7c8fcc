package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/camaudit/camaudit/wire"
)

// Sighting is a stored sighting with its sequence number and receive time.
type Sighting struct {
	Seq      int64
	Received time.Time
	wire.Sighting
}

// SightingsAfter returns up to limit sightings stored after sequence number
// seq, in sequence order. Following the store with the last returned Seq
// sees every sighting exactly once, in commit order.
func (s *Store) SightingsAfter(ctx context.Context, seq int64, limit int) ([]Sighting, error) {
	rows, err := s.r.QueryContext(ctx, s.q(`SELECT seq, id, device, walk, t, lat, lon, err_m, type, mount, direction,
		confidence, frames, baseline_m, model, received FROM sightings WHERE seq > ? ORDER BY seq LIMIT ?`), seq, limit)
	if err != nil {
		return nil, fmt.Errorf("reading sightings after %d from %s: %w", seq, s, err)
	}
	defer rows.Close()
	var out []Sighting
	for rows.Next() {
		var x Sighting
		var t, rec int64
		var dir sql.NullFloat64
		if err := rows.Scan(&x.Seq, &x.ID, &x.Device, &x.Walk, &t, &x.Lat, &x.Lon, &x.ErrM, &x.Type, &x.Mount, &dir,
			&x.Confidence, &x.Frames, &x.BaselineM, &x.Model, &rec); err != nil {
			return nil, fmt.Errorf("reading sightings from %s: %w", s, err)
		}
		x.Schema = wire.SchemaSighting
		x.Time = time.UnixMilli(t).UTC()
		x.Received = time.UnixMilli(rec).UTC()
		if dir.Valid {
			d := dir.Float64
			x.Direction = &d
		}
		out = append(out, x)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading sightings from %s: %w", s, err)
	}
	return out, nil
}

// Review decisions.
const (
	DecisionConfirm = "confirm" // a reviewer confirmed the camera
	DecisionReject  = "reject"  // a reviewer rejected it (not a camera, a fake, a duplicate...)
	DecisionClear   = "clear"   // a reviewer withdrew an earlier decision
)

// Review is a reviewer's decision about the camera whose registry id is
// Camera (the id of the camera's first sighting).
type Review struct {
	Seq      int64
	Camera   string
	Decision string
	At       time.Time
	Note     string
}

// AddReview stores a review and returns it with its sequence number.
func (s *Store) AddReview(ctx context.Context, r Review) (Review, error) {
	switch r.Decision {
	case DecisionConfirm, DecisionReject, DecisionClear:
	default:
		return r, fmt.Errorf("storing a review of %s: decision %q is not confirm|reject|clear", r.Camera, r.Decision)
	}
	if !wire.ValidID(r.Camera) {
		return r, fmt.Errorf("storing a review: camera id %q is not a UUID", r.Camera)
	}
	if len(r.Note) > 1000 {
		return r, fmt.Errorf("storing a review of %s: note longer than 1000 bytes", r.Camera)
	}
	if r.At.IsZero() {
		r.At = time.Now()
	}
	tx, err := s.beginWrite(ctx)
	if err != nil {
		return r, err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, s.q(`INSERT INTO reviews (camera, decision, at, note) VALUES (?, ?, ?, ?)`),
		r.Camera, r.Decision, r.At.UnixMilli(), r.Note)
	if err != nil {
		return r, fmt.Errorf("storing a review of %s in %s: %w", r.Camera, s, err)
	}
	if s.dialect == SQLite {
		r.Seq, err = res.LastInsertId()
	} else {
		err = tx.QueryRowContext(ctx, `SELECT MAX(seq) FROM reviews`).Scan(&r.Seq)
	}
	if err != nil {
		return r, fmt.Errorf("storing a review of %s in %s: %w", r.Camera, s, err)
	}
	if err := tx.Commit(); err != nil {
		return r, fmt.Errorf("storing a review of %s in %s: %w", r.Camera, s, err)
	}
	r.At = time.UnixMilli(r.At.UnixMilli()).UTC()
	return r, nil
}

// ReviewsAfter returns the reviews stored after sequence number seq, in order.
func (s *Store) ReviewsAfter(ctx context.Context, seq int64) ([]Review, error) {
	rows, err := s.r.QueryContext(ctx, s.q(`SELECT seq, camera, decision, at, note FROM reviews WHERE seq > ? ORDER BY seq`), seq)
	if err != nil {
		return nil, fmt.Errorf("reading reviews from %s: %w", s, err)
	}
	defer rows.Close()
	var out []Review
	for rows.Next() {
		var r Review
		var at int64
		if err := rows.Scan(&r.Seq, &r.Camera, &r.Decision, &at, &r.Note); err != nil {
			return nil, fmt.Errorf("reading reviews from %s: %w", s, err)
		}
		r.At = time.UnixMilli(at).UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}

// CellCoverage is how often one H3 cell was walked.
type CellCoverage struct {
	Cell    string
	Walks   int       // distinct walks whose coverage includes the cell
	Devices int       // distinct devices among them
	First   time.Time // start of the earliest of those walks
	Last    time.Time // end of the latest
}

// Coverage returns every walked cell with its walk counts and dates, ordered by cell.
func (s *Store) Coverage(ctx context.Context) ([]CellCoverage, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT c.cell, COUNT(*), COUNT(DISTINCT w.device), MIN(w.from_t), MAX(w.to_t)
		FROM coverage c JOIN walks w ON w.walk = c.walk GROUP BY c.cell ORDER BY c.cell`)
	if err != nil {
		return nil, fmt.Errorf("reading coverage from %s: %w", s, err)
	}
	defer rows.Close()
	var out []CellCoverage
	for rows.Next() {
		var c CellCoverage
		var first, last int64
		if err := rows.Scan(&c.Cell, &c.Walks, &c.Devices, &first, &last); err != nil {
			return nil, fmt.Errorf("reading coverage from %s: %w", s, err)
		}
		c.First, c.Last = time.UnixMilli(first).UTC(), time.UnixMilli(last).UTC()
		out = append(out, c)
	}
	return out, rows.Err()
}

// CellCounts is what devices reported about one cell in their counts messages.
type CellCounts struct {
	Cell    string
	Walks   int     // walks that reported counts for the cell
	MaxSeen int     // most cameras any one walk counted there
	WalkedM float64 // metres walked in the cell, summed over walks
}

// Counts returns, per cell, a summary of the devices' counts messages.
func (s *Store) Counts(ctx context.Context) ([]CellCounts, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT cell, COUNT(*), MAX(total), SUM(walked_m) FROM counts GROUP BY cell ORDER BY cell`)
	if err != nil {
		return nil, fmt.Errorf("reading counts from %s: %w", s, err)
	}
	defer rows.Close()
	var out []CellCounts
	for rows.Next() {
		var c CellCounts
		if err := rows.Scan(&c.Cell, &c.Walks, &c.MaxSeen, &c.WalkedM); err != nil {
			return nil, fmt.Errorf("reading counts from %s: %w", s, err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// Counters holds the message counters, summed over all days.
type Counters struct {
	Rejected   map[string]int64            // by reason
	Accepted   map[string]int64            // by kind
	Duplicates int64                       // redelivered sightings stored once
	ByDay      map[string]map[string]int64 // day -> counter name -> n
}

// Counters returns the message counters.
func (s *Store) Counters(ctx context.Context) (Counters, error) {
	c := Counters{Rejected: map[string]int64{}, Accepted: map[string]int64{}, ByDay: map[string]map[string]int64{}}
	rows, err := s.r.QueryContext(ctx, `SELECT name, day, n FROM counters`)
	if err != nil {
		return c, fmt.Errorf("reading counters from %s: %w", s, err)
	}
	defer rows.Close()
	for rows.Next() {
		var name, d string
		var n int64
		if err := rows.Scan(&name, &d, &n); err != nil {
			return c, fmt.Errorf("reading counters from %s: %w", s, err)
		}
		switch {
		case strings.HasPrefix(name, counterReject):
			c.Rejected[strings.TrimPrefix(name, counterReject)] += n
		case strings.HasPrefix(name, counterMessage):
			c.Accepted[strings.TrimPrefix(name, counterMessage)] += n
		case name == counterDuplicate:
			c.Duplicates += n
		}
		if c.ByDay[d] == nil {
			c.ByDay[d] = map[string]int64{}
		}
		c.ByDay[d][name] += n
	}
	return c, rows.Err()
}

// Device is what the hub knows about one device.
type Device struct {
	Device    string
	Status    string // online|offline|"" (never said)
	StatusAt  time.Time
	Telemetry *wire.Telemetry // latest, nil if none
	LastSeen  time.Time       // last message of any kind
	Walks     int             // walks with coverage
}

// Devices returns every device that sent an accepted message, by name.
func (s *Store) Devices(ctx context.Context) ([]Device, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT d.device, d.status, d.status_at, d.telemetry, d.last_seen,
		(SELECT COUNT(*) FROM walks w WHERE w.device = d.device) FROM devices d ORDER BY d.device`)
	if err != nil {
		return nil, fmt.Errorf("reading devices from %s: %w", s, err)
	}
	defer rows.Close()
	var out []Device
	for rows.Next() {
		var d Device
		var statusAt, last int64
		var tel string
		if err := rows.Scan(&d.Device, &d.Status, &statusAt, &tel, &last, &d.Walks); err != nil {
			return nil, fmt.Errorf("reading devices from %s: %w", s, err)
		}
		d.StatusAt, d.LastSeen = time.UnixMilli(statusAt).UTC(), time.UnixMilli(last).UTC()
		if tel != "" {
			var t wire.Telemetry
			if json.Unmarshal([]byte(tel), &t) == nil {
				d.Telemetry = &t
			}
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// CellsWalked returns the number of distinct cells with coverage.
func (s *Store) CellsWalked(ctx context.Context) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(DISTINCT cell) FROM coverage`).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting walked cells in %s: %w", s, err)
	}
	return n, nil
}

// Walks returns the number of walks with coverage.
func (s *Store) Walks(ctx context.Context) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM walks`).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting walks in %s: %w", s, err)
	}
	return n, nil
}

// District is one uploaded district: a name, a GeoJSON geometry (Polygon or
// MultiPolygon) and the feature's other properties, kept as uploaded.
type District struct {
	ID         int64
	Name       string
	Geometry   json.RawMessage
	Properties json.RawMessage
	Uploaded   time.Time
}

// ReplaceDistricts replaces the set of districts with ds in one transaction.
func (s *Store) ReplaceDistricts(ctx context.Context, ds []District, now time.Time) error {
	tx, err := s.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM districts`); err != nil {
		return fmt.Errorf("replacing districts in %s: %w", s, err)
	}
	for _, d := range ds {
		props := d.Properties
		if len(props) == 0 {
			props = json.RawMessage("{}")
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO districts (name, geometry, properties, uploaded) VALUES (?, ?, ?, ?)`),
			d.Name, string(d.Geometry), string(props), now.UnixMilli()); err != nil {
			return fmt.Errorf("storing district %q in %s: %w", d.Name, s, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("replacing districts in %s: %w", s, err)
	}
	return nil
}

// Districts returns the uploaded districts in upload order.
func (s *Store) Districts(ctx context.Context) ([]District, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, name, geometry, properties, uploaded FROM districts ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("reading districts from %s: %w", s, err)
	}
	defer rows.Close()
	var out []District
	for rows.Next() {
		var d District
		var g, p string
		var up int64
		if err := rows.Scan(&d.ID, &d.Name, &g, &p, &up); err != nil {
			return nil, fmt.Errorf("reading districts from %s: %w", s, err)
		}
		d.Geometry, d.Properties, d.Uploaded = json.RawMessage(g), json.RawMessage(p), time.UnixMilli(up).UTC()
		out = append(out, d)
	}
	return out, rows.Err()
}

// ErrNotFound is returned when a requested row does not exist.
var ErrNotFound = errors.New("not found")
