package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/camaudit/camaudit/internal/brokertest"
	"github.com/camaudit/camaudit/internal/syncbuf"
	"github.com/camaudit/camaudit/wire"
)

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestServeFlagErrors(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte("abc\n"), 0o600)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--nope"}, "not defined"},
		{[]string{"--log-level", "loud"}, "--log-level"},
		{[]string{"--token-file", short, "--broker", "none"}, "shorter than 16"},
		{[]string{"--token-file", filepath.Join(dir, "missing")}, "--token-file"},
		{[]string{"--cert-file", short}, "go together"},
		{[]string{"--ca-file", short}, "no PEM certificate"},
		{[]string{"--group", "a/b"}, "--group"},
		{[]string{"--broker", "none", "--db", "mysql://x/y"}, "unsupported scheme"},
		{[]string{"extra"}, "unexpected arguments"},
	}
	for _, tc := range tests {
		var stderr syncbuf.Buffer
		err := cmdServe(context.Background(), tc.args, &bytes.Buffer{}, &stderr)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("serve %v = %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
}

// TestServeIngestsAndShutsDown runs the serve command against a real
// Mosquitto, publishes a sighting, finds it in the API, and stops it the way
// SIGTERM does (cancelling its context).
func TestServeIngestsAndShutsDown(t *testing.T) {
	b := brokertest.Start(t, "")
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte("0123456789abcdef0123\n"), 0o600)
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr syncbuf.Buffer
	done := make(chan error, 1)
	go func() {
		done <- cmdServe(ctx, []string{"--broker", b.URL(), "--db", filepath.Join(dir, "hub.db"), "--http", addr,
			"--token-file", tokenFile, "--tiles", "none", "--client-id", "hub-cmd-test"}, &bytes.Buffer{}, &stderr)
	}()
	var health map[string]any
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			json.NewDecoder(resp.Body).Decode(&health)
			resp.Body.Close()
			if health["broker_connected"] == true {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the hub did not become healthy and connected: %v %v\n%s", err, health, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	pub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("pub"))
	if tok := pub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer pub.Disconnect(100)
	s := &wire.Sighting{Schema: wire.SchemaSighting, ID: "0193a1b2-c3d4-7e5f-8a9b-000000000001", Device: "pi-cmd", Walk: "0193a1b2-0000-7000-8000-000000000001",
		Time: time.Now().UTC().Add(-time.Minute), Lat: 48.8566, Lon: 2.3522, ErrM: 3, Type: "ptz", Confidence: 0.9, Frames: 5, Model: "m"}
	payload, err := wire.Encode(s, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if tok := pub.Publish(wire.Topic("pi-cmd", wire.KindSightings), 1, false, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	for {
		resp, err := http.Get("http://" + addr + "/api/cameras")
		if err != nil {
			t.Fatal(err)
		}
		var fc struct{ Features []json.RawMessage }
		json.NewDecoder(resp.Body).Decode(&fc)
		resp.Body.Close()
		if len(fc.Features) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the sighting did not reach the API\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop within 30 s of its context ending")
	}
	if _, err := http.Get("http://" + addr + "/healthz"); err == nil {
		t.Error("the HTTP server still answers after shutdown")
	}
	if log := stderr.String(); !strings.Contains(log, "shutting down") || !strings.Contains(log, "subscribed") {
		t.Errorf("log lacks the lifecycle:\n%s", log)
	}
}
