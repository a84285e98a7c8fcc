package deploy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/camaudit/camaudit/internal/brokertest"
	"github.com/camaudit/camaudit/internal/freeport"
)

// campaign is a real Mosquitto running the shipped campaign configuration
// (mosquitto/camaudit.conf and mosquitto/acl) with accounts made by
// Provision, on free loopback ports.
type campaign struct {
	b         *brokertest.Broker
	tlsURL    string // the TLS listener (8883 in production)
	localURL  string // the plaintext loopback listener (1883 in production)
	caPool    *x509.CertPool
	passwords map[string]string
}

// startCampaign provisions the devices and the hub into a broker directory
// and starts Mosquitto with the shipped configuration, its paths and ports
// moved into the test's temporary directory.
func startCampaign(t *testing.T, devices ...string) *campaign {
	t.Helper()
	dir := brokerDir(t)
	caPEM, pool := writeServerCert(t, dir)
	caFile := filepath.Join(dir, "campaign-ca.crt")
	if err := os.WriteFile(caFile, caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	c := &campaign{caPool: pool, passwords: map[string]string{}}
	out := t.TempDir()
	for _, id := range devices {
		res, err := Provision(Options{ID: id, BrokerDir: dir, OutDir: out,
			Broker: "ssl://broker.example.org:8883", CAFile: caFile, Rand: rand.Reader})
		if err != nil {
			t.Fatalf("provisioning %s: %v", id, err)
		}
		c.passwords[id] = res.Password
	}
	res, err := Provision(Options{Hub: true, BrokerDir: dir, OutDir: out, Rand: rand.Reader})
	if err != nil {
		t.Fatalf("provisioning the hub: %v", err)
	}
	c.passwords[HubUser] = res.Password

	conf, err := Files.ReadFile("mosquitto/camaudit.conf")
	if err != nil {
		t.Fatal(err)
	}
	s := strings.ReplaceAll(string(conf), "%", "%%")
	s = strings.ReplaceAll(s, "/etc/mosquitto/camaudit/", dir+"/")
	// brokertest appends its own per_listener_settings line.
	s = strings.Replace(s, "\nper_listener_settings false\n", "\n", 1)
	local := freeport.Get(t)
	for old, repl := range map[string]string{
		"\nlistener 8883\n":           "\nlistener %[1]d 127.0.0.1\n",
		"\nlistener 1883 127.0.0.1\n": fmt.Sprintf("\nlistener %d 127.0.0.1\n", local),
	} {
		if !strings.Contains(s, old) {
			t.Fatalf("mosquitto/camaudit.conf has no %q line", strings.TrimSpace(old))
		}
		s = strings.Replace(s, old, repl, 1)
	}
	c.b = brokertest.Start(t, s)
	c.tlsURL = fmt.Sprintf("ssl://127.0.0.1:%d", c.b.Port)
	c.localURL = fmt.Sprintf("tcp://127.0.0.1:%d", local)
	// brokertest waits for the first listener only.
	waitListening(t, fmt.Sprintf("127.0.0.1:%d", local))
	return c
}

// brokerDir returns a directory laid out as /etc/mosquitto/camaudit is in
// production: group mosquitto, mode 0750. Mosquitto started as root drops
// to the mosquitto user before it reads the password file and the ACL, so
// they must be readable by that group (Provision gives new files the
// directory's group).
func brokerDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if os.Geteuid() != 0 {
		return dir // Mosquitto keeps our own user: nothing to arrange
	}
	g, err := user.LookupGroup("mosquitto")
	if err != nil {
		t.Fatalf("running as root, but the mosquitto group is missing (run make setup): %v", err)
	}
	gid, _ := strconv.Atoi(g.Gid)
	if err := os.Chown(dir, 0, gid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	// t.TempDir's parent is 0700: let the mosquitto user pass through it.
	if err := os.Chmod(filepath.Dir(dir), 0o711); err != nil {
		t.Fatal(err)
	}
	return dir
}

func waitListening(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			conn.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// writeServerCert makes a throwaway CA and a server certificate for
// 127.0.0.1 signed by it, writes server.crt and server.key into dir (where
// the configuration expects them) and returns the CA's PEM and pool.
func writeServerCert(t *testing.T, dir string) ([]byte, *x509.CertPool) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "camaudit test campaign CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, b []byte, mode os.FileMode) {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("server.crt", "CERTIFICATE", der, 0o644)
	write("server.key", "EC PRIVATE KEY", keyDER, 0o640)
	if st, err := os.Stat(dir); err == nil {
		_ = os.Chown(filepath.Join(dir, "server.key"), -1, int(st.Sys().(*syscall.Stat_t).Gid))
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), pool
}

// connect logs user in at url and returns the client or the connect error.
func (c *campaign) connect(t *testing.T, url, user, password string) (mqtt.Client, error) {
	t.Helper()
	opts := mqtt.NewClientOptions().AddBroker(url).
		SetClientID(fmt.Sprintf("%s-%d", user, time.Now().UnixNano())).
		SetUsername(user).SetPassword(password).
		SetTLSConfig(&tls.Config{RootCAs: c.caPool, MinVersion: tls.VersionTLS12}).
		SetConnectTimeout(5 * time.Second).SetAutoReconnect(false).SetConnectRetry(false).
		SetCleanSession(true)
	cl := mqtt.NewClient(opts)
	tok := cl.Connect()
	if !tok.WaitTimeout(15 * time.Second) {
		return nil, fmt.Errorf("connect to %s timed out", url)
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	t.Cleanup(func() { cl.Disconnect(100) })
	return cl, nil
}

func (c *campaign) mustConnect(t *testing.T, url, user string) mqtt.Client {
	t.Helper()
	cl, err := c.connect(t, url, user, c.passwords[user])
	if err != nil {
		t.Fatalf("%s logging in at %s: %v\nbroker log:\n%s", user, url, err, c.b.Log())
	}
	return cl
}

// recorder collects what a subscriber receives.
type recorder struct {
	mu  sync.Mutex
	got []string // "topic payload"
	ch  chan string
}

func subscribe(t *testing.T, cl mqtt.Client, filter string) *recorder {
	t.Helper()
	r := &recorder{ch: make(chan string, 100)}
	tok := cl.Subscribe(filter, 1, func(_ mqtt.Client, m mqtt.Message) {
		s := m.Topic() + " " + string(m.Payload())
		r.mu.Lock()
		r.got = append(r.got, s)
		r.mu.Unlock()
		r.ch <- s
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribing to %s: %v", filter, tok.Error())
	}
	return r
}

// waitFor waits until the recorder has received want and returns everything
// received up to then.
func (r *recorder) waitFor(t *testing.T, want string) []string {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case s := <-r.ch:
			if s == want {
				r.mu.Lock()
				defer r.mu.Unlock()
				return append([]string(nil), r.got...)
			}
		case <-deadline:
			r.mu.Lock()
			defer r.mu.Unlock()
			t.Fatalf("never received %q; got %q", want, r.got)
			return nil
		}
	}
}

func publish(t *testing.T, cl mqtt.Client, topic, payload string) {
	t.Helper()
	tok := cl.Publish(topic, 1, false, payload)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publishing to %s: %v", topic, tok.Error())
	}
}

