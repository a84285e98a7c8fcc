package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/camaudit/camaudit/firmware/journal"
	"github.com/camaudit/camaudit/internal/brokertest"
	"github.com/camaudit/camaudit/internal/freeport"
	"github.com/camaudit/camaudit/wire"
)

// deviceConfig writes a config for a device reading a simulated walk.
func fwDeviceConfig(t *testing.T, walk, broker, metrics string) (path, journalDir string) {
	t.Helper()
	dir := t.TempDir()
	journalDir = filepath.Join(dir, "journal")
	model, err := filepath.Abs("../../detect/testdata/marker")
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`device: pi-runtest
camera: {source: "file:%s", hfov_deg: 66, mount: {pitch_deg: 8}}
gnss: {source: "nmea:%s"}
model: {dir: %q}
mqtt: {broker: %q}
journal: {dir: %q}
telemetry: {interval_s: 1}
metrics: {addr: %q}
`, filepath.Join(walk, "walk.avi"), filepath.Join(walk, "track.nmea"), model, broker, journalDir, metrics)
	path = filepath.Join(dir, "camaudit.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, journalDir
}

// TestRunAndSelftest runs `camaudit run` on a simulated walk (file camera,
// NMEA GNSS, the detect package's test model, a real Mosquitto) until
// SIGTERM, and `camaudit selftest` on the same configuration and on a broken one.
func TestRunAndSelftest(t *testing.T) {
	walk := t.TempDir()
	fwRun(t, "sim", "walk", "--scenario", "../../sim/testdata/quick.yaml", "--out", walk, "--quiet", "--workers", "2")
	b := brokertest.Start(t, "")
	col := fwCollect(t, b.URL(), "pi-runtest")
	metricsAddr := "127.0.0.1:" + strconv.Itoa(freeport.Get(t))
	cfg, jdir := fwDeviceConfig(t, walk, b.URL(), metricsAddr)

	t.Run("selftest", func(t *testing.T) {
		var out bytes.Buffer
		if err := cmdSelftest(context.Background(), []string{"--config", cfg, "--gnss-timeout", "20s"}, &out, io.Discard); err != nil {
			t.Fatalf("selftest: %v\n%s", err, out.String())
		}
		for _, want := range []string{`config\s+ok`, `journal\s+ok`, `camera\s+ok\s+320x180`, `model\s+ok\s+test-marker`, `gnss\s+ok\s+fix at 2026-05-04`, `broker\s+ok`, `gpio\s+(ok|warn)`, `all checks passed`} {
			if !regexp.MustCompile(want).MatchString(out.String()) {
				t.Errorf("selftest output lacks %q:\n%s", want, out.String())
			}
		}
		bad := strings.Replace(strings.Replace(fwMustRead(t, cfg), "walk.avi", "nowhere.avi", 1), b.URL(), "tcp://127.0.0.1:1", 1)
		badPath := filepath.Join(t.TempDir(), "bad.yaml")
		os.WriteFile(badPath, []byte(bad), 0o600)
		out.Reset()
		err := cmdSelftest(context.Background(), []string{"--config", badPath, "--gnss-timeout", "20s"}, &out, io.Discard)
		if err == nil || !regexp.MustCompile(`camera\s+FAIL .*nowhere.avi`).MatchString(out.String()) ||
			!regexp.MustCompile(`broker\s+FAIL .*127.0.0.1:1`).MatchString(out.String()) {
			t.Errorf("selftest with a missing camera and broker: err %v\n%s", err, out.String())
		}
	})

	t.Run("run", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		var stderr bytes.Buffer
		go func() {
			done <- cmdRun(ctx, []string{"--config", cfg, "--start"}, io.Discard, &fwSyncWriter{w: &stderr})
		}()
		// The metrics endpoint shows frames going through the detector.
		deadline := time.Now().Add(60 * time.Second)
		frames := 0
		for frames < 20 && time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
			resp, err := http.Get("http://" + metricsAddr + "/metrics")
			if err != nil {
				continue
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if m := regexp.MustCompile(`camaudit_frames_total (\d+)`).FindSubmatch(body); m != nil {
				frames, _ = strconv.Atoi(string(m[1]))
			}
		}
		if frames < 20 {
			t.Fatalf("metrics show %d frames analysed after 60 s", frames)
		}
		cancel() // SIGTERM
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("run did not stop within 30 s of SIGTERM")
		}
		// The walk was ended and its coverage published.
		deadline = time.Now().Add(10 * time.Second)
		for {
			_, msgs := col.snapshot()
			if msgs[wire.KindCoverage] == 1 || time.Now().After(deadline) {
				if msgs[wire.KindCoverage] != 1 {
					t.Errorf("coverage messages %d, want 1", msgs[wire.KindCoverage])
				}
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		j, _, err := journal.Open(jdir, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer j.Close()
		if _, open := j.OpenWalk(); open {
			t.Error("walk still open after SIGTERM")
		}
		if n := j.PendingCount(); n != 0 {
			t.Errorf("%d messages left in the journal after a clean stop with a broker", n)
		}
	})
}

func fwMustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fwSyncWriter serialises writes from the logger's goroutines.
type fwSyncWriter struct {
	mu chan struct{}
	w  io.Writer
}

func (s *fwSyncWriter) Write(p []byte) (int, error) {
	if s.mu == nil {
		s.mu = make(chan struct{}, 1)
	}
	s.mu <- struct{}{}
	defer func() { <-s.mu }()
	return s.w.Write(p)
}
