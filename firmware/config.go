package firmware

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/camaudit/camaudit/wire"
)

// Config is the device configuration file (contract E): what camera and GNSS
// receiver to read, where the model lives, which broker to talk to, where the
// journal is kept and which GPIO pins form the panel. Load reads and validates
// it; Default returns the values used for everything a file leaves out.
type Config struct {
	Device    string          `yaml:"device"`
	Camera    CameraConfig    `yaml:"camera"`
	GNSS      GNSSConfig      `yaml:"gnss"`
	Model     ModelConfig     `yaml:"model"`
	MQTT      MQTTConfig      `yaml:"mqtt"`
	Journal   JournalConfig   `yaml:"journal"`
	Panel     PanelConfig     `yaml:"panel"`
	Locate    LocateConfig    `yaml:"locate"`
	Telemetry TelemetryConfig `yaml:"telemetry"`
	Metrics   MetricsConfig   `yaml:"metrics"`
	Evidence  EvidenceConfig  `yaml:"evidence"`

	// path is the file the configuration came from, for messages.
	path string
}

// CameraConfig says where frames come from and how the camera sits on the device.
type CameraConfig struct {
	// Source is v4l2:/dev/videoN, gst:<pipeline>, file:<video> or dir:<images>.
	Source  string  `yaml:"source"`
	HFOVDeg float64 `yaml:"hfov_deg"` // horizontal field of view in degrees
	Mount   Mount   `yaml:"mount"`
	// FPS caps how many frames per second are offered to the detector (0: as
	// fast as the camera delivers).
	FPS float64 `yaml:"fps"`
}

// Mount is how the camera is turned relative to the walker: yaw to the right
// of the walking direction, pitch up from the horizon, roll clockwise as seen
// from behind the camera. All in degrees.
type Mount struct {
	YawDeg   float64 `yaml:"yaw_deg"`
	PitchDeg float64 `yaml:"pitch_deg"`
	RollDeg  float64 `yaml:"roll_deg"`
}

// GNSSConfig says where fixes come from.
type GNSSConfig struct {
	// Source is gpsd:host:port, serial:/dev/tty@baud or nmea:<file>.
	Source string `yaml:"source"`
	// SigmaM is the 1-sigma position noise assumed when the receiver does
	// not report its accuracy.
	SigmaM float64 `yaml:"sigma_m"`
}

// ModelConfig selects the detection model bundle.
type ModelConfig struct {
	Dir       string  `yaml:"dir"`       // "" = default bundle lookup
	Threshold float64 `yaml:"threshold"` // 0 = the bundle's own, at the tile scale in use
	// TileScale is frame pixels per model pixel in the detector's tiles
	// (0 = the bundle's, else 1). Below 1 the frame is enlarged before
	// tiling, so cameras only a few pixels across reach the size the model
	// finds best, for about 1/TileScale² times the detection work: 0.5
	// suits a 1280x720 camera and 0.75 a 1920x1080 one on a fast CPU.
	TileScale float64 `yaml:"tile_scale"`
	// Verify gives each detection a second look with the bundle's verifier
	// (a classifier of the box and its surroundings that drops look-alikes:
	// lamp heads, wall boxes, globe lights). nil = on when the bundle has
	// one; false turns it off; true with a bundle without one is an error.
	Verify *bool `yaml:"verify"`
}

// MQTTConfig is the uplink to the campaign broker.
type MQTTConfig struct {
	Broker       string `yaml:"broker"` // tcp://, ssl://, mqtt://, mqtts://; "" = no uplink
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file"`
	CAFile       string `yaml:"ca_file"`
	CertFile     string `yaml:"cert_file"`
	KeyFile      string `yaml:"key_file"`
}

// JournalConfig says where the durable outbox and walk state live.
type JournalConfig struct {
	Dir string `yaml:"dir"`
}

