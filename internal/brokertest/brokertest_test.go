package brokertest

import (
	"net"
	"testing"
	"time"
)

func TestStartStopRestart(t *testing.T) {
	b := Start(t, "")
	if c, err := net.Dial("tcp", b.Addr()); err != nil {
		t.Fatalf("broker not reachable: %v", err)
	} else {
		c.Close()
	}
	b.Stop()
	if c, err := net.DialTimeout("tcp", b.Addr(), 200*time.Millisecond); err == nil {
		c.Close()
		t.Fatal("broker still reachable after Stop")
	}
	b.Start()
	if c, err := net.Dial("tcp", b.Addr()); err != nil {
		t.Fatalf("broker not reachable after restart: %v", err)
	} else {
		c.Close()
	}
}
