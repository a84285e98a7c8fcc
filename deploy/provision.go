package deploy

import (
	"bytes"
	"crypto/x509"
	"embed"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/camaudit/camaudit/wire"
)

// Files holds the deployment files shipped beside this package: the
// Mosquitto configuration and ACL, the systemd units, the example configs
// and the nfpm package definitions.
//
//go:embed mosquitto systemd nfpm camaudit.yaml camaudit-hub.env
var Files embed.FS

// HubUser is the MQTT username of the campaign hub. It contains "_", which a
// device id cannot, so no device can ever be given the hub's name or the
// topics its name would pattern-match.
const HubUser = "camaudit_hub"

// DevicePattern is the ACL line that lets every device write under its own
// id and nowhere else.
const DevicePattern = "pattern write camaudit/v1/%u/#"

// DefaultConfigDir is where the device package keeps its configuration.
const DefaultConfigDir = "/etc/camaudit"

// ErrExists is returned when an id is already provisioned and Force is off.
var ErrExists = errors.New("already provisioned")

// Options says what Provision makes.
type Options struct {
	// ID is the device's pseudonym ([a-z0-9-]{3,32}); "" picks a random
	// one ("pi-" and eight random letters and digits). With Hub set it is
	// ignored: the account is HubUser.
	ID string
	// Hub provisions the hub's account instead of a device's: a password
	// and a password file, no device configuration.
	Hub bool
	// BrokerDir holds the broker's password file ("passwd") and ACL ("acl").
	// "" leaves the broker alone (the password is only written to OutDir).
	BrokerDir string
	// OutDir receives OutDir/<id>/: camaudit.yaml, mqtt.pass and ca.crt,
	// the files to copy into ConfigDir on the device.
	OutDir string
	// Broker is the URL the device connects to, e.g. ssl://hub.example.org:8883.
	Broker string
	// AllowPlaintext permits a tcp:// or mqtt:// broker off the loopback
	// interface, which would send the password in clear text.
	AllowPlaintext bool
	// ConfigDir is where the files will live on the device (DefaultConfigDir
	// when ""); the configuration names mqtt.pass and ca.crt there.
	ConfigDir string
	// CAFile is a PEM file with the CA certificate(s) that signed the
	// broker's certificate, copied to the device as ca.crt; "" trusts the
	// system's roots (a publicly signed certificate).
	CAFile string
	// Camera and GNSS override the configuration's sources ("" keeps the
	// defaults: Camera Module 3 through libcamera, gpsd on localhost).
	Camera, GNSS string
	// Force replaces an existing account's password (the old one stops
	// working at the broker's next reload) and overwrites OutDir/<id>/.
	Force bool
	// Rand is the source of randomness (crypto/rand.Reader in production).
	Rand io.Reader
}

// Result says what Provision made.
type Result struct {
	ID       string   // the device id (or HubUser)
	Password string   // the new password, also in Dir/mqtt.pass
	Dir      string   // OutDir/<id>
	Files    []string // files written, broker files included
	Replaced bool     // the account existed and got a new password (Force)
}