// PanelConfig names the GPIO pins of the button and the four LEDs ("" = not fitted).
type PanelConfig struct {
	Button       string `yaml:"button"`
	LEDRecording string `yaml:"led_recording"`
	LEDFix       string `yaml:"led_fix"`
	LEDUplink    string `yaml:"led_uplink"`
	LEDFault     string `yaml:"led_fault"`
}

// LocateConfig tunes when a tracked camera becomes a confirmed sighting.
type LocateConfig struct {
	MinFrames    int     `yaml:"min_frames"`     // detections a track needs
	MinBaselineM float64 `yaml:"min_baseline_m"` // distance walked while it was seen
	MaxErrM      float64 `yaml:"max_err_m"`      // largest acceptable 1-sigma error
	MaxRangeM    float64 `yaml:"max_range_m"`    // cameras seen only from farther away are refused
	DedupSigma   float64 `yaml:"dedup_sigma"`    // same camera when closer than this many combined sigmas
	DedupMinM    float64 `yaml:"dedup_min_m"`    // ... or closer than this many metres
	MaxGap       Seconds `yaml:"max_gap_s"`      // a track dies after this long without a detection
}

// TelemetryConfig controls the periodic health report.
type TelemetryConfig struct {
	Interval Seconds `yaml:"interval_s"` // 0 = no telemetry
}

// MetricsConfig controls the /metrics counters endpoint.
type MetricsConfig struct {
	Addr string `yaml:"addr"` // "" = off; e.g. 127.0.0.1:9108
}

// EvidenceConfig controls evidence crops of cameras. They are off by default;
// when on, they pass the people guard before they leave the device.
type EvidenceConfig struct {
	Enabled bool `yaml:"enabled"`
}

// Seconds is a duration written in the file as a number of seconds.
type Seconds float64

// Duration returns s as a time.Duration.
func (s Seconds) Duration() time.Duration { return time.Duration(float64(s) * float64(time.Second)) }

// Default returns the configuration used for everything a file leaves out.
func Default() Config {
	return Config{
		Camera: CameraConfig{
			Source:  "gst:libcamerasrc ! video/x-raw,width=1920,height=1080 ! videoconvert ! appsink",
			HFOVDeg: 66,
		},
		GNSS:    GNSSConfig{Source: "gpsd:localhost:2947", SigmaM: 3},
		Journal: JournalConfig{Dir: "/var/lib/camaudit"},
		Panel: PanelConfig{Button: "GPIO17", LEDRecording: "GPIO27", LEDFix: "GPIO22",
			LEDUplink: "GPIO23", LEDFault: "GPIO24"},
		Locate:    DefaultLocate(),
		Telemetry: TelemetryConfig{Interval: 30},
	}
}

// DefaultLocate returns the default confirmation and dedup thresholds.
func DefaultLocate() LocateConfig {
	return LocateConfig{MinFrames: 5, MinBaselineM: 3, MaxErrM: 12, MaxRangeM: 60,
		DedupSigma: 2, DedupMinM: 3, MaxGap: 1.5}
}

var (
	sourceRE  = regexp.MustCompile(`^(v4l2|gst|file|dir):.+`)
	gnssSrcRE = regexp.MustCompile(`^(gpsd|serial|nmea):.+`)
	pinRE     = regexp.MustCompile(`^(GPIO[0-9]{1,3}|[A-Za-z0-9_]{1,32})$`)
)

// Load reads and validates a configuration file. Errors name the file, the
// line and the field path ("camaudit.yaml:7: mqtt.broker: ..."); every
// problem found is reported, not just the first.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("reading config: %w", err)
	}
	return Parse(path, data)
}

