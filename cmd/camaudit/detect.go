package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"gocv.io/x/gocv"

	"github.com/camaudit/camaudit/detect"
)

// detectResult is one line of "camaudit detect --json" (docs/DESIGN.md,
// "Interfaces that scripts rely on").
type detectResult struct {
	Image      string         `json:"image"`
	Width      int            `json:"width"`
	Height     int            `json:"height"`
	Detections []detectRecord `json:"detections"`
}

// detectRecord is one camera: box in original image pixels [x1, y1, x2, y2].
type detectRecord struct {
	Type  string  `json:"type"`
	Label string  `json:"label"`
	Score float64 `json:"score"`
	Box   [4]int  `json:"box"`
}

// imageExts lists the file name endings taken from a folder argument.
const imageExts = ".jpg .jpeg .png .bmp .webp .tif .tiff .pgm .ppm"

// isImageExt reports whether a file name ending (with its dot) is in imageExts.
func isImageExt(ext string) bool {
	ext = strings.ToLower(ext)
	for _, e := range strings.Fields(imageExts) {
		if e == ext {
			return true
		}
	}
	return false
}

// cmdDetect runs a model bundle over images and prints the cameras found.
func cmdDetect(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("detect", stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: camaudit detect [flags] IMAGE|DIR...\n\nDetects surveillance cameras in images (a folder: its image files, not recursive).\n\nflags:")
		fs.PrintDefaults()
	}
	modelDir := fs.String("model", "", "model bundle folder (default: $CAMAUDIT_MODEL, then models/"+detect.DefaultName+" here or beside the binary, then "+detect.InstalledModelDir+")")
	asJSON := fs.Bool("json", false, "print one JSON object per image")
	drawDir := fs.String("draw", "", "write copies of the images with boxes and labels into this folder (test images only: never camera footage of people)")
	thr := fs.Float64("threshold", 0, "score threshold (0: the bundle's at the tile scale)")
	roi := fs.String("roi", "", "region tiled at full resolution, x0,y0,x1,y1 as fractions of the image (default: the bundle's, else the upper 65%)")
	tileScale := fs.Float64("tile-scale", 0, "image pixels per model pixel in a tile (0: the bundle's, else 1)")
	overlap := fs.Float64("overlap", 0, "fraction of a tile shared with its neighbour (0: the bundle's, else 0.2)")
	tiles := fs.String("tiles", "default", "tile the region of interest: on, off or default")
	fullFrame := fs.String("full-frame", "default", "add a downscaled whole-image pass: on, off or default")
	verify := fs.String("verify", "default", "second look at each detection with the bundle's verifier: on, off or default (on when the bundle has one)")
	threads := fs.Int("threads", 0, "OpenCV threads (0: OpenCV's default)")
	quiet := fs.Bool("quiet", false, "no progress lines on stderr")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return fmt.Errorf("%w: no IMAGE or DIR given", errUsage)
	}
	if *thr < 0 || *thr >= 1 {
		return fmt.Errorf("%w: --threshold %g must be in [0, 1)", errUsage, *thr)
	}
	if *threads < 0 {
		return fmt.Errorf("%w: --threads must not be negative", errUsage)
	}
	opts := detect.Options{Threshold: float32(*thr), TileScale: *tileScale, Overlap: *overlap, Threads: *threads}
	if *roi != "" {
		r, err := parseROI(*roi)
		if err != nil {
			return fmt.Errorf("%w: --roi: %v", errUsage, err)
		}
		opts.ROI = r
	}
	var err error
	if opts.Tiles, err = parseToggle("--tiles", *tiles); err != nil {
		return err
	}
	if opts.FullFrame, err = parseToggle("--full-frame", *fullFrame); err != nil {
		return err
	}
	if opts.Verify, err = parseToggle("--verify", *verify); err != nil {
		return err
	}

	paths, listErrs := expandImageArgs(fs.Args())
	for _, e := range listErrs {
		fmt.Fprintf(stderr, "camaudit detect: %v\n", e)
	}
	if len(paths) == 0 {
		return fmt.Errorf("no images to read in %s", strings.Join(fs.Args(), ", "))
	}

	dir := *modelDir
	if dir == "" {
		if dir, err = detect.DefaultModelDir(); err != nil {
			return err
		}
	}
	d, err := detect.Open(dir, opts)
	if err != nil {
		return err
	}
	defer d.Close()
	if *drawDir != "" {
		if err := os.MkdirAll(*drawDir, 0o755); err != nil {
			return fmt.Errorf("creating --draw folder: %w", err)
		}
	}

	enc := json.NewEncoder(stdout)
	failed := len(listErrs)
	drawn := map[string]bool{}
	start, lastProgress := time.Now(), time.Now()
	for i, path := range paths {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !*quiet && len(paths) > 1 && time.Since(lastProgress) > 2*time.Second {
			lastProgress = time.Now()
			fmt.Fprintf(stderr, "detect: %d/%d images, %.1f images/s\n", i, len(paths), float64(i)/time.Since(start).Seconds())
		}
		res, err := detectImage(d, path, *drawDir, drawn)
		if err != nil {
			failed++
			fmt.Fprintf(stderr, "camaudit detect: %v\n", err)
			continue
		}
		if *asJSON {
			if err := enc.Encode(res); err != nil {
				return fmt.Errorf("writing output: %w", err)
			}
			continue
		}
		if _, err := fmt.Fprintln(stdout, describe(res)); err != nil {
			return fmt.Errorf("writing output: %w", err)
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d inputs could not be read (see the messages above)", failed, len(paths)+len(listErrs))
	}
	return nil
}

