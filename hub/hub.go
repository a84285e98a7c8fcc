// Package hub is the campaign hub: it ingests the devices' messages from the
// MQTT broker into a store (SQLite or PostgreSQL), merges sightings into one
// camera registry, and serves the HTTP API, the exports and the web map.
//
// The registry follows the store (every sighting and review after the last
// one it has seen) rather than the broker, so it is the same whether this
// instance ingested a message or another instance sharing the PostgreSQL
// database did, and it is rebuilt from the store on start.
package hub

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/camaudit/camaudit/hub/api"
	"github.com/camaudit/camaudit/hub/ingest"
	"github.com/camaudit/camaudit/hub/registry"
	"github.com/camaudit/camaudit/hub/store"
	"github.com/camaudit/camaudit/hub/web"
	"github.com/camaudit/camaudit/wire"
)

// Config configures a hub.
type Config struct {
	// DB is the store: a SQLite file path or a postgres:// URL.
	DB string
	// Broker is the MQTT broker URL; empty runs the hub without ingest
	// (serving what the store holds, e.g. for review or a read replica).
	Broker       string
	ClientID     string
	Username     string
	Password     string
	TLS          *tls.Config
	Group        string // shared-subscription group ($share/<group>/...)
	CleanSession bool
	// HTTP is the address to listen on (host:port); Listener, if set, is used instead.
	HTTP     string
	Listener net.Listener
	// Token guards reviews and district uploads; empty disables them.
	Token string
	// Web configures the map (tiles).
	Web web.Config
	// Registry sets the merge rule (zero: registry.DefaultConfig()).
	Registry registry.Config
	// Poll is how often the registry checks the store for rows written by
	// other instances (default 1 s; this instance's writes are seen at once).
	Poll   time.Duration
	Logger *slog.Logger
}

// Hub is an open hub.
type Hub struct {
	cfg Config
	log *slog.Logger
	st  *store.Store
	reg *registry.Registry
	ing *ingest.Ingester
	api *api.Server
	web http.Handler

	nudge chan struct{}

	syncMu    sync.Mutex // one Sync at a time; guards the cursors
	seqCursor int64
	revCursor int64
}

// Open opens the store and loads the registry from it.
func Open(ctx context.Context, cfg Config) (*Hub, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	st, err := store.Open(ctx, cfg.DB)
	if err != nil {
		return nil, err
	}
	h := &Hub{cfg: cfg, log: cfg.Logger, st: st, reg: registry.New(cfg.Registry), nudge: make(chan struct{}, 1)}
	start := time.Now()
	if err := h.Sync(ctx); err != nil {
		st.Close()
		return nil, err
	}
	cams, sightings := h.reg.Len()
	h.log.Info("loaded the registry", "db", st.String(), "sightings", sightings, "cameras", cams, "took", time.Since(start).Round(time.Millisecond))
	if cfg.Broker != "" {
		h.ing = ingest.New(ingest.Config{
			Broker: cfg.Broker, ClientID: cfg.ClientID, Username: cfg.Username, Password: cfg.Password,
			TLS: cfg.TLS, Group: cfg.Group, CleanSession: cfg.CleanSession, Logger: cfg.Logger,
			OnCommit: h.applyLocal,
		}, st)
	}
	h.api = api.New(h.reg, st, api.Config{Token: cfg.Token, Synced: h.Sync, Health: h.health, Logger: cfg.Logger})
	h.web = web.Handler(cfg.Web)
	return h, nil
}

// Registry returns the camera registry.
func (h *Hub) Registry() *registry.Registry { return h.reg }

// Store returns the store.
func (h *Hub) Store() *store.Store { return h.st }

// Ingester returns the ingester, nil when the hub runs without a broker.
func (h *Hub) Ingester() *ingest.Ingester { return h.ing }

func (h *Hub) health() map[string]any {
	out := map[string]any{"db_kind": string(h.st.Dialect())}
	if h.ing != nil {
		s := h.ing.Stats()
		out["broker_connected"] = s.Connected
		out["ingest"] = s
	} else {
		out["broker_connected"] = false
		out["ingest"] = "off"
	}
	return out
}

// Handler serves the API, the exports, /healthz and the web map.
func (h *Hub) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if strings.HasPrefix(p, "/api/") || strings.HasPrefix(p, "/export/") || p == "/healthz" {
			h.api.ServeHTTP(w, r)
			return
		}
		h.web.ServeHTTP(w, r)
	})
}

