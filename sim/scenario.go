package sim

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Scenario describes one simulated walk: the streets and buildings, the
// surveillance cameras and look-alike distractors placed along them, the
// route and pace of the walker, the device camera, the GNSS receiver's
// errors and the light. docs/sim.md documents every field.
type Scenario struct {
	Name        string         `yaml:"name"`
	Seed        int64          `yaml:"seed"`
	Origin      LatLonSpec     `yaml:"origin"`
	Start       time.Time      `yaml:"start"`
	Lighting    string         `yaml:"lighting"`
	Sun         *SunSpec       `yaml:"sun"`
	Streets     []StreetSpec   `yaml:"streets"`
	Route       RouteSpec      `yaml:"route"`
	Device      DeviceSpec     `yaml:"device"`
	GNSS        GNSSSpec       `yaml:"gnss"`
	Cameras     []CameraSpec   `yaml:"cameras"`
	Distractors DistractorSpec `yaml:"distractors"`
	// Backgrounds is an optional folder of street photos used as facade
	// textures, relative to the scenario file (or given with --backgrounds).
	Backgrounds string `yaml:"backgrounds"`

	file string     // path it was loaded from, for messages
	root *yaml.Node // parsed document, for line numbers
}

// LatLonSpec is a WGS84 position in a scenario.
type LatLonSpec struct {
	Lat float64 `yaml:"lat" json:"lat"`
	Lon float64 `yaml:"lon" json:"lon"`
}

// SunSpec places the sun: compass azimuth and elevation above the horizon.
type SunSpec struct {
	Azimuth   float64 `yaml:"azimuth_deg"`
	Elevation float64 `yaml:"elevation_deg"`
}

// Point2 is a 2-D point written as a YAML pair: [x, y] in local metres
// (x east, y north of the origin) or [lat, lon] in degrees, depending on
// the field it appears in.
type Point2 [2]float64

// Range is a closed interval written as a number (min = max) or a pair [min, max].
type Range [2]float64

// UnmarshalYAML accepts a scalar or a two-element sequence.
func (r *Range) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		var v float64
		if err := n.Decode(&v); err != nil {
			return err
		}
		*r = Range{v, v}
		return nil
	}
	var v []float64
	if err := n.Decode(&v); err != nil {
		return err
	}
	if len(v) != 2 {
		return fmt.Errorf("line %d: want a number or [min, max], got %d values", n.Line, len(v))
	}
	*r = Range{v[0], v[1]}
	return nil
}

// StreetSpec is a street centreline with buildings on either side and
// street lamps along it.
type StreetSpec struct {
	ID        string    `yaml:"id"`
	Points    []Point2  `yaml:"points"` // local metres
	LatLon    []Point2  `yaml:"latlon"` // or WGS84 [lat, lon]
	RoadWidth float64   `yaml:"road_width_m"`
	Sidewalk  float64   `yaml:"sidewalk_m"`
	Left      *SideSpec `yaml:"left"`
	Right     *SideSpec `yaml:"right"`
	Lamps     *LampSpec `yaml:"lamps"`
	Trees     *TreeSpec `yaml:"trees"`
}

// TreeSpec plants street trees at regular spacing along a street.
type TreeSpec struct {
	Spacing float64 `yaml:"spacing_m"`
	Offset  float64 `yaml:"offset_m"` // from the centreline; default road/2 + 1.2
	Height  Range   `yaml:"height_m"` // default [6, 10]
	Sides   string  `yaml:"sides"`    // left, right, both (default), alternate
}

// SideSpec is the row of buildings on one side of a street (left/right as
// seen walking from the first point to the last).
type SideSpec struct {
	None    bool     `yaml:"none"`      // no buildings on this side
	Setback float64  `yaml:"setback_m"` // centreline to facade; default road/2 + sidewalk
	Height  Range    `yaml:"height_m"`
	Width   Range    `yaml:"width_m"`
	Styles  []string `yaml:"styles"`   // brick, plaster, glass, shop, concrete, photo
	Gap     float64  `yaml:"gap_prob"` // chance of a gap (alley) after each building
}

