package detect

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Layouts of model outputs that Detect can decode.
const (
	// LayoutYOLOv8 is the Ultralytics YOLOv8/YOLO11 export: output
	// [1, 4+nc, N], rows cx, cy, w, h (input pixels) then nc class scores
	// (already sigmoid).
	LayoutYOLOv8 = "yolov8"
	// LayoutYOLOv5 is the YOLOv5 export: output [1, N, 5+nc], columns cx, cy,
	// w, h, objectness, nc class probabilities; score = objectness * class.
	LayoutYOLOv5 = "yolov5"
)

// Camera types a label may map to; TypeIgnore drops the label at decode.
const (
	TypeDome    = "dome"
	TypeBullet  = "bullet"
	TypePTZ     = "ptz"
	TypeALPR    = "alpr"
	TypeUnknown = "unknown"
	TypeIgnore  = "ignore"
)

// Files of a model bundle.
const (
	ManifestFile = "model.yaml"
	ModelFile    = "model.onnx"
)

// padValue is the grey the letterbox pads with, as Ultralytics does.
const padValue = 114

// Bundle is a model bundle's manifest (model.yaml), validated, with the
// folder it was read from.
type Bundle struct {
	// Dir is the bundle's folder.
	Dir string `yaml:"-"`
	// Name identifies the model in sightings ("model" field): [a-z0-9.-]+.
	Name string `yaml:"name"`
	// Version of the model, free text (semantic versioning suggested).
	Version string `yaml:"version"`
	// Layout of the output tensor: LayoutYOLOv8 or LayoutYOLOv5.
	Layout string `yaml:"layout"`
	// Input describes the model input and its preprocessing.
	Input Input `yaml:"input"`
	// Labels are the model's classes, index = class id in the output.
	Labels []string `yaml:"labels"`
	// Types maps every label to dome|bullet|ptz|alpr|unknown|ignore.
	Types map[string]string `yaml:"types"`
	// Threshold is the default score threshold (0, 1) at tile scale 1.
	Threshold float32 `yaml:"threshold"`
	// TileThresholds optionally give the default threshold at other tile
	// scales: a frame enlarged before tiling (scale < 1) makes a model surer
	// of more boxes, doubles among them, so its best threshold there can be
	// higher. ThresholdAt says how the list and Threshold combine.
	TileThresholds []TileThreshold `yaml:"tile_thresholds,omitempty"`
	// NMSIoU is the IoU above which NMS drops the weaker box of a class
	// (default 0.5).
	NMSIoU float32 `yaml:"nms_iou"`
	// SHA256 is the hex sha256 of model.onnx.
	SHA256 string `yaml:"sha256"`
	// Tiling optionally carries the tiling the model was tuned for; Options
	// override it field by field.
	Tiling *Tiling `yaml:"tiling,omitempty"`
	// Training describes the training data and command (free-form).
	Training map[string]any `yaml:"training"`
	// Metrics holds evaluation figures (free-form numbers: ap50, recall...).
	Metrics map[string]float64 `yaml:"metrics"`
	// Verifier optionally gives the detections a second look (see Verifier).
	Verifier *Verifier `yaml:"verifier,omitempty"`
	// Description, License and Credits are free text for the model card.
	Description string   `yaml:"description,omitempty"`
	License     string   `yaml:"license,omitempty"`
	Credits     []string `yaml:"credits,omitempty"`
}

// Input is a model's input: size, channel order and pixel scale. Frames are
// letterboxed (padded with grey 114) to Width x Height.
type Input struct {
	// Width and Height of the model input in pixels.
	Width  int `yaml:"width"`
	Height int `yaml:"height"`
	// Color is the channel order the model wants: rgb or bgr.
	Color string `yaml:"color"`
	// Scale multiplies 0-255 pixel values (1/255 for [0, 1] inputs).
	Scale float64 `yaml:"scale"`
}

// TileThreshold is a bundle's default score threshold at one tile scale.
type TileThreshold struct {
	// Scale is the tile scale (frame pixels per model pixel), in (0, 16], not 1.
	Scale float64 `yaml:"scale"`
	// Threshold is the default score threshold there, in (0, 1).
	Threshold float32 `yaml:"threshold"`
}

// TileScale is the tile scale the bundle recommends: tiling.scale, else 1.
func (b *Bundle) TileScale() float64 {
	if b.Tiling != nil && b.Tiling.Scale > 0 {
		return b.Tiling.Scale
	}
	return 1
}

