package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/camaudit/camaudit/eval"
	"github.com/camaudit/camaudit/geo"
	"github.com/camaudit/camaudit/gnss"
	"github.com/camaudit/camaudit/internal/brokertest"
	"github.com/camaudit/camaudit/internal/freeport"
	"github.com/camaudit/camaudit/wire"
)

// fwHelperEnv makes the test binary run camaudit itself (for kill -9 tests
// and peak-RSS measurements of a replay in its own process).
const fwHelperEnv = "CAMAUDIT_FIRMWARE_HELPER_ARGS"

func TestFirmwareHelperProcess(t *testing.T) {
	args := os.Getenv(fwHelperEnv)
	if args == "" {
		return // not a helper run: nothing to do
	}
	os.Exit(runMain(strings.Split(args, "\x1f"), os.Stdout, os.Stderr))
}

func fwHelperCmd(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestFirmwareHelperProcess$")
	cmd.Env = append(os.Environ(), fwHelperEnv+"="+strings.Join(args, "\x1f"))
	return cmd
}

func fwRun(t *testing.T, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := runMain(args, &out, &errb); code != 0 {
		t.Fatalf("camaudit %s: exit %d\n%s%s", strings.Join(args, " "), code, out.String(), errb.String())
	}
	return out.String()
}

// fwCollector subscribes to a device's sightings and counts each id.
type fwCollector struct {
	mu   sync.Mutex
	ids  map[string]int
	msgs map[wire.Kind]int
}