// detectImage reads one image, detects, and draws when drawDir is set.
func detectImage(d *detect.Detector, path, drawDir string, drawn map[string]bool) (detectResult, error) {
	if st, err := os.Stat(path); err != nil {
		return detectResult{}, fmt.Errorf("reading %s: %w", path, err)
	} else if !st.Mode().IsRegular() {
		return detectResult{}, fmt.Errorf("reading %s: not a regular file", path)
	}
	img := gocv.IMRead(path, gocv.IMReadColor)
	defer img.Close()
	if img.Empty() {
		return detectResult{}, fmt.Errorf("reading %s: not a readable image (corrupt, empty or not an image format OpenCV knows)", path)
	}
	dets, err := d.Detect(img)
	if err != nil {
		return detectResult{}, fmt.Errorf("%s: %w", path, err)
	}
	res := detectResult{Image: path, Width: img.Cols(), Height: img.Rows(), Detections: make([]detectRecord, 0, len(dets))}
	for _, x := range dets {
		res.Detections = append(res.Detections, detectRecord{
			Type: x.Type, Label: x.Label, Score: math.Round(float64(x.Score)*1e4) / 1e4,
			Box: [4]int{x.Box.Min.X, x.Box.Min.Y, x.Box.Max.X, x.Box.Max.Y},
		})
	}
	if drawDir != "" {
		out := drawName(drawDir, path, drawn)
		detect.DrawBoxes(&img, dets)
		if !gocv.IMWrite(out, img) {
			return res, fmt.Errorf("%s: writing annotated copy %s failed", path, out)
		}
	}
	return res, nil
}

// drawName picks a file in dir for the annotated copy of path, keeping the
// base name and adding -2, -3 ... when two inputs share it.
func drawName(dir, path string, drawn map[string]bool) string {
	base := filepath.Base(path)
	ext := filepath.Ext(base)
	if !isImageExt(ext) {
		base, ext = base+".png", ".png"
	}
	stem := strings.TrimSuffix(base, ext)
	name := base
	for n := 2; drawn[name]; n++ {
		name = fmt.Sprintf("%s-%d%s", stem, n, ext)
	}
	drawn[name] = true
	return filepath.Join(dir, name)
}

// describe is the readable line for one image.
func describe(r detectResult) string {
	if len(r.Detections) == 0 {
		return fmt.Sprintf("%s: %dx%d, no cameras", r.Image, r.Width, r.Height)
	}
	parts := make([]string, len(r.Detections))
	for i, x := range r.Detections {
		parts[i] = fmt.Sprintf("%s %.2f at (%d,%d)-(%d,%d)", x.Type, x.Score, x.Box[0], x.Box[1], x.Box[2], x.Box[3])
		if x.Label != x.Type {
			parts[i] = fmt.Sprintf("%s (%s) %.2f at (%d,%d)-(%d,%d)", x.Type, x.Label, x.Score, x.Box[0], x.Box[1], x.Box[2], x.Box[3])
		}
	}
	noun := "cameras"
	if len(parts) == 1 {
		noun = "camera"
	}
	return fmt.Sprintf("%s: %dx%d, %d %s: %s", r.Image, r.Width, r.Height, len(parts), noun, strings.Join(parts, "; "))
}

// expandImageArgs turns arguments into image paths: files as given, folders
// as their image files (sorted). Problems are returned, not fatal.
func expandImageArgs(args []string) ([]string, []error) {
	var paths []string
	var errs []error
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			errs = append(errs, fmt.Errorf("reading %s: %w", a, errors.Unwrap(err)))
			continue
		}
		if !st.IsDir() {
			paths = append(paths, a)
			continue
		}
		entries, err := os.ReadDir(a)
		if err != nil {
			errs = append(errs, fmt.Errorf("reading folder %s: %w", a, err))
			continue
		}
		var found []string
		for _, e := range entries {
			if e.Type().IsRegular() && isImageExt(filepath.Ext(e.Name())) {
				found = append(found, filepath.Join(a, e.Name()))
			}
		}
		if len(found) == 0 {
			errs = append(errs, fmt.Errorf("folder %s has no image files (%s)", a, imageExts))
		}
		sort.Strings(found)
		paths = append(paths, found...)
	}
	return paths, errs
}

// parseToggle reads on|off|default.
func parseToggle(flag, v string) (detect.Toggle, error) {
	switch strings.ToLower(v) {
	case "on":
		return detect.On, nil
	case "off":
		return detect.Off, nil
	case "default", "":
		return detect.Default, nil
	}
	return detect.Default, fmt.Errorf("%w: %s must be on, off or default, got %q", errUsage, flag, v)
}