// ThresholdAt is the bundle's default score threshold at tile scale s:
// Threshold at 1, a TileThresholds entry at its scale, interpolated
// linearly in log2(s) between listed scales (halving the scale is one
// step), and the nearest listed scale's beyond them. A bundle without
// TileThresholds has one threshold at every scale.
func (b *Bundle) ThresholdAt(s float64) float32 {
	pts := append([]TileThreshold{{Scale: 1, Threshold: b.Threshold}}, b.TileThresholds...)
	slices.SortFunc(pts, func(a, b TileThreshold) int { return cmp.Compare(a.Scale, b.Scale) })
	if !(s > pts[0].Scale) { // NaN and 0 too
		return pts[0].Threshold
	}
	for i := 1; i < len(pts); i++ {
		lo, hi := pts[i-1], pts[i]
		if s <= hi.Scale {
			f := math.Log2(s/lo.Scale) / math.Log2(hi.Scale/lo.Scale)
			return lo.Threshold + float32(f)*(hi.Threshold-lo.Threshold)
		}
	}
	return pts[len(pts)-1].Threshold
}

// Verifier is a bundle's optional second model: a small classifier that
// looks again at each detection, as a square crop around its box with the
// surroundings, and says background or which label. A detector small enough
// to tile whole frames on a Pi is fooled by look-alikes (lamp heads, wall
// boxes, globe lights); the verifier, run only on the few boxes the detector
// kept, drops those it takes for background. Its input has the detector's
// channel order and pixel scale; outside the frame the crop is grey 114.
type Verifier struct {
	// File is the verifier's ONNX file in the bundle folder (a plain name).
	File string `yaml:"file"`
	// SHA256 is the hex sha256 of File.
	SHA256 string `yaml:"sha256"`
	// Size is the side of the square input in pixels.
	Size int `yaml:"size"`
	// Context is the crop's side as a multiple of the box's longer side.
	Context float64 `yaml:"context"`
	// MinSide is the smallest crop side in frame pixels (tiny boxes get
	// at least this much surroundings).
	MinSide float64 `yaml:"min_side"`
	// Labels name the outputs, in order: "background", then the bundle's
	// labels. The output is one probability per label (softmax).
	Labels []string `yaml:"labels"`
	// Threshold is the lowest camera probability (1 - background) at which
	// a detection stands.
	Threshold float32 `yaml:"threshold"`
}

// Tiling is the tiling a bundle recommends (see Options for the meaning of
// each field). Zero fields mean "use the default".
type Tiling struct {
	// ROI is [x0, y0, x1, y1] as fractions of the frame.
	ROI []float64 `yaml:"roi,omitempty"`
	// Overlap is the fraction of a tile shared with its neighbour.
	Overlap float64 `yaml:"overlap,omitempty"`
	// Scale is frame pixels per model pixel inside a tile.
	Scale float64 `yaml:"scale,omitempty"`
	// FullFrame adds a downscaled whole-frame pass (default true).
	FullFrame *bool `yaml:"full_frame,omitempty"`
}

var nameRE = regexp.MustCompile(`^[a-z0-9.-]+$`)

// IsPeopleLabel reports whether a label names people, faces or body parts
// (matched word by word, case-insensitive: "Person", "face_mask", "pedestrian-2").
func IsPeopleLabel(label string) bool {
	words := strings.FieldsFunc(strings.ToLower(label), func(r rune) bool {
		return !(r >= 'a' && r <= 'z')
	})
	for _, w := range words {
		switch w {
		case "person", "persons", "people", "pedestrian", "pedestrians",
			"face", "faces", "head", "heads", "body", "bodies",
			"human", "humans", "man", "men", "woman", "women",
			"child", "children", "kid", "kids", "boy", "boys", "girl", "girls",
			"baby", "babies", "rider", "riders", "cyclist", "cyclists",
			"bicyclist", "motorcyclist", "driver", "drivers", "passenger", "passengers",
			"player", "players", "crowd", "skier", "hand", "hands",
			"torso", "skin", "eye", "eyes", "mouth", "silhouette", "person_face":
			return true
		}
	}
	return false
}

