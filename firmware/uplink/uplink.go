// Package uplink publishes the journal's outbox to the campaign broker over
// MQTT (paho), following the wire contract: a retained status with an
// "offline" Last Will, sightings, counts and coverage at QoS 1, telemetry at
// QoS 0. A message leaves the journal only when the broker's PUBACK arrives.
//
// It runs normally with no broker at all: it retries with exponential
// backoff, logs an outage once (not every attempt), and the journal keeps
// everything until a broker appears. The journal is the message store, so
// paho's own in-memory store is replaced by a no-op one and nothing is sent
// twice by two stores.
package uplink

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/camaudit/camaudit/firmware/journal"
	"github.com/camaudit/camaudit/wire"
)

// Outbox is what the uplink drains: the journal.
type Outbox interface {
	Pending() []journal.Message
	Ack(id string) error
	Changed() <-chan struct{}
}

// Options configures the uplink.
type Options struct {
	Broker   string // tcp://host:port, ssl://host:port, ...
	Device   string
	Username string
	Password string
	TLS      *tls.Config // nil: system roots for ssl:// brokers
	Log      *slog.Logger
	// InFlight bounds the messages published but not yet acknowledged.
	InFlight int
	// MaxBackoff caps the wait between connection attempts (default 60 s).
	MaxBackoff time.Duration
}

// TLSConfig builds the TLS settings from a CA file and an optional client
// certificate and key (all PEM). Empty names are skipped.
func TLSConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("reading CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", caFile)
		}
		c.RootCAs = pool
	}
	if certFile != "" || keyFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("loading client certificate %s / %s: %w", certFile, keyFile, err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// ReadPassword reads a password file, trimming the trailing newline.
func ReadPassword(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading password file: %w", err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// Uplink is a connection manager for one device.
type Uplink struct {
	opt Options
	box Outbox
	log *slog.Logger

	mu        sync.Mutex
	client    mqtt.Client
	connected atomic.Bool
	published atomic.Int64
	acked     atomic.Int64
}

// New returns an uplink for the outbox; Run connects.
func New(opt Options, box Outbox) (*Uplink, error) {
	if opt.Broker == "" {
		return nil, errors.New("uplink: no broker address")
	}
	if !wire.ValidDevice(opt.Device) {
		return nil, fmt.Errorf("uplink: device %q is not [a-z0-9-]{3,32}", opt.Device)
	}
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	if opt.InFlight <= 0 {
		opt.InFlight = 32
	}
	if opt.MaxBackoff <= 0 {
		opt.MaxBackoff = 60 * time.Second
	}
	return &Uplink{opt: opt, box: box, log: opt.Log}, nil
}

// Connected reports whether the broker connection is up.
func (u *Uplink) Connected() bool { return u.connected.Load() }

// Acked returns how many messages the broker acknowledged.
func (u *Uplink) Acked() int64 { return u.acked.Load() }

// Publish sends a QoS 0 message (telemetry) if connected; otherwise it is
// dropped, as telemetry is worthless late. It reports whether it was sent.
func (u *Uplink) Publish(k wire.Kind, payload []byte) bool {
	u.mu.Lock()
	c := u.client
	u.mu.Unlock()
	if c == nil || !u.connected.Load() {
		return false
	}
	c.Publish(wire.Topic(u.opt.Device, k), k.QoS(), k.Retained(), payload)
	return true
}

func (u *Uplink) clientOptions(lost chan<- error) *mqtt.ClientOptions {
	o := mqtt.NewClientOptions().
		AddBroker(u.opt.Broker).
		SetClientID("camaudit-"+u.opt.Device).
		SetCleanSession(false).  // persistent session
		SetAutoReconnect(false). // Run reconnects, with its own backoff and quiet logs
		SetConnectRetry(false).
		SetConnectTimeout(10*time.Second).
		SetKeepAlive(30*time.Second).
		SetPingTimeout(10*time.Second).
		SetWriteTimeout(10*time.Second).
		SetOrderMatters(false).
		SetStore(noStore{}).
		SetWill(wire.Topic(u.opt.Device, wire.KindStatus), wire.StatusOffline, 1, true).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			select {
			case lost <- err:
			default:
			}
		})
	if u.opt.Username != "" {
		o.SetUsername(u.opt.Username)
		o.SetPassword(u.opt.Password)
	}
	if u.opt.TLS != nil {
		o.SetTLSConfig(u.opt.TLS)
	}
	return o
}