// LampSpec places street lamps at regular spacing along a street.
type LampSpec struct {
	Spacing float64 `yaml:"spacing_m"`
	Offset  float64 `yaml:"offset_m"` // from the centreline; default road/2 + 0.6
	Height  float64 `yaml:"height_m"`
	Sides   string  `yaml:"sides"` // left, right, both (default), alternate
	Style   string  `yaml:"style"` // cobra (default) or globe
}

// RouteSpec is the path the walker follows and how.
type RouteSpec struct {
	Points []Point2    `yaml:"points"`
	LatLon []Point2    `yaml:"latlon"`
	Speed  float64     `yaml:"speed_mps"`
	Pauses []PauseSpec `yaml:"pauses"`
}

// PauseSpec makes the walker stand still at a distance along the route.
type PauseSpec struct {
	At       float64 `yaml:"at_m"`
	Duration float64 `yaml:"duration_s"`
}

// DeviceSpec is the walker's camera.
type DeviceSpec struct {
	Width     int        `yaml:"width"`
	Height    int        `yaml:"height"`
	FPS       float64    `yaml:"fps"`
	HFOV      float64    `yaml:"hfov_deg"`
	EyeHeight float64    `yaml:"eye_height_m"`
	Mount     MountSpec  `yaml:"mount"`
	Jitter    JitterSpec `yaml:"jitter"`
	Noise     float64    `yaml:"noise"`       // sensor noise sigma in grey levels
	Exposure  float64    `yaml:"exposure"`    // slow auto-exposure swing, fraction (0.1 = ±10 %)
	Blur      float64    `yaml:"motion_blur"` // motion blur strength, 0 = off, 1 = realistic
}

// MountSpec is how the camera sits on the walker. Yaw is relative to the
// walking direction (0 = looking ahead, positive = to the right).
type MountSpec struct {
	Yaw   float64 `yaml:"yaw_deg" json:"yaw_deg"`
	Pitch float64 `yaml:"pitch_deg" json:"pitch_deg"`
	Roll  float64 `yaml:"roll_deg" json:"roll_deg"`
}

// JitterSpec is the periodic sway of a body-worn camera while walking.
type JitterSpec struct {
	Bob    float64 `yaml:"bob_m"`
	Yaw    float64 `yaml:"yaw_deg"`
	Pitch  float64 `yaml:"pitch_deg"`
	Roll   float64 `yaml:"roll_deg"`
	StepHz float64 `yaml:"step_hz"`
}

// GNSSSpec models the receiver: epoch rate, white noise, slowly drifting
// bias (first-order Gauss–Markov) and dropouts.
type GNSSSpec struct {
	Rate     float64       `yaml:"rate_hz"`
	Sigma    float64       `yaml:"sigma_m"`
	Drift    DriftSpec     `yaml:"drift"`
	Dropouts []DropoutSpec `yaml:"dropouts"`
	VTG      *bool         `yaml:"vtg"`
	Talker   string        `yaml:"talker"`
	Alt      float64       `yaml:"alt_m"`
}

// DriftSpec is the slowly wandering bias: its standard deviation and
// correlation time.
type DriftSpec struct {
	Sigma float64 `yaml:"sigma_m" json:"sigma_m"`
	Tau   float64 `yaml:"tau_s" json:"tau_s"`
}

// DropoutSpec is an interval without a fix, in seconds from the start.
type DropoutSpec struct {
	Start    float64 `yaml:"start_s" json:"start_s"`
	Duration float64 `yaml:"duration_s" json:"duration_s"`
}

// AnchorSpec places something relative to a street: s_m metres along it
// from its first point, on its left or right side. Wall, ceiling and
// facade items go on the facade; poles at offset_m from the centreline
// (default: the kerb).
type AnchorSpec struct {
	Street string   `yaml:"street"`
	Side   string   `yaml:"side"`
	S      float64  `yaml:"s_m"`
	Offset *float64 `yaml:"offset_m"`
}

