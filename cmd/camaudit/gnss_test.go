package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/camaudit/camaudit/geo"
	"github.com/camaudit/camaudit/gnss"
	"github.com/camaudit/camaudit/sim"
	"golang.org/x/sys/unix"
)

// simLog writes n epochs at 10 Hz as the simulator does (RMC+GGA+VTG, a
// dropout with status V in the middle) and returns the path and the fixes.
func simLog(t *testing.T, n int) (string, []gnss.Fix) {
	t.Helper()
	start := time.Date(2026, 11, 26, 18, 42, 0, 0, time.UTC)
	origin := geo.LatLon{Lat: 40.7128, Lon: -74.006}
	var b strings.Builder
	fixes := make([]gnss.Fix, n)
	for i := range fixes {
		f := gnss.Fix{Time: start.Add(time.Duration(i) * 100 * time.Millisecond),
			Pos:   geo.Destination(origin, 90, 0.14*float64(i)),
			Valid: i < n/2 || i > n/2+20, Quality: 1, Speed: 1.4, HasSpeed: true, Course: 90, HasCourse: true, HDOP: 1.1, Sats: 8}
		fixes[i] = f
		b.WriteString(gnss.FormatEpoch("GP", f, true))
	}
	path := filepath.Join(t.TempDir(), "track.nmea")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, fixes
}

// jsonLines runs camaudit gnss and splits its JSON output into epochs and
// the summary.
func jsonLines(t *testing.T, ctx context.Context, args ...string) ([]map[string]any, map[string]any) {
	t.Helper()
	var out, errOut bytes.Buffer
	if err := cmdGNSS(ctx, append(args, "--json"), &out, &errOut); err != nil {
		t.Fatalf("camaudit gnss %v: %v (stderr %s)", args, err, errOut.String())
	}
	var epochs []map[string]any
	var summary map[string]any
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if summary != nil {
			t.Fatalf("line after the summary: %s", sc.Text())
		}
		if m["summary"] == true {
			summary = m
			continue
		}
		epochs = append(epochs, m)
	}
	if summary == nil {
		t.Fatalf("no summary line in %s", out.String())
	}
	return epochs, summary
}

func TestGNSSCommandNMEA(t *testing.T) {
	path, fixes := simLog(t, 3000)
	epochs, sum := jsonLines(t, context.Background(), "--nmea", path)
	if len(epochs) != len(fixes) {
		t.Fatalf("%d epochs printed, %d written", len(epochs), len(fixes))
	}
	valid := 0
	for i, e := range epochs {
		if e["valid"] != fixes[i].Valid {
			t.Fatalf("epoch %d: %v, want valid %v", i, e, fixes[i].Valid)
		}
		if fixes[i].Valid {
			valid++
			if lat := e["lat"].(float64); lat-fixes[i].Pos.Lat > 1e-6 || fixes[i].Pos.Lat-lat > 1e-6 {
				t.Fatalf("epoch %d lat %v, want %v", i, lat, fixes[i].Pos.Lat)
			}
		}
		ts, _ := time.Parse(time.RFC3339Nano, e["time"].(string))
		if !ts.Equal(fixes[i].Time) {
			t.Fatalf("epoch %d time %v, want %v", i, ts, fixes[i].Time)
		}
	}
	if sum["epochs"].(float64) != 3000 || sum["epochs_fix"].(float64) != float64(valid) ||
		sum["rejected_total"].(float64) != 0 || sum["sentences"].(float64) != 9000 {
		t.Fatalf("summary %v", sum)
	}
	// 0.14 m per epoch in a straight line: 420 m, less the lag of the 5 s
	// smoothing at the end (2.5 s at 1.4 m/s).
	if d := sum["distance_m"].(float64); d < 415 || d > 420.1 {
		t.Fatalf("distance %v", d)
	}

	// The text form prints the same epochs and a summary.
	var out bytes.Buffer
	if err := cmdGNSS(context.Background(), []string{"--nmea", path}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	if n := strings.Count(text, "\n"); n < 3000 || !strings.Contains(text, "epochs 3000: with fix 2979, without fix 21") ||
		!strings.Contains(text, "sentences read 9000") {
		t.Fatalf("text output (%d lines) ends %q", n, text[max(0, len(text)-600):])
	}
}

func TestGNSSCommandGarbage(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	junk := make([]byte, 64<<10)
	rng.Read(junk)
	path := filepath.Join(t.TempDir(), "garbage.bin")
	if err := os.WriteFile(path, junk, 0o644); err != nil {
		t.Fatal(err)
	}
	epochs, sum := jsonLines(t, context.Background(), "--nmea", path)
	if len(epochs) != 0 || sum["epochs_fix"].(float64) != 0 || sum["garbage_bytes"].(float64) < 60000 {
		t.Fatalf("garbage gave %d epochs, summary %v", len(epochs), sum)
	}
}

func TestGNSSCommandErrors(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		usage bool
	}{
		{nil, true},
		{[]string{"--nmea", "a", "--gpsd", "b:1"}, true},
		{[]string{"--nmea", "a", "extra"}, true},
		{[]string{"--serial", "@fast"}, true},
		{[]string{"--nmea", "/does/not/exist.nmea"}, false},
		{[]string{"--serial", "/dev/does-not-exist@9600"}, false},
		{[]string{"--gpsd", "127.0.0.1:1"}, false},
	} {
		err := cmdGNSS(context.Background(), tc.args, io.Discard, io.Discard)
		if err == nil || errors.Is(err, errUsage) != tc.usage {
			t.Errorf("%v: %v (usage error expected: %v)", tc.args, err, tc.usage)
		}
	}
}

