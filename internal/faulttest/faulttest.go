// Package faulttest runs camaudit's fault-tolerance, hostile-input and
// scale-out tests end to end: the real camaudit and camaudit-hub binaries
// (built once per test run), a real Mosquitto (internal/brokertest), the
// simulator's walks, SQLite files and PostgreSQL (internal/pgtest). The
// helpers here start and stop hub processes, run replays, and read what the
// hub stored; the tests beside them kill, starve and attack those processes.
//
// See docs/faults.md for what each test does and the figures it reports.
package faulttest

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	_ "modernc.org/sqlite"             // database/sql driver "sqlite"

	"github.com/camaudit/camaudit/internal/freeport"
)

// Binaries are the built commands.
type Binaries struct {
	Camaudit string // the device binary
	Hub      string // camaudit-hub
}

// RepoRoot returns the repository root (the directory holding go.mod),
// found from this source file.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Build builds camaudit and camaudit-hub into dir with the go command.
func Build(dir string) (Binaries, error) {
	cmd := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "./cmd/camaudit", "./cmd/camaudit-hub")
	cmd.Dir = RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		return Binaries{}, fmt.Errorf("building the binaries: %v\n%s", err, out)
	}
	return Binaries{Camaudit: filepath.Join(dir, "camaudit"), Hub: filepath.Join(dir, "camaudit-hub")}, nil
}

// Walk is a simulated walk on disk (contract C).
type Walk struct {
	Dir                            string
	Video, NMEA, Frames, TruthFile string
}

// SimWalk runs `camaudit sim walk` on a scenario into dir.
func SimWalk(bin, scenario, dir string) (Walk, error) {
	cmd := exec.Command(bin, "sim", "walk", "--scenario", scenario, "--out", dir, "--quiet")
	if out, err := cmd.CombinedOutput(); err != nil {
		return Walk{}, fmt.Errorf("camaudit sim walk --scenario %s: %v\n%s", scenario, err, out)
	}
	return Walk{Dir: dir, Video: filepath.Join(dir, "walk.avi"), NMEA: filepath.Join(dir, "track.nmea"),
		Frames: filepath.Join(dir, "frames.jsonl"), TruthFile: filepath.Join(dir, "truth.geojson")}, nil
}

// ReplayArgs returns the arguments of a truth-box replay of w as device dev.
func (w Walk) ReplayArgs(dev string, extra ...string) []string {
	return append([]string{"replay", "--video", w.Video, "--nmea", w.NMEA, "--truth", w.Frames, "--device", dev, "--quiet"}, extra...)
}

// Run runs a command to completion and fails the test on a non-zero exit.
// It returns stdout.
func Run(t testing.TB, bin string, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", filepath.Base(bin), strings.Join(args, " "), err, out.String(), tail(errb.String(), 4000))
	}
	return out.String()
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// Proc is a started process whose output goes to a log file.
type Proc struct {
	Cmd  *exec.Cmd
	Log  string // path of the combined stdout and stderr
	done chan struct{}
	err  error
}

// Start starts bin with args, its output in a log file under t's temp dir.
func Start(t testing.TB, bin string, args ...string) *Proc {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), filepath.Base(bin)+"-*.log")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("starting %s: %v", bin, err)
	}
	p := &Proc{Cmd: cmd, Log: f.Name(), done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); f.Close(); close(p.done) }()
	t.Cleanup(func() { p.Kill() })
	return p
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Wait waits up to d for the process to exit and returns its error
// (context.DeadlineExceeded when it is still running).
func (p *Proc) Wait(d time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(d):
		return context.DeadlineExceeded
	}
}