func fwCollect(t *testing.T, url, device string) *fwCollector {
	t.Helper()
	c := &fwCollector{ids: map[string]int{}, msgs: map[wire.Kind]int{}}
	cl := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID("collector-" + device))
	if tok := cl.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("collector connect: %v", tok.Error())
	}
	t.Cleanup(func() { cl.Disconnect(100) })
	tok := cl.Subscribe("camaudit/v1/"+device+"/#", 1, func(_ mqtt.Client, m mqtt.Message) {
		_, msg, err := wire.Decode(m.Topic(), m.Payload(), time.Time{})
		if err != nil {
			t.Errorf("the hub would reject %s: %v", m.Topic(), err)
			return
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		c.msgs[wire.KindOf(msg)]++
		if s, ok := msg.(*wire.Sighting); ok {
			c.ids[s.ID]++
		}
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	return c
}

// checkExactlyOnce waits (up to 20 s) for the walk's messages and checks
// that the subscriber received every sighting of want (the replay's
// confirmed ids) exactly once and nothing else, counts, and one coverage.
func (c *fwCollector) checkExactlyOnce(t *testing.T, want []string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var ids map[string]int
	var msgs map[wire.Kind]int
	for {
		ids, msgs = c.snapshot()
		if len(ids) >= len(want) && msgs[wire.KindCoverage] > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, id := range want {
		if ids[id] != 1 {
			t.Errorf("sighting %s received %d times, want exactly once", id, ids[id])
		}
	}
	if len(ids) != len(want) {
		t.Errorf("subscriber got %d distinct sightings, replay confirmed %d", len(ids), len(want))
	}
	if msgs[wire.KindCoverage] != 1 || msgs[wire.KindCounts] == 0 {
		t.Errorf("counts %d, coverage %d messages; want >= 1 and 1", msgs[wire.KindCounts], msgs[wire.KindCoverage])
	}
}

func (c *fwCollector) snapshot() (map[string]int, map[wire.Kind]int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids := map[string]int{}
	for k, v := range c.ids {
		ids[k] = v
	}
	msgs := map[wire.Kind]int{}
	for k, v := range c.msgs {
		msgs[k] = v
	}
	return ids, msgs
}

func fwSightingIDs(t *testing.T, path string) []string {
	t.Helper()
	ps, err := eval.ReadPoints(path)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, p := range ps {
		ids = append(ids, p.ID)
	}
	return ids
}

// TestFirmwareOnSimulatedWalk is issue 6's integration test: the simulator
// walks past 23 cameras with GNSS noise sigma 3 m; replay (truth-box
// detector) publishes to a real Mosquitto; a subscriber receives every
// confirmed sighting exactly once; eval walk meets the thresholds. Then a
// replay killed with SIGKILL and restarted on the same journal mints no new
// ids, and gpsd (fed by gpsfake with the walk's NMEA) delivers the fixes to
// the firmware's GNSS source.
func TestFirmwareOnSimulatedWalk(t *testing.T) {
	walk := simWalk(t, "../../firmware/testdata/walk22.yaml")
	video, nmea := filepath.Join(walk, "walk.avi"), filepath.Join(walk, "track.nmea")
	truthBoxes, truth := filepath.Join(walk, "frames.jsonl"), filepath.Join(walk, "truth.geojson")

	t.Run("replay-mqtt-eval", func(t *testing.T) {
		b := brokertest.Start(t, "")
		col := fwCollect(t, b.URL(), "sim-walker")
		out := filepath.Join(t.TempDir(), "sightings.geojson")
		fwRun(t, "replay", "--video", video, "--nmea", nmea, "--truth", truthBoxes, "--broker", b.URL(),
			"--device", "sim-walker", "--out", out, "--quiet")
		col.checkExactlyOnce(t, fwSightingIDs(t, out))
		var r eval.WalkResult
		if err := json.Unmarshal([]byte(fwRun(t, "eval", "walk", "--truth", truth, "--sightings", out, "--json")), &r); err != nil {
			t.Fatal(err)
		}
		t.Logf("eval walk: %d true, %d found, precision %.3f recall %.3f count error %.3f median %.2f m p90 %.2f m",
			r.Truth, r.Found, r.Precision, r.Recall, r.CountError, r.MedianErrorM, r.P90ErrorM)
		if r.Truth < 20 || r.Recall < 0.9 || r.Precision < 0.9 || r.CountError > 0.05 || r.MedianErrorM > 5 {
			t.Errorf("eval walk %+v: want >= 20 cameras, recall >= 0.9, precision >= 0.9, count error <= 5 %%, median error <= 5 m", r)
		}
	})

	t.Run("kill9-resume", func(t *testing.T) {
		b := brokertest.Start(t, "")
		col := fwCollect(t, b.URL(), "sim-killed")
		dir := t.TempDir()
		jdir, out := filepath.Join(dir, "journal"), filepath.Join(dir, "sightings.geojson")
		args := []string{"replay", "--video", video, "--nmea", nmea, "--truth", truthBoxes, "--broker", b.URL(),
			"--device", "sim-killed", "--journal", jdir, "--out", out, "--quiet"}
		// Kill the replay as a power cut would, three times, each time once
		// it has journalled more (a few sightings further on).
		logPath := filepath.Join(jdir, "journal.log")
		size := func() int64 {
			st, err := os.Stat(logPath)
			if err != nil {
				return 0
			}
			return st.Size()
		}
		for i := 0; i < 3; i++ {
			before := size()
			cmd := fwHelperCmd(args...)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan struct{})
			go func() { _ = cmd.Wait(); close(exited) }()
			deadline := time.Now().Add(60 * time.Second)
			for size() < before+3000 && time.Now().Before(deadline) {
				select {
				case <-exited:
					t.Fatalf("replay %d finished before it could be killed", i+1)
				case <-time.After(5 * time.Millisecond):
				}
			}
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-exited
			t.Logf("kill %d: journal %d -> %d bytes", i+1, before, size())
		}
		cmd := fwHelperCmd(args...)
		if outb, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("final replay: %v\n%s", err, outb)
		}
		final := fwSightingIDs(t, out)
		if len(final) < 20 {
			t.Fatalf("resumed replay confirmed %d sightings, want >= 20", len(final))
		}
		finalSet := map[string]bool{}
		for _, id := range final {
			finalSet[id] = true
		}
		waitFor := time.Now().Add(20 * time.Second)
		for {
			ids, _ := col.snapshot()
			if len(ids) >= len(final) || time.Now().After(waitFor) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		ids, _ := col.snapshot()
		for id, n := range ids {
			if !finalSet[id] {
				t.Errorf("sighting %s published before a crash is not in the final walk: a restart minted a new id", id)
			}
			if n > 2 {
				t.Errorf("sighting %s received %d times", id, n)
			}
		}
		for _, id := range final {
			if ids[id] == 0 {
				t.Errorf("sighting %s never reached the broker", id)
			}
		}
		// A run after completion publishes nothing new and mints nothing.
		again := fwRun(t, args...)
		if !strings.Contains(again, "already replayed") {
			t.Errorf("replay after completion: %q", again)
		}
		if got := fwSightingIDs(t, out); len(got) != len(final) {
			t.Errorf("after a completed walk: %d sightings, want %d", len(got), len(final))
		}
	})

	t.Run("gpsd", func(t *testing.T) {
		if _, err := exec.LookPath("gpsfake"); err != nil {
			t.Fatalf("gpsfake not installed (Debian gpsd-clients; make setup installs it): %v", err)
		}
		want, _, err := gnss.ReadFile(nmea)
		if err != nil {
			t.Fatal(err)
		}
		byTime := map[time.Time]gnss.Fix{}
		for _, f := range want {
			byTime[f.Time] = f
		}
		port := freeport.Get(t)
		gf := exec.Command("gpsfake", "-1", "-q", "-n", "-c", "0.005", "-P", strconv.Itoa(port), nmea)
		gf.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		var gfOut bytes.Buffer
		gf.Stdout, gf.Stderr = &gfOut, &gfOut
		if err := gf.Start(); err != nil {
			t.Fatalf("starting gpsfake: %v", err)
		}
		defer func() {
			_ = syscall.Kill(-gf.Process.Pid, syscall.SIGTERM)
			_ = gf.Wait()
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		var src interface {
			Next(context.Context) (gnss.Fix, error)
		}
		for src == nil && ctx.Err() == nil {
			g, closer, err := openGNSS(ctx, "gpsd:127.0.0.1:"+strconv.Itoa(port))
			if err == nil {
				defer closer.Close()
				src = g
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if src == nil {
			t.Fatalf("gpsd on port %d never answered: %s", port, gfOut.String())
		}
		matched, valid := 0, 0
		for matched < 150 && ctx.Err() == nil {
			f, err := src.Next(ctx)
			if err != nil {
				break
			}
			if !f.Valid {
				continue
			}
			valid++
			if w, ok := byTime[f.Time]; ok && w.Valid {
				if d := geo.Distance(w.Pos, f.Pos); d > 0.05 {
					t.Errorf("fix at %v: gpsd says %v, NMEA says %v (%.2f m apart)", f.Time, f.Pos, w.Pos, d)
				}
				if f.HasCourse && w.HasCourse && math.Abs(geo.AngleDiff(f.Course, w.Course)) > 0.5 {
					t.Errorf("fix at %v: course %v vs %v", f.Time, f.Course, w.Course)
				}
				matched++
			}
		}
		if matched < 150 {
			t.Fatalf("received %d valid fixes from gpsd, %d matching the NMEA log; want >= 150\n%s", valid, matched, gfOut.String())
		}
	})
}
