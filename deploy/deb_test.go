package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// repoRoot is the repository's top folder (tests run in deploy/).
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestHubDebInstalls builds the amd64 hub package the way `make deb` does
// (scripts/deb.sh hub-amd64: native build + nfpm), inspects it with
// dpkg-deb, installs it with dpkg into a throwaway root, runs the installed
// binary, verifies the installed unit with systemd-analyze, and purges it.
func TestHubDebInstalls(t *testing.T) {
	for _, tool := range []string{"dpkg", "dpkg-deb", "dpkg-query"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: this test needs Debian's dpkg", tool)
		}
	}
	nfpm := nfpmBinary(t)
	root := repoRoot(t)
	out := t.TempDir()
	env := []string{"PATH=" + filepath.Dir(nfpm) + ":" + os.Getenv("PATH"), "VERSION_OVERRIDE=1.2.3~test"}
	run(t, root, env, "scripts/deb.sh", "--out", out, "hub-amd64")
	deb := filepath.Join(out, "camaudit-hub_1.2.3~test_amd64.deb")

	info := run(t, root, nil, "dpkg-deb", "--info", deb)
	for _, want := range []string{"Package: camaudit-hub", "Version: 1.2.3~test", "Architecture: amd64", "Depends: libc6 (>= 2.34)", "postinst", "prerm", "postrm"} {
		if !strings.Contains(info, want) {
			t.Errorf("dpkg-deb --info lacks %q:\n%s", want, info)
		}
	}
	contents := run(t, root, nil, "dpkg-deb", "--contents", deb)
	for _, want := range []string{"./usr/bin/camaudit-hub", "./lib/systemd/system/camaudit-hub.service", "./etc/camaudit/hub.env",
		"./usr/share/camaudit-hub/mosquitto/acl", "./usr/share/camaudit-hub/mosquitto/camaudit.conf", "./usr/share/doc/camaudit-hub/deploy.md"} {
		if !strings.Contains(contents, want) {
			t.Errorf("package lacks %s:\n%s", want, contents)
		}
	}
	if !strings.Contains(contents, "-rwxr-xr-x root/root") {
		t.Errorf("no root-owned executable in the package:\n%s", contents)
	}

	// A throwaway root whose dpkg database knows the host's libc6, so the
	// package's Depends is checked for real. Maintainer scripts run outside
	// a chroot with DPKG_ROOT set, and leave this system alone.
	dest := t.TempDir()
	admin := filepath.Join(dest, "var/lib/dpkg")
	for _, d := range []string{"info", "updates", "triggers"} {
		if err := os.MkdirAll(filepath.Join(admin, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	libc := run(t, root, nil, "dpkg-query", "-s", "libc6:amd64")
	if err := os.WriteFile(filepath.Join(admin, "status"), []byte(libc), 0o644); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(admin, "info", "libc6:amd64.list"), nil, 0o644)
	run(t, root, nil, "dpkg", "--root="+dest, "--force-script-chrootless", "-i", deb)
	status := run(t, root, nil, "dpkg", "--root="+dest, "-s", "camaudit-hub")
	if !strings.Contains(status, "Status: install ok installed") || !strings.Contains(status, "/etc/camaudit/hub.env") {
		t.Errorf("after dpkg -i:\n%s", status)
	}
	version := run(t, root, nil, filepath.Join(dest, "usr/bin/camaudit-hub"), "version")
	if !strings.Contains(version, "camaudit-hub 1.2.3~test") {
		t.Errorf("installed binary says:\n%s", version)
	}
	env2, err := os.ReadFile(filepath.Join(dest, "etc/camaudit/hub.env"))
	if err != nil || !strings.Contains(string(env2), "CAMAUDIT_HUB_FLAGS=") {
		t.Errorf("installed hub.env: %v\n%s", err, env2)
	}
	verifyUnit(t, filepath.Join(dest, "lib/systemd/system/camaudit-hub.service"), map[string]string{
		"/usr/bin/camaudit-hub": filepath.Join(dest, "usr/bin/camaudit-hub"),
	})

	run(t, root, nil, "dpkg", "--root="+dest, "--force-script-chrootless", "--purge", "camaudit-hub")
	if _, err := os.Stat(filepath.Join(dest, "usr/bin/camaudit-hub")); err == nil {
		t.Error("the binary survived a purge")
	}
	if _, err := os.Stat(filepath.Join(dest, "etc/camaudit/hub.env")); err == nil {
		t.Error("the conffile survived a purge")
	}
}

// nfpmBinary returns the nfpm `make setup` installs.
func nfpmBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("nfpm"); err == nil {
		return p
	}
	gopath, err := exec.Command("go", "env", "GOPATH").Output()
	if err == nil {
		p := filepath.Join(strings.TrimSpace(string(gopath)), "bin", "nfpm")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatal("nfpm not found in PATH or $(go env GOPATH)/bin: run make setup (go install github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2)")
	return ""
}
