package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/camaudit/camaudit/deploy"
)

func TestProvisionCommand(t *testing.T) {
	broker, out := t.TempDir(), t.TempDir()
	run := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := runMain(append([]string{"provision"}, args...), &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}

	code, stdout, stderr := run("--id", "pi-cmd-1", "--broker", "ssl://hub.example.org:8883", "--broker-dir", broker, "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "provisioned device pi-cmd-1") || !strings.Contains(stdout, "systemctl reload mosquitto") {
		t.Errorf("stdout:\n%s", stdout)
	}
	pass, err := os.ReadFile(filepath.Join(out, "pi-cmd-1", "mqtt.pass"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stdout+stderr, strings.TrimSpace(string(pass))) {
		t.Error("the password was printed to the terminal")
	}
	pw, err := deploy.ReadPasswordFile(filepath.Join(broker, "passwd"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := pw.Lookup("pi-cmd-1"); !ok {
		t.Error("the device is not in the broker's password file")
	}

	for _, tc := range []struct {
		args     []string
		code     int
		inStderr string
	}{
		{[]string{"--id", "pi-cmd-1", "--broker", "ssl://hub.example.org:8883", "--broker-dir", broker, "--out", out}, 1, "already provisioned"},
		{[]string{"--id", "pi-cmd-2"}, 2, "--broker is required"},
		{[]string{"--id", "Jane", "--broker", "ssl://h.example.org:8883", "--out", out}, 1, `device id "Jane"`},
		{[]string{"--hub", "--id", "x-1"}, 2, "exclude each other"},
		{[]string{"--revoke", "--id", "pi-cmd-1"}, 2, "--revoke needs --id and --broker-dir"},
		{[]string{"--bogus"}, 2, "flag provided but not defined"},
	} {
		code, _, stderr := run(tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.inStderr) {
			t.Errorf("provision %q: exit %d, stderr %q; want exit %d and %q", tc.args, code, stderr, tc.code, tc.inStderr)
		}
	}

	if code, _, stderr := run("--revoke", "--id", "pi-cmd-1", "--broker-dir", broker); code != 0 {
		t.Fatalf("revoke: exit %d: %s", code, stderr)
	}
	pw, _ = deploy.ReadPasswordFile(filepath.Join(broker, "passwd"))
	if _, ok := pw.Lookup("pi-cmd-1"); ok {
		t.Error("a revoked device is still in the password file")
	}
}
