package deploy

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// unitKeys parses a systemd unit file into key -> values (in order).
func unitKeys(t *testing.T, name string) map[string][]string {
	t.Helper()
	data, err := Files.ReadFile("systemd/" + name)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string][]string{}
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: line %q is not key=value", name, line)
		}
		keys[k] = append(keys[k], v)
	}
	return keys
}

func systemdAnalyze(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatal("systemd-analyze not found (Debian package systemd; run make setup)")
	}
	return p
}

// verifyUnit runs systemd-analyze verify on a copy of the unit at path, with
// the executables it names replaced (systemd checks that they exist), and
// fails on any complaint, warnings included.
func verifyUnit(t *testing.T, path string, exes map[string]string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	for from, to := range exes {
		s = strings.ReplaceAll(s, "ExecStart="+from+" ", "ExecStart="+to+" ")
	}
	copyPath := filepath.Join(t.TempDir(), filepath.Base(path))
	if err := os.WriteFile(copyPath, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(systemdAnalyze(t), "verify", copyPath).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Errorf("systemd-analyze verify %s: %v\n%s", filepath.Base(path), err, out)
	}
}

func TestUnitsVerify(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, name := range []string{"camaudit.service", "camaudit-hub.service"} {
		data, _ := Files.ReadFile("systemd/" + name)
		path := filepath.Join(dir, name)
		os.WriteFile(path, data, 0o644)
		// Any executable will do for the syntax check; the hub's package
		// test verifies its unit against the installed binary.
		verifyUnit(t, path, map[string]string{"/usr/bin/camaudit": self, "/usr/bin/camaudit-hub": self})
	}
	// A misspelt directive is caught.
	bad := filepath.Join(dir, "bad.service")
	os.WriteFile(bad, []byte("[Service]\nExecStart=/bin/true\nProtectSystm=strict\n"), 0o644)
	out, _ := exec.Command(systemdAnalyze(t), "verify", bad).CombinedOutput()
	if !strings.Contains(string(out), "ProtectSystm") {
		t.Errorf("systemd-analyze did not flag a misspelt key: %s", out)
	}
}

func TestDeviceUnitHardening(t *testing.T) {
	k := unitKeys(t, "camaudit.service")
	for key, want := range map[string]string{
		"Type": "notify", "WatchdogSec": "30s", "Restart": "on-failure", "User": "camaudit",
		"ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes", "NoNewPrivileges": "yes",
		"DevicePolicy": "closed", "StateDirectory": "camaudit", "ReadWritePaths": "/var/lib/camaudit",
		"CapabilityBoundingSet": "", "ExecStart": "/usr/bin/camaudit run --config /etc/camaudit/camaudit.yaml",
	} {
		if got := k[key]; len(got) != 1 || got[0] != want {
			t.Errorf("%s=%q, want %q", key, got, want)
		}
	}
	// Exactly the devices the firmware needs: camera, media controller, DMA
	// heaps, GPIO and serial GNSS receivers.
	var classes []string
	for _, v := range k["DeviceAllow"] {
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "rw" || !strings.HasPrefix(f[0], "char-") {
			t.Errorf("DeviceAllow=%s: want char-<class> rw", v)
		}
		classes = append(classes, strings.TrimPrefix(f[0], "char-"))
	}
	slices.Sort(classes)
	want := []string{"bcm2835-gpiomem", "dma_heap", "gpiochip", "media", "rpi-gpiomem", "ttyACM", "ttyAMA", "ttyS", "ttyUSB", "video4linux"}
	if !slices.Equal(classes, want) {
		t.Errorf("DeviceAllow classes %v, want %v", classes, want)
	}
	if exposure := securityExposure(t, "camaudit.service"); exposure > 3.0 {
		t.Errorf("systemd-analyze security rates camaudit.service %.1f, want <= 3.0", exposure)
	}
}

func TestHubUnitHardening(t *testing.T) {
	k := unitKeys(t, "camaudit-hub.service")
	for key, want := range map[string]string{
		"DynamicUser": "yes", "ProtectSystem": "strict", "PrivateDevices": "yes", "NoNewPrivileges": "yes",
		"StateDirectory": "camaudit-hub", "LoadCredential": "mqtt.pass:/etc/camaudit/hub-mqtt.pass",
		"EnvironmentFile": "/etc/camaudit/hub.env", "ExecStart": "/usr/bin/camaudit-hub serve $CAMAUDIT_HUB_FLAGS",
	} {
		if got := k[key]; len(got) != 1 || got[0] != want {
			t.Errorf("%s=%q, want %q", key, got, want)
		}
	}
	// The env file hands the hub the credential systemd makes of the password.
	env, _ := Files.ReadFile("camaudit-hub.env")
	if !strings.Contains(string(env), "--password-file /run/credentials/camaudit-hub.service/mqtt.pass") ||
		!strings.Contains(string(env), "--username "+HubUser) {
		t.Errorf("camaudit-hub.env does not log in as %s with the credential:\n%s", HubUser, env)
	}
	if exposure := securityExposure(t, "camaudit-hub.service"); exposure > 2.0 {
		t.Errorf("systemd-analyze security rates camaudit-hub.service %.1f, want <= 2.0", exposure)
	}
}

// securityExposure returns systemd-analyze security's overall exposure
// (0 = locked down, 10 = unprotected) for a shipped unit, judged offline.
func securityExposure(t *testing.T, name string) float64 {
	t.Helper()
	data, _ := Files.ReadFile("systemd/" + name)
	path := filepath.Join(t.TempDir(), name)
	os.WriteFile(path, data, 0o644)
	out, err := exec.Command(systemdAnalyze(t), "security", "--offline=true", "--no-pager", path).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	t.Logf("%s: exposure %.1f", name, v)
	return v
}
