// Package ingest receives the devices' messages from the MQTT broker,
// validates every one against the wire contract, and writes them to the store
// in batches. Accepted and rejected messages are acknowledged to the broker
// only after the batch holding them is committed, so a hub that stops or
// crashes loses nothing: with a persistent session (clean session off) the
// broker delivers the unacknowledged messages again when the hub returns, and
// the store's idempotency by sighting id keeps them from being counted twice.
//
// Rejects are counted by reason (wire.Reason) and logged at most once per
// reason every few seconds, so a misbehaving device cannot flood the log. No
// input can crash the ingest: decoding runs under recover as a last resort.
package ingest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/camaudit/camaudit/hub/store"
	"github.com/camaudit/camaudit/wire"
)

// Store is where accepted messages go (a *store.Store).
type Store interface {
	Write(ctx context.Context, msgs []store.Message, rejects map[wire.Reason]int, now time.Time) (store.Result, error)
}

// ReasonPanic counts messages whose decoding or storing panicked (a bug,
// never expected): the message is rejected and the hub carries on.
const ReasonPanic wire.Reason = "panic"

// Config configures an Ingester.
type Config struct {
	// Broker is the MQTT broker URL: tcp://host:1883, ssl://host:8883, ws://...
	Broker string
	// ClientID identifies the hub's session at the broker; keep it stable so
	// that a persistent session survives restarts. Empty: camaudit-hub-<hostname>.
	ClientID string
	// Username and Password authenticate to the broker (optional).
	Username, Password string
	// TLS configures ssl:// connections (CA, client certificate); nil uses the system roots.
	TLS *tls.Config
	// Group, when set, subscribes as the MQTT shared subscription
	// $share/<Group>/... so that several hubs split the messages.
	Group string
	// CleanSession discards the broker-side session on connect. Leave it
	// false in production: messages queued while the hub was away are then
	// delivered when it returns.
	CleanSession bool
	// MaxBatch caps the messages written in one transaction (default 2000).
	MaxBatch int
	// Queue is how many received messages may wait for the writer (default 8192).
	Queue int
	// Logger receives connection events and rate-limited reject reports.
	Logger *slog.Logger
	// OnCommit, if set, is called after every committed batch (the hub uses
	// it to wake the registry follower).
	OnCommit func(store.Result)
	// LogEvery is the minimum interval between two log lines about rejects of
	// the same reason (default 10 s).
	LogEvery time.Duration
}

// Stats are the ingester's counters since it started.
type Stats struct {
	Connected   bool                  `json:"connected"`
	Received    int64                 `json:"received"`
	Accepted    int64                 `json:"accepted"`
	Duplicates  int64                 `json:"duplicates"`
	Rejected    map[wire.Reason]int64 `json:"rejected"`
	Batches     int64                 `json:"batches"`
	WriteErrors int64                 `json:"write_errors"`
	WriteTime   time.Duration         `json:"write_ns"` // total time spent in store writes
	LastMessage time.Time             `json:"last_message,omitzero"`
}

type inbound struct {
	topic    string
	payload  []byte
	ack      func()
	panicked bool // storing it panicked: count it as a reject
}

// errPanic marks a store write that panicked.
var errPanic = errors.New("store write panicked")

// write calls the store, turning a panic into an error.
func (in *Ingester) write(ctx context.Context, msgs []store.Message, rejects map[wire.Reason]int, now time.Time) (res store.Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", errPanic, p)
		}
	}()
	return in.st.Write(ctx, msgs, rejects, now)
}

func clipTopic(t string) string {
	if len(t) > 100 {
		return t[:100] + "…"
	}
	return t
}

// Ingester subscribes to the devices' topics and stores what they send.
type Ingester struct {
	cfg   Config
	st    Store
	log   *slog.Logger
	queue chan inbound

	connected atomic.Bool
	conns     atomic.Int64 // connections made so far; a subscription retry ends when a newer one exists
	mu        sync.Mutex   // guards the fields below
	stats     Stats
	lastLog   map[wire.Reason]time.Time
	quiet     map[wire.Reason]int64 // rejects not logged since the last line
}