func TestBrokerConfinesDevicesToTheirOwnTopics(t *testing.T) {
	c := startCampaign(t, "dev-a", "dev-b")
	hub := c.mustConnect(t, c.tlsURL, HubUser)
	rec := subscribe(t, hub, "camaudit/v1/#")
	a := c.mustConnect(t, c.tlsURL, "dev-a")
	b := c.mustConnect(t, c.tlsURL, "dev-b")

	// A tries B's topics and others outside camaudit/v1/<a>/; then a
	// message of its own. One connection's messages reach a subscriber in
	// order, so once the hub has A's own message, anything A got through
	// before it would already be there.
	for _, topic := range []string{
		"camaudit/v1/dev-b/sightings", "camaudit/v1/dev-b/status", "camaudit/v1/dev-a-x/sightings",
		"camaudit/v1/" + HubUser + "/sightings", "camaudit/v2/dev-a/sightings", "camaudit/v1/dev-bb/sightings",
		"camaudit/v1/dev-b/sightings/extra", "camaudit/v1/dev-b",
	} {
		publish(t, a, topic, "spoofed by dev-a")
	}
	publish(t, a, "camaudit/v1/dev-a/sightings", "a-own")
	publish(t, b, "camaudit/v1/dev-b/sightings", "b-own")
	got := rec.waitFor(t, "camaudit/v1/dev-a/sightings a-own")
	got = append(got, rec.waitFor(t, "camaudit/v1/dev-b/sightings b-own")...)
	for _, s := range got {
		if strings.Contains(s, "spoofed") {
			t.Errorf("the hub received a spoofed message: %q", s)
		}
	}
}

