package main

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// simWalks holds the simulated walks rendered for this test binary:
// rendering one takes tens of seconds, and several tests replay the same
// walks. TestMain removes them when the tests end.
var simWalks struct {
	mu   sync.Mutex
	root string
	dirs map[string]string
}

func TestMain(m *testing.M) {
	code := m.Run()
	simWalks.mu.Lock()
	if simWalks.root != "" {
		os.RemoveAll(simWalks.root)
	}
	simWalks.mu.Unlock()
	os.Exit(code)
}

// simWalk renders scenario (a path relative to this package) with
// camaudit sim walk once per test binary and returns its output folder,
// which callers must not modify.
func simWalk(t *testing.T, scenario string) string {
	t.Helper()
	simWalks.mu.Lock()
	defer simWalks.mu.Unlock()
	if dir, ok := simWalks.dirs[scenario]; ok {
		return dir
	}
	if simWalks.root == "" {
		root, err := os.MkdirTemp("", "camaudit-simwalks-")
		if err != nil {
			t.Fatal(err)
		}
		simWalks.root, simWalks.dirs = root, map[string]string{}
	}
	dir := filepath.Join(simWalks.root, strings.TrimSuffix(filepath.Base(scenario), ".yaml"))
	fwRun(t, "sim", "walk", "--scenario", scenario, "--out", dir, "--quiet", "--workers", "2")
	simWalks.dirs[scenario] = dir
	return dir
}
