package firmware

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/camaudit/camaudit/internal/hostile"
	"github.com/camaudit/camaudit/wire"
)

// hostileYAML are seeds that attack YAML parsers: alias bombs, deep
// nesting, merge keys, tags, huge scalars, NUL bytes, duplicate keys.
var hostileYAML = []string{
	"",
	"---\n...\n",
	"device: pi-7f3a\n",
	"device: [pi-7f3a]\n",
	"device: pi-7f3a\ndevice: pi-other\n",
	"device: pi-7f3a\ncamera: {hfov_deg: .nan}\n",
	"device: pi-7f3a\ncamera: {hfov_deg: .inf, mount: {yaw_deg: -.inf}}\n",
	"device: pi-7f3a\ntelemetry: {interval_s: 1e308}\nlocate: {max_gap_s: -1}\n",
	"device: pi-7f3a\nlocate: {min_frames: 99999999999999999999}\n",
	"device: !!binary cGktN2YzYQ==\n",
	"device: &a pi-7f3a\ngnss: {source: *a}\n",
	"a: &a [*a]\n",
	"a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n",
	"<<: {device: pi-7f3a}\n",
	"device: pi-7f3a\ncamera: " + strings.Repeat("{a: ", 200) + "1" + strings.Repeat("}", 200) + "\n",
	"device: " + strings.Repeat("x", 100000) + "\n",
	"device: \"pi-7f3a\\0\"\n",
	"device: pi-7f3a\x00\n",
	"device:\tpi-7f3a\n",
	"\xef\xbb\xbfdevice: pi-7f3a\n",
	"device: pi-7f3a\nmqtt: {broker: \"ssl://hub:8883/\\u202e\"}\n",
	"device: pi-7f3a\nmqtt: {broker: \"tcp://[::1\"}\n",
	"device: pi-7f3a\njournal: {dir: \"../../../../etc\"}\n",
	"device: pi-7f3a\npanel: {button: \"GPIO17; rm -rf /\"}\n",
	"- device: pi-7f3a\n",
	"? [a, b]\n: c\n",
	"device: pi-7f3a\nevidence: {enabled: yes}\n",
	"%YAML 1.3\n---\ndevice: pi-7f3a\n",
	"device: pi-7f3a\n---\ndevice: pi-other\n",
}

// FuzzParseConfig feeds arbitrary bytes to the device config parser. It
// must not panic or hang; an error names the file; an accepted config
// validates and has a device pseudonym the wire accepts.
//
//	go test -run '^$' -fuzz FuzzParseConfig -fuzztime 1m ./firmware
func FuzzParseConfig(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range hostileYAML {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("fuzz.yaml", data)
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Parse accepted a config that Validate refuses: %v", err)
		}
		if p := hostile.NonFinite(cfg); p != "" {
			t.Fatalf("accepted a non-finite number at %s", p)
		}
		if !wire.ValidDevice(cfg.Device) {
			t.Fatalf("accepted device %q", cfg.Device)
		}
		if cfg.Path() != "fuzz.yaml" {
			t.Fatalf("path %q", cfg.Path())
		}
	})
}