// CameraSpec is one surveillance camera.
type CameraSpec struct {
	ID        string      `yaml:"id"`
	Type      string      `yaml:"type"`  // dome, bullet, ptz, alpr
	Mount     string      `yaml:"mount"` // wall, pole, ceiling, street_lamp
	At        *AnchorSpec `yaml:"at"`
	XY        *Point2     `yaml:"xy"`
	LatLon    *Point2     `yaml:"latlon"`
	Height    float64     `yaml:"height_m"`
	Direction *float64    `yaml:"direction_deg"` // compass degrees the camera faces
	Tilt      *float64    `yaml:"tilt_deg"`      // downward tilt
	Color     string      `yaml:"color"`         // white, grey, black, beige
	Scale     float64     `yaml:"scale"`         // size multiplier, default 1
}

// DistractorSpec adds things a detector must not mistake for cameras.
type DistractorSpec struct {
	PerHundred float64          `yaml:"per_100m"` // random ones per 100 m of facade, per side
	Items      []DistractorItem `yaml:"items"`
}

// DistractorItem is one explicitly placed distractor.
type DistractorItem struct {
	Kind      string      `yaml:"kind"`
	At        *AnchorSpec `yaml:"at"`
	XY        *Point2     `yaml:"xy"`
	LatLon    *Point2     `yaml:"latlon"`
	Height    float64     `yaml:"height_m"`
	Direction *float64    `yaml:"direction_deg"`
}

// Camera types and mounts, as in the wire contract.
var (
	CameraTypes  = []string{"dome", "bullet", "ptz", "alpr"}
	CameraMounts = []string{"wall", "pole", "ceiling", "street_lamp"}
	// FacadeStyles are the procedural facade textures ("photo" needs backgrounds).
	FacadeStyles = []string{"brick", "plaster", "glass", "shop", "concrete", "photo"}
)

// ClassID returns the YOLO class id of a camera type (dome 0, bullet 1,
// ptz 2, alpr 3) or -1.
func ClassID(typ string) int {
	for i, t := range CameraTypes {
		if t == typ {
			return i
		}
	}
	return -1
}

// LoadScenario reads, defaults and validates a scenario file. Errors name
// the file, line and field path, e.g.
// "street20.yaml:14: cameras[3].height_m: must be > 0".
func LoadScenario(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading scenario: %w", err)
	}
	return ParseScenario(path, data)
}

var yamlLine = regexp.MustCompile(`^line (\d+): `)

