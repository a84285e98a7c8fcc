package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/camaudit/camaudit/hub"
	"github.com/camaudit/camaudit/hub/web"
)

// cmdServe runs the hub: ingest from the broker into the store, the camera
// registry, the HTTP API, the exports and the web map, until SIGINT/SIGTERM.
func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: camaudit-hub serve [flags]\n\nIngests the devices' messages and serves the map, the API and the exports.\n\nflags:")
		fs.PrintDefaults()
	}
	broker := fs.String("broker", "tcp://127.0.0.1:1883", "MQTT broker URL (tcp://, ssl://, ws://, wss://); \"none\" serves the store without ingest")
	clientID := fs.String("client-id", "", "MQTT client id; keep it stable for a persistent session (default camaudit-hub-<hostname>)")
	username := fs.String("username", "", "MQTT user name")
	passwordFile := fs.String("password-file", "", "file holding the MQTT password (or set $CAMAUDIT_HUB_MQTT_PASSWORD)")
	caFile := fs.String("ca-file", "", "PEM CA certificate(s) to verify the broker (ssl://)")
	certFile := fs.String("cert-file", "", "PEM client certificate for the broker")
	keyFile := fs.String("key-file", "", "PEM key of the client certificate")
	group := fs.String("group", "", "shared-subscription group: several hubs with the same group split the messages ($share/<group>/...)")
	clean := fs.Bool("clean-session", false, "discard the broker-side session on connect (messages queued while the hub was away are lost)")
	db := fs.String("db", "./camaudit-hub.db", "store: a SQLite file, or postgres://user@host/db for PostgreSQL")
	httpAddr := fs.String("http", "127.0.0.1:8080", "address for the map and the API")
	tokenFile := fs.String("token-file", "", "file holding the reviewer token for reviews and district uploads (or set $CAMAUDIT_HUB_TOKEN); none: reviews are off")
	tiles := fs.String("tiles", web.DefaultTiles, "tile URL template for the base map; \"none\" draws no base map")
	attribution := fs.String("tiles-attribution", web.DefaultAttribution, "attribution shown with the tiles")
	poll := fs.Duration("poll", time.Second, "how often to read rows other hub instances wrote to a shared store")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", *logLevel)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	cfg := hub.Config{
		DB: *db, Broker: *broker, ClientID: *clientID, Username: *username, Group: *group, CleanSession: *clean,
		HTTP: *httpAddr, Poll: *poll, Logger: log,
		Web: web.Config{Tiles: *tiles, Attribution: *attribution},
	}
	if cfg.Broker == "none" {
		cfg.Broker = ""
	}
	if cfg.Web.Tiles == "none" {
		cfg.Web.Tiles, cfg.Web.Attribution = "", ""
	}
	if *group != "" && strings.ContainsAny(*group, "/+#") {
		return fmt.Errorf("--group %q: a shared-subscription group may not contain /, + or #", *group)
	}
	var err error
	if cfg.Password, err = secret(*passwordFile, "CAMAUDIT_HUB_MQTT_PASSWORD"); err != nil {
		return fmt.Errorf("--password-file: %w", err)
	}
	if cfg.Token, err = secret(*tokenFile, "CAMAUDIT_HUB_TOKEN"); err != nil {
		return fmt.Errorf("--token-file: %w", err)
	}
	if cfg.Token != "" && len(cfg.Token) < 16 {
		return errors.New("the reviewer token is shorter than 16 characters: use a long random one (e.g. openssl rand -hex 24)")
	}
	if cfg.TLS, err = tlsConfig(*caFile, *certFile, *keyFile); err != nil {
		return err
	}
	h, err := hub.Open(ctx, cfg)
	if err != nil {
		return err
	}
	if cfg.Token == "" {
		log.Warn("no reviewer token: reviews and district uploads are disabled (set --token-file or $CAMAUDIT_HUB_TOKEN)")
	}
	return h.Run(ctx)
}

// secret reads a secret from a file (trimmed) or, without a file, from an
// environment variable, so that it never appears in the process list.
func secret(file, env string) (string, error) {
	if file == "" {
		return os.Getenv(env), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s is empty", file)
	}
	return s, nil
}

func tlsConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	if caFile == "" && certFile == "" && keyFile == "" {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("--ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-file %s: no PEM certificate in it", caFile)
		}
		c.RootCAs = pool
	}
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("--cert-file and --key-file go together")
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("loading the client certificate %s: %w", certFile, err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}