// Parse is Load on bytes already read; name is used in messages.
func Parse(name string, data []byte) (Config, error) {
	cfg := Default()
	cfg.path = name
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return Config{}, fmt.Errorf("%s: %w", name, err)
	}
	if root.Kind == 0 || len(root.Content) == 0 {
		return Config{}, fmt.Errorf("%s: empty configuration (need at least device:)", name)
	}
	doc := root.Content[0]
	if doc.Kind != yaml.MappingNode {
		return Config{}, fmt.Errorf("%s:%d: the configuration must be a mapping of sections", name, doc.Line)
	}
	var errs []error
	checkKeys(name, doc, reflect.TypeOf(cfg), "", &errs)
	if err := doc.Decode(&cfg); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", name, err))
	} else {
		errs = append(errs, cfg.validate(func(field string) int { return lineOf(doc, field) })...)
	}
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	return cfg, nil
}

// Validate checks a configuration built in code (no file lines to report).
func (c *Config) Validate() error {
	return errors.Join(c.validate(func(string) int { return 0 })...)
}

// Path returns the file the configuration was loaded from ("" if built in code).
func (c *Config) Path() string { return c.path }

// checkKeys reports mapping keys that name no field of t, with their line.
func checkKeys(name string, n *yaml.Node, t reflect.Type, prefix string, errs *[]error) {
	if n.Kind != yaml.MappingNode || t.Kind() != reflect.Struct {
		return
	}
	fields := map[string]reflect.Type{}
	var known []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == "" || tag == "-" {
			continue
		}
		fields[tag] = f.Type
		known = append(known, tag)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		ft, ok := fields[k.Value]
		if !ok {
			*errs = append(*errs, fmt.Errorf("%s:%d: %s%s: unknown field (known: %s)", name, k.Line, prefix, k.Value, strings.Join(known, ", ")))
			continue
		}
		if ft.Kind() == reflect.Struct {
			if v.Kind != yaml.MappingNode && !(v.Kind == yaml.ScalarNode && v.Tag == "!!null") {
				*errs = append(*errs, fmt.Errorf("%s:%d: %s%s: must be a mapping", name, v.Line, prefix, k.Value))
				continue
			}
			checkKeys(name, v, ft, prefix+k.Value+".", errs)
		}
	}
}

// lineOf returns the line of the value at a dotted field path, or of the
// deepest section found, or 0.
func lineOf(doc *yaml.Node, field string) int {
	n, line := doc, 0
	for _, part := range strings.Split(field, ".") {
		if n.Kind != yaml.MappingNode {
			return line
		}
		found := false
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == part {
				n, line, found = n.Content[i+1], n.Content[i+1].Line, true
				break
			}
		}
		if !found {
			return line
		}
	}
	return line
}