// New returns an Ingester writing into st.
func New(cfg Config, st Store) *Ingester {
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 2000
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 8192
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.LogEvery <= 0 {
		cfg.LogEvery = 10 * time.Second
	}
	if cfg.ClientID == "" {
		h, _ := os.Hostname()
		cfg.ClientID = "camaudit-hub-" + h
	}
	return &Ingester{
		cfg: cfg, st: st, log: cfg.Logger, queue: make(chan inbound, cfg.Queue),
		stats:   Stats{Rejected: map[wire.Reason]int64{}},
		lastLog: map[wire.Reason]time.Time{}, quiet: map[wire.Reason]int64{},
	}
}

// Stats returns a copy of the counters.
func (in *Ingester) Stats() Stats {
	in.mu.Lock()
	defer in.mu.Unlock()
	s := in.stats
	s.Rejected = maps.Clone(in.stats.Rejected)
	s.Connected = in.connected.Load()
	return s
}

// Filters returns the subscription filters (with QoS) the ingester uses.
func (in *Ingester) Filters() map[string]byte {
	f := map[string]byte{}
	for _, k := range wire.Kinds {
		f[wire.Filter(k, in.cfg.Group)] = 1
	}
	return f
}

// Run connects to the broker (retrying until it answers), subscribes, and
// stores messages until ctx is cancelled. Then it stops taking messages,
// writes and acknowledges what it already holds, and disconnects.
func (in *Ingester) Run(ctx context.Context) error {
	if in.cfg.Broker == "" {
		return errors.New("ingest: no broker URL")
	}
	opts := mqtt.NewClientOptions().
		AddBroker(in.cfg.Broker).
		SetClientID(in.cfg.ClientID).
		SetCleanSession(in.cfg.CleanSession).
		SetOrderMatters(false).
		SetAutoAckDisabled(true).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(2 * time.Second).
		SetMaxReconnectInterval(30 * time.Second).
		SetKeepAlive(30 * time.Second).
		SetDefaultPublishHandler(in.onMessage).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			in.connected.Store(false)
			in.log.Warn("lost the broker; reconnecting", "broker", in.cfg.Broker, "err", err)
		}).
		SetReconnectingHandler(func(mqtt.Client, *mqtt.ClientOptions) {
			in.log.Debug("reconnecting to the broker", "broker", in.cfg.Broker)
		})
	if in.cfg.Username != "" {
		opts.SetUsername(in.cfg.Username).SetPassword(in.cfg.Password)
	}
	if in.cfg.TLS != nil {
		opts.SetTLSConfig(in.cfg.TLS)
	}
	opts.SetOnConnectHandler(func(c mqtt.Client) {
		go in.subscribe(ctx, c, in.conns.Add(1))
	})
	client := mqtt.NewClient(opts)
	in.log.Info("connecting to the broker", "broker", in.cfg.Broker, "client_id", in.cfg.ClientID)
	client.Connect() // with ConnectRetry the token completes only when connected; we do not wait
	go in.warnWhileDisconnected(ctx)

	// The loop returns after ctx ends and what was queued is stored; only
	// then disconnect, so that those messages' acknowledgements go out.
	// Messages arriving meanwhile stay unacknowledged and come again.
	in.loop(ctx)
	client.Disconnect(250)
	in.connected.Store(false)
	return nil
}

// How long subscribe waits for the broker's answer, and between attempts
// (doubling from subscribeRetry up to subscribeRetryMax).
const (
	subscribeTimeout  = 30 * time.Second
	subscribeRetry    = 2 * time.Second
	subscribeRetryMax = time.Minute
)