// Run keeps a connection to the broker and drains the outbox until ctx is
// cancelled. On cancellation it publishes status "offline" and disconnects
// cleanly. It returns only ctx's error.
func (u *Uplink) Run(ctx context.Context) error {
	backoff := time.Second
	down := false // an outage was already logged
	for ctx.Err() == nil {
		lost := make(chan error, 1)
		c := mqtt.NewClient(u.clientOptions(lost))
		tok := c.Connect()
		var err error
		select {
		case <-tok.Done():
			err = tok.Error()
		case <-ctx.Done():
			c.Disconnect(0)
			return ctx.Err()
		}
		if err != nil {
			if !down {
				u.log.Warn("broker unreachable; sightings stay in the journal and are sent when it answers (retrying quietly)", "broker", u.opt.Broker, "err", err)
				down = true
			} else {
				u.log.Debug("broker still unreachable", "broker", u.opt.Broker, "err", err, "next_try", backoff)
			}
			if !sleep(ctx, jitter(backoff)) {
				return ctx.Err()
			}
			backoff = min(2*backoff, u.opt.MaxBackoff)
			continue
		}
		backoff = time.Second
		if down {
			u.log.Info("broker reachable again", "broker", u.opt.Broker)
		} else {
			u.log.Info("connected to broker", "broker", u.opt.Broker)
		}
		down = false
		st := c.Publish(wire.Topic(u.opt.Device, wire.KindStatus), 1, true, wire.StatusOnline)
		_ = st // its PUBACK is not needed before draining
		u.mu.Lock()
		u.client = c
		u.mu.Unlock()
		u.connected.Store(true)
		err = u.drain(ctx, c, lost)
		u.connected.Store(false)
		u.mu.Lock()
		u.client = nil
		u.mu.Unlock()
		if ctx.Err() != nil {
			off := c.Publish(wire.Topic(u.opt.Device, wire.KindStatus), 1, true, wire.StatusOffline)
			off.WaitTimeout(2 * time.Second)
			c.Disconnect(500)
			return ctx.Err()
		}
		c.Disconnect(0)
		u.log.Warn("connection to broker lost; reconnecting with backoff", "broker", u.opt.Broker, "err", err)
		down = true
		if !sleep(ctx, jitter(backoff)) {
			return ctx.Err()
		}
	}
	return ctx.Err()
}

type result struct {
	id  string
	err error
}

// drain publishes pending messages, at most InFlight unacknowledged at a
// time, and acks them in the journal as PUBACKs arrive. It returns when the
// connection is lost or ctx is done.
func (u *Uplink) drain(ctx context.Context, c mqtt.Client, lost <-chan error) error {
	inflight := map[string]bool{}
	results := make(chan result, u.opt.InFlight)
	done := make(chan struct{})
	defer close(done)
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		if len(inflight) < u.opt.InFlight {
			for _, m := range u.box.Pending() {
				if len(inflight) >= u.opt.InFlight {
					break
				}
				if inflight[m.ID] {
					continue
				}
				inflight[m.ID] = true
				tok := c.Publish(wire.Topic(u.opt.Device, m.Kind), m.Kind.QoS(), m.Kind.Retained(), m.Payload)
				u.published.Add(1)
				go func(id string, tok mqtt.Token) {
					<-tok.Done()
					select {
					case results <- result{id, tok.Error()}:
					case <-done:
					}
				}(m.ID, tok)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-lost:
			return err
		case r := <-results:
			delete(inflight, r.id)
			if r.err != nil {
				u.log.Debug("publish not acknowledged; will resend", "id", r.id, "err", r.err)
				if !c.IsConnectionOpen() {
					return r.err
				}
				continue
			}
			u.acked.Add(1)
			if err := u.box.Ack(r.id); err != nil {
				u.log.Error("journal: recording an acknowledgement failed (the message may be sent again)", "id", r.id, "err", err)
			}
		case <-u.box.Changed():
		case <-tick.C:
			if !c.IsConnectionOpen() {
				return errors.New("connection closed")
			}
		}
	}
}

// Probe connects to the broker once with the options' credentials (a
// throwaway client id, so the device's session is untouched) and
// disconnects: what selftest needs to say whether the uplink works.
func Probe(ctx context.Context, opt Options) error {
	o := mqtt.NewClientOptions().AddBroker(opt.Broker).SetClientID("camaudit-selftest-" + opt.Device).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(10 * time.Second)
	if opt.Username != "" {
		o.SetUsername(opt.Username)
		o.SetPassword(opt.Password)
	}
	if opt.TLS != nil {
		o.SetTLSConfig(opt.TLS)
	}
	c := mqtt.NewClient(o)
	tok := c.Connect()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := tok.Error(); err != nil {
		return fmt.Errorf("connecting to %s: %w", opt.Broker, err)
	}
	c.Disconnect(100)
	return nil
}

// Flush waits until the outbox is empty or ctx ends.
func Flush(ctx context.Context, box Outbox) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for len(box.Pending()) > 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("flushing the outbox: %d message(s) still pending: %w", len(box.Pending()), ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func jitter(d time.Duration) time.Duration {
	return d/2 + time.Duration(rand.Int64N(int64(d)))
}

// noStore is a paho store that keeps nothing: the journal is the store.
type noStore struct{}

func (noStore) Open()                             {}
func (noStore) Put(string, packets.ControlPacket) {}
func (noStore) Get(string) packets.ControlPacket  { return nil }
func (noStore) All() []string                     { return nil }
func (noStore) Del(string)                        {}
func (noStore) Close()                            {}
func (noStore) Reset()                            {}
