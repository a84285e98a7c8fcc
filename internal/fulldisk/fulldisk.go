// Package fulldisk gives tests a real filesystem that fills up: a small
// tmpfs mounted for the test (unmounted at cleanup) and a filler that takes
// every free byte, so that writes fail with ENOSPC as on a full SD card.
//
// Mounting needs root (CAP_SYS_ADMIN), as `make test` runs in CI; without
// it the test fails with a message saying so rather than skipping.
package fulldisk

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// Mount mounts a tmpfs of size bytes on a new temporary directory and
// returns the directory; it is unmounted when the test ends.
func Mount(t testing.TB, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the full-disk test mounts a small tmpfs and needs root (CI runs `make test` as root)")
	}
	dir, err := os.MkdirTemp("", "fulldisk-")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+strconv.FormatInt(size, 10)+",mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		os.Remove(dir)
		t.Fatalf("mounting a %d-byte tmpfs on %s: %v\n%s", size, dir, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("unmounting %s: %v\n%s", dir, err, out)
		}
		os.Remove(dir)
	})
	return dir
}

// Fill writes a file in dir until the filesystem is full and returns its
// path and size. Removing it frees the space again.
func Fill(t testing.TB, dir string) (string, int64) {
	t.Helper()
	p := filepath.Join(dir, "filler")
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	var n int64
	for _, chunk := range []int{4096, 512, 1} {
		for {
			w, err := f.Write(buf[:chunk])
			n += int64(w)
			if errors.Is(err, syscall.ENOSPC) {
				break
			}
			if err != nil {
				t.Fatalf("filling %s: %v", dir, err)
			}
		}
	}
	if err := f.Sync(); err != nil && !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("filling %s: %v", dir, err)
	}
	return p, n
}

// Free returns the bytes available to an unprivileged writer in dir.
func Free(t testing.TB, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * int64(st.Bsize)
}
