package deploy

import (
	"bytes"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/camaudit/camaudit/firmware"
	"github.com/camaudit/camaudit/wire"
)

// testCA writes a PEM CA certificate and returns its path.
func testCA(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	pemData, _ := writeServerCert(t, dir)
	path := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(path, pemData, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestProvisionDevice(t *testing.T) {
	broker, out := t.TempDir(), t.TempDir()
	ca := testCA(t)
	devDir := filepath.Join(out, "pi-walker-1")
	res, err := Provision(Options{ID: "pi-walker-1", BrokerDir: broker, OutDir: out,
		Broker: "ssl://hub.example.org:8883", CAFile: ca, ConfigDir: devDir, Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	if res.ID != "pi-walker-1" || res.Dir != devDir || res.Replaced {
		t.Errorf("result %+v", res)
	}
	if len(res.Password) < 32 {
		t.Errorf("password %q is shorter than 32 characters", res.Password)
	}

	// The broker's password file holds the password, hashed.
	pw, err := ReadPasswordFile(filepath.Join(broker, "passwd"))
	if err != nil {
		t.Fatal(err)
	}
	hash, ok := pw.Lookup("pi-walker-1")
	if !ok {
		t.Fatal("device missing from the password file")
	}
	if strings.Contains(hash, res.Password) {
		t.Error("the password file holds the password in clear")
	}
	if ok, err := CheckPassword(hash, res.Password); !ok || err != nil {
		t.Errorf("the stored hash does not check: %v %v", ok, err)
	}
	// The ACL was created from the shipped one.
	acl, _ := os.ReadFile(filepath.Join(broker, "acl"))
	shipped, _ := Files.ReadFile("mosquitto/acl")
	if !bytes.Equal(acl, shipped) {
		t.Error("the broker's ACL is not the shipped one")
	}

	// The device's files: the password alone is private.
	for name, mode := range map[string]os.FileMode{"mqtt.pass": 0o600, "camaudit.yaml": 0o640, "ca.crt": 0o640} {
		st, err := os.Stat(filepath.Join(devDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != mode {
			t.Errorf("%s has mode %v, want %v", name, st.Mode().Perm(), mode)
		}
	}
	pass, _ := os.ReadFile(filepath.Join(devDir, "mqtt.pass"))
	if strings.TrimSpace(string(pass)) != res.Password {
		t.Errorf("mqtt.pass holds %q, want the password", pass)
	}

	// The configuration is one the firmware accepts (contract E), naming this
	// device, its broker and its files.
	cfg, err := firmware.Load(filepath.Join(devDir, "camaudit.yaml"))
	if err != nil {
		t.Fatalf("the firmware refuses the provisioned configuration: %v", err)
	}
	if cfg.Device != "pi-walker-1" || cfg.MQTT.Username != "pi-walker-1" ||
		cfg.MQTT.Broker != "ssl://hub.example.org:8883" ||
		cfg.MQTT.PasswordFile != filepath.Join(devDir, "mqtt.pass") || cfg.MQTT.CAFile != filepath.Join(devDir, "ca.crt") {
		t.Errorf("configuration %+v", cfg.MQTT)
	}
	if cfg.Camera.Source != DefaultCamera || cfg.GNSS.Source != DefaultGNSS {
		t.Errorf("sources %q %q", cfg.Camera.Source, cfg.GNSS.Source)
	}
}

func TestProvisionRefusesToClobber(t *testing.T) {
	broker, out := t.TempDir(), t.TempDir()
	opts := Options{ID: "dev-a", BrokerDir: broker, OutDir: out, Broker: "ssl://hub.example.org:8883", Rand: rand.Reader}
	first, err := Provision(opts)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(broker, "passwd"))
	if _, err := Provision(opts); !errors.Is(err, ErrExists) {
		t.Fatalf("second provision of dev-a: %v, want ErrExists", err)
	}
	// Same with only the output folder left over (another broker directory).
	if _, err := Provision(Options{ID: "dev-a", OutDir: out, Broker: opts.Broker, Rand: rand.Reader}); err == nil {
		t.Fatal("provision overwrote an existing device folder")
	}
	after, _ := os.ReadFile(filepath.Join(broker, "passwd"))
	if !bytes.Equal(before, after) {
		t.Error("a refused provision changed the password file")
	}
	pass, _ := os.ReadFile(filepath.Join(out, "dev-a", "mqtt.pass"))
	if strings.TrimSpace(string(pass)) != first.Password {
		t.Error("a refused provision changed the device's password file")
	}

	opts.Force = true
	second, err := Provision(opts)
	if err != nil {
		t.Fatal(err)
	}
	if !second.Replaced || second.Password == first.Password {
		t.Errorf("forced provision: replaced=%v, same password=%v", second.Replaced, second.Password == first.Password)
	}
	pw, _ := ReadPasswordFile(filepath.Join(broker, "passwd"))
	if got := pw.Users(); len(got) != 1 {
		t.Errorf("users after --force: %v, want one dev-a", got)
	}
	hash, _ := pw.Lookup("dev-a")
	if ok, _ := CheckPassword(hash, first.Password); ok {
		t.Error("the old password still checks after --force")
	}
	if ok, _ := CheckPassword(hash, second.Password); !ok {
		t.Error("the new password does not check")
	}
}

func TestProvisionRandomIDs(t *testing.T) {
	broker, out := t.TempDir(), t.TempDir()
	re := regexp.MustCompile(`^pi-[a-z2-9]{8}$`)
	seen := map[string]bool{}
	for range 5 {
		res, err := Provision(Options{BrokerDir: broker, OutDir: out, Broker: "ssl://hub.example.org:8883", Rand: rand.Reader})
		if err != nil {
			t.Fatal(err)
		}
		if !re.MatchString(res.ID) || !wire.ValidDevice(res.ID) {
			t.Errorf("random id %q", res.ID)
		}
		if seen[res.ID] {
			t.Errorf("id %q drawn twice", res.ID)
		}
		seen[res.ID] = true
	}
	pw, _ := ReadPasswordFile(filepath.Join(broker, "passwd"))
	if len(pw.Users()) != 5 {
		t.Errorf("password file has %d users, want 5", len(pw.Users()))
	}
}

func TestProvisionBadInput(t *testing.T) {
	badCA := filepath.Join(t.TempDir(), "bad.crt")
	os.WriteFile(badCA, []byte("not a certificate"), 0o644)
	aclDir := t.TempDir()
	os.WriteFile(filepath.Join(aclDir, "acl"), []byte("topic readwrite #\n"), 0o640)
	for _, tc := range []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{"upper case id", Options{ID: "Pi-A"}, `device id "Pi-A"`},
		{"too short", Options{ID: "pi"}, `device id "pi"`},
		{"underscore (the hub's name)", Options{ID: HubUser}, "device id"},
		{"person's name with space", Options{ID: "jane doe"}, "device id"},
		{"no broker", Options{ID: "dev-a", Broker: "-"}, "broker URL: missing"},
		{"plaintext to a remote broker", Options{ID: "dev-a", Broker: "tcp://hub.example.org:1883"}, "in clear"},
		{"no port", Options{ID: "dev-a", Broker: "ssl://hub.example.org"}, "host and a port"},
		{"unknown scheme", Options{ID: "dev-a", Broker: "http://hub.example.org:80"}, `scheme "http"`},
		{"bad CA", Options{ID: "dev-a", CAFile: badCA}, "no PEM certificate"},
		{"missing CA", Options{ID: "dev-a", CAFile: "/nonexistent/ca.crt"}, "reading CA certificate"},
		{"missing broker dir", Options{ID: "dev-a", BrokerDir: "/nonexistent/broker"}, "broker directory"},
		{"ACL without the device pattern", Options{ID: "dev-a", BrokerDir: aclDir}, "pattern write camaudit/v1/%u/#"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.opts
			if o.Broker == "" {
				o.Broker = "ssl://hub.example.org:8883"
			} else if o.Broker == "-" {
				o.Broker = ""
			}
			if o.BrokerDir == "" {
				o.BrokerDir = t.TempDir()
			}
			o.OutDir = t.TempDir()
			o.Rand = rand.Reader
			_, err := Provision(o)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
			if pw, _ := ReadPasswordFile(filepath.Join(o.BrokerDir, "passwd")); pw != nil && len(pw.Users()) > 0 {
				t.Errorf("a refused provision added %v to the password file", pw.Users())
			}
		})
	}
	// Plaintext is fine on the loopback interface, or when asked for.
	for _, o := range []Options{
		{ID: "dev-a", Broker: "tcp://127.0.0.1:1883"},
		{ID: "dev-b", Broker: "tcp://localhost:1883"},
		{ID: "dev-c", Broker: "tcp://10.0.0.2:1883", AllowPlaintext: true},
	} {
		o.OutDir, o.Rand = t.TempDir(), rand.Reader
		if _, err := Provision(o); err != nil {
			t.Errorf("%s: %v", o.Broker, err)
		}
	}
}

func TestProvisionHubAndRevoke(t *testing.T) {
	broker, out := t.TempDir(), t.TempDir()
	hub, err := Provision(Options{Hub: true, BrokerDir: broker, OutDir: out, Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	if hub.ID != HubUser {
		t.Errorf("hub id %q", hub.ID)
	}
	if _, err := os.Stat(filepath.Join(out, HubUser, "camaudit.yaml")); err == nil {
		t.Error("the hub got a device configuration")
	}
	if _, err := Provision(Options{ID: "dev-a", BrokerDir: broker, OutDir: out, Broker: "ssl://h.example.org:8883", Rand: rand.Reader}); err != nil {
		t.Fatal(err)
	}
	if err := Revoke(broker, "dev-a"); err != nil {
		t.Fatal(err)
	}
	if err := Revoke(broker, "dev-a"); err == nil {
		t.Error("revoking a revoked device gave no error")
	}
	if err := Revoke(broker, "../etc"); err == nil {
		t.Error("revoking an invalid id gave no error")
	}
	pw, _ := ReadPasswordFile(filepath.Join(broker, "passwd"))
	if got := strings.Join(pw.Users(), ","); got != HubUser {
		t.Errorf("users after revoke: %s", got)
	}
}

// The example configuration shipped in deploy/ is what provision writes for
// pi-7f3a, and the firmware accepts it once its files exist.
func TestExampleConfig(t *testing.T) {
	want, err := DeviceConfig(DeviceSettings{ID: "pi-7f3a", Broker: "ssl://hub.example.org:8883",
		PasswordFile: "/etc/camaudit/mqtt.pass", CAFile: "/etc/camaudit/ca.crt"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := Files.ReadFile("camaudit.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("deploy/camaudit.yaml is not what provision writes; want:\n%s", want)
	}
	dir := t.TempDir()
	for _, f := range []string{"mqtt.pass", "ca.crt"} {
		os.WriteFile(filepath.Join(dir, f), []byte("x\n"), 0o600)
	}
	moved := strings.ReplaceAll(string(got), "/etc/camaudit/", dir+"/")
	if _, err := firmware.Parse("camaudit.yaml", []byte(moved)); err != nil {
		t.Errorf("the firmware refuses deploy/camaudit.yaml: %v", err)
	}
}
