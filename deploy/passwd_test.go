package deploy

import (
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestHashPasswordChecks(t *testing.T) {
	format := regexp.MustCompile(`^\$7\$101\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==$`)
	for _, pw := range []string{"s3cret", "", "with:colon and spaces", "ünïcødé", strings.Repeat("x", 200)} {
		h, err := HashPassword(pw, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if !format.MatchString(h) {
			t.Errorf("hash %q is not in Mosquitto's $7$ format", h)
		}
		for _, tc := range []struct {
			try  string
			want bool
		}{{pw, true}, {pw + "x", false}, {"S3CRET", false}} {
			if tc.try == pw && !tc.want {
				continue
			}
			ok, err := CheckPassword(h, tc.try)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tc.want {
				t.Errorf("CheckPassword(hash of %q, %q) = %v, want %v", pw, tc.try, ok, tc.want)
			}
		}
	}
	h1, _ := HashPassword("same", rand.Reader)
	h2, _ := HashPassword("same", rand.Reader)
	if h1 == h2 {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
}

// Hashes written by Debian's mosquitto_passwd check with CheckPassword: the
// format is Mosquitto's (that Mosquitto accepts ours is in broker_test.go).
func TestCheckPasswordReadsMosquittoPasswd(t *testing.T) {
	bin, err := exec.LookPath("mosquitto_passwd")
	if err != nil {
		t.Fatal("mosquitto_passwd not found (Debian package mosquitto; run make setup)")
	}
	path := filepath.Join(t.TempDir(), "passwd")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-b", path, "dev-x", "pa55:word").CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_passwd: %v\n%s", err, out)
	}
	f, err := ReadPasswordFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h, ok := f.Lookup("dev-x")
	if !ok {
		t.Fatalf("dev-x not found in %q", f.lines)
	}
	if ok, err := CheckPassword(h, "pa55:word"); err != nil || !ok {
		t.Errorf("CheckPassword(mosquitto_passwd hash, right password) = %v, %v", ok, err)
	}
	if ok, _ := CheckPassword(h, "pa55:wordx"); ok {
		t.Error("CheckPassword accepted a wrong password")
	}
}

func TestCheckPasswordRejectsMalformedHashes(t *testing.T) {
	for _, h := range []string{"", "plain", "$7$x$AAAA$AAAA", "$7$101$!!$AAAA", "$7$101$AAAA$", "$5$abc$def", "$7$0$AAAA$AAAA"} {
		if _, err := CheckPassword(h, "pw"); err == nil {
			t.Errorf("CheckPassword(%q) gave no error", h)
		}
	}
}

func TestPasswordFileEditKeepsTheRest(t *testing.T) {
	path := filepath.Join(t.TempDir(), "passwd")
	orig := "# campaign 2026\nalpha:$7$101$a$b\n\nbeta:$7$101$c$d\n"
	if err := os.WriteFile(path, []byte(orig), 0o604); err != nil {
		t.Fatal(err)
	}
	f, err := ReadPasswordFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(f.Users(), ","); got != "alpha,beta" {
		t.Errorf("Users() = %s", got)
	}
	f.Set("beta", "$7$101$e$f")
	f.Set("gamma", "$7$101$g$h")
	if !f.Remove("alpha") || f.Remove("nobody") {
		t.Error("Remove reported the wrong thing")
	}
	if err := f.Write(); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if want := "# campaign 2026\n\nbeta:$7$101$e$f\ngamma:$7$101$g$h\n"; string(data) != want {
		t.Errorf("file after edit:\n%s\nwant:\n%s", data, want)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o604 {
		t.Errorf("mode after edit %v, want the original 0604", st.Mode().Perm())
	}
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".passwd.*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left behind: %v", leftovers)
	}
}

func TestReadPasswordFileErrors(t *testing.T) {
	dir := t.TempDir()
	f, err := ReadPasswordFile(filepath.Join(dir, "missing"))
	if err != nil || len(f.Users()) != 0 {
		t.Fatalf("a missing file should read as empty: %v %v", f, err)
	}
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("ok:$7$1$a$b\nno colon here\n"), 0o600)
	_, err = ReadPasswordFile(bad)
	if err == nil || !strings.Contains(err.Error(), bad+":2:") {
		t.Errorf("error %v should name %s:2", err, bad)
	}
}