func TestBrokerHubCanOnlyRead(t *testing.T) {
	c := startCampaign(t, "dev-a")
	watcher := c.mustConnect(t, c.tlsURL, HubUser)
	rec := subscribe(t, watcher, "camaudit/v1/#")
	hub := c.mustConnect(t, c.tlsURL, HubUser)
	for _, topic := range []string{
		"camaudit/v1/dev-a/sightings", "camaudit/v1/dev-a/status", "camaudit/v1/" + HubUser + "/sightings",
	} {
		publish(t, hub, topic, "written by the hub")
	}
	// The hub's publishes were acknowledged (and dropped) before the
	// device's message arrived at the broker, so they would be queued first.
	a := c.mustConnect(t, c.tlsURL, "dev-a")
	publish(t, a, "camaudit/v1/dev-a/sightings", "a-own")
	for _, s := range rec.waitFor(t, "camaudit/v1/dev-a/sightings a-own") {
		if strings.Contains(s, "written by the hub") {
			t.Errorf("a message the hub published was delivered: %q", s)
		}
	}

}

func TestBrokerDevicesCannotReadOthers(t *testing.T) {
	c := startCampaign(t, "dev-a", "dev-b")
	snoop := c.mustConnect(t, c.tlsURL, "dev-a")
	srec := &recorder{ch: make(chan string, 100)}
	tok := snoop.Subscribe("camaudit/v1/#", 1, func(_ mqtt.Client, m mqtt.Message) {
		srec.mu.Lock()
		srec.got = append(srec.got, m.Topic()+" "+string(m.Payload()))
		srec.mu.Unlock()
	})
	if !tok.WaitTimeout(10 * time.Second) {
		t.Fatal("no SUBACK")
	}
	t.Logf("dev-a subscribing to camaudit/v1/#: %v (SUBACK %v)", tok.Error(), tok.(*mqtt.SubscribeToken).Result())
	hub := c.mustConnect(t, c.tlsURL, HubUser)
	hrec := subscribe(t, hub, "camaudit/v1/#")
	b := c.mustConnect(t, c.tlsURL, "dev-b")
	publish(t, b, "camaudit/v1/dev-b/sightings", "b-own")
	publish(t, b, "camaudit/v1/dev-b/counts", "b-second")
	// The broker hands a message to every matching subscriber in one pass:
	// by the time the hub has the second message, dev-a would have had the first.
	hrec.waitFor(t, "camaudit/v1/dev-b/sightings b-own")
	hrec.waitFor(t, "camaudit/v1/dev-b/counts b-second")
	publish(t, snoop, "camaudit/v1/dev-a/status", "a-sync") // a round trip on dev-a's own connection
	srec.mu.Lock()
	defer srec.mu.Unlock()
	if len(srec.got) > 0 {
		t.Errorf("device dev-a read other devices' messages: %q", srec.got)
	}
}

