package systemd

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

func TestNotify(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if sent, err := Notify("READY=1"); sent || err != nil {
		t.Fatalf("outside systemd: sent %v err %v, want false, nil", sent, err)
	}
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", path)
	for _, msg := range []string{"READY=1\nSTATUS=idle", "WATCHDOG=1", "STOPPING=1"} {
		if sent, err := Notify(msg); !sent || err != nil {
			t.Fatalf("Notify(%q): sent %v err %v", msg, sent, err)
		}
		buf := make([]byte, 256)
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := conn.ReadFromUnix(buf)
		if err != nil || string(buf[:n]) != msg {
			t.Fatalf("systemd received %q, %v; want %q", buf[:n], err, msg)
		}
	}
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "missing.sock"))
	if _, err := Notify("READY=1"); err == nil {
		t.Error("a missing socket gave no error")
	}
}

func TestWatchdogInterval(t *testing.T) {
	t.Setenv("WATCHDOG_USEC", "")
	if d := WatchdogInterval(); d != 0 {
		t.Errorf("no watchdog: %v", d)
	}
	t.Setenv("WATCHDOG_USEC", "20000000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	if d := WatchdogInterval(); d != 10*time.Second {
		t.Errorf("WatchdogSec=20: interval %v, want 10s", d)
	}
	t.Setenv("WATCHDOG_PID", "1")
	if d := WatchdogInterval(); d != 0 {
		t.Errorf("watchdog for another pid: %v", d)
	}
}
