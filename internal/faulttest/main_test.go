package faulttest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Built once for every test of the package.
var (
	bins    Binaries
	walk    Walk // firmware/testdata/walk22.yaml: 351 m, 23 cameras, GNSS noise and a dropout
	tmpRoot string

	refOnce sync.Once
	refOut  []byte
	refPath string
	refErr  error
)

// reference returns the sightings a clean, uninterrupted replay of walk
// confirms (run once per test binary).
func reference(t testing.TB) []Sighting {
	t.Helper()
	refOnce.Do(func() {
		refPath = filepath.Join(tmpRoot, "reference.geojson")
		refOut, refErr = exec.Command(bins.Camaudit, walk.ReplayArgs("pi-reference", "--out", refPath)...).CombinedOutput()
	})
	if refErr != nil {
		t.Fatalf("clean replay: %v\n%s", refErr, refOut)
	}
	return ReadSightings(t, refPath)
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "faulttest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	tmpRoot = dir
	start := time.Now()
	if bins, err = Build(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	scenario := filepath.Join(RepoRoot(), "firmware", "testdata", "walk22.yaml")
	if walk, err = SimWalk(bins.Camaudit, scenario, filepath.Join(dir, "walk22")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "faulttest: built the binaries and simulated %s in %.1f s\n", filepath.Base(scenario), time.Since(start).Seconds())
	return m.Run()
}