// subscribe subscribes to the filters on connection number conn, and
// retries with backoff while the broker refuses (an ACL that does not let
// the hub's user read camaudit/...) or does not answer, for as long as that
// connection is open and no newer one has been made (a reconnect subscribes
// on its own). It does not disconnect to force a retry: paho never
// reconnects a client after Disconnect, so the hub would stay deaf.
func (in *Ingester) subscribe(ctx context.Context, c mqtt.Client, conn int64) {
	wait := subscribeRetry
	for {
		err := in.trySubscribe(c)
		if err == nil {
			in.connected.Store(true)
			in.log.Info("subscribed", "broker", in.cfg.Broker, "client_id", in.cfg.ClientID, "group", in.cfg.Group, "clean_session", in.cfg.CleanSession)
			return
		}
		in.log.Error("subscribing failed; nothing is received until it works (retrying)", "broker", in.cfg.Broker, "client_id", in.cfg.ClientID, "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		if in.conns.Load() != conn || !c.IsConnectionOpen() {
			return
		}
		wait = min(2*wait, subscribeRetryMax)
	}
}

// trySubscribe makes one subscription attempt and says why it failed: no
// answer, an error, or filters the broker refused (SUBACK return code 0x80,
// which paho reports in the token's result, not as an error).
func (in *Ingester) trySubscribe(c mqtt.Client) error {
	filters := in.Filters()
	tok := c.SubscribeMultiple(filters, in.onMessage)
	if !tok.WaitTimeout(subscribeTimeout) {
		return fmt.Errorf("no answer from the broker within %v", subscribeTimeout)
	}
	if err := tok.Error(); err != nil {
		return err
	}
	st, ok := tok.(*mqtt.SubscribeToken)
	if !ok {
		return nil
	}
	granted := st.Result()
	var refused []string
	for f := range filters {
		if code, ok := granted[f]; !ok || code >= 0x80 {
			refused = append(refused, f)
		}
	}
	if len(refused) > 0 {
		slices.Sort(refused)
		return fmt.Errorf("the broker refused the subscription to %s (does its ACL let this hub's user read them?)", strings.Join(refused, ", "))
	}
	return nil
}

// warnWhileDisconnected says once a minute that the broker is unreachable
// (paho retries quietly), so an operator sees why nothing arrives.
func (in *Ingester) warnWhileDisconnected(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	since := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if in.connected.Load() {
			since = time.Now()
			continue
		}
		in.log.Warn("not connected to the broker; still trying (the map and API keep working)", "broker", in.cfg.Broker, "for", time.Since(since).Round(time.Second))
	}
}

func (in *Ingester) onMessage(_ mqtt.Client, m mqtt.Message) {
	in.Handle(m.Topic(), m.Payload(), m.Ack)
}

// Handle queues one received message for validation and storage. ack is
// called once the message is committed (or rejected and counted); it may be
// nil. Handle blocks while the queue is full, which slows the broker's
// delivery to the hub instead of dropping messages.
func (in *Ingester) Handle(topic string, payload []byte, ack func()) {
	in.queue <- inbound{topic: topic, payload: payload, ack: ack}
}

// loop writes queued messages in batches until ctx is done, then writes
// whatever is still queued.
func (in *Ingester) loop(ctx context.Context) {
	batch := make([]inbound, 0, in.cfg.MaxBatch)
	for {
		select {
		case m := <-in.queue:
			batch = append(batch[:0], m)
		case <-ctx.Done():
			in.drain(batch[:0])
			return
		}
		// Take whatever else is waiting: batches grow with the load.
	fill:
		for len(batch) < in.cfg.MaxBatch {
			select {
			case m := <-in.queue:
				batch = append(batch, m)
			default:
				break fill
			}
		}
		if !in.flush(ctx, batch) {
			in.drain(batch)
			return
		}
	}
}

// drain writes the messages already received when the ingester stops, with a
// short deadline of its own.
func (in *Ingester) drain(batch []inbound) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
	fill:
		for len(batch) < in.cfg.MaxBatch {
			select {
			case m := <-in.queue:
				batch = append(batch, m)
			default:
				break fill
			}
		}
		if len(batch) == 0 {
			return
		}
		if !in.flush(ctx, batch) {
			in.log.Warn("stopping with messages not stored; the broker will deliver them again", "messages", len(batch)+len(in.queue))
			return
		}
		batch = batch[:0]
	}
}

