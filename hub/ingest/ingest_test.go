package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/camaudit/camaudit/hub/store"
	"github.com/camaudit/camaudit/internal/brokertest"
	"github.com/camaudit/camaudit/internal/syncbuf"
	"github.com/camaudit/camaudit/wire"
)

func sighting(n int, device string) *wire.Sighting {
	return &wire.Sighting{
		Schema: wire.SchemaSighting, ID: fmt.Sprintf("0193a1b2-c3d4-7e5f-8a9b-%012x", n), Device: device,
		Walk: "0193a1b2-0000-7000-8000-000000000001", Time: time.Now().UTC().Add(-time.Minute).Truncate(time.Millisecond),
		Lat: 52.52 + float64(n)*1e-4, Lon: 13.40, ErrM: 4, Type: "dome", Mount: "wall", Confidence: 0.9, Frames: 10, BaselineM: 8, Model: "m",
	}
}

func publisher(t *testing.T, url, id string) mqtt.Client {
	t.Helper()
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID(id))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publisher connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

func publish(t *testing.T, c mqtt.Client, topic string, payload []byte) {
	t.Helper()
	if tok := c.Publish(topic, 1, false, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish to %s: %v", topic, tok.Error())
	}
}

func encode(t *testing.T, m wire.Message) []byte {
	t.Helper()
	b, err := wire.Encode(m, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func openStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// start runs an ingester until the test ends (or stop is called).
func start(t *testing.T, cfg Config, st Store) (*Ingester, func()) {
	t.Helper()
	in := New(cfg, st)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	waitFor(t, "the ingester to subscribe", func() bool { return in.Stats().Connected })
	return in, stop
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestIngestValidatesAndCounts(t *testing.T) {
	b := brokertest.Start(t, "")
	st := openStore(t)
	var logBuf syncbuf.Buffer
	in, _ := start(t, Config{Broker: b.URL(), ClientID: "hub-test", Logger: slog.New(slog.NewTextHandler(&logBuf, nil))}, st)
	pub := publisher(t, b.URL(), "pub")

	s1 := sighting(1, "pi-aaa")
	wrongDev := sighting(3, "pi-bbb")
	big := bytes.Repeat([]byte(" "), wire.MaxPayload+1)
	copy(big, encode(t, sighting(4, "pi-aaa")))
	msgs := []struct {
		topic   string
		payload []byte
	}{
		{wire.Topic("pi-aaa", wire.KindSightings), encode(t, s1)},
		{wire.Topic("pi-aaa", wire.KindSightings), encode(t, s1)}, // duplicate
		{wire.Topic("pi-bbb", wire.KindSightings), encode(t, sighting(2, "pi-bbb"))},
		{wire.Topic("pi-aaa", wire.KindSightings), encode(t, wrongDev)},              // device_mismatch
		{wire.Topic("pi-aaa", wire.KindSightings), []byte(`{"schema":`)},             // bad_json
		{wire.Topic("pi-aaa", wire.KindSightings), big},                              // oversize
		{wire.Topic("pi-aaa", wire.KindSightings), []byte(`{"schema":"other/1"}`)},   // bad_schema
		{wire.Topic("PI_BAD", wire.KindSightings), encode(t, sighting(5, "pi-aaa"))}, // bad_topic
		{wire.Topic("pi-aaa", wire.KindStatus), []byte("online")},
		{wire.Topic("pi-aaa", wire.KindStatus), []byte("sleeping")}, // bad_status
	}
	for _, m := range msgs {
		publish(t, pub, m.topic, m.payload)
	}
	waitFor(t, "every message to be processed", func() bool { return in.Stats().Received >= int64(len(msgs)) })
	s := in.Stats()
	wantRejects := map[wire.Reason]int64{wire.ReasonDevice: 1, wire.ReasonJSON: 1, wire.ReasonOversize: 1, wire.ReasonSchema: 1, wire.ReasonTopic: 1, wire.ReasonStatus: 1}
	for r, n := range wantRejects {
		if s.Rejected[r] != n {
			t.Errorf("rejected[%s] = %d, want %d (all: %v)", r, s.Rejected[r], n, s.Rejected)
		}
	}
	if s.Accepted != 3 || s.Duplicates != 1 {
		t.Errorf("accepted %d, duplicates %d; want 3 and 1", s.Accepted, s.Duplicates)
	}
	got, err := st.SightingsAfter(context.Background(), 0, 100)
	if err != nil || len(got) != 2 {
		t.Fatalf("stored %d sightings (%v), want 2", len(got), err)
	}
	c, err := st.Counters(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for r, n := range wantRejects {
		if c.Rejected[string(r)] != n {
			t.Errorf("stored counter rejected[%s] = %d, want %d", r, c.Rejected[string(r)], n)
		}
	}
	if !strings.Contains(logBuf.String(), "device_mismatch") || !strings.Contains(logBuf.String(), "oversize") {
		t.Errorf("rejects not logged:\n%s", logBuf.String())
	}
}

func TestRejectLogIsRateLimited(t *testing.T) {
	st := openStore(t)
	var logBuf syncbuf.Buffer
	in := New(Config{Logger: slog.New(slog.NewTextHandler(&logBuf, nil)), LogEvery: time.Hour}, st)
	batch := make([]inbound, 500)
	for i := range batch {
		batch[i] = inbound{topic: wire.Topic("pi-aaa", wire.KindSightings), payload: []byte("garbage")}
	}
	if !in.flush(context.Background(), batch) {
		t.Fatal("flush failed")
	}
	if n := strings.Count(logBuf.String(), "rejected a message"); n != 1 {
		t.Errorf("500 rejects of one reason logged %d times within LogEvery, want 1", n)
	}
	if got := in.Stats().Rejected[wire.ReasonJSON]; got != 500 {
		t.Errorf("counted %d bad_json, want 500", got)
	}
}

// failing wraps the real store and fails its first n writes, as a database
// that is briefly unavailable would.
type failing struct {
	*store.Store
	n atomic.Int32
}

func (f *failing) Write(ctx context.Context, msgs []store.Message, rejects map[wire.Reason]int, now time.Time) (store.Result, error) {
	if f.n.Add(-1) >= 0 {
		return store.Result{}, errors.New("database is unavailable")
	}
	return f.Store.Write(ctx, msgs, rejects, now)
}

func TestWriteRetriedAndAckedOnlyAfterCommit(t *testing.T) {
	f := &failing{Store: openStore(t)}
	f.n.Store(2)
	in := New(Config{Logger: slog.New(slog.NewTextHandler(&syncbuf.Buffer{}, nil))}, f)
	var acked atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { in.loop(ctx); close(done) }()
	for i := 0; i < 5; i++ {
		in.Handle(wire.Topic("pi-aaa", wire.KindSightings), encode(t, sighting(i, "pi-aaa")), func() {
			if f.n.Load() >= 0 {
				t.Error("acknowledged before the batch was committed")
			}
			acked.Add(1)
		})
	}
	waitFor(t, "5 acks", func() bool { return acked.Load() == 5 })
	if s := in.Stats(); s.WriteErrors != 2 || s.Accepted != 5 {
		t.Errorf("stats %+v, want 2 write errors, 5 accepted", s)
	}
	cancel()
	<-done
}

func TestQueuedWhileAwayDelivered(t *testing.T) {
	b := brokertest.Start(t, "")
	st := openStore(t)
	cfg := Config{Broker: b.URL(), ClientID: "hub-persistent", Logger: slog.New(slog.NewTextHandler(&syncbuf.Buffer{}, nil))}
	_, stop := start(t, cfg, st)
	stop() // the hub goes away; its session stays at the broker
	pub := publisher(t, b.URL(), "pub")
	for i := 0; i < 20; i++ {
		publish(t, pub, wire.Topic("pi-aaa", wire.KindSightings), encode(t, sighting(100+i, "pi-aaa")))
	}
	in2, _ := start(t, cfg, st)
	waitFor(t, "the queued sightings", func() bool { return in2.Stats().Accepted == 20 })
	got, _ := st.SightingsAfter(context.Background(), 0, 100)
	if len(got) != 20 {
		t.Fatalf("stored %d sightings, want 20", len(got))
	}
}

// panicking wraps the real store and panics on any batch holding a sighting
// of device pi-boom, as a bug triggered by one message would.
type panicking struct{ *store.Store }

func (p panicking) Write(ctx context.Context, msgs []store.Message, rejects map[wire.Reason]int, now time.Time) (store.Result, error) {
	for _, m := range msgs {
		if m.Device == "pi-boom" {
			panic("boom")
		}
	}
	return p.Store.Write(ctx, msgs, rejects, now)
}

func TestPanicRejectsOnlyTheCulprit(t *testing.T) {
	st := openStore(t)
	in := New(Config{Logger: slog.New(slog.NewTextHandler(&syncbuf.Buffer{}, nil))}, panicking{st})
	var acks atomic.Int32
	ack := func() { acks.Add(1) }
	batch := []inbound{
		{topic: wire.Topic("pi-aaa", wire.KindSightings), payload: encode(t, sighting(1, "pi-aaa")), ack: ack},
		{topic: wire.Topic("pi-boom", wire.KindSightings), payload: encode(t, sighting(2, "pi-boom")), ack: ack},
		{topic: wire.Topic("pi-aaa", wire.KindSightings), payload: encode(t, sighting(3, "pi-aaa")), ack: ack},
	}
	if !in.flush(context.Background(), batch) {
		t.Fatal("flush failed")
	}
	got, _ := st.SightingsAfter(context.Background(), 0, 10)
	if len(got) != 2 || acks.Load() != 3 {
		t.Fatalf("stored %d sightings, acked %d; want 2 stored, 3 acked", len(got), acks.Load())
	}
	if s := in.Stats(); s.Rejected[ReasonPanic] != 1 || s.Accepted != 2 {
		t.Errorf("stats %+v, want 1 panic reject, 2 accepted", s)
	}
	c, _ := st.Counters(context.Background())
	if c.Rejected[string(ReasonPanic)] != 1 {
		t.Errorf("stored counters %+v, want the panic counted", c.Rejected)
	}
}

// TestSubscriptionRefusedThenAllowed starts the hub against a broker that
// does not let it subscribe (Mosquitto's dynamic-security plugin with
// subscriptions denied by default, as a locked-down broker would be): the
// broker answers the SUBSCRIBE with return code 0x80, which paho does not
// report as an error. The hub must say so, stay "not connected", and keep
// retrying on the same connection, so that once the operator grants the
// access (a dynamic-security command) it subscribes and stores what devices
// publish, without a restart.
func TestSubscriptionRefusedThenAllowed(t *testing.T) {
	plugin := brokertest.DynsecPlugin()
	if plugin == "" {
		t.Fatal("Mosquitto's dynamic-security plugin is missing: run `make setup` (package mosquitto)")
	}
	// Mosquitto started as root runs as user mosquitto, and the plugin
	// rewrites its file after a change: use a folder that user may write.
	dir, err := os.MkdirTemp("", "camaudit-dynsec-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	// Anonymous clients may publish anything, and send and read the plugin's
	// control topic; nobody may subscribe elsewhere.
	conf := filepath.Join(dir, "dynsec.json")
	if err := os.WriteFile(conf, []byte(`{"defaultACLAccess": {"publishClientSend": true, "publishClientReceive": true, "subscribe": false, "unsubscribe": true},
 "clients": [], "anonymousGroup": "anon",
 "groups": [{"groupname": "anon", "roles": [{"rolename": "control"}]}],
 "roles": [{"rolename": "control", "acls": [
  {"acltype": "publishClientSend", "topic": "$CONTROL/dynamic-security/#", "allow": true},
  {"acltype": "subscribePattern", "topic": "$CONTROL/dynamic-security/#", "allow": true}]}]}`), 0o666); err != nil {
		t.Fatal(err)
	}
	b := brokertest.Start(t, fmt.Sprintf("plugin %s\nplugin_opt_config_file %s\n", plugin, conf))
	st := openStore(t)
	var logBuf syncbuf.Buffer
	in := New(Config{Broker: b.URL(), ClientID: "hub-acl", Logger: slog.New(slog.NewTextHandler(&logBuf, nil))}, st)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	waitFor(t, "the refusal to be logged", func() bool { return strings.Contains(logBuf.String(), "refused the subscription") })
	if in.Stats().Connected {
		t.Fatalf("the hub reports itself connected although the broker refused its subscription:\n%s", logBuf.String())
	}
	for f := range in.Filters() {
		if !strings.Contains(logBuf.String(), f) {
			t.Errorf("the log does not name the refused filter %s:\n%s", f, logBuf.String())
		}
	}

	pub := publisher(t, b.URL(), "pub-acl")
	publish(t, pub, "$CONTROL/dynamic-security/v1", []byte(`{"commands": [{"command": "setDefaultACLAccess", "acls": [{"acltype": "subscribe", "allow": true}]}]}`))
	waitFor(t, "the retried subscription", func() bool { return in.Stats().Connected })
	publish(t, pub, wire.Topic("pi-acl", wire.KindSightings), encode(t, sighting(7, "pi-acl")))
	waitFor(t, "the sighting to be stored", func() bool { return in.Stats().Accepted == 1 })
	if n := strings.Count(logBuf.String(), "connecting to the broker"); n != 1 {
		t.Errorf("the hub connected %d times; the retry should reuse its connection:\n%s", n, logBuf.String())
	}
	if strings.Contains(logBuf.String(), "lost the broker") {
		t.Errorf("the hub lost its connection while retrying the subscription:\n%s", logBuf.String())
	}
}
