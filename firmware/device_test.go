package firmware

import (
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/camaudit/camaudit/firmware/journal"
	"github.com/camaudit/camaudit/firmware/uplink"
	"github.com/camaudit/camaudit/gnss"
	"github.com/camaudit/camaudit/internal/brokertest"
	"github.com/camaudit/camaudit/wire"
)

// The live tests' pace: a frame every framePace and a fix every fixPace
// (five frames per fix, as the synthetic walk's 5 fps and 1 Hz), 2.5 s for
// its 625 frames. The live device drops frames it cannot keep up with, so
// the pace leaves headroom for a loaded machine and for emulation under
// qemu (make test-arm64), where a faster pace lost frames and with them
// sightings.
const (
	framePace = 4 * time.Millisecond
	fixPace   = 5 * framePace
)

// paced plays back a synthetic walk's frames and fixes at a fixed pace, as
// a camera and a receiver would deliver them.
type pacedCamera struct {
	w    synthWalk
	i    int
	pace time.Duration
}

func (c *pacedCamera) Read(ctx context.Context) (Frame, error) {
	if c.i >= len(c.w.frames) {
		return Frame{}, io.EOF
	}
	select {
	case <-ctx.Done():
		return Frame{}, ctx.Err()
	case <-time.After(c.pace):
	}
	f := Frame{Seq: int64(c.i), Time: c.w.frames[c.i].t, Width: 1280, Height: 720}
	c.i++
	return f, nil
}

// synthDetector returns the synthetic walk's boxes for a frame.
type synthDetector struct{ w synthWalk }

func (d synthDetector) Detect(f Frame) ([]Detection, error) { return d.w.frames[f.Seq].dets, nil }

type pacedGNSS struct {
	fixes []gnss.Fix
	i     int
	pace  time.Duration
	done  chan struct{}
}

func (g *pacedGNSS) Next(ctx context.Context) (gnss.Fix, error) {
	if g.i >= len(g.fixes) {
		select {
		case <-g.done:
		default:
			close(g.done)
		}
		<-ctx.Done()
		return gnss.Fix{}, ctx.Err()
	}
	select {
	case <-ctx.Done():
		return gnss.Fix{}, ctx.Err()
	case <-time.After(g.pace):
	}
	f := g.fixes[g.i]
	g.i++
	return f, nil
}

// played reports whether every fix has been delivered.
func (g *pacedGNSS) played() bool {
	select {
	case <-g.done:
		return true
	default:
		return false
	}
}

type recPanel struct {
	mu  sync.Mutex
	led map[LED]Pattern
	ch  chan Press
}

func (p *recPanel) Presses() <-chan Press { return p.ch }
func (p *recPanel) Set(l LED, pat Pattern) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.led[l] = pat
}
func (p *recPanel) get(l LED) Pattern {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.led[l]
}