// ParseScenario is LoadScenario on bytes; name is used in messages and to
// resolve relative paths.
func ParseScenario(name string, data []byte) (*Scenario, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("%s: %v", name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if err := checkFinite(name, &root); err != nil {
		return nil, err
	}
	sc := &Scenario{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(sc); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			var errs []error
			for _, e := range te.Errors {
				if m := yamlLine.FindStringSubmatch(e); m != nil {
					errs = append(errs, fmt.Errorf("%s:%s: %s", name, m[1], e[len(m[0]):]))
				} else {
					errs = append(errs, fmt.Errorf("%s: %s", name, e))
				}
			}
			return nil, errors.Join(errs...)
		}
		return nil, fmt.Errorf("%s: %v", name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	sc.file, sc.root = name, &root
	sc.applyDefaults()
	if err := sc.validate(); err != nil {
		return nil, err
	}
	return sc, nil
}

// File returns the path the scenario was loaded from.
func (sc *Scenario) File() string { return sc.file }

// checkFinite refuses .nan, .inf and numbers too large for a float64
// anywhere in the document: range checks of the form v < lo || v > hi let
// a NaN through, and a NaN or infinite length or speed makes the frame
// count meaningless.
func checkFinite(name string, n *yaml.Node) error {
	if n == nil {
		return nil
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!float" {
		var f float64
		if err := n.Decode(&f); err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("%s:%d: %q: numbers must be finite", name, n.Line, n.Value)
		}
	}
	for _, c := range n.Content {
		if err := checkFinite(name, c); err != nil {
			return err
		}
	}
	return nil
}

// Dir returns the folder of the scenario file, against which relative
// paths in it are resolved.
func (sc *Scenario) Dir() string { return filepath.Dir(sc.file) }

func (sc *Scenario) applyDefaults() {
	if sc.Name == "" {
		sc.Name = strings.TrimSuffix(filepath.Base(sc.file), filepath.Ext(sc.file))
	}
	if sc.Start.IsZero() {
		sc.Start = time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	}
	sc.Start = sc.Start.UTC()
	if sc.Lighting == "" {
		sc.Lighting = "sun"
	}
	if sc.Sun == nil {
		el := 40.0
		switch sc.Lighting {
		case "overcast":
			el = 35
		case "dusk":
			el = 3
		}
		sc.Sun = &SunSpec{Azimuth: 150, Elevation: el}
	}
	for i := range sc.Streets {
		st := &sc.Streets[i]
		if st.RoadWidth == 0 {
			st.RoadWidth = 8
		}
		if st.Sidewalk == 0 {
			st.Sidewalk = 3
		}
		for _, sd := range []*SideSpec{st.Left, st.Right} {
			if sd == nil {
				continue
			}
			if sd.Setback == 0 {
				sd.Setback = st.RoadWidth/2 + st.Sidewalk
			}
			if sd.Height == (Range{}) {
				sd.Height = Range{9, 18}
			}
			if sd.Width == (Range{}) {
				sd.Width = Range{8, 18}
			}
			if len(sd.Styles) == 0 {
				sd.Styles = []string{"brick", "plaster", "shop", "glass", "concrete"}
			}
		}
		if tr := st.Trees; tr != nil {
			if tr.Offset == 0 {
				tr.Offset = st.RoadWidth/2 + 1.2
			}
			if tr.Height == (Range{}) {
				tr.Height = Range{6, 10}
			}
			if tr.Sides == "" {
				tr.Sides = "both"
			}
		}
		if l := st.Lamps; l != nil {
			if l.Offset == 0 {
				l.Offset = st.RoadWidth/2 + 0.6
			}
			if l.Height == 0 {
				l.Height = 6.5
			}
			if l.Sides == "" {
				l.Sides = "both"
			}
			if l.Style == "" {
				l.Style = "cobra"
			}
		}
	}
	if sc.Route.Speed == 0 {
		sc.Route.Speed = 1.4
	}
	d := &sc.Device
	if d.Width == 0 {
		d.Width = 1280
	}
	if d.Height == 0 {
		d.Height = 720
	}
	if d.FPS == 0 {
		d.FPS = 10
	}
	if d.HFOV == 0 {
		d.HFOV = 66
	}
	if d.EyeHeight == 0 {
		d.EyeHeight = 1.4
	}
	if d.Jitter == (JitterSpec{}) {
		d.Jitter = JitterSpec{Bob: 0.02, Yaw: 1.0, Pitch: 0.8, Roll: 1.2, StepHz: 1.8}
	}
	if d.Jitter.StepHz == 0 {
		d.Jitter.StepHz = 1.8
	}
	if d.Noise == 0 {
		d.Noise = 3
	}
	g := &sc.GNSS
	if g.Rate == 0 {
		g.Rate = 1
	}
	if g.Talker == "" {
		g.Talker = "GP"
	}
	if g.VTG == nil {
		t := true
		g.VTG = &t
	}
	if g.Drift.Sigma > 0 && g.Drift.Tau == 0 {
		g.Drift.Tau = 60
	}
	if g.Alt == 0 {
		g.Alt = 35
	}
	for i := range sc.Cameras {
		c := &sc.Cameras[i]
		if c.ID == "" {
			c.ID = fmt.Sprintf("cam-%02d", i+1)
		}
		if c.Scale == 0 {
			c.Scale = 1
		}
	}
}

// fieldErr is a validation problem at a field path like "cameras[3].height_m".
type fieldErr struct {
	path, msg string
}

func (sc *Scenario) validate() error {
	var errs []fieldErr
	bad := func(path, format string, a ...any) {
		errs = append(errs, fieldErr{path, fmt.Sprintf(format, a...)})
	}
	if sc.Origin.Lat < -85 || sc.Origin.Lat > 85 || sc.Origin.Lon < -180 || sc.Origin.Lon > 180 {
		bad("origin", "lat must be within ±85 and lon within ±180, got %g, %g", sc.Origin.Lat, sc.Origin.Lon)
	}
	if !oneOf(sc.Lighting, "sun", "overcast", "dusk") {
		bad("lighting", "must be sun, overcast or dusk, got %q", sc.Lighting)
	}
	if sc.Sun.Elevation < -10 || sc.Sun.Elevation > 90 {
		bad("sun.elevation_deg", "must be within -10..90, got %g", sc.Sun.Elevation)
	}
	ids := map[string]bool{}
	for i, st := range sc.Streets {
		p := fmt.Sprintf("streets[%d]", i)
		if st.ID == "" {
			bad(p+".id", "is required")
		} else if ids[st.ID] {
			bad(p+".id", "duplicate street id %q", st.ID)
		}
		ids[st.ID] = true
		npts := len(st.Points) + len(st.LatLon)
		switch {
		case len(st.Points) > 0 && len(st.LatLon) > 0:
			bad(p, "give points or latlon, not both")
		case npts < 2:
			bad(p+".points", "needs at least 2 points, got %d", npts)
		}
		errs = append(errs, checkLatLons(p+".latlon", st.LatLon)...)
		if st.RoadWidth <= 0 {
			bad(p+".road_width_m", "must be > 0")
		}
		if st.Sidewalk < 0 {
			bad(p+".sidewalk_m", "must be >= 0")
		}
		for name, sd := range map[string]*SideSpec{"left": st.Left, "right": st.Right} {
			if sd == nil || sd.None {
				continue
			}
			sp := p + "." + name
			if sd.Setback < st.RoadWidth/2 {
				bad(sp+".setback_m", "must be at least half the road width (%g), got %g", st.RoadWidth/2, sd.Setback)
			}
			if sd.Height[0] < 3 || sd.Height[1] < sd.Height[0] || sd.Height[1] > 300 {
				bad(sp+".height_m", "must be a range within 3..300 m with min <= max, got %v", sd.Height)
			}
			if sd.Width[0] < 3 || sd.Width[1] < sd.Width[0] || sd.Width[1] > 500 {
				bad(sp+".width_m", "must be a range within 3..500 m with min <= max, got %v", sd.Width)
			}
			for k, s := range sd.Styles {
				if !oneOf(s, FacadeStyles...) {
					bad(fmt.Sprintf("%s.styles[%d]", sp, k), "unknown style %q (want one of %s)", s, strings.Join(FacadeStyles, ", "))
				}
			}
			if sd.Gap < 0 || sd.Gap > 1 {
				bad(sp+".gap_prob", "must be within 0..1")
			}
		}
		if tr := st.Trees; tr != nil {
			if tr.Spacing < 3 {
				bad(p+".trees.spacing_m", "must be >= 3, got %g", tr.Spacing)
			}
			if tr.Height[0] < 2 || tr.Height[1] < tr.Height[0] || tr.Height[1] > 40 {
				bad(p+".trees.height_m", "must be a range within 2..40 m with min <= max, got %v", tr.Height)
			}
			if !oneOf(tr.Sides, "left", "right", "both", "alternate") {
				bad(p+".trees.sides", "must be left, right, both or alternate, got %q", tr.Sides)
			}
		}
		if l := st.Lamps; l != nil {
			if l.Spacing < 5 {
				bad(p+".lamps.spacing_m", "must be >= 5, got %g", l.Spacing)
			}
			if l.Height < 2 || l.Height > 30 {
				bad(p+".lamps.height_m", "must be within 2..30, got %g", l.Height)
			}
			if !oneOf(l.Sides, "left", "right", "both", "alternate") {
				bad(p+".lamps.sides", "must be left, right, both or alternate, got %q", l.Sides)
			}
			if !oneOf(l.Style, "cobra", "globe") {
				bad(p+".lamps.style", "must be cobra or globe, got %q", l.Style)
			}
		}
	}
	r := sc.Route
	switch {
	case len(r.Points) > 0 && len(r.LatLon) > 0:
		bad("route", "give points or latlon, not both")
	case len(r.Points)+len(r.LatLon) < 2:
		bad("route.points", "needs at least 2 points, got %d", len(r.Points)+len(r.LatLon))
	}
	errs = append(errs, checkLatLons("route.latlon", r.LatLon)...)
	if r.Speed <= 0 || r.Speed > 5 {
		bad("route.speed_mps", "must be within (0, 5], got %g", r.Speed)
	}
	for i, ps := range r.Pauses {
		if ps.At < 0 {
			bad(fmt.Sprintf("route.pauses[%d].at_m", i), "must be >= 0")
		}
		if ps.Duration <= 0 || ps.Duration > 600 {
			bad(fmt.Sprintf("route.pauses[%d].duration_s", i), "must be within (0, 600], got %g", ps.Duration)
		}
	}
	d := sc.Device
	if d.Width < 64 || d.Width > 7680 || d.Width%2 != 0 {
		bad("device.width", "must be an even number within 64..7680, got %d", d.Width)
	}
	if d.Height < 64 || d.Height > 4320 || d.Height%2 != 0 {
		bad("device.height", "must be an even number within 64..4320, got %d", d.Height)
	}
	if d.FPS <= 0 || d.FPS > 120 {
		bad("device.fps", "must be within (0, 120], got %g", d.FPS)
	}
	if d.HFOV < 10 || d.HFOV > 150 {
		bad("device.hfov_deg", "must be within 10..150, got %g", d.HFOV)
	}
	if d.EyeHeight < 0.3 || d.EyeHeight > 3 {
		bad("device.eye_height_m", "must be within 0.3..3, got %g", d.EyeHeight)
	}
	if math.Abs(d.Mount.Pitch) > 80 {
		bad("device.mount.pitch_deg", "must be within ±80, got %g", d.Mount.Pitch)
	}
	if d.Noise < 0 || d.Noise > 50 {
		bad("device.noise", "must be within 0..50, got %g", d.Noise)
	}
	if d.Exposure < 0 || d.Exposure > 0.8 {
		bad("device.exposure", "must be within 0..0.8, got %g", d.Exposure)
	}
	if d.Blur < 0 || d.Blur > 5 {
		bad("device.motion_blur", "must be within 0..5, got %g", d.Blur)
	}
	g := sc.GNSS
	if g.Rate <= 0 || g.Rate > 20 {
		bad("gnss.rate_hz", "must be within (0, 20], got %g", g.Rate)
	}
	if g.Sigma < 0 || g.Sigma > 100 {
		bad("gnss.sigma_m", "must be within 0..100, got %g", g.Sigma)
	}
	if g.Drift.Sigma < 0 || g.Drift.Sigma > 100 {
		bad("gnss.drift.sigma_m", "must be within 0..100, got %g", g.Drift.Sigma)
	}
	if g.Drift.Tau < 0 {
		bad("gnss.drift.tau_s", "must be >= 0")
	}
	for i, dr := range g.Dropouts {
		if dr.Start < 0 || dr.Duration <= 0 {
			bad(fmt.Sprintf("gnss.dropouts[%d]", i), "start_s must be >= 0 and duration_s > 0")
		}
	}
	if !regexp.MustCompile(`^[A-Z]{2}$`).MatchString(g.Talker) {
		bad("gnss.talker", "must be two capital letters such as GP or GN, got %q", g.Talker)
	}
	camIDs := map[string]bool{}
	for i, c := range sc.Cameras {
		p := fmt.Sprintf("cameras[%d]", i)
		if camIDs[c.ID] {
			bad(p+".id", "duplicate camera id %q", c.ID)
		}
		camIDs[c.ID] = true
		if !oneOf(c.Type, CameraTypes...) {
			bad(p+".type", "must be one of %s, got %q", strings.Join(CameraTypes, ", "), c.Type)
		}
		if !oneOf(c.Mount, CameraMounts...) {
			bad(p+".mount", "must be one of %s, got %q", strings.Join(CameraMounts, ", "), c.Mount)
		}
		if c.Height <= 0 {
			bad(p+".height_m", "must be > 0")
		} else if c.Height > 60 {
			bad(p+".height_m", "must be <= 60, got %g", c.Height)
		}
		if c.Tilt != nil && (*c.Tilt < -30 || *c.Tilt > 90) {
			bad(p+".tilt_deg", "must be within -30..90, got %g", *c.Tilt)
		}
		if c.Color != "" && !oneOf(c.Color, "white", "grey", "black", "beige") {
			bad(p+".color", "must be white, grey, black or beige, got %q", c.Color)
		}
		if c.Scale < 0.3 || c.Scale > 3 {
			bad(p+".scale", "must be within 0.3..3, got %g", c.Scale)
		}
		errs = append(errs, sc.checkPlace(p, c.At, c.XY, c.LatLon, ids)...)
	}
	if sc.Distractors.PerHundred < 0 || sc.Distractors.PerHundred > 100 {
		bad("distractors.per_100m", "must be within 0..100")
	}
	for i, it := range sc.Distractors.Items {
		p := fmt.Sprintf("distractors.items[%d]", i)
		if !oneOf(it.Kind, DistractorKinds...) {
			bad(p+".kind", "must be one of %s, got %q", strings.Join(DistractorKinds, ", "), it.Kind)
		}
		if it.Height < 0 || it.Height > 60 {
			bad(p+".height_m", "must be within 0..60")
		}
		errs = append(errs, sc.checkPlace(p, it.At, it.XY, it.LatLon, ids)...)
	}
	if len(errs) == 0 {
		return nil
	}
	out := make([]error, len(errs))
	for i, e := range errs {
		out[i] = fmt.Errorf("%s:%d: %s: %s", sc.file, sc.line(e.path), e.path, e.msg)
	}
	return errors.Join(out...)
}

func (sc *Scenario) checkPlace(p string, at *AnchorSpec, xy, ll *Point2, streets map[string]bool) []fieldErr {
	var errs []fieldErr
	n := 0
	for _, set := range []bool{at != nil, xy != nil, ll != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return []fieldErr{{p, "give exactly one of at, xy or latlon"}}
	}
	if at != nil {
		if !streets[at.Street] {
			errs = append(errs, fieldErr{p + ".at.street", fmt.Sprintf("no street with id %q", at.Street)})
		}
		if !oneOf(at.Side, "left", "right") {
			errs = append(errs, fieldErr{p + ".at.side", fmt.Sprintf("must be left or right, got %q", at.Side)})
		}
		if at.S < 0 {
			errs = append(errs, fieldErr{p + ".at.s_m", "must be >= 0"})
		}
	}
	if ll != nil {
		errs = append(errs, checkLatLons(p+".latlon", []Point2{*ll})...)
	}
	return errs
}

func checkLatLons(p string, pts []Point2) []fieldErr {
	var errs []fieldErr
	for i, q := range pts {
		if q[0] < -85 || q[0] > 85 || q[1] < -180 || q[1] > 180 {
			errs = append(errs, fieldErr{fmt.Sprintf("%s[%d]", p, i), fmt.Sprintf("[lat, lon] out of range: %v", q)})
		}
	}
	return errs
}

func oneOf(s string, set ...string) bool {
	for _, v := range set {
		if s == v {
			return true
		}
	}
	return false
}

var pathPart = regexp.MustCompile(`([a-z_0-9]+)|\[(\d+)\]`)

// line returns the line of the deepest node on path that exists in the
// document (a defaulted field reports its parent's line).
func (sc *Scenario) line(path string) int {
	n := sc.root
	if n == nil {
		return 0
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for _, m := range pathPart.FindAllStringSubmatch(path, -1) {
		var next *yaml.Node
		if m[1] != "" && n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == m[1] {
					next = n.Content[i+1]
					line = n.Content[i].Line
					break
				}
			}
		} else if m[2] != "" && n.Kind == yaml.SequenceNode {
			k, _ := strconv.Atoi(m[2])
			if k < len(n.Content) {
				next = n.Content[k]
				line = next.Line
			}
		}
		if next == nil {
			return line
		}
		n = next
	}
	return line
}
