package deploy

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// Mosquitto's own choices for "$7$" hashes (mosquitto_passwd 2.0): PBKDF2
// with HMAC-SHA512, 101 iterations, a 12-byte salt and a 64-byte key. The
// passwords provision makes are 192 random bits, so the iteration count does
// not carry their strength.
const (
	hashIterations = 101
	hashSaltLen    = 12
	hashKeyLen     = 64
)

// HashPassword returns password hashed in Mosquitto's password-file format
// ("$7$101$<salt>$<key>", PBKDF2-SHA512), with a salt read from rand, so
// files can be written without mosquitto_passwd.
func HashPassword(password string, rand io.Reader) (string, error) {
	salt := make([]byte, hashSaltLen)
	if _, err := io.ReadFull(rand, salt); err != nil {
		return "", fmt.Errorf("reading a random salt: %w", err)
	}
	key, err := pbkdf2.Key(sha512.New, password, salt, hashIterations, hashKeyLen)
	if err != nil {
		return "", fmt.Errorf("hashing password: %w", err)
	}
	b64 := base64.StdEncoding
	return fmt.Sprintf("$7$%d$%s$%s", hashIterations, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// CheckPassword reports whether password matches hash, a password hash as
// Mosquitto writes it: "$7$iterations$salt$key" (PBKDF2-SHA512, Mosquitto
// 2.0) or "$6$salt$hash" (one round of SHA-512, Mosquitto 1.x).
func CheckPassword(hash, password string) (bool, error) {
	parts := strings.Split(hash, "$")
	b64 := base64.StdEncoding
	switch {
	case len(parts) == 5 && parts[0] == "" && parts[1] == "7":
		iter, err := strconv.Atoi(parts[2])
		if err != nil || iter < 1 {
			return false, fmt.Errorf("password hash: bad iteration count %q", parts[2])
		}
		salt, err1 := b64.DecodeString(parts[3])
		want, err2 := b64.DecodeString(parts[4])
		if err := errors.Join(err1, err2); err != nil || len(want) == 0 {
			return false, fmt.Errorf("password hash: bad base64: %v", err)
		}
		got, err := pbkdf2.Key(sha512.New, password, salt, iter, len(want))
		if err != nil {
			return false, fmt.Errorf("password hash: %w", err)
		}
		return hmac.Equal(got, want), nil
	case len(parts) == 4 && parts[0] == "" && parts[1] == "6":
		salt, err1 := b64.DecodeString(parts[2])
		want, err2 := b64.DecodeString(parts[3])
		if err := errors.Join(err1, err2); err != nil {
			return false, fmt.Errorf("password hash: bad base64: %v", err)
		}
		h := sha512.New()
		h.Write([]byte(password))
		h.Write(salt)
		return subtle.ConstantTimeCompare(h.Sum(nil), want) == 1, nil
	}
	return false, fmt.Errorf("password hash: not a Mosquitto $6$ or $7$ hash")
}

// PasswordFile is a Mosquitto password file ("user:hash" lines) held in
// memory. Comments, blank lines and the order of entries are kept, so an
// edit changes only the lines it means to.
type PasswordFile struct {
	path  string
	lines []string
}

// ReadPasswordFile reads a Mosquitto password file. A file that does not
// exist yet reads as empty; a malformed line is an error naming it.
func ReadPasswordFile(path string) (*PasswordFile, error) {
	f := &PasswordFile{path: path}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading password file: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		t := strings.TrimSpace(line)
		if t != "" && !strings.HasPrefix(t, "#") {
			user, hash, ok := strings.Cut(line, ":")
			if !ok || user == "" || hash == "" {
				return nil, fmt.Errorf("%s:%d: not a \"user:hash\" line", path, n)
			}
		}
		f.lines = append(f.lines, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return f, nil
}

// entry returns the index of user's line, or -1.
func (f *PasswordFile) entry(user string) int {
	for i, l := range f.lines {
		if u, _, ok := strings.Cut(l, ":"); ok && u == user && !strings.HasPrefix(strings.TrimSpace(l), "#") {
			return i
		}
	}
	return -1
}

// Lookup returns user's password hash.
func (f *PasswordFile) Lookup(user string) (hash string, ok bool) {
	i := f.entry(user)
	if i < 0 {
		return "", false
	}
	_, hash, _ = strings.Cut(f.lines[i], ":")
	return hash, true
}

// Set adds user with hash, or replaces the hash of an existing user in place.
func (f *PasswordFile) Set(user, hash string) {
	line := user + ":" + hash
	if i := f.entry(user); i >= 0 {
		f.lines[i] = line
		return
	}
	f.lines = append(f.lines, line)
}

// Remove deletes user's line and reports whether there was one.
func (f *PasswordFile) Remove(user string) bool {
	i := f.entry(user)
	if i < 0 {
		return false
	}
	f.lines = append(f.lines[:i], f.lines[i+1:]...)
	return true
}

// Users returns the user names in the file, sorted.
func (f *PasswordFile) Users() []string {
	var users []string
	for _, l := range f.lines {
		if u, _, ok := strings.Cut(l, ":"); ok && !strings.HasPrefix(strings.TrimSpace(l), "#") {
			users = append(users, u)
		}
	}
	sort.Strings(users)
	return users
}

// Write saves the file atomically (a temporary file renamed over it), keeping
// the mode and owner of the file it replaces; a new file gets mode 0640 and
// the group of its directory, so a broker running as that group (Debian's
// mosquitto user) can read it and nobody else can.
func (f *PasswordFile) Write() error {
	var b strings.Builder
	for _, l := range f.lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return writeFileAtomic(f.path, []byte(b.String()), 0o640)
}

// writeFileAtomic replaces path with data so that a reader (or a power cut)
// sees the old file or the new one, never a mix. An existing file's mode and
// owner are kept; a new file gets mode and its directory's group.
func writeFileAtomic(path string, data []byte, mode fs.FileMode) error {
	dir := filepath.Dir(path)
	uid, gid := -1, -1
	if st, err := os.Stat(path); err == nil {
		mode = st.Mode().Perm()
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			uid, gid = int(sys.Uid), int(sys.Gid)
		}
	} else if st, err := os.Stat(dir); err == nil {
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			gid = int(sys.Gid)
		}
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if uid >= 0 || gid >= 0 {
		// Only root may give a file away; others keep their own ownership.
		if err := tmp.Chown(uid, gid); err != nil && !errors.Is(err, fs.ErrPermission) {
			tmp.Close()
			return fmt.Errorf("writing %s: %w", path, err)
		}
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// lockDir takes an exclusive lock on dir (a lock file in it) so that two
// provision runs against one broker directory cannot lose each other's edits.
func lockDir(dir string) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(dir, ".camaudit-provision.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("locking %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", dir, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