// Provision creates an account at the campaign broker and the files a
// device needs to use it: a random password, stored hashed in
// BrokerDir/passwd and in clear in OutDir/<id>/mqtt.pass, the device
// configuration OutDir/<id>/camaudit.yaml (contract E) and the broker's CA
// certificate. It makes BrokerDir/acl from the shipped ACL when missing and
// refuses one that lacks the device pattern. An id that exists is refused
// unless Force is set; nothing is changed then, nor on any other error.
func Provision(opts Options) (*Result, error) {
	if opts.Rand == nil {
		return nil, errors.New("provision: no source of randomness")
	}
	if opts.OutDir == "" {
		return nil, errors.New("provision: no output directory")
	}
	if opts.ConfigDir == "" {
		opts.ConfigDir = DefaultConfigDir
	}
	if !opts.Hub {
		if err := checkBroker(opts.Broker, opts.AllowPlaintext); err != nil {
			return nil, err
		}
	}
	var caPEM []byte
	if opts.CAFile != "" {
		var err error
		if caPEM, err = readCA(opts.CAFile); err != nil {
			return nil, err
		}
	}

	var pw *PasswordFile
	res := &Result{}
	if opts.BrokerDir != "" {
		st, err := os.Stat(opts.BrokerDir)
		if err != nil {
			return nil, fmt.Errorf("broker directory: %w", err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("broker directory %s: not a directory", opts.BrokerDir)
		}
		unlock, err := lockDir(opts.BrokerDir)
		if err != nil {
			return nil, err
		}
		defer unlock()
		if pw, err = ReadPasswordFile(filepath.Join(opts.BrokerDir, "passwd")); err != nil {
			return nil, err
		}
		if err := ensureACL(filepath.Join(opts.BrokerDir, "acl")); err != nil {
			return nil, err
		}
	}

	id, err := pickID(opts, pw)
	if err != nil {
		return nil, err
	}
	res.ID = id
	res.Dir = filepath.Join(opts.OutDir, id)
	if pw != nil {
		if _, ok := pw.Lookup(id); ok {
			if !opts.Force {
				return nil, fmt.Errorf("%s: %w in %s (use --force to give it a new password)", id, ErrExists, pw.path)
			}
			res.Replaced = true
		}
	}
	if _, err := os.Stat(res.Dir); err == nil && !opts.Force {
		return nil, fmt.Errorf("%s: %w (use --force to overwrite it)", res.Dir, fs.ErrExist)
	}

	password, err := newPassword(opts.Rand)
	if err != nil {
		return nil, err
	}
	res.Password = password

	// Device files first: if they cannot be written, the broker is untouched.
	files := map[string][]byte{"mqtt.pass": []byte(password + "\n")}
	if !opts.Hub {
		caPath := ""
		if caPEM != nil {
			files["ca.crt"] = caPEM
			caPath = filepath.Join(opts.ConfigDir, "ca.crt")
		}
		cfg, err := DeviceConfig(DeviceSettings{
			ID: id, Broker: opts.Broker, PasswordFile: filepath.Join(opts.ConfigDir, "mqtt.pass"),
			CAFile: caPath, Camera: opts.Camera, GNSS: opts.GNSS,
		})
		if err != nil {
			return nil, err
		}
		files["camaudit.yaml"] = cfg
	} else if caPEM != nil {
		files["ca.crt"] = caPEM
	}
	_, statErr := os.Stat(res.Dir)
	fresh := errors.Is(statErr, fs.ErrNotExist)
	if err := os.MkdirAll(res.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", res.Dir, err)
	}
	// A device folder whose password never reached the broker would only
	// mislead: take it away again if the broker cannot be updated.
	failed := true
	defer func() {
		if failed && fresh {
			os.RemoveAll(res.Dir)
		}
	}()
	for _, name := range []string{"camaudit.yaml", "mqtt.pass", "ca.crt"} {
		data, ok := files[name]
		if !ok {
			continue
		}
		mode := fs.FileMode(0o640)
		if name == "mqtt.pass" {
			mode = 0o600
		}
		path := filepath.Join(res.Dir, name)
		_ = os.Remove(path) // a new file, new mode: never inherit a looser one
		if err := writeFileAtomic(path, data, mode); err != nil {
			return nil, err
		}
		res.Files = append(res.Files, path)
	}

	if pw != nil {
		hash, err := HashPassword(password, opts.Rand)
		if err != nil {
			return nil, err
		}
		pw.Set(id, hash)
		if err := pw.Write(); err != nil {
			return nil, err
		}
		res.Files = append(res.Files, pw.path, filepath.Join(opts.BrokerDir, "acl"))
	}
	failed = false
	return res, nil
}

// Revoke removes id's account from the broker's password file, so the
// device can no longer log in once the broker has reloaded. Its messages
// already stored at the hub stay there.
func Revoke(brokerDir, id string) error {
	if id != HubUser && !wire.ValidDevice(id) {
		return fmt.Errorf("device id %q: want 3 to 32 characters from a-z, 0-9 and -", id)
	}
	unlock, err := lockDir(brokerDir)
	if err != nil {
		return err
	}
	defer unlock()
	pw, err := ReadPasswordFile(filepath.Join(brokerDir, "passwd"))
	if err != nil {
		return err
	}
	if !pw.Remove(id) {
		return fmt.Errorf("%s: no such account in %s", id, pw.path)
	}
	return pw.Write()
}

// pickID validates opts.ID or draws a random id not yet in pw.
func pickID(opts Options, pw *PasswordFile) (string, error) {
	if opts.Hub {
		return HubUser, nil
	}
	if opts.ID != "" {
		if !wire.ValidDevice(opts.ID) {
			return "", fmt.Errorf("device id %q: want 3 to 32 characters from a-z, 0-9 and - (a pseudonym, never a person's name)", opts.ID)
		}
		return opts.ID, nil
	}
	const alphabet = "abcdefghijkmnpqrstuvwxyz23456789" // no l, o, 0, 1: easy to read aloud
	for range 100 {
		b := make([]byte, 8)
		if _, err := io.ReadFull(opts.Rand, b); err != nil {
			return "", fmt.Errorf("drawing a device id: %w", err)
		}
		for i := range b {
			b[i] = alphabet[int(b[i])%len(alphabet)]
		}
		id := "pi-" + string(b)
		if pw == nil {
			return id, nil
		}
		if _, taken := pw.Lookup(id); !taken {
			return id, nil
		}
	}
	return "", errors.New("drawing a device id: every draw was taken")
}

// newPassword returns 192 random bits, base64url-encoded (32 characters).
func newPassword(rand io.Reader) (string, error) {
	b := make([]byte, 24)
	if _, err := io.ReadFull(rand, b); err != nil {
		return "", fmt.Errorf("drawing a password: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// checkBroker refuses broker URLs a device cannot use, and plaintext ones
// that would carry its password across a network.
func checkBroker(broker string, allowPlaintext bool) error {
	if broker == "" {
		return errors.New("broker URL: missing (e.g. --broker ssl://hub.example.org:8883)")
	}
	u, err := url.Parse(broker)
	if err != nil {
		return fmt.Errorf("broker URL %q: %w", broker, err)
	}
	if u.Hostname() == "" || u.Port() == "" {
		return fmt.Errorf("broker URL %q: needs a host and a port, e.g. ssl://hub.example.org:8883", broker)
	}
	switch u.Scheme {
	case "ssl", "tls", "mqtts":
		return nil
	case "tcp", "mqtt":
		if ip := net.ParseIP(u.Hostname()); (ip != nil && ip.IsLoopback()) || u.Hostname() == "localhost" || allowPlaintext {
			return nil
		}
		return fmt.Errorf("broker URL %q: plaintext MQTT would send the device's password in clear; use ssl://%s (or --allow-plaintext on a trusted network)", broker, u.Host)
	}
	return fmt.Errorf("broker URL %q: scheme %q is not ssl://, mqtts:// or tcp://", broker, u.Scheme)
}

// readCA reads a PEM file and checks that it holds at least one certificate.
func readCA(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading CA certificate: %w", err)
	}
	n := 0
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return nil, fmt.Errorf("CA certificate %s: %w", path, err)
		}
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("CA certificate %s: no PEM certificate in it", path)
	}
	return data, nil
}

// ensureACL writes the shipped ACL to path when there is none, and refuses
// an existing ACL that lacks the line confining devices to their own topics.
func ensureACL(path string) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		acl, err := Files.ReadFile("mosquitto/acl")
		if err != nil {
			return fmt.Errorf("reading the shipped ACL: %w", err)
		}
		return writeFileAtomic(path, acl, 0o640)
	}
	if err != nil {
		return fmt.Errorf("reading ACL: %w", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.Join(strings.Fields(line), " ") == DevicePattern {
			return nil
		}
	}
	return fmt.Errorf("ACL %s: has no %q line, so devices could not publish; add it (see deploy/mosquitto/acl)", path, DevicePattern)
}

