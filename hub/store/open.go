// Package store keeps what the hub has accepted: sightings (the source of
// truth for the camera registry), per-walk counts and coverage, device status,
// reviewers' decisions, uploaded districts and message counters. It runs on a
// SQLite file by default and on PostgreSQL when given a postgres:// URL, with
// the same schema, versioned migrations and behaviour on both.
//
// Writes come in batches (one transaction for many messages) so that ingest
// keeps up with thousands of messages per second. Sightings are stored
// idempotently by id. Every stored row gets a sequence number that grows in
// commit order, so that readers can follow the store with "everything after
// seq N" even when several hub instances write to one PostgreSQL database.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	_ "modernc.org/sqlite"             // database/sql driver "sqlite"
)

// Dialect names the database engine behind a Store.
type Dialect string

// Supported dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// writeLockKey is the PostgreSQL advisory lock every writing transaction
// holds. It serialises writers across hub instances so that sequence numbers
// become visible in the order they were allocated (see package doc).
const writeLockKey = 0x63616d61 // "cama"

// Store is an open hub database. It is safe for concurrent use.
type Store struct {
	dialect Dialect
	w       *sql.DB // writes (SQLite: one connection, BEGIN IMMEDIATE)
	r       *sql.DB // reads (SQLite: a small pool of read connections; PostgreSQL: = w)
	where   string  // for messages: file path or host/db, never a password

	stmts map[string]*sql.Stmt // prepared on w at open, by query; read-only after
}

// Open opens (creating if needed) the database named by dbURL and brings its
// schema up to date. dbURL is a postgres:// or postgresql:// URL, or a SQLite
// file given as a path, file:PATH or sqlite:PATH.
func Open(ctx context.Context, dbURL string) (*Store, error) {
	switch {
	case dbURL == "":
		return nil, errors.New("opening the hub database: empty URL (want a file path or postgres://...)")
	case strings.HasPrefix(dbURL, "postgres://"), strings.HasPrefix(dbURL, "postgresql://"):
		return openPostgres(ctx, dbURL)
	}
	path := dbURL
	for _, p := range []string{"sqlite://", "sqlite:", "file://", "file:"} {
		if rest, ok := strings.CutPrefix(dbURL, p); ok {
			path = rest
			break
		}
	}
	if i := strings.Index(path, "://"); i > 0 && !strings.ContainsAny(path[:i], "/.") {
		return nil, fmt.Errorf("opening the hub database %q: unsupported scheme %q (want a SQLite path or postgres://...)", dbURL, path[:i])
	}
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	return openSQLite(ctx, path)
}

func openSQLite(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("opening the hub database: empty SQLite path")
	}
	if dir := filepath.Dir(path); dir != "" {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("opening the hub database %s: directory %s does not exist", path, dir)
		}
	}
	const pragmas = "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)"
	u := "file:" + (&url.URL{Path: path}).EscapedPath()
	w, err := sql.Open("sqlite", u+"?"+pragmas+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("opening the hub database %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	s := &Store{dialect: SQLite, w: w, where: path}
	if err := s.migrate(ctx); err != nil {
		w.Close()
		return nil, err
	}
	if err := s.prepareWrites(ctx); err != nil {
		w.Close()
		return nil, err
	}
	r, err := sql.Open("sqlite", u+"?"+pragmas+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("opening the hub database %s for reading: %w", path, err)
	}
	r.SetMaxOpenConns(4)
	r.SetMaxIdleConns(4)
	s.r = r
	return s, nil
}

func openPostgres(ctx context.Context, dbURL string) (*Store, error) {
	where := dbURL
	if u, err := url.Parse(dbURL); err == nil {
		where = u.Host + u.Path // no credentials in messages
	}
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		return nil, fmt.Errorf("opening the hub database %s: %w", where, err)
	}
	db.SetMaxOpenConns(8)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connecting to the hub database %s: %w", where, err)
	}
	s := &Store{dialect: Postgres, w: db, r: db, where: where}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.prepareWrites(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Dialect reports which database engine the store runs on.
func (s *Store) Dialect() Dialect { return s.dialect }

// String names the database for logs (path or host/database, no credentials).
func (s *Store) String() string { return string(s.dialect) + ":" + s.where }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.r.PingContext(ctx); err != nil {
		return fmt.Errorf("pinging %s: %w", s, err)
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error {
	for _, st := range s.stmts {
		st.Close()
	}
	err := s.w.Close()
	if s.r != s.w && s.r != nil {
		if e := s.r.Close(); err == nil {
			err = e
		}
	}
	return err
}

// q rewrites a query written with ? placeholders for the store's dialect.
func (s *Store) q(query string) string {
	if s.dialect != Postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// beginWrite starts a writing transaction; on PostgreSQL it takes the
// advisory lock that orders writers across instances.
func (s *Store) beginWrite(ctx context.Context) (*sql.Tx, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("beginning a transaction on %s: %w", s, err)
	}
	if s.dialect == Postgres {
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", writeLockKey); err != nil {
			tx.Rollback()
			return nil, fmt.Errorf("taking the write lock on %s: %w", s, err)
		}
	}
	return tx, nil
}