func (c *Config) validate(line func(string) int) []error {
	var errs []error
	bad := func(field, format string, a ...any) {
		msg := fmt.Sprintf(format, a...)
		if l := line(field); l > 0 {
			errs = append(errs, fmt.Errorf("%s:%d: %s: %s", c.path, l, field, msg))
		} else if c.path != "" {
			errs = append(errs, fmt.Errorf("%s: %s: %s", c.path, field, msg))
		} else {
			errs = append(errs, fmt.Errorf("config: %s: %s", field, msg))
		}
	}
	if c.Device == "" {
		bad("device", "missing (a pseudonym matching [a-z0-9-]{3,32}, e.g. pi-7f3a)")
	} else if !wire.ValidDevice(c.Device) {
		bad("device", "%q is not [a-z0-9-]{3,32}", c.Device)
	}
	if !sourceRE.MatchString(c.Camera.Source) {
		bad("camera.source", "%q is not v4l2:/dev/videoN, gst:<pipeline>, file:<video> or dir:<images>", c.Camera.Source)
	}
	if !(c.Camera.HFOVDeg > 1 && c.Camera.HFOVDeg < 179) { // NaN too
		bad("camera.hfov_deg", "%v is outside (1, 179) degrees", c.Camera.HFOVDeg)
	}
	for _, m := range []struct {
		f  string
		v  float64
		lo float64
		hi float64
	}{
		{"camera.mount.yaw_deg", c.Camera.Mount.YawDeg, -180, 180},
		{"camera.mount.pitch_deg", c.Camera.Mount.PitchDeg, -90, 90},
		{"camera.mount.roll_deg", c.Camera.Mount.RollDeg, -180, 180},
		{"camera.fps", c.Camera.FPS, 0, 240},
		{"gnss.sigma_m", c.GNSS.SigmaM, 0, 100},
		{"model.threshold", c.Model.Threshold, 0, 1},
		{"model.tile_scale", c.Model.TileScale, 0, 4},
		{"locate.min_baseline_m", c.Locate.MinBaselineM, 0, 1000},
		{"locate.max_err_m", c.Locate.MaxErrM, 0.1, 1000},
		{"locate.max_range_m", c.Locate.MaxRangeM, 1, 10000},
		{"locate.dedup_sigma", c.Locate.DedupSigma, 0, 100},
		{"locate.dedup_min_m", c.Locate.DedupMinM, 0, 1000},
		{"locate.max_gap_s", float64(c.Locate.MaxGap), 0.05, 600},
		{"telemetry.interval_s", float64(c.Telemetry.Interval), 0, 86400},
	} {
		if !(m.v >= m.lo && m.v <= m.hi) {
			bad(m.f, "%v is outside [%v, %v]", m.v, m.lo, m.hi)
		}
	}
	if c.Locate.MinFrames < 2 || c.Locate.MinFrames > 10000 {
		bad("locate.min_frames", "%d is outside [2, 10000]", c.Locate.MinFrames)
	}
	if !gnssSrcRE.MatchString(c.GNSS.Source) {
		bad("gnss.source", "%q is not gpsd:host:port, serial:/dev/tty@baud or nmea:<file>", c.GNSS.Source)
	}
	if c.Model.Dir != "" {
		if st, err := os.Stat(c.Model.Dir); err != nil || !st.IsDir() {
			bad("model.dir", "%q is not a directory", c.Model.Dir)
		}
	}
	if c.MQTT.Broker != "" {
		u, err := url.Parse(c.MQTT.Broker)
		switch {
		case err != nil:
			bad("mqtt.broker", "%q: %v", c.MQTT.Broker, err)
		case u.Scheme != "tcp" && u.Scheme != "ssl" && u.Scheme != "mqtt" && u.Scheme != "mqtts" && u.Scheme != "tls":
			bad("mqtt.broker", "scheme %q is not tcp://, ssl://, mqtt:// or mqtts://", u.Scheme)
		case u.Hostname() == "" || u.Port() == "":
			bad("mqtt.broker", "%q needs host and port, e.g. ssl://hub.example.org:8883", c.MQTT.Broker)
		}
	}
	for _, f := range []struct{ field, path string }{
		{"mqtt.password_file", c.MQTT.PasswordFile},
		{"mqtt.ca_file", c.MQTT.CAFile},
		{"mqtt.cert_file", c.MQTT.CertFile},
		{"mqtt.key_file", c.MQTT.KeyFile},
	} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			bad(f.field, "%v", err)
		}
	}
	if (c.MQTT.CertFile == "") != (c.MQTT.KeyFile == "") {
		bad("mqtt.cert_file", "cert_file and key_file go together")
	}
	if c.Journal.Dir == "" {
		bad("journal.dir", "missing (a directory for the durable outbox)")
	}
	for _, p := range []struct{ field, pin string }{
		{"panel.button", c.Panel.Button}, {"panel.led_recording", c.Panel.LEDRecording},
		{"panel.led_fix", c.Panel.LEDFix}, {"panel.led_uplink", c.Panel.LEDUplink}, {"panel.led_fault", c.Panel.LEDFault},
	} {
		if p.pin != "" && !pinRE.MatchString(p.pin) {
			bad(p.field, "%q is not a pin name such as GPIO17", p.pin)
		}
	}
	if c.Metrics.Addr != "" {
		if _, _, err := net.SplitHostPort(c.Metrics.Addr); err != nil {
			bad("metrics.addr", "%q is not host:port (e.g. 127.0.0.1:9108): %v", c.Metrics.Addr, err)
		}
	}
	return errs
}
