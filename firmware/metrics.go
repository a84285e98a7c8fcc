package firmware

import (
	"fmt"
	"net/http"
	"sync/atomic"
)

// Metrics are the pipeline's counters, served as Prometheus text on
// /metrics (off by default; bind it to 127.0.0.1).
type Metrics struct {
	Frames     atomic.Int64 // frames analysed
	Dropped    atomic.Int64 // frames dropped to stay real-time
	Detections atomic.Int64
	Sightings  atomic.Int64 // sightings confirmed
	Queue      atomic.Int64 // frames waiting for the detector
	Pending    atomic.Int64 // journal messages waiting for the broker
	Fixes      atomic.Int64 // GNSS fixes with a position
	DetectNS   atomic.Int64 // total detector time, nanoseconds
	// JournalDropped counts optional journal records (walk checkpoints,
	// evidence) dropped because the disk was full.
	JournalDropped atomic.Int64
	// DiskFull is 1 while the journal's disk is full (journal.DiskFull).
	DiskFull atomic.Int64
}

// ServeHTTP writes the counters in the Prometheus text format.
func (m *Metrics) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	for _, c := range []struct {
		name, kind, help string
		v                int64
	}{
		{"camaudit_frames_total", "counter", "Frames analysed by the detector.", m.Frames.Load()},
		{"camaudit_frames_dropped_total", "counter", "Frames dropped to stay real-time.", m.Dropped.Load()},
		{"camaudit_detections_total", "counter", "Camera detections.", m.Detections.Load()},
		{"camaudit_sightings_total", "counter", "Sightings confirmed.", m.Sightings.Load()},
		{"camaudit_fixes_total", "counter", "GNSS fixes with a position.", m.Fixes.Load()},
		{"camaudit_queue_depth", "gauge", "Frames waiting for the detector.", m.Queue.Load()},
		{"camaudit_journal_pending", "gauge", "Messages waiting for the broker's acknowledgement.", m.Pending.Load()},
		{"camaudit_journal_dropped_total", "counter", "Optional journal records (checkpoints, evidence) dropped because the disk was full.", m.JournalDropped.Load()},
		{"camaudit_disk_full", "gauge", "1 while the journal's disk is full (sightings use the reserve; optional data is dropped).", m.DiskFull.Load()},
	} {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n%s %d\n", c.name, c.help, c.name, c.kind, c.name, c.v)
	}
	fmt.Fprintf(w, "# HELP camaudit_detect_seconds_total Time spent in the detector.\n# TYPE camaudit_detect_seconds_total counter\ncamaudit_detect_seconds_total %.3f\n", float64(m.DetectNS.Load())/1e9)
}