// LoadBundle reads and validates dir/model.yaml and checks model.onnx against
// its sha256. It does not load the network (Open does).
func LoadBundle(dir string) (*Bundle, error) {
	mpath := filepath.Join(dir, ManifestFile)
	raw, err := os.ReadFile(mpath)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("model bundle %s: no %s (a bundle is a folder with %s and %s)", dir, ManifestFile, ManifestFile, ModelFile)
		}
		return nil, fmt.Errorf("model bundle %s: reading %s: %w", dir, ManifestFile, err)
	}
	b, err := parseManifest(mpath, raw)
	if err != nil {
		return nil, fmt.Errorf("model bundle %s: %w", dir, err)
	}
	b.Dir = dir
	if err := checkHash(filepath.Join(dir, ModelFile), b.SHA256); err != nil {
		return nil, fmt.Errorf("model bundle %s: %w", dir, err)
	}
	if v := b.Verifier; v != nil {
		if err := checkHash(filepath.Join(dir, v.File), v.SHA256); err != nil {
			return nil, fmt.Errorf("model bundle %s: verifier: %w", dir, err)
		}
	}
	return b, nil
}

// parseManifest decodes and validates a manifest; errors name path:line and
// the field.
func parseManifest(path string, raw []byte) (*Bundle, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(raw, &root); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: not a YAML mapping of manifest fields", path)
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	var b Bundle
	if err := dec.Decode(&b); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	v := validator{path: path, root: root.Content[0]}
	v.check(&b)
	if len(v.errs) > 0 {
		return nil, errors.Join(v.errs...)
	}
	return &b, nil
}

// validator collects every problem of a manifest, each naming file:line and
// field.
type validator struct {
	path string
	root *yaml.Node
	errs []error
}

// line finds the line of a dotted field path (or of its parent when absent).
func (v *validator) line(field string) int {
	n := v.root
	line := n.Line
	for _, part := range strings.Split(field, ".") {
		if n == nil || n.Kind != yaml.MappingNode {
			break
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == part {
				line = n.Content[i].Line
				next = n.Content[i+1]
				break
			}
		}
		if next == nil {
			break
		}
		n = next
	}
	return line
}

func (v *validator) has(field string) bool {
	n := v.root
	for _, part := range strings.Split(field, ".") {
		if n == nil || n.Kind != yaml.MappingNode {
			return false
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == part {
				next = n.Content[i+1]
				break
			}
		}
		if next == nil {
			return false
		}
		n = next
	}
	return true
}

func (v *validator) errf(field, format string, args ...any) {
	v.errs = append(v.errs, fmt.Errorf("%s:%d: %s: %s", v.path, v.line(field), field, fmt.Sprintf(format, args...)))
}

func (v *validator) require(fields ...string) bool {
	ok := true
	for _, f := range fields {
		if !v.has(f) {
			v.errs = append(v.errs, fmt.Errorf("%s: %s: missing (required)", v.path, f))
			ok = false
		}
	}
	return ok
}

