// Package brokertest starts a real Mosquitto broker for tests, listening on a
// free port on 127.0.0.1 with a throwaway configuration and persistence
// directory. Tests can stop and restart it to simulate outages; the port and
// persistence survive a restart, so persistent sessions behave as in the field.
package brokertest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/camaudit/camaudit/internal/freeport"
	"github.com/camaudit/camaudit/internal/syncbuf"
)

// Broker is a running (or stopped) Mosquitto owned by one test.
type Broker struct {
	// Port is the TCP port on 127.0.0.1 the broker listens on.
	Port int
	// Dir holds mosquitto.conf, the persistence file and the log.
	Dir string

	t     testing.TB
	extra string
	mu    sync.Mutex
	cmd   *exec.Cmd
	log   *syncbuf.Buffer
}

// Binary returns the path of the mosquitto binary, or "" if none is installed.
func Binary() string {
	for _, p := range []string{"/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p
	}
	return ""
}

// Start starts Mosquitto for the test and stops it at cleanup. extraConf is
// appended to the generated configuration (listener options, auth, ACLs);
// when it defines its own "listener" lines, set Port in them with %[1]d. A
// missing mosquitto binary fails the test: `make setup` installs it.
func Start(t testing.TB, extraConf string) *Broker {
	t.Helper()
	if Binary() == "" {
		t.Fatal("mosquitto is not installed: run `make setup`")
	}
	b := &Broker{Port: freeport.Get(t), Dir: t.TempDir(), t: t, extra: extraConf}
	b.Start()
	t.Cleanup(b.Stop)
	return b
}

// URL returns the broker's address for MQTT clients ("tcp://127.0.0.1:PORT").
func (b *Broker) URL() string { return fmt.Sprintf("tcp://127.0.0.1:%d", b.Port) }

// Addr returns "127.0.0.1:PORT".
func (b *Broker) Addr() string { return fmt.Sprintf("127.0.0.1:%d", b.Port) }

func (b *Broker) config() string {
	conf := fmt.Sprintf("persistence true\npersistence_location %s/\nautosave_interval 1\nlog_dest stderr\nlog_type error\nlog_type warning\nper_listener_settings false\n", b.Dir)
	extra := b.extra
	if bytes.Contains([]byte(extra), []byte("listener")) {
		conf += fmt.Sprintf(extra, b.Port)
	} else {
		conf += fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\n", b.Port) + extra
	}
	return conf
}

// Start (re)starts a stopped broker on the same port with the same
// persistence directory, and waits until it accepts connections.
func (b *Broker) Start() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd != nil {
		return
	}
	path := filepath.Join(b.Dir, "mosquitto.conf")
	if err := os.WriteFile(path, []byte(b.config()), 0o600); err != nil {
		b.t.Fatalf("writing mosquitto.conf: %v", err)
	}
	b.log = &syncbuf.Buffer{}
	cmd := exec.Command(Binary(), "-c", path)
	cmd.Stdout, cmd.Stderr = b.log, b.log
	if err := cmd.Start(); err != nil {
		b.t.Fatalf("starting mosquitto: %v", err)
	}
	b.cmd = cmd
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", b.Addr(), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("mosquitto did not listen on %s within 10 s: %v\n%s", b.Addr(), err, b.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop stops the broker gracefully (SIGTERM, so it saves its persistence) and
// waits for it to exit. Stopping a stopped broker does nothing.
func (b *Broker) Stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd == nil {
		return
	}
	_ = b.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = b.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = b.cmd.Process.Kill()
		<-done
	}
	b.cmd = nil
}

// DynsecPlugin returns the path of Mosquitto's dynamic-security plugin
// (shipped in Debian's mosquitto package), or "" if it is missing. Tests use
// it for a broker that refuses subscriptions (SUBACK 0x80): the plain ACL
// file only filters what is delivered.
func DynsecPlugin() string {
	m, _ := filepath.Glob("/usr/lib/*/mosquitto_dynamic_security.so")
	if len(m) == 0 {
		m, _ = filepath.Glob("/usr/lib/mosquitto_dynamic_security.so")
	}
	if len(m) == 0 {
		return ""
	}
	return m[0]
}

// Log returns what the broker has written to its log since its last start.
func (b *Broker) Log() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.log == nil {
		return ""
	}
	return b.log.String()
}