// DeviceSettings are the per-device values of a device configuration.
type DeviceSettings struct {
	ID           string // device id and MQTT username
	Broker       string // broker URL
	PasswordFile string // path of mqtt.pass on the device
	CAFile       string // path of ca.crt on the device ("" = system roots)
	Camera       string // camera source ("" = Camera Module 3 via libcamera)
	GNSS         string // GNSS source ("" = gpsd on localhost)
}

// DefaultCamera is the camera source of a provisioned device: Camera Module 3
// through libcamera's GStreamer element.
const DefaultCamera = "gst:libcamerasrc ! video/x-raw,width=1920,height=1080 ! videoconvert ! appsink"

// DefaultGNSS is the GNSS source of a provisioned device: gpsd, which reads
// the HAT on /dev/serial0.
const DefaultGNSS = "gpsd:localhost:2947"

// DeviceConfig renders a device configuration file (contract E) for s. The
// sections it leaves out take the firmware's defaults.
func DeviceConfig(s DeviceSettings) ([]byte, error) {
	if !wire.ValidDevice(s.ID) {
		return nil, fmt.Errorf("device id %q: want 3 to 32 characters from a-z, 0-9 and -", s.ID)
	}
	if s.Camera == "" {
		s.Camera = DefaultCamera
	}
	if s.GNSS == "" {
		s.GNSS = DefaultGNSS
	}
	q := func(v string) string {
		var b bytes.Buffer
		enc := yaml.NewEncoder(&b)
		_ = enc.Encode(v)
		return strings.TrimSuffix(b.String(), "\n")
	}
	var b strings.Builder
	fmt.Fprintf(&b, `# camaudit device configuration for %[1]s, written by camaudit provision.
# Copy this folder's files to %[2]s on the device (see docs/pi.md).
device: %[1]s
camera:
  source: %[3]s
  hfov_deg: 66                 # Camera Module 3 (standard lens): 66 degrees
  mount: {yaw_deg: 0, pitch_deg: 10, roll_deg: 0}   # 0 = looking ahead; pitched 10 degrees up
gnss:
  source: %[4]s    # or serial:/dev/serial0@9600
model: {dir: "", threshold: 0}  # "" = the installed default bundle
mqtt:
  broker: %[5]s
  username: %[1]s
  password_file: %[6]s
  ca_file: %[7]s
  cert_file: ""
  key_file: ""
journal: {dir: /var/lib/camaudit}
panel: {button: GPIO17, led_recording: GPIO27, led_fix: GPIO22, led_uplink: GPIO23, led_fault: GPIO24}
`, s.ID, filepath.Dir(s.PasswordFile), q(s.Camera), q(s.GNSS), q(s.Broker), q(s.PasswordFile), q(s.CAFile))
	return []byte(b.String()), nil
}
