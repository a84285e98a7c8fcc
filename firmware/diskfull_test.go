package firmware

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/camaudit/camaudit/firmware/journal"
	"github.com/camaudit/camaudit/firmware/uplink"
	"github.com/camaudit/camaudit/gnss"
	"github.com/camaudit/camaudit/internal/brokertest"
	"github.com/camaudit/camaudit/internal/fulldisk"
	"github.com/camaudit/camaudit/internal/syncbuf"
	"github.com/camaudit/camaudit/wire"
)

// gatedCamera and gatedGNSS hold the walk back until the gate opens.
type gatedCamera struct {
	Camera
	gate <-chan struct{}
}

func (c gatedCamera) Read(ctx context.Context) (Frame, error) {
	select {
	case <-c.gate:
	case <-ctx.Done():
		return Frame{}, ctx.Err()
	}
	return c.Camera.Read(ctx)
}

type gatedGNSS struct {
	GNSS
	gate <-chan struct{}
}

func (g gatedGNSS) Next(ctx context.Context) (gnss.Fix, error) {
	select {
	case <-g.gate:
	case <-ctx.Done():
		return gnss.Fix{}, ctx.Err()
	}
	return g.GNSS.Next(ctx)
}

// TestDeviceFullDisk runs the live device with its journal on a real
// filesystem that is full (a 2 MiB tmpfs filled to the last byte after the
// walk started): walk checkpoints (optional) are dropped first while the
// reserve stays for sightings; confirmed sightings then use the reserve
// and every one is journalled and published once; the device says so in
// its log, /metrics, the fault LED and telemetry.
func TestDeviceFullDisk(t *testing.T) {
	mnt := fulldisk.Mount(t, 2<<20)
	b := brokertest.Start(t, "")
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	w := makeSynthWalk(7, 3, t0)

	var mu sync.Mutex
	got := map[wire.Kind][][]byte{}
	sub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("sub-full"))
	if tok := sub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer sub.Disconnect(100)
	sub.Subscribe("camaudit/v1/pi-full/#", 1, func(_ mqtt.Client, m mqtt.Message) {
		_, k, _ := wire.ParseTopic(m.Topic())
		mu.Lock()
		got[k] = append(got[k], m.Payload())
		mu.Unlock()
	}).Wait()
	msgs := func(k wire.Kind) [][]byte {
		mu.Lock()
		defer mu.Unlock()
		return append([][]byte(nil), got[k]...)
	}

	var logs syncbuf.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	jdir := filepath.Join(mnt, "journal")
	j, _, err := journal.Open(jdir, log)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	cfg := Default()
	cfg.Device = "pi-full"
	cfg.Telemetry.Interval = 0.2
	cfg.Camera.Mount = Mount{PitchDeg: 10}
	up, err := uplink.New(uplink.Options{Broker: b.URL(), Device: cfg.Device, Log: log}, j)
	if err != nil {
		t.Fatal(err)
	}
	gate := make(chan struct{})
	panel := &recPanel{led: map[LED]Pattern{}, ch: make(chan Press, 2)}
	g := &pacedGNSS{fixes: w.fixes, pace: fixPace, done: make(chan struct{})}
	metrics := &Metrics{}
	dev := &Device{Config: cfg, Camera: gatedCamera{&pacedCamera{w: w, pace: framePace}, gate}, Detector: synthDetector{w},
		GNSS: gatedGNSS{g, gate}, Clock: UTCClock{}, Panel: panel, Journal: j, Uplink: up, Model: "test", Width: 1280, Height: 720,
		Log: log, Metrics: metrics, Checkpoint: 50 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- dev.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()

	// The walk starts (its state is journalled), then the disk fills up.
	panel.ch <- ShortPress
	waitUntil(t, "the walk to start", 10*time.Second, func() bool { _, ok := j.OpenWalk(); return ok })
	_, filled := fulldisk.Fill(t, mnt)
	t.Logf("filled the tmpfs with %d bytes; %d bytes free", filled, fulldisk.Free(t, mnt))
	waitUntil(t, "a checkpoint to be dropped", 20*time.Second, func() bool { return j.Dropped() > 0 })
	if _, err := os.Stat(filepath.Join(jdir, "reserve")); err != nil {
		t.Fatalf("the reserve is gone before any sighting needed it: %v", err)
	}
	if !strings.Contains(logs.String(), "dropping optional data") {
		t.Errorf("the drop was not logged:\n%s", logs.String())
	}

	// Now the walk: sightings must be kept.
	close(gate)
	waitUntil(t, "GNSS played back", 30*time.Second, g.played)
	waitUntil(t, "the device to say the disk is full", 10*time.Second, func() bool { return metrics.DiskFull.Load() == 1 })
	srv := httptest.NewServer(metrics)
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	srv.Close()
	if !strings.Contains(string(body), "camaudit_disk_full 1\n") || !strings.Contains(string(body), "camaudit_journal_dropped_total ") || metrics.JournalDropped.Load() == 0 {
		t.Errorf("/metrics does not say the disk is full:\n%s", body)
	}
	if panel.get(LEDFault) != FastBlink {
		t.Errorf("fault LED %v on a full disk, want fast blink", panel.get(LEDFault))
	}
	panel.ch <- LongPress
	waitUntil(t, "coverage published", 30*time.Second, func() bool { return len(msgs(wire.KindCoverage)) == 1 })
	waitUntil(t, "the journal to empty", 30*time.Second, func() bool { return j.PendingCount() == 0 })

	walks := map[string]bool{}
	for _, s := range j.Sightings("") {
		walks[s.Sighting.Walk] = true
	}
	journalled := j.Sightings("")
	if len(journalled) < 4 || int64(len(journalled)) != metrics.Sightings.Load() || len(walks) != 1 {
		t.Fatalf("%d sightings journalled, %d confirmed, want all (>= 4) of one walk", len(journalled), metrics.Sightings.Load())
	}
	ids := map[string]int{}
	for _, p := range msgs(wire.KindSightings) {
		var s wire.Sighting
		if err := json.Unmarshal(p, &s); err != nil {
			t.Fatal(err)
		}
		ids[s.ID]++
	}
	for _, s := range journalled {
		if ids[s.Sighting.ID] != 1 {
			t.Errorf("sighting %s published %d times, want once", s.Sighting.ID, ids[s.Sighting.ID])
		}
	}
	if len(ids) != len(journalled) {
		t.Errorf("%d sightings published, %d journalled", len(ids), len(journalled))
	}
	if _, err := os.Stat(filepath.Join(jdir, "reserve")); err == nil {
		t.Error("the reserve is still there: the sightings did not need it, the disk was not full")
	}
	if !strings.Contains(logs.String(), "released the reserve") || !strings.Contains(logs.String(), "disk is full") {
		t.Errorf("the device did not log the full disk:\n%s", logs.String())
	}
	full := false
	for _, p := range msgs(wire.KindTelemetry) {
		var tel wire.Telemetry
		if err := json.Unmarshal(p, &tel); err != nil {
			t.Fatal(err)
		}
		full = full || tel.DiskFull && tel.JournalDropped > 0
	}
	if !full {
		t.Errorf("no telemetry said disk_full with dropped records (%d telemetry messages)", len(msgs(wire.KindTelemetry)))
	}
	t.Logf("full disk: %d checkpoints dropped, reserve released, %d sightings journalled and published once; metrics, LED, log and telemetry said so",
		j.Dropped(), len(journalled))
}
