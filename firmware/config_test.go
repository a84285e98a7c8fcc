package firmware

import (
	"strings"
	"testing"
)

func TestLoadExamples(t *testing.T) {
	c, err := Load("testdata/device.yaml")
	if err != nil {
		t.Fatalf("device.yaml: %v", err)
	}
	if c.Device != "pi-7f3a" || c.Camera.Mount.PitchDeg != 10 || c.MQTT.Broker != "ssl://hub.example.org:8883" ||
		c.Locate.MinFrames != 5 || c.Locate.MaxGap.Duration().Seconds() != 1.5 || c.Panel.LEDFault != "GPIO24" {
		t.Errorf("device.yaml decoded wrongly: %+v", c)
	}
	m, err := Load("testdata/minimal.yaml")
	if err != nil {
		t.Fatalf("minimal.yaml: %v", err)
	}
	if m.Camera.HFOVDeg != 66 || m.GNSS.Source != "gpsd:localhost:2947" || m.Locate != DefaultLocate() || m.Panel.Button != "GPIO17" {
		t.Errorf("defaults not applied: %+v", m)
	}
}

func TestLoadErrors(t *testing.T) {
	_, err := Load("testdata/bad.yaml")
	if err == nil {
		t.Fatal("bad.yaml accepted")
	}
	msg := err.Error()
	// Every problem is reported, each with its line and path.
	for _, want := range []string{
		"testdata/bad.yaml:5: camera.mount.pich_deg: unknown field",
		"testdata/bad.yaml:1: device: \"Pi_7F3A\" is not",
		"testdata/bad.yaml:3: camera.source: \"usb:0\"",
		"testdata/bad.yaml:4: camera.hfov_deg: 200 is outside",
		"testdata/bad.yaml:9: mqtt.broker: scheme \"http\"",
		"testdata/bad.yaml:10: panel.button: \"GPIO 17\" is not a pin name",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	tests := []struct{ name, yaml, want string }{
		{"device", "device: Pi_7F3A\njournal: {dir: /tmp/x}\n", "c.yaml:1: device: \"Pi_7F3A\" is not [a-z0-9-]{3,32}"},
		{"missing device", "journal: {dir: /tmp/x}\n", "device: missing"},
		{"camera source", "device: pi-a\ncamera:\n  source: usb:0\n", "c.yaml:3: camera.source:"},
		{"hfov", "device: pi-a\ncamera: {hfov_deg: 200}\n", "c.yaml:2: camera.hfov_deg: 200 is outside"},
		{"broker scheme", "device: pi-a\nmqtt:\n  broker: http://h:1\n", "c.yaml:3: mqtt.broker: scheme \"http\""},
		{"broker port", "device: pi-a\nmqtt: {broker: \"ssl://h\"}\n", "mqtt.broker: \"ssl://h\" needs host and port"},
		{"missing file", "device: pi-a\nmqtt: {ca_file: /nonexistent/ca.crt}\n", "c.yaml:2: mqtt.ca_file:"},
		{"pin", "device: pi-a\npanel: {button: \"GPIO 17\"}\n", "panel.button: \"GPIO 17\" is not a pin name"},
		{"bad type", "device: pi-a\nlocate: {min_frames: many}\n", "c.yaml"},
		{"section not a map", "device: pi-a\ncamera: 3\n", "c.yaml:2: camera: must be a mapping"},
		{"min frames", "device: pi-a\nlocate: {min_frames: 1}\n", "locate.min_frames: 1 is outside"},
		{"tile scale", "device: pi-a\nmodel: {tile_scale: 8}\n", "c.yaml:2: model.tile_scale: 8 is outside"},
		{"metrics", "device: pi-a\nmetrics: {addr: localhost}\n", "metrics.addr"},
		{"empty", "", "empty configuration"},
		{"not yaml", "device: [\n", "c.yaml"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("c.yaml", []byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse(%q) error = %v, want it to contain %q", tc.yaml, err, tc.want)
			}
		})
	}
}