// decode validates one message; it never panics.
func decode(topic string, payload []byte, now time.Time) (dev string, m wire.Message, err error) {
	defer func() {
		if p := recover(); p != nil {
			dev, m, err = "", nil, &wire.Error{Reason: ReasonPanic, Msg: fmt.Sprintf("decoder panic: %v", p)}
		}
	}()
	return wire.Decode(topic, payload, now)
}

// flush validates and stores one batch, retrying the write until it succeeds
// or ctx ends, then acknowledges every message in it. It reports whether the
// batch was stored.
func (in *Ingester) flush(ctx context.Context, batch []inbound) bool {
	now := time.Now()
	msgs := make([]store.Message, 0, len(batch))
	rejects := map[wire.Reason]int{}
	for _, b := range batch {
		if b.panicked {
			rejects[ReasonPanic]++
			continue
		}
		dev, m, err := decode(b.topic, b.payload, now)
		if err != nil {
			r := wire.ReasonOf(err)
			rejects[r]++
			in.logReject(r, b.topic, err)
			continue
		}
		msgs = append(msgs, store.Message{Device: dev, Payload: m})
	}
	var res store.Result
	backoff := 100 * time.Millisecond
	for {
		var err error
		t := time.Now()
		// A write is short and must not be cut off halfway by shutdown (the
		// loop checks ctx between tries); an uncancellable context also
		// spares the SQLite driver a watcher goroutine per statement.
		res, err = in.write(context.WithoutCancel(ctx), msgs, rejects, now)
		in.mu.Lock()
		in.stats.WriteTime += time.Since(t)
		in.mu.Unlock()
		if err == nil {
			break
		}
		if errors.Is(err, errPanic) {
			// Last resort against a message that crashes the store: find
			// it by writing one message at a time, and reject only it.
			if len(batch) == 1 {
				in.log.Error("rejected a message that crashed the store", "topic", clipTopic(batch[0].topic), "err", err)
				return in.flush(ctx, []inbound{{topic: batch[0].topic, payload: nil, ack: batch[0].ack, panicked: true}})
			}
			for _, b := range batch {
				if !in.flush(ctx, []inbound{b}) {
					return false
				}
			}
			return true
		}
		in.mu.Lock()
		in.stats.WriteErrors++
		in.mu.Unlock()
		in.log.Error("storing a batch failed; retrying", "messages", len(batch), "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
	for _, b := range batch {
		if b.ack != nil {
			b.ack()
		}
	}
	in.mu.Lock()
	in.stats.Received += int64(len(batch))
	in.stats.Accepted += int64(len(msgs) - res.Duplicates - res.Conflicts)
	in.stats.Duplicates += int64(res.Duplicates)
	for r, n := range rejects {
		in.stats.Rejected[r] += int64(n)
	}
	if res.Conflicts > 0 {
		in.stats.Rejected[wire.ReasonIDConflict] += int64(res.Conflicts)
	}
	in.stats.Batches++
	in.stats.LastMessage = now
	in.mu.Unlock()
	if res.Conflicts > 0 {
		in.logReject(wire.ReasonIDConflict, "", fmt.Errorf("%d sightings reuse a stored id with different content", res.Conflicts))
	}
	if in.cfg.OnCommit != nil {
		in.cfg.OnCommit(res)
	}
	return true
}

// logReject logs a reject unless one of the same reason was logged within
// LogEvery; the next line then says how many were not logged.
func (in *Ingester) logReject(r wire.Reason, topic string, err error) {
	in.mu.Lock()
	now := time.Now()
	if last, ok := in.lastLog[r]; ok && now.Sub(last) < in.cfg.LogEvery {
		in.quiet[r]++
		in.mu.Unlock()
		return
	}
	in.lastLog[r] = now
	n := in.quiet[r]
	in.quiet[r] = 0
	in.mu.Unlock()
	topic = clipTopic(topic)
	in.log.Warn("rejected a message", "reason", string(r), "topic", topic, "err", err, "not_logged_since_last", n)
}