// TestGNSSCommandSerial reads a receiver on a pty, stopping after --max.
func TestGNSSCommandSerial(t *testing.T) {
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	master := os.NewFile(uintptr(fd), "/dev/ptmx")
	defer master.Close()
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	_, fixes := simLog(t, 1000)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go func() { // a receiver: an epoch every 20 ms, whoever listens
		for _, f := range fixes[:500] {
			if ctx.Err() != nil {
				return
			}
			io.WriteString(master, gnss.FormatEpoch("GN", f, false))
			time.Sleep(20 * time.Millisecond)
		}
	}()
	epochs, sum := jsonLines(t, ctx, "--serial", fmt.Sprintf("/dev/pts/%d@115200", n), "--max", "5")
	if len(epochs) != 5 || sum["epochs_fix"].(float64) != 5 || !strings.HasPrefix(sum["source"].(string), "serial:") {
		t.Fatalf("%d epochs, summary %v", len(epochs), sum)
	}
}

// TestGNSSCommandGPSD reads a real gpsd fed by gpsfake until --max.
func TestGNSSCommandGPSD(t *testing.T) {
	if _, err := exec.LookPath("gpsfake"); err != nil {
		t.Fatalf("gpsfake not installed (Debian gpsd-clients; make setup installs it): %v", err)
	}
	path, _ := simLog(t, 200)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command("gpsfake", "-q", "-n", "-c", "0.02", "-P", strconv.Itoa(port), path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	addr := "127.0.0.1:" + strconv.Itoa(port)
	for { // wait until gpsd listens
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("gpsd never listened: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	epochs, sum := jsonLines(t, ctx, "--gpsd", addr, "--max", "10")
	fixes := 0
	for _, e := range epochs {
		if e["valid"] == true {
			fixes++
		}
	}
	if len(epochs) != 10 || fixes == 0 || sum["gpsd"] == nil {
		t.Fatalf("%d epochs (%d fixes), summary %v", len(epochs), fixes, sum)
	}
}

// TestGNSSCommandSimulatorLog: camaudit gnss reports every epoch the
// simulator's NMEA writer wrote, valid where the simulator's were.
func TestGNSSCommandSimulatorLog(t *testing.T) {
	sc, err := sim.LoadScenario(filepath.Join("..", "..", "sim", "testdata", "street20.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	wk, err := sim.NewWalk(sc, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer wk.Close()
	path := filepath.Join(t.TempDir(), "track.nmea")
	if err := wk.WriteNMEA(path); err != nil {
		t.Fatal(err)
	}
	written, _ := wk.GNSSFixes()
	epochs, sum := jsonLines(t, context.Background(), "--nmea", path)
	if len(epochs) != len(written) || len(written) < 100 {
		t.Fatalf("%d epochs reported, simulator wrote %d", len(epochs), len(written))
	}
	for i, e := range epochs {
		if e["valid"] != written[i].Valid {
			t.Fatalf("epoch %d: valid %v, simulator wrote %v", i, e["valid"], written[i].Valid)
		}
	}
	if sum["rejected_total"].(float64) != 0 {
		t.Fatalf("summary %v", sum)
	}
}
