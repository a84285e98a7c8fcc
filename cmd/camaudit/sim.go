package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/camaudit/camaudit/sim"
	"gocv.io/x/gocv"
)

// cmdSim dispatches "camaudit sim walk|dataset|sheet".
func cmdSim(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(stderr, `usage: camaudit sim <walk|dataset|sheet> [flags]

  walk     render a simulated walk: video, NMEA log and ground truth
  dataset  render a YOLO training set of surveillance cameras and look-alikes
  sheet    write a contact sheet of walk frames and dataset samples (JPEG)

Run 'camaudit sim <command> -h' for its flags.`)
		if len(args) == 0 {
			return fmt.Errorf("%w: missing sim command", errUsage)
		}
		return nil
	}
	switch args[0] {
	case "walk":
		return cmdSimWalk(ctx, args[1:], stdout, stderr)
	case "dataset":
		return cmdSimDataset(ctx, args[1:], stdout, stderr)
	case "sheet":
		return cmdSimSheet(ctx, args[1:], stdout, stderr)
	}
	return fmt.Errorf("%w: unknown sim command %q (want walk, dataset or sheet)", errUsage, args[0])
}

func cmdSimWalk(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("sim walk", stderr)
	scen := fs.String("scenario", "", "scenario YAML file (required; see docs/sim.md)")
	out := fs.String("out", "", "output folder (required)")
	bgDir := fs.String("backgrounds", "", "folder of street photos for photo facades (default: the scenario's backgrounds field)")
	workers := fs.Int("workers", 0, "rendering goroutines (0 = one per CPU)")
	maxFrames := fs.Int("frames", 0, "render only the first N frames (0 = the whole walk)")
	quiet := fs.Bool("quiet", false, "no progress on stderr")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *scen == "" || *out == "" {
		return fmt.Errorf("%w: --scenario and --out are required", errUsage)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	sc, err := sim.LoadScenario(*scen)
	if err != nil {
		return err
	}
	dir := *bgDir
	if dir == "" && sc.Backgrounds != "" {
		dir = sc.Backgrounds
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(sc.Dir(), dir)
		}
	}
	var bg *sim.Backgrounds
	if dir != "" {
		if bg, err = sim.LoadBackgrounds(dir, sim.SplitAll, 0); err != nil {
			return err
		}
		defer bg.Close()
	}
	var prog io.Writer = stderr
	if *quiet {
		prog = nil
	}
	meta, err := sim.RunWalk(ctx, sc, bg, *out, sim.WalkOptions{Workers: *workers, Progress: prog, MaxFrames: *maxFrames})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: %d frames %dx%d at %g fps (%.0f s, %.0f m), %d cameras\n",
		*out, meta.Frames, meta.Width, meta.Height, meta.FPS, meta.Duration, meta.RouteM, meta.Cameras)
	return nil
}

// loadBackgroundsFlag loads --backgrounds with its split, or returns nil.
func loadBackgroundsFlag(dir, split string) (*sim.Backgrounds, error) {
	if dir == "" {
		return nil, nil
	}
	s := sim.BackgroundSplit(strings.ToLower(split))
	if s != sim.SplitAll && s != sim.SplitTrain && s != sim.SplitHoldout {
		return nil, fmt.Errorf("%w: --bg-split must be all, train or holdout, got %q", errUsage, split)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("%w: --backgrounds %s is not a folder", errUsage, dir)
	}
	return sim.LoadBackgrounds(dir, s, 0)
}

func cmdSimDataset(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("sim dataset", stderr)
	n := fs.Int("n", 1000, "number of images")
	seed := fs.Int64("seed", 1, "random seed: the same seed writes the same files")
	out := fs.String("out", "", "output folder (required)")
	bgDir := fs.String("backgrounds", "", "folder of street photos to use as backgrounds and facades (e.g. ../shared/assets/backgrounds)")
	bgSplit := fs.String("bg-split", "all", "which photos of --backgrounds to use: all, train or holdout (about 1 in 5, chosen by file name)")
	models := fs.String("models", "", "folder of extra camera meshes (OBJ, e.g. ../shared/assets/camera-models)")
	size := fs.String("size", "640x640", "image size WxH")
	valFrac := fs.Float64("val-frac", 0.1, "share of images in the validation split")
	negFrac := fs.Float64("neg-frac", 0.3, "share of images without any camera")
	workers := fs.Int("workers", 0, "rendering goroutines (0 = one per CPU); the output does not depend on it")
	threads := fs.Int("cv-threads", -1, "OpenCV threads per operation (-1 = OpenCV's default)")
	quiet := fs.Bool("quiet", false, "no progress on stderr")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return fmt.Errorf("%w: --out is required", errUsage)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	var w, h int
	if _, err := fmt.Sscanf(*size, "%dx%d", &w, &h); err != nil || fmt.Sprintf("%dx%d", w, h) != *size {
		return fmt.Errorf("%w: --size must look like 640x640, got %q", errUsage, *size)
	}
	if *n <= 0 {
		return fmt.Errorf("%w: --n must be > 0, got %d", errUsage, *n)
	}
	if *threads >= 0 {
		sim.SetCVThreads(*threads)
	}
	bg, err := loadBackgroundsFlag(*bgDir, *bgSplit)
	if err != nil {
		return err
	}
	defer bg.Close()
	var ms *sim.ModelSet
	if *models != "" {
		if ms, err = sim.LoadModels(*models); err != nil {
			return err
		}
	}
	var prog io.Writer = stderr
	if *quiet {
		prog = nil
	}
	sum, err := sim.GenerateDataset(ctx, *out, sim.DatasetOptions{N: *n, Seed: *seed, Width: w, Height: h,
		ValFrac: *valFrac, NegFrac: *negFrac, Backgrounds: bg, Models: ms, Workers: *workers, Progress: prog})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: %d images (%d train, %d val, %d without cameras), cameras %v, by size %v\n",
		*out, sum.Images, sum.Train, sum.Val, sum.Negatives, sum.Objects, sum.BySize)
	return nil
}

func cmdSimSheet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("sim sheet", stderr)
	out := fs.String("out", "docs/images/sim-contact-sheet.jpg", "JPEG file to write")
	var scens multiFlag
	fs.Var(&scens, "scenario", "scenario to take walk frames from (repeatable; default sim/testdata/street20.yaml)")
	bgDir := fs.String("backgrounds", "", "folder of street photos (as for sim dataset)")
	seed := fs.Int64("seed", 1, "dataset seed for the samples")
	quality := fs.Int("quality", 80, "JPEG quality")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if len(scens) == 0 {
		scens = multiFlag{"sim/testdata/street20.yaml"}
	}
	var opt sim.SheetOptions
	for _, p := range scens {
		sc, err := sim.LoadScenario(p)
		if err != nil {
			return err
		}
		opt.Walks = append(opt.Walks, sc)
	}
	bg, err := loadBackgroundsFlag(*bgDir, "all")
	if err != nil {
		return err
	}
	defer bg.Close()
	opt.Backgrounds, opt.Seed, opt.Boxes = bg, *seed, true
	sheet, err := sim.ContactSheet(opt)
	if err != nil {
		return err
	}
	defer sheet.Close()
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", filepath.Dir(*out), err)
	}
	if !gocv.IMWriteWithParams(*out, sheet, []int{gocv.IMWriteJpegQuality, *quality}) {
		return fmt.Errorf("writing %s failed", *out)
	}
	fmt.Fprintf(stdout, "wrote %s (%dx%d)\n", *out, sheet.Cols(), sheet.Rows())
	return nil
}

// multiFlag collects a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
