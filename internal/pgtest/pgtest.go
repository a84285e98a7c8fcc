// Package pgtest starts a throwaway PostgreSQL cluster for tests: initdb into
// a temporary directory, postgres listening on a free port on 127.0.0.1 with
// its unix socket in that directory, stopped and removed at cleanup. Tests
// get a fresh database each with NewDatabase, so they never see each other's
// tables. Running as root (as CI does), the cluster runs as user postgres.
//
// A missing PostgreSQL installation fails the test: `make setup` installs
// Debian's postgresql package.
package pgtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/camaudit/camaudit/internal/freeport"
)

// Cluster is a running PostgreSQL server owned by one test.
type Cluster struct {
	// Port is the TCP port on 127.0.0.1 the server listens on.
	Port int
	// Dir holds the data directory, the socket and the log.
	Dir string

	t       testing.TB
	bin     string
	runAs   string // "postgres" when running as root, else ""
	data    string // data directory while running
	logPath string
	mu      sync.Mutex
	nextDB  int
}

// BinDir returns the directory holding initdb and postgres, or "" if
// PostgreSQL is not installed. It prefers Debian's newest versioned directory
// under /usr/lib/postgresql and falls back to $PATH.
func BinDir() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	best, bestV := "", -1
	for _, d := range dirs {
		v, err := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		if err != nil {
			continue
		}
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil && v > bestV {
			best, bestV = d, v
		}
	}
	if best != "" {
		return best
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p)
	}
	return ""
}

// Start initialises and starts a cluster for the test and removes it at
// cleanup. It takes a few seconds; share one cluster between the subtests of
// a test and give each its own database with NewDatabase.
func Start(t testing.TB) *Cluster {
	t.Helper()
	bin := BinDir()
	if bin == "" {
		t.Fatal("PostgreSQL is not installed (no initdb in /usr/lib/postgresql/*/bin or $PATH): run `make setup`")
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		t.Fatalf("creating the cluster directory: %v", err)
	}
	c := &Cluster{Dir: dir, t: t, bin: bin, Port: freeport.Get(t)}
	t.Cleanup(func() {
		c.stop()
		os.RemoveAll(dir)
	})
	if os.Geteuid() == 0 {
		// PostgreSQL refuses to run as root: hand the directory to postgres.
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root needs the postgres user (Debian's postgresql package creates it): %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatalf("chown %s to postgres: %v", dir, err)
		}
		c.runAs = "postgres"
	}
	data := filepath.Join(dir, "data")
	out, err := c.command("initdb", "-D", data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C").CombinedOutput()
	if err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	c.logPath = filepath.Join(dir, "postgres.log")
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100 -c shared_buffers=32MB", c.Port, dir)
	out, err = c.command("pg_ctl", "start", "-D", data, "-l", c.logPath, "-w", "-t", "60", "-o", opts).CombinedOutput()
	if err != nil {
		t.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, c.Log())
	}
	c.data = data
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, c.url("postgres"))
		cancel()
		if err == nil {
			conn.Close(context.Background())
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("postgres did not accept connections on 127.0.0.1:%d within 30 s: %v\n%s", c.Port, err, c.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *Cluster) command(name string, args ...string) *exec.Cmd {
	path := filepath.Join(c.bin, name)
	if c.runAs != "" {
		return exec.Command("runuser", append([]string{"-u", c.runAs, "--", path}, args...)...)
	}
	return exec.Command(path, args...)
}

func (c *Cluster) url(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.Port, db)
}

// URL returns the connection URL of the cluster's default database "postgres".
func (c *Cluster) URL() string { return c.url("postgres") }

// NewDatabase creates an empty database in the cluster and returns its URL.
func (c *Cluster) NewDatabase(t testing.TB) string {
	t.Helper()
	c.mu.Lock()
	c.nextDB++
	name := fmt.Sprintf("test%d", c.nextDB)
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.URL())
	if err != nil {
		t.Fatalf("connecting to the test cluster: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("creating database %s: %v", name, err)
	}
	return c.url(name)
}

// Log returns what the server has written to its log.
func (c *Cluster) Log() string {
	b, _ := os.ReadFile(c.logPath)
	return string(b)
}

// Stop stops the server (fast shutdown: open connections are closed). The
// cluster cannot be restarted; cleanup calls Stop too.
func (c *Cluster) Stop() { c.stop() }

func (c *Cluster) stop() {
	c.mu.Lock()
	data := c.data
	c.data = ""
	c.mu.Unlock()
	if data == "" {
		return
	}
	if out, err := c.command("pg_ctl", "stop", "-D", data, "-m", "fast", "-w", "-t", "60").CombinedOutput(); err != nil {
		c.t.Logf("pg_ctl stop: %v\n%s", err, out)
	}
}
