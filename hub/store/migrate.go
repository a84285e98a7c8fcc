package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// migrations are applied in order; migration i brings the schema to version
// i+1. Never edit a released migration: append a new one. {{seq}} becomes the
// dialect's auto-incrementing primary key.
var migrations = []string{
	// 1: the initial schema.
	`CREATE TABLE sightings (
		seq {{seq}},
		id TEXT NOT NULL UNIQUE,
		device TEXT NOT NULL,
		walk TEXT NOT NULL,
		t BIGINT NOT NULL,
		lat DOUBLE PRECISION NOT NULL,
		lon DOUBLE PRECISION NOT NULL,
		err_m DOUBLE PRECISION NOT NULL,
		type TEXT NOT NULL,
		mount TEXT NOT NULL,
		direction DOUBLE PRECISION,
		confidence DOUBLE PRECISION NOT NULL,
		frames INTEGER NOT NULL,
		baseline_m DOUBLE PRECISION NOT NULL,
		model TEXT NOT NULL,
		digest TEXT NOT NULL,
		received BIGINT NOT NULL
	);
	CREATE TABLE counts (
		device TEXT NOT NULL,
		walk TEXT NOT NULL,
		cell TEXT NOT NULL,
		cameras TEXT NOT NULL,
		total INTEGER NOT NULL,
		walked_m DOUBLE PRECISION NOT NULL,
		from_t BIGINT NOT NULL,
		to_t BIGINT NOT NULL,
		received BIGINT NOT NULL,
		PRIMARY KEY (device, walk, cell)
	);
	CREATE TABLE walks (
		walk TEXT PRIMARY KEY,
		device TEXT NOT NULL,
		from_t BIGINT NOT NULL,
		to_t BIGINT NOT NULL,
		walked_m DOUBLE PRECISION NOT NULL,
		cells INTEGER NOT NULL,
		received BIGINT NOT NULL
	);
	CREATE TABLE coverage (
		walk TEXT NOT NULL,
		cell TEXT NOT NULL,
		PRIMARY KEY (walk, cell)
	);
	CREATE INDEX coverage_cell ON coverage (cell);
	CREATE TABLE devices (
		device TEXT PRIMARY KEY,
		status TEXT NOT NULL DEFAULT '',
		status_at BIGINT NOT NULL DEFAULT 0,
		telemetry TEXT NOT NULL DEFAULT '',
		telemetry_at BIGINT NOT NULL DEFAULT 0,
		last_seen BIGINT NOT NULL DEFAULT 0
	);
	CREATE TABLE counters (
		name TEXT NOT NULL,
		day TEXT NOT NULL,
		n BIGINT NOT NULL,
		PRIMARY KEY (name, day)
	);
	CREATE TABLE reviews (
		seq {{seq}},
		camera TEXT NOT NULL,
		decision TEXT NOT NULL,
		at BIGINT NOT NULL,
		note TEXT NOT NULL
	);
	CREATE TABLE districts (
		id {{seq}},
		name TEXT NOT NULL,
		geometry TEXT NOT NULL,
		properties TEXT NOT NULL,
		uploaded BIGINT NOT NULL
	);`,
}

// SchemaVersion is the schema version this build of the hub writes.
func SchemaVersion() int { return len(migrations) }

func (s *Store) migrate(ctx context.Context) error {
	tx, err := s.beginWrite(ctx)
	if err != nil {
		return fmt.Errorf("migrating %s: %w", s, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("migrating %s: creating schema_migrations: %w", s, err)
	}
	var have int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&have); err != nil {
		return fmt.Errorf("migrating %s: reading the schema version: %w", s, err)
	}
	if have > len(migrations) {
		return fmt.Errorf("migrating %s: the database has schema version %d, newer than this hub's %d: upgrade the hub", s, have, len(migrations))
	}
	seq := "INTEGER PRIMARY KEY AUTOINCREMENT"
	if s.dialect == Postgres {
		seq = "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
	}
	for v := have + 1; v <= len(migrations); v++ {
		for _, stmt := range strings.Split(migrations[v-1], ";") {
			stmt = strings.TrimSpace(strings.ReplaceAll(stmt, "{{seq}}", seq))
			if stmt == "" {
				continue
			}
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("migrating %s to version %d: %w\n%s", s, v, err, stmt)
			}
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO schema_migrations (version, applied) VALUES (?, ?)`), v, time.Now().UnixMilli()); err != nil {
			return fmt.Errorf("migrating %s to version %d: %w", s, v, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrating %s: committing: %w", s, err)
	}
	return nil
}

// Version returns the schema version of the open database.
func (s *Store) Version(ctx context.Context) (int, error) {
	var v int
	if err := s.r.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("reading the schema version of %s: %w", s, err)
	}
	return v, nil
}