func (v *validator) check(b *Bundle) {
	v.require("name", "version", "layout", "input", "labels", "types", "threshold", "sha256")
	if v.has("name") && !nameRE.MatchString(b.Name) {
		v.errf("name", "%q must match [a-z0-9.-]+", b.Name)
	}
	if len(b.Name) > 64 {
		v.errf("name", "longer than 64 characters")
	}
	if v.has("version") && strings.TrimSpace(b.Version) == "" {
		v.errf("version", "empty")
	}
	if v.has("layout") {
		switch b.Layout {
		case LayoutYOLOv8, LayoutYOLOv5:
		case "yolo11", "yolov11", "yolov9", "yolov10":
			// Same output layout as YOLOv8 in the Ultralytics export without NMS.
			b.Layout = LayoutYOLOv8
		default:
			v.errf("layout", "%q is not a known output layout (yolov8 or yolov5)", b.Layout)
		}
	}
	if v.has("input") {
		if v.require("input.width", "input.height", "input.color", "input.scale") {
			if b.Input.Width < 16 || b.Input.Width > 4096 {
				v.errf("input.width", "%d is outside 16..4096", b.Input.Width)
			}
			if b.Input.Height < 16 || b.Input.Height > 4096 {
				v.errf("input.height", "%d is outside 16..4096", b.Input.Height)
			}
			if b.Input.Color != "rgb" && b.Input.Color != "bgr" {
				v.errf("input.color", "%q must be rgb or bgr", b.Input.Color)
			}
			if !(b.Input.Scale > 0 && b.Input.Scale <= 1) {
				v.errf("input.scale", "%g must be in (0, 1] (e.g. 0.00392156862745098 = 1/255)", b.Input.Scale)
			}
		}
	}
	if v.has("labels") {
		if len(b.Labels) == 0 {
			v.errf("labels", "empty")
		}
		seen := map[string]bool{}
		for i, l := range b.Labels {
			if strings.TrimSpace(l) == "" {
				v.errf("labels", "label %d is empty", i)
			}
			if seen[l] {
				v.errf("labels", "label %q appears twice", l)
			}
			seen[l] = true
		}
	}
	if v.has("types") && v.has("labels") {
		for _, l := range b.Labels {
			t, ok := b.Types[l]
			switch {
			case !ok:
				v.errf("types", "label %q has no type (dome|bullet|ptz|alpr|unknown|ignore)", l)
				continue
			case t == TypeDome || t == TypeBullet || t == TypePTZ || t == TypeALPR || t == TypeUnknown || t == TypeIgnore:
			default:
				v.errf("types."+l, "%q is not a type (dome|bullet|ptz|alpr|unknown|ignore)", t)
				continue
			}
			if IsPeopleLabel(l) && t != TypeIgnore {
				v.errf("types."+l, "label %q names people; it must map to ignore (camaudit never detects people)", l)
			}
		}
		for l := range b.Types {
			if !contains(b.Labels, l) {
				v.errf("types."+l, "%q is not one of the labels", l)
			}
		}
		cams := 0
		for _, l := range b.Labels {
			if t := b.Types[l]; t != TypeIgnore && t != "" {
				cams++
			}
		}
		if cams == 0 && len(b.Labels) > 0 {
			v.errf("types", "every label maps to ignore: the model would detect nothing")
		}
	}
	if v.has("threshold") && !(b.Threshold > 0 && b.Threshold < 1) {
		v.errf("threshold", "%g must be in (0, 1)", b.Threshold)
	}
	scales := map[float64]bool{}
	for i, t := range b.TileThresholds {
		field := fmt.Sprintf("tile_thresholds[%d]", i)
		switch {
		case !(t.Scale > 0 && t.Scale <= 16):
			v.errf("tile_thresholds", "%s: scale %g must be in (0, 16]", field, t.Scale)
		case t.Scale == 1:
			v.errf("tile_thresholds", "%s: scale 1 is the threshold field's; list other scales", field)
		case scales[t.Scale]:
			v.errf("tile_thresholds", "%s: scale %g is listed twice", field, t.Scale)
		}
		scales[t.Scale] = true
		if !(t.Threshold > 0 && t.Threshold < 1) {
			v.errf("tile_thresholds", "%s: threshold %g must be in (0, 1)", field, t.Threshold)
		}
	}
	if v.has("nms_iou") {
		if !(b.NMSIoU > 0 && b.NMSIoU <= 1) {
			v.errf("nms_iou", "%g must be in (0, 1]", b.NMSIoU)
		}
	} else {
		b.NMSIoU = 0.5
	}
	if v.has("sha256") {
		if _, err := hex.DecodeString(b.SHA256); err != nil || len(b.SHA256) != 64 {
			v.errf("sha256", "%q is not 64 hex digits", b.SHA256)
		}
		b.SHA256 = strings.ToLower(b.SHA256)
	}
	if b.Verifier != nil {
		v.checkVerifier(b)
	}
	if t := b.Tiling; t != nil {
		if t.ROI != nil {
			if err := checkROI(t.ROI); err != nil {
				v.errf("tiling.roi", "%v", err)
			}
		}
		if !(t.Overlap >= 0 && t.Overlap < 0.9) { // NaN too
			v.errf("tiling.overlap", "%g must be in [0, 0.9)", t.Overlap)
		}
		if !(t.Scale >= 0 && t.Scale <= 16) { // NaN too
			v.errf("tiling.scale", "%g must be in (0, 16]", t.Scale)
		}
	}
}