// TestDeviceLive runs the live pipeline: paced camera and GNSS, the button,
// the journal and a real Mosquitto. A short press starts the walk, a long
// press ends it; every confirmed sighting, the counts and the coverage
// arrive at a subscriber; SIGTERM (ctx cancel) leaves status offline.
func TestDeviceLive(t *testing.T) {
	b := brokertest.Start(t, "")
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	w := makeSynthWalk(7, 3, t0)

	var mu sync.Mutex
	got := map[string][]string{} // kind -> payloads
	sub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("sub-dev"))
	if tok := sub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer sub.Disconnect(100)
	sub.Subscribe("camaudit/v1/pi-live/#", 1, func(_ mqtt.Client, m mqtt.Message) {
		_, k, _ := wire.ParseTopic(m.Topic())
		mu.Lock()
		got[string(k)] = append(got[string(k)], string(m.Payload()))
		mu.Unlock()
	}).Wait()
	count := func(k wire.Kind) int {
		mu.Lock()
		defer mu.Unlock()
		return len(got[string(k)])
	}

	j, _, err := journal.Open(t.TempDir(), quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	cfg := Default()
	cfg.Device = "pi-live"
	cfg.Telemetry.Interval = 0.2
	cfg.Metrics.Addr = ""
	up, err := uplink.New(uplink.Options{Broker: b.URL(), Device: cfg.Device, Log: quietLog()}, j)
	if err != nil {
		t.Fatal(err)
	}
	panel := &recPanel{led: map[LED]Pattern{}, ch: make(chan Press, 2)}
	g := &pacedGNSS{fixes: w.fixes, pace: fixPace, done: make(chan struct{})}
	metrics := &Metrics{}
	dev := &Device{Config: cfg, Camera: &pacedCamera{w: w, pace: framePace}, Detector: synthDetector{w},
		GNSS: g, Clock: UTCClock{}, Panel: panel, Journal: j, Uplink: up, Model: "test", Width: 1280, Height: 720,
		Log: quietLog(), Metrics: metrics}
	// Optics as in the synthetic walk.
	dev.Config.Camera.Mount = Mount{PitchDeg: 10}
	panel.ch <- ShortPress // start
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- dev.Run(ctx) }()

	waitUntil(t, "GNSS played back", 30*time.Second, g.played)
	if panel.get(LEDRecording) != On {
		t.Errorf("recording LED %v while walking, want on", panel.get(LEDRecording))
	}
	srv := httptest.NewServer(metrics)
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	srv.Close()
	if !strings.Contains(string(body), "camaudit_frames_total ") || metrics.Frames.Load() == 0 {
		t.Errorf("metrics: frames %d, body:\n%s", metrics.Frames.Load(), body)
	}
	panel.ch <- LongPress // end the walk
	waitUntil(t, "coverage published", 30*time.Second, func() bool { return count(wire.KindCoverage) == 1 })
	if n := count(wire.KindSightings); n < 4 {
		t.Errorf("sightings received = %d, want >= 4 of 5", n)
	}
	if count(wire.KindCounts) == 0 {
		t.Error("no counts received")
	}
	ids := map[string]bool{}
	mu.Lock()
	for _, p := range got[string(wire.KindSightings)] {
		var s wire.Sighting
		json.Unmarshal([]byte(p), &s)
		if ids[s.ID] {
			t.Errorf("sighting %s received twice", s.ID)
		}
		ids[s.ID] = true
	}
	mu.Unlock()
	waitUntil(t, "journal empty", 10*time.Second, func() bool { return j.PendingCount() == 0 })
	if count(wire.KindTelemetry) == 0 {
		t.Error("no telemetry received")
	}
	if panel.get(LEDRecording) != Off {
		t.Errorf("recording LED %v after the walk, want off", panel.get(LEDRecording))
	}
	cancel() // SIGTERM
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if _, ok := j.OpenWalk(); ok {
		t.Error("walk still open after it ended")
	}
	// The last status is offline (retained).
	waitUntil(t, "status offline", 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		st := got[string(wire.KindStatus)]
		return len(st) > 0 && st[len(st)-1] == wire.StatusOffline
	})
}

// TestDeviceResumesWalk: a walk open in the journal (the device was killed
// mid-walk) is continued with the same id, and SIGTERM ends it cleanly.
func TestDeviceResumesWalk(t *testing.T) {
	dir := t.TempDir()
	j, _, err := journal.Open(dir, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	walkID := "0190a000-0000-7000-8000-0000000000ff"
	if err := j.SaveWalk(journal.Walk{ID: walkID, State: "walking", Started: time.Date(2026, 5, 1, 11, 0, 0, 0, time.UTC),
		Cells: map[string]float64{"891f1d4a5afffff": 50}}, false); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	w := makeSynthWalk(7, 3, t0)
	g := &pacedGNSS{fixes: w.fixes, pace: 5 * time.Millisecond, done: make(chan struct{})}
	cfg := Default()
	cfg.Device = "pi-resume"
	cfg.Camera.Mount = Mount{PitchDeg: 10}
	dev := &Device{Config: cfg, Camera: &pacedCamera{w: w, pace: time.Millisecond}, Detector: synthDetector{w}, GNSS: g,
		Clock: UTCClock{}, Journal: j, Width: 1280, Height: 720, Log: quietLog()}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- dev.Run(ctx) }()
	waitUntil(t, "GNSS played back", 30*time.Second, g.played)
	time.Sleep(300 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ss := j.Sightings(walkID)
	if len(ss) < 4 {
		t.Errorf("resumed walk %s has %d sightings, want >= 4", walkID, len(ss))
	}
	var cov *wire.Coverage
	for _, m := range j.Pending() {
		if m.Kind == wire.KindCoverage {
			cov = &wire.Coverage{}
			json.Unmarshal(m.Payload, cov)
		}
	}
	if cov == nil || cov.Walk != walkID || !cov.From.Equal(time.Date(2026, 5, 1, 11, 0, 0, 0, time.UTC)) {
		t.Fatalf("coverage after SIGTERM = %+v, want the resumed walk from its original start", cov)
	}
	found := false
	for _, c := range cov.Cells {
		found = found || c == "891f1d4a5afffff"
	}
	if !found {
		t.Error("cells walked before the restart missing from coverage")
	}
}

func waitUntil(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