// Kill sends SIGKILL (a crash, a power cut) and waits for the exit.
func (p *Proc) Kill() {
	if p.Exited() {
		return
	}
	_ = p.Cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Term sends SIGTERM and waits up to 20 s for a clean exit.
func (p *Proc) Term() error {
	if p.Exited() {
		return p.err
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	if err := p.Wait(20 * time.Second); errors.Is(err, context.DeadlineExceeded) {
		p.Kill()
		return fmt.Errorf("did not stop within 20 s of SIGTERM")
	} else {
		return err
	}
}

// Output returns what the process has logged so far.
func (p *Proc) Output() string {
	b, _ := os.ReadFile(p.Log)
	return string(b)
}

// HubOptions configures a hub process.
type HubOptions struct {
	DB       string // SQLite path or postgres:// URL
	Broker   string // "" = none
	ClientID string
	Group    string
	Token    string // reviewer token; "" = reviews off
	Extra    []string
}

// Hub is a camaudit-hub process on a free port of 127.0.0.1.
type Hub struct {
	t    testing.TB
	bin  string
	opt  HubOptions
	URL  string
	addr string
	mu   sync.Mutex
	proc *Proc
	// Logs of earlier runs of this hub (before restarts).
	earlier []string
}

// StartHub starts a hub and waits until it serves /healthz and, when it
// has a broker, until it is subscribed.
func StartHub(t testing.TB, bin string, opt HubOptions) *Hub {
	t.Helper()
	h := &Hub{t: t, bin: bin, opt: opt}
	h.addr = fmt.Sprintf("127.0.0.1:%d", freeport.Get(t))
	h.URL = "http://" + h.addr
	h.Start()
	return h
}

// Start (re)starts the hub process on the same port, database and client id.
func (h *Hub) Start() {
	h.t.Helper()
	args := []string{"serve", "--db", h.opt.DB, "--http", h.addr, "--tiles", "none", "--poll", "200ms"}
	if h.opt.Broker != "" {
		args = append(args, "--broker", h.opt.Broker, "--client-id", h.opt.ClientID)
	} else {
		args = append(args, "--broker", "none")
	}
	if h.opt.Group != "" {
		args = append(args, "--group", h.opt.Group)
	}
	if h.opt.Token != "" {
		p := filepath.Join(h.t.TempDir(), "token")
		if err := os.WriteFile(p, []byte(h.opt.Token+"\n"), 0o600); err != nil {
			h.t.Fatal(err)
		}
		args = append(args, "--token-file", p)
	}
	args = append(args, h.opt.Extra...)
	p := Start(h.t, h.bin, args...)
	h.mu.Lock()
	h.proc = p
	h.mu.Unlock()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var health map[string]any
		code, err := h.GetJSON("/healthz", &health)
		if err == nil && code == http.StatusOK && (h.opt.Broker == "" || health["broker_connected"] == true) {
			return
		}
		if p.Exited() || time.Now().After(deadline) {
			h.t.Fatalf("hub did not become ready (healthz %d %v %v):\n%s", code, health, err, tail(p.Output(), 4000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Proc returns the current hub process.
func (h *Hub) Proc() *Proc {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.proc
}

// Kill crashes the hub (SIGKILL).
func (h *Hub) Kill() {
	p := h.Proc()
	p.Kill()
	h.mu.Lock()
	h.earlier = append(h.earlier, p.Output())
	h.mu.Unlock()
}

// Stop stops the hub cleanly (SIGTERM).
func (h *Hub) Stop() error {
	p := h.Proc()
	err := p.Term()
	h.mu.Lock()
	h.earlier = append(h.earlier, p.Output())
	h.mu.Unlock()
	return err
}

// Logs returns the logs of every run of this hub.
func (h *Hub) Logs() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := strings.Join(h.earlier, "\n--- restart ---\n")
	if h.proc != nil && !h.proc.Exited() {
		s += "\n--- current ---\n" + h.proc.Output()
	}
	return s
}

var client = &http.Client{Timeout: 30 * time.Second}

// Do sends a request with an optional bearer token and body and returns
// the status code and body.
func (h *Hub) Do(method, path, token string, body []byte) (int, []byte, error) {
	req, err := http.NewRequest(method, h.URL+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// GetJSON gets path and decodes the JSON answer into v.
func (h *Hub) GetJSON(path string, v any) (int, error) {
	code, b, err := h.Do(http.MethodGet, path, "", nil)
	if err != nil {
		return code, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return code, fmt.Errorf("GET %s: %v: %.200s", path, err, b)
	}
	return code, nil
}

// Stats is the part of /api/stats the tests read.
type Stats struct {
	Cameras    int              `json:"cameras"`
	Sightings  int              `json:"sightings"`
	Duplicates int64            `json:"duplicates"`
	Accepted   map[string]int64 `json:"accepted_messages"`
	Rejected   map[string]int64 `json:"rejected_messages"`
	Walks      int              `json:"walks"`
}

// Stats reads /api/stats.
func (h *Hub) Stats() Stats {
	h.t.Helper()
	var s Stats
	if code, err := h.GetJSON("/api/stats", &s); err != nil || code != http.StatusOK {
		h.t.Fatalf("GET /api/stats: %d %v", code, err)
	}
	return s
}

// Ingest is this instance's ingest counters from /healthz.
type Ingest struct {
	Connected  bool             `json:"connected"`
	Received   int64            `json:"received"`
	Accepted   int64            `json:"accepted"`
	Duplicates int64            `json:"duplicates"`
	Rejected   map[string]int64 `json:"rejected"`
}

// Ingest reads this instance's ingest counters (they restart with the process).
func (h *Hub) Ingest() Ingest {
	h.t.Helper()
	var v struct {
		Status string `json:"status"`
		Ingest Ingest `json:"ingest"`
	}
	if code, err := h.GetJSON("/healthz", &v); err != nil || code != http.StatusOK || v.Status != "ok" {
		h.t.Fatalf("GET /healthz: %d %v %+v", code, err, v)
	}
	return v.Ingest
}

// DB is read access to a hub's store, SQLite or PostgreSQL.
type DB struct {
	db *sql.DB
	pg bool
}

// OpenDB opens a hub store for reading: a SQLite path or a postgres:// URL.
func OpenDB(t testing.TB, dbURL string) *DB {
	t.Helper()
	var d DB
	var err error
	if strings.HasPrefix(dbURL, "postgres://") {
		d.db, err = sql.Open("pgx", dbURL)
		d.pg = true
	} else {
		d.db, err = sql.Open("sqlite", "file:"+dbURL+"?_pragma=query_only(1)&_pragma=busy_timeout(10000)")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.db.Close() })
	return &d
}

func (d *DB) q(query string) string {
	if !d.pg {
		return query
	}
	n := 0
	var b strings.Builder
	for _, r := range query {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// SightingIDs returns how many rows each sighting id of device has
// (the table's key makes it 1; the tests check the set).
func (d *DB) SightingIDs(t testing.TB, device string) map[string]int {
	t.Helper()
	rows, err := d.db.Query(d.q(`SELECT id, count(*) FROM sightings WHERE device = ? GROUP BY id`), device)
	if err != nil {
		if strings.Contains(err.Error(), "no such table") {
			return map[string]int{} // the hub has not created its schema yet
		}
		t.Fatalf("reading sightings: %v", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			t.Fatal(err)
		}
		out[id] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// Count runs a SELECT count(*) query with ? placeholders.
func (d *DB) Count(t testing.TB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := d.db.QueryRow(d.q(query), args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// QueryRow runs a query with ? placeholders.
func (d *DB) QueryRow(query string, args ...any) *sql.Row {
	return d.db.QueryRow(d.q(query), args...)
}

// WaitFor polls cond every 50 ms until it holds or timeout passes.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Sighting is a sighting as replay writes it to --out (GeoJSON properties).
type Sighting struct {
	ID        string    `json:"id"`
	Walk      string    `json:"walk"`
	Time      time.Time `json:"time"`
	Lat       float64   `json:"lat"`
	Lon       float64   `json:"lon"`
	ErrM      float64   `json:"err_m"`
	Type      string    `json:"type"`
	Frames    int       `json:"frames"`
	BaselineM float64   `json:"baseline_m"`
}

// Key identifies a sighting by content, not id: what a deterministic
// pipeline reproduces in every run.
func (s Sighting) Key() string {
	return fmt.Sprintf("%s@%s %.7f,%.7f ±%.1f n%d b%.1f", s.Type, s.Time.UTC().Format(time.RFC3339Nano), s.Lat, s.Lon, s.ErrM, s.Frames, s.BaselineM)
}

// ReadSightings reads a replay's --out GeoJSON.
func ReadSightings(t testing.TB, path string) []Sighting {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var fc struct {
		Features []struct {
			Properties Sighting `json:"properties"`
		} `json:"features"`
	}
	if err := json.Unmarshal(b, &fc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	out := make([]Sighting, len(fc.Features))
	for i, f := range fc.Features {
		out[i] = f.Properties
	}
	return out
}
