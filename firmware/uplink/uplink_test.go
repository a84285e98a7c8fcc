package uplink

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/camaudit/camaudit/firmware/journal"
	"github.com/camaudit/camaudit/internal/brokertest"
	"github.com/camaudit/camaudit/internal/syncbuf"
	"github.com/camaudit/camaudit/wire"
)

// subscriber collects what arrives on a device's topics.
type subscriber struct {
	mu   sync.Mutex
	got  map[string]int // payload -> times received
	stat []string
}

func subscribe(t *testing.T, url, device string) *subscriber {
	t.Helper()
	s := &subscriber{got: map[string]int{}}
	subscribed := make(chan struct{})
	var once sync.Once
	o := mqtt.NewClientOptions().AddBroker(url).SetClientID("test-sub-" + device).SetCleanSession(false).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(200 * time.Millisecond).SetMaxReconnectInterval(300 * time.Millisecond).
		SetOnConnectHandler(func(c mqtt.Client) {
			tok := c.Subscribe("camaudit/v1/"+device+"/#", 1, func(_ mqtt.Client, m mqtt.Message) {
				s.mu.Lock()
				defer s.mu.Unlock()
				if strings.HasSuffix(m.Topic(), "/status") {
					s.stat = append(s.stat, string(m.Payload()))
					return
				}
				s.got[string(m.Payload())]++
			})
			go func() {
				if tok.WaitTimeout(10*time.Second) && tok.Error() == nil {
					once.Do(func() { close(subscribed) })
				}
			}()
		})
	c := mqtt.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	// Connect returns before the broker grants the subscription: wait for
	// it, so that everything published from now on reaches the subscriber.
	select {
	case <-subscribed:
	case <-time.After(10 * time.Second):
		t.Fatal("subscriber: subscription not granted within 10 s")
	}
	return s
}

// missing returns the payloads {"n":from} .. {"n":to-1} not received yet.
func (s *subscriber) missing(from, to int) []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var m []int
	for i := from; i < to; i++ {
		if s.got[fmt.Sprintf(`{"n":%d}`, i)] == 0 {
			m = append(m, i)
		}
	}
	return m
}

func (s *subscriber) count() (distinct, total int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.got {
		distinct++
		total += n
	}
	return
}

func (s *subscriber) status() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.stat...)
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func put(t *testing.T, j *journal.Journal, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if err := j.Put(journal.Message{ID: fmt.Sprintf("m%d", i), Kind: wire.KindSightings, Payload: []byte(fmt.Sprintf(`{"n":%d}`, i))}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestNoBrokerThenBroker: the uplink starts with no broker, keeps quiet,
// and delivers everything once the broker appears; outage logs appear once.
func TestNoBrokerThenBroker(t *testing.T) {
	b := brokertest.Start(t, "")
	b.Stop()
	j, _, err := journal.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	put(t, j, 0, 20)
	var logs syncbuf.Buffer
	u, err := New(Options{Broker: b.URL(), Device: "pi-test", Log: slog.New(slog.NewTextHandler(&logs, nil)), MaxBackoff: 300 * time.Millisecond}, j)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- u.Run(ctx) }()
	time.Sleep(2 * time.Second) // several failed attempts
	if u.Connected() {
		t.Fatal("connected with no broker")
	}
	if n := strings.Count(logs.String(), "unreachable"); n != 1 {
		t.Errorf("outage logged %d times at warn level, want once:\n%s", n, logs.String())
	}
	b.Start()
	// The uplink may reconnect and deliver the first 20 before this
	// subscriber is listening (the broker keeps no session across its
	// restart); their delivery is the broker's PUBACK, which empties the
	// journal. The 10 published afterwards must all reach the subscriber.
	sub := subscribe(t, b.URL(), "pi-test")
	waitFor(t, "delivery after the broker appeared", 20*time.Second, func() bool { return j.PendingCount() == 0 })
	put(t, j, 20, 30)
	waitFor(t, "messages 20-29 at the subscriber", 20*time.Second, func() bool { return len(sub.missing(20, 30)) == 0 })
	cancel()
	<-done
	if d, total := sub.count(); total < 10 || d > 30 {
		t.Errorf("received %d messages (%d distinct), want >= 10 of at most 30 distinct", total, d)
	}
	waitFor(t, "status offline on clean shutdown", 5*time.Second, func() bool {
		st := sub.status()
		return len(st) > 0 && st[len(st)-1] == wire.StatusOffline
	})
}

// TestBrokerRestart: messages queued during an outage arrive after it, the
// journal empties, and status is online again.
func TestBrokerRestart(t *testing.T) {
	b := brokertest.Start(t, "")
	j, _, err := journal.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	sub := subscribe(t, b.URL(), "pi-rst")
	u, _ := New(Options{Broker: b.URL(), Device: "pi-rst", Log: slog.New(slog.NewTextHandler(io.Discard, nil)), MaxBackoff: 300 * time.Millisecond}, j)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go u.Run(ctx)
	put(t, j, 0, 10)
	waitFor(t, "first 10", 20*time.Second, func() bool { d, _ := sub.count(); return d == 10 })
	b.Stop()
	waitFor(t, "disconnect noticed", 40*time.Second, func() bool { return !u.Connected() })
	put(t, j, 10, 25)
	if j.PendingCount() != 15 {
		t.Fatalf("pending during outage = %d, want 15", j.PendingCount())
	}
	b.Start()
	waitFor(t, "all 25 after restart", 30*time.Second, func() bool { d, _ := sub.count(); return d == 25 })
	waitFor(t, "journal empty", 10*time.Second, func() bool { return j.PendingCount() == 0 })
	if u.Acked() < 25 {
		t.Errorf("acked = %d, want >= 25", u.Acked())
	}
}

func TestTelemetryDroppedWhenOffline(t *testing.T) {
	j, _, _ := journal.Open(t.TempDir(), nil)
	defer j.Close()
	u, err := New(Options{Broker: "tcp://127.0.0.1:1", Device: "pi-x"}, j)
	if err != nil {
		t.Fatal(err)
	}
	if u.Publish(wire.KindTelemetry, []byte(`{}`)) {
		t.Error("telemetry reported sent with no connection")
	}
	if _, err := New(Options{Broker: "tcp://127.0.0.1:1", Device: "Bad Name"}, j); err == nil {
		t.Error("invalid device accepted")
	}
}
