package freeport

import (
	"net"
	"strconv"
	"testing"
)

// TestGet checks that the port is in range and can be listened on.
func TestGet(t *testing.T) {
	p := Get(t)
	if p <= 0 || p > 65535 {
		t.Fatalf("port %d out of range", p)
	}
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
	if err != nil {
		t.Fatalf("port %d is not free: %v", p, err)
	}
	l.Close()
}