// Nudge asks the follower to read the store now.
func (h *Hub) Nudge() {
	select {
	case h.nudge <- struct{}{}:
	default:
	}
}

// applyLocal adds sightings this instance has just committed to the
// registry without reading them back, when they directly follow what the
// registry has seen (always so with SQLite, where this hub is the only
// writer). Otherwise, or when there are gaps, the follower reads the store.
func (h *Hub) applyLocal(res store.Result) {
	if len(res.Stored) > 0 && h.syncMu.TryLock() {
		first, last := res.Stored[0].Seq, res.Stored[len(res.Stored)-1].Seq
		if first == h.seqCursor+1 && last-first == int64(len(res.Stored)-1) {
			ws := make([]wire.Sighting, len(res.Stored))
			for i := range res.Stored {
				ws[i] = res.Stored[i].Sighting
			}
			h.reg.Add(ws)
			h.seqCursor = last
			h.syncMu.Unlock()
			return
		}
		h.syncMu.Unlock()
	}
	h.Nudge()
}

// Sync brings the registry up to date with the store: every sighting and
// review committed before the call is applied when it returns.
func (h *Hub) Sync(ctx context.Context) error {
	h.syncMu.Lock()
	defer h.syncMu.Unlock()
	const page = 20000
	for {
		ss, err := h.st.SightingsAfter(ctx, h.seqCursor, page)
		if err != nil {
			return err
		}
		if len(ss) == 0 {
			break
		}
		ws := make([]wire.Sighting, len(ss))
		for i := range ss {
			ws[i] = ss[i].Sighting
		}
		h.reg.Add(ws)
		h.seqCursor = ss[len(ss)-1].Seq
		if len(ss) < page {
			break
		}
	}
	rs, err := h.st.ReviewsAfter(ctx, h.revCursor)
	if err != nil {
		return err
	}
	for _, r := range rs {
		h.reg.Review(r.Camera, r.Decision, r.Seq)
		h.revCursor = r.Seq
	}
	return nil
}

// Run ingests (when a broker is configured), keeps the registry in step with
// the store and serves HTTP until ctx is cancelled; then it shuts down
// gracefully: HTTP requests in progress finish, received messages are stored
// and acknowledged, and the store is closed.
func (h *Hub) Run(ctx context.Context) error {
	defer h.st.Close()
	ln := h.cfg.Listener
	if ln == nil {
		addr := h.cfg.HTTP
		if addr == "" {
			addr = "127.0.0.1:8080"
		}
		var err error
		if ln, err = net.Listen("tcp", addr); err != nil {
			return fmt.Errorf("listening on %s: %w", addr, err)
		}
	}
	srv := &http.Server{
		Handler:           h.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(h.log.Handler(), slog.LevelWarn),
	}
	h.log.Info("serving the map and API", "url", "http://"+ln.Addr().String()+"/")

	var wg sync.WaitGroup
	ingCtx, stopIngest := context.WithCancel(context.Background())
	defer stopIngest()
	if h.ing != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := h.ing.Run(ingCtx); err != nil {
				h.log.Error("ingest stopped", "err", err)
			}
		}()
	}
	followCtx, stopFollow := context.WithCancel(context.Background())
	defer stopFollow()
	wg.Add(1)
	go func() {
		defer wg.Done()
		h.follow(followCtx)
	}()

	srvErr := make(chan error, 1)
	go func() { srvErr <- srv.Serve(ln) }()
	var err error
	select {
	case <-ctx.Done():
	case err = <-srvErr:
		err = fmt.Errorf("serving HTTP: %w", err)
	}
	h.log.Info("shutting down")
	shCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if e := srv.Shutdown(shCtx); e != nil && !errors.Is(e, http.ErrServerClosed) {
		h.log.Warn("HTTP shutdown", "err", e)
	}
	stopIngest()
	stopFollow()
	wg.Wait()
	return err
}

func (h *Hub) follow(ctx context.Context) {
	t := time.NewTicker(h.cfg.Poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.nudge:
		case <-t.C:
		}
		if err := h.Sync(ctx); err != nil && ctx.Err() == nil {
			h.log.Error("reading the store into the registry", "err", err)
		}
	}
}