func TestBrokerRefusesBadLogins(t *testing.T) {
	c := startCampaign(t, "dev-a")
	for _, tc := range []struct {
		name, url, user, password string
	}{
		{"wrong password", c.tlsURL, "dev-a", "not-the-password"},
		{"another account's password", c.tlsURL, "dev-a", c.passwords[HubUser]},
		{"unknown user", c.tlsURL, "dev-zz", c.passwords["dev-a"]},
		{"anonymous", c.tlsURL, "", ""},
		{"wrong password on the loopback listener", c.localURL, "dev-a", "not-the-password"},
		{"anonymous on the loopback listener", c.localURL, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl, err := c.connect(t, tc.url, tc.user, tc.password)
			if err == nil {
				cl.Disconnect(0)
				t.Fatalf("%s logged in", tc.user)
			}
			t.Logf("refused as expected: %v", err)
		})
	}
	// The right password works on both listeners.
	c.mustConnect(t, c.tlsURL, "dev-a")
	c.mustConnect(t, c.localURL, "dev-a")
}

func TestBrokerRefusesPlaintextWhereTLSIsRequired(t *testing.T) {
	c := startCampaign(t, "dev-a")
	plain := strings.Replace(c.tlsURL, "ssl://", "tcp://", 1)
	cl, err := c.connect(t, plain, "dev-a", c.passwords["dev-a"])
	if err == nil {
		cl.Disconnect(0)
		t.Fatal("a plaintext MQTT connection to the TLS listener was accepted")
	}
	t.Logf("plaintext refused: %v", err)

	// A client that does not trust the campaign CA does not talk to it.
	opts := mqtt.NewClientOptions().AddBroker(c.tlsURL).SetClientID("untrusting").
		SetUsername("dev-a").SetPassword(c.passwords["dev-a"]).
		SetTLSConfig(&tls.Config{RootCAs: x509.NewCertPool()}).
		SetConnectTimeout(5 * time.Second).SetAutoReconnect(false)
	untrusting := mqtt.NewClient(opts)
	tok := untrusting.Connect()
	if tok.WaitTimeout(15*time.Second) && tok.Error() == nil {
		untrusting.Disconnect(0)
		t.Fatal("a client connected without verifying the broker's certificate")
	}

	// TLS older than 1.2 is refused.
	conn, err := tls.Dial("tcp", c.b.Addr(), &tls.Config{RootCAs: c.caPool, MaxVersion: tls.VersionTLS11})
	if err == nil {
		conn.Close()
		t.Fatal("the broker accepted TLS 1.1")
	}
	// And TLS 1.2+ with the right CA works.
	c.mustConnect(t, c.tlsURL, "dev-a")
}

func TestBrokerRevokedDeviceIsLockedOut(t *testing.T) {
	c := startCampaign(t, "dev-a", "dev-b")
	c.mustConnect(t, c.tlsURL, "dev-a")
	dir := filepath.Dir(strings.TrimSpace(configValue(t, c.b.Dir, "password_file")))
	if err := Revoke(dir, "dev-a"); err != nil {
		t.Fatal(err)
	}
	// A reload (systemctl reload mosquitto) re-reads the password file; a
	// restart does the same here.
	c.b.Stop()
	c.b.Start()
	if cl, err := c.connect(t, c.tlsURL, "dev-a", c.passwords["dev-a"]); err == nil {
		cl.Disconnect(0)
		t.Fatal("a revoked device still logs in")
	}
	c.mustConnect(t, c.tlsURL, "dev-b")
}

// configValue returns the value of key in the broker's generated mosquitto.conf.
func configValue(t *testing.T, dir, key string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "mosquitto.conf"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, key+" "); ok {
			return v
		}
	}
	t.Fatalf("no %s in mosquitto.conf", key)
	return ""
}

// Several hubs split the load with a shared subscription; the ACL's read
// grant must cover it.
func TestBrokerHubSharedSubscription(t *testing.T) {
	c := startCampaign(t, "dev-a")
	hub := c.mustConnect(t, c.tlsURL, HubUser)
	rec := subscribe(t, hub, "$share/hubs/camaudit/v1/+/sightings")
	a := c.mustConnect(t, c.tlsURL, "dev-a")
	publish(t, a, "camaudit/v1/dev-a/sightings", "shared")
	rec.waitFor(t, "camaudit/v1/dev-a/sightings shared")
}
