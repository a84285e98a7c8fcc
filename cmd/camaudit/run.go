package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/camaudit/camaudit/firmware"
	"github.com/camaudit/camaudit/firmware/journal"
	"github.com/camaudit/camaudit/hw"
)

// cmdRun runs the device pipeline from a config file until SIGTERM or
// Ctrl-C. The button starts, pauses and ends walks; --start begins one at
// once; SIGUSR1 toggles start/pause and SIGUSR2 ends the walk.
func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("run", stderr)
	configPath := fs.String("config", "/etc/camaudit/camaudit.yaml", "device configuration `FILE`")
	start := fs.Bool("start", false, "start a walk at once (without waiting for the button)")
	verbose := fs.Bool("v", false, "debug logging")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: camaudit run --config FILE [--start] [-v]")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("%w: unexpected arguments %v", errUsage, fs.Args())
	}
	cfg, err := firmware.Load(*configPath)
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	j, rep, err := journal.Open(cfg.Journal.Dir, log)
	if err != nil {
		return err
	}
	defer j.Close()
	log.Info("journal", "dir", cfg.Journal.Dir, "pending", rep.Pending, "damaged_regions", rep.Corrupt)

	det, err := openDetector(cfg.Model)
	if err != nil {
		return fmt.Errorf("model: %w", err)
	}
	defer det.Close()

	// A recording (file:, dir:) plays at its frame rate, like a camera.
	cam, err := hw.OpenCamera(cfg.Camera.Source, hw.CameraOptions{Realtime: true})
	if err != nil {
		return err
	}
	defer cam.Close()
	// The first frame gives the frame size for the optics.
	first, err := cam.Read(ctx)
	if err != nil {
		return fmt.Errorf("camera %s: %w", cfg.Camera.Source, err)
	}
	width, height := first.Mat.Cols(), first.Mat.Rows()
	first.Close()

	gsrc, gclose, err := openGNSS(ctx, cfg.GNSS.Source)
	if err != nil {
		return err
	}
	defer gclose.Close()

	pctx, pcancel := context.WithCancel(context.Background())
	defer pcancel()
	panel := newHWPanel(pctx, hw.OpenPanel(hw.PanelPins{Button: cfg.Panel.Button, Recording: cfg.Panel.LEDRecording,
		Fix: cfg.Panel.LEDFix, Uplink: cfg.Panel.LEDUplink, Fault: cfg.Panel.LEDFault}, log))

	dev := &firmware.Device{
		Config: cfg, Camera: hwCamera{cam}, Detector: modelDetector{det}, GNSS: gsrc, Clock: newGNSSClock(),
		Panel: panel, Journal: j, Model: det.Bundle().Name, Width: width, Height: height, Log: log,
		Metrics: &firmware.Metrics{},
	}
	if cfg.MQTT.Broker != "" {
		up, err := newUplink(cfg, j, log)
		if err != nil {
			return err
		}
		dev.Uplink = up
	} else {
		log.Info("no broker configured: everything stays in the journal")
	}
	events := make(chan firmware.Event, 4)
	dev.Events = events
	if *start {
		events <- firmware.EventStart
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(sigs)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case s := <-sigs:
				e := firmware.EventPress
				if s == syscall.SIGUSR2 {
					e = firmware.EventStop
				}
				select {
				case events <- e:
				default:
				}
			}
		}
	}()
	log.Info("running", "device", cfg.Device, "camera", cfg.Camera.Source, "frame", fmt.Sprintf("%dx%d", width, height),
		"gnss", cfg.GNSS.Source, "model", det.Bundle().Name, "threshold", det.Threshold(), "tile_scale", det.TileScale(), "verifier", det.Verifying())
	return dev.Run(ctx)
}
