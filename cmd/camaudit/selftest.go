package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"gocv.io/x/gocv"

	"github.com/camaudit/camaudit/firmware"
	"github.com/camaudit/camaudit/firmware/uplink"
	"github.com/camaudit/camaudit/hw"
)

// cmdSelftest checks every part the device needs and says what is wrong.
func cmdSelftest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("selftest", stderr)
	configPath := fs.String("config", "/etc/camaudit/camaudit.yaml", "device configuration `FILE`")
	gnssWait := fs.Duration("gnss-timeout", 15*time.Second, "how long to wait for a GNSS fix")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: camaudit selftest [--config FILE] [--gnss-timeout D]")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	failed := 0
	report := func(part string, err error, ok string) {
		if err != nil {
			failed++
			fmt.Fprintf(stdout, "%-8s FAIL  %v\n", part, err)
			return
		}
		fmt.Fprintf(stdout, "%-8s ok    %s\n", part, ok)
	}
	cfg, err := firmware.Load(*configPath)
	report("config", err, *configPath)
	if err != nil {
		return errors.New("the configuration is unusable; fix it first")
	}

	// Journal: the directory must be writable.
	probe := filepath.Join(cfg.Journal.Dir, ".selftest")
	err = os.MkdirAll(cfg.Journal.Dir, 0o700)
	if err == nil {
		err = os.WriteFile(probe, []byte("ok"), 0o600)
		os.Remove(probe)
	}
	report("journal", selftestHint(err, "journal directory %s is not writable", cfg.Journal.Dir), cfg.Journal.Dir)

	// Camera: one frame.
	w, h, err := hw.Probe(cfg.Camera.Source)
	report("camera", selftestHint(err, "check the cable and that the camera is enabled (libcamera-hello --list-cameras)"), fmt.Sprintf("%dx%d from %s", w, h, cfg.Camera.Source))

	// Model: load, probe, and run one blank frame.
	det, err := openDetector(cfg.Model)
	if err == nil {
		m := gocv.NewMatWithSize(max(h, 480), max(w, 640), gocv.MatTypeCV8UC3)
		t0 := time.Now()
		_, err = det.Detect(m)
		m.Close()
		if err == nil {
			ver := ", no verifier"
			if det.Verifying() {
				ver = ", verifier on"
			}
			report("model", nil, fmt.Sprintf("%s %s (one frame in %v%s)", det.Bundle().Name, det.Bundle().Version, time.Since(t0).Round(time.Millisecond), ver))
		}
		det.Close()
	}
	if err != nil {
		report("model", err, "")
	}

	// GNSS: a fix within the timeout.
	gctx, cancel := context.WithTimeout(ctx, *gnssWait)
	src, closer, err := openGNSS(gctx, cfg.GNSS.Source)
	if err == nil {
		var fixes, valid int
		for gctx.Err() == nil && valid == 0 {
			f, ferr := src.Next(gctx)
			if ferr != nil {
				if fixes == 0 {
					err = fmt.Errorf("no data from %s within %v: %w", cfg.GNSS.Source, *gnssWait, ferr)
				}
				break
			}
			fixes++
			if f.Valid {
				valid++
				report("gnss", nil, fmt.Sprintf("fix at %s, %d satellites, HDOP %.1f", f.Time.Format(time.RFC3339), f.Sats, f.HDOP))
			}
		}
		if err == nil && valid == 0 {
			err = fmt.Errorf("%s sends data (%d epochs) but no position fix yet: go outdoors, wait for the sky", cfg.GNSS.Source, fixes)
		}
		closer.Close()
	}
	cancel()
	if err != nil {
		report("gnss", err, "")
	}

	// GPIO panel.
	pctx, pcancel := context.WithCancel(ctx)
	p := hw.OpenPanel(hw.PanelPins{Button: cfg.Panel.Button, Recording: cfg.Panel.LEDRecording, Fix: cfg.Panel.LEDFix,
		Uplink: cfg.Panel.LEDUplink, Fault: cfg.Panel.LEDFault}, nil)
	pcancel()
	_ = pctx
	if p.Problem() != "" {
		// Not fatal: the device runs without a panel (walks then start with
		// run --start or SIGUSR1).
		fmt.Fprintf(stdout, "%-8s warn  %s (the device runs without button and LEDs)\n", "gpio", p.Problem())
	} else {
		report("gpio", nil, fmt.Sprintf("button %s, LEDs %s %s %s %s", cfg.Panel.Button, cfg.Panel.LEDRecording, cfg.Panel.LEDFix, cfg.Panel.LEDUplink, cfg.Panel.LEDFault))
	}

	// Broker.
	if cfg.MQTT.Broker == "" {
		fmt.Fprintf(stdout, "%-8s ok    no broker configured (everything stays in the journal)\n", "broker")
	} else {
		pw, err := uplink.ReadPassword(cfg.MQTT.PasswordFile)
		opt := uplink.Options{Broker: cfg.MQTT.Broker, Device: cfg.Device, Username: cfg.MQTT.Username, Password: pw}
		if err == nil && (cfg.MQTT.CAFile != "" || cfg.MQTT.CertFile != "") {
			opt.TLS, err = uplink.TLSConfig(cfg.MQTT.CAFile, cfg.MQTT.CertFile, cfg.MQTT.KeyFile)
		}
		if err == nil {
			bctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			err = uplink.Probe(bctx, opt)
			cancel()
		}
		report("broker", selftestHint(err, "check the network, the broker address and the credentials"), cfg.MQTT.Broker)
	}
	if failed > 0 {
		return fmt.Errorf("%d check(s) failed", failed)
	}
	fmt.Fprintln(stdout, "all checks passed")
	return nil
}

func selftestHint(err error, format string, a ...any) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w (%s)", err, fmt.Sprintf(format, a...))
}