// checkVerifier validates the verifier block.
func (v *validator) checkVerifier(b *Bundle) {
	vf := b.Verifier
	if !v.require("verifier.file", "verifier.sha256", "verifier.size", "verifier.context", "verifier.labels", "verifier.threshold") {
		return
	}
	if vf.File == "" || vf.File != filepath.Base(vf.File) || vf.File == "." || vf.File == ".." || vf.File == ModelFile || vf.File == ManifestFile {
		v.errf("verifier.file", "%q must be a file name in the bundle folder, not %s or %s", vf.File, ModelFile, ManifestFile)
	}
	if _, err := hex.DecodeString(vf.SHA256); err != nil || len(vf.SHA256) != 64 {
		v.errf("verifier.sha256", "%q is not 64 hex digits", vf.SHA256)
	}
	vf.SHA256 = strings.ToLower(vf.SHA256)
	if vf.Size < 8 || vf.Size > 256 {
		v.errf("verifier.size", "%d is outside 8..256", vf.Size)
	}
	if !(vf.Context >= 1 && vf.Context <= 8) {
		v.errf("verifier.context", "%g must be within 1..8 (the crop's side over the box's)", vf.Context)
	}
	if !(vf.MinSide >= 0 && vf.MinSide <= 1024) {
		v.errf("verifier.min_side", "%g must be within 0..1024 pixels", vf.MinSide)
	}
	want := append([]string{"background"}, b.Labels...)
	if !slices.Equal(vf.Labels, want) {
		v.errf("verifier.labels", "%v must be background followed by the labels, %v", vf.Labels, want)
	}
	if !(vf.Threshold > 0 && vf.Threshold < 1) {
		v.errf("verifier.threshold", "%g must be in (0, 1)", vf.Threshold)
	}
}

func contains(labels []string, l string) bool {
	for _, x := range labels {
		if x == l {
			return true
		}
	}
	return false
}

func checkROI(r []float64) error {
	if len(r) != 4 {
		return fmt.Errorf("want [x0, y0, x1, y1] as fractions of the frame, got %d numbers", len(r))
	}
	for _, f := range r {
		if !(f >= 0 && f <= 1) { // NaN too
			return fmt.Errorf("%v: fractions must be within [0, 1]", r)
		}
	}
	if r[2]-r[0] <= 0 || r[3]-r[1] <= 0 {
		return fmt.Errorf("%v: empty region (x1 <= x0 or y1 <= y0)", r)
	}
	return nil
}

// checkHash verifies that the file's sha256 is want.
func checkHash(path, want string) error {
	name := filepath.Base(path)
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("no %s", name)
		}
		return fmt.Errorf("reading %s: %w", name, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("reading %s: %w", name, err)
	}
	got := hex.EncodeToString(h.Sum(nil))
	if got != want {
		return fmt.Errorf("%s has sha256 %s but %s says %s: the model file is not the one the manifest describes (corrupt or replaced)", name, got, ManifestFile, want)
	}
	return nil
}

// DefaultName is the shipped bundle's folder name.
const DefaultName = "camaudit-cams-v1"

// InstalledModelDir is where the .deb installs the shipped bundle.
const InstalledModelDir = "/usr/share/camaudit/models/" + DefaultName

// DefaultModelDir finds the bundle to use when none is given: $CAMAUDIT_MODEL
// if set, then models/camaudit-cams-v1 relative to the working directory, then
// relative to the executable's folder and each of its parents, then
// /usr/share/camaudit/models/camaudit-cams-v1. The error lists where it looked.
func DefaultModelDir() (string, error) {
	if env := os.Getenv("CAMAUDIT_MODEL"); env != "" {
		if isBundle(env) {
			return env, nil
		}
		return "", fmt.Errorf("no model bundle at $CAMAUDIT_MODEL=%s (want a folder with %s and %s)", env, ManifestFile, ModelFile)
	}
	var tried []string
	try := func(dir string) bool {
		tried = append(tried, dir)
		return isBundle(dir)
	}
	rel := filepath.Join("models", DefaultName)
	if wd, err := os.Getwd(); err == nil {
		if d := filepath.Join(wd, rel); try(d) {
			return d, nil
		}
	}
	if exe, err := os.Executable(); err == nil {
		if real, err := filepath.EvalSymlinks(exe); err == nil {
			exe = real
		}
		for dir := filepath.Dir(exe); ; dir = filepath.Dir(dir) {
			if d := filepath.Join(dir, rel); try(d) {
				return d, nil
			}
			if parent := filepath.Dir(dir); parent == dir {
				break
			}
		}
	}
	if try(InstalledModelDir) {
		return InstalledModelDir, nil
	}
	return "", fmt.Errorf("no model bundle found: $CAMAUDIT_MODEL is not set and none of these has %s: %s (give one with --model DIR, or build it with make model)",
		ManifestFile, strings.Join(dedupe(tried), ", "))
}

func isBundle(dir string) bool {
	st, err := os.Stat(filepath.Join(dir, ManifestFile))
	return err == nil && st.Mode().IsRegular()
}

func dedupe(s []string) []string {
	out := s[:0:0]
	m := map[string]bool{}
	for _, x := range s {
		if !m[x] {
			m[x] = true
			out = append(out, x)
		}
	}
	return out
}
