// Package freeport finds a free TCP port on 127.0.0.1 for the servers tests
// start (Mosquitto, gpsd, PostgreSQL, the hub, /metrics), so that tests never
// collide with each other or with services on the machine.
package freeport

import (
	"net"
	"testing"
)

// Get returns a TCP port on 127.0.0.1 that was free a moment ago. A test
// that cannot listen at all fails.
func Get(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port on 127.0.0.1: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
