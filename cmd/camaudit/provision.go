package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/camaudit/camaudit/deploy"
)

// cmdProvision gives a device (or the hub) an account at the campaign
// broker and writes the files the device needs; see deploy.Provision.
func cmdProvision(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("provision", stderr)
	id := fs.String("id", "", "device id, a pseudonym of 3-32 characters from a-z, 0-9 and - (default: a random pi-xxxxxxxx)")
	hub := fs.Bool("hub", false, "provision the hub's account ("+deploy.HubUser+": reads every device, writes nothing) instead of a device")
	broker := fs.String("broker", "", "broker URL the device connects to, e.g. ssl://hub.example.org:8883 (required for a device)")
	brokerDir := fs.String("broker-dir", "", "the broker's folder with passwd and acl (e.g. /etc/mosquitto/camaudit); empty: leave the broker alone")
	out := fs.String("out", "provisioned", "write the device's files to OUT/<id>/")
	configDir := fs.String("config-dir", deploy.DefaultConfigDir, "where the files will live on the device")
	ca := fs.String("ca", "", "PEM CA certificate of the broker, copied to the device as ca.crt (empty: the system's roots)")
	camera := fs.String("camera", "", "camera source for the config (default: "+deploy.DefaultCamera+")")
	gnss := fs.String("gnss", "", "GNSS source for the config (default: "+deploy.DefaultGNSS+")")
	plaintext := fs.Bool("allow-plaintext", false, "allow a tcp:// broker off the loopback interface (sends the password in clear)")
	force := fs.Bool("force", false, "give an existing id a new password and overwrite its files")
	revoke := fs.Bool("revoke", false, "remove --id from the broker's password file instead")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: camaudit provision [--id ID] --broker URL [--broker-dir DIR] [--out DIR] [--ca FILE] [flags]
       camaudit provision --hub [--broker-dir DIR] [--out DIR]
       camaudit provision --revoke --id ID --broker-dir DIR

Creates a device id, a strong random password and the device configuration
(OUT/<id>/camaudit.yaml, mqtt.pass, ca.crt) and adds the account to the
broker's password file; the broker's ACL lets each device write only under
camaudit/v1/<id>/. Reload the broker afterwards (systemctl reload mosquitto).

flags:
`)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}

	if *revoke {
		if *id == "" || *brokerDir == "" {
			return fmt.Errorf("%w: --revoke needs --id and --broker-dir", errUsage)
		}
		if err := deploy.Revoke(*brokerDir, *id); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked %s in %s\nreload the broker so it takes effect: systemctl reload mosquitto\n",
			*id, filepath.Join(*brokerDir, "passwd"))
		return nil
	}
	if *hub && *id != "" {
		return fmt.Errorf("%w: --hub and --id exclude each other (the hub's account is %s)", errUsage, deploy.HubUser)
	}
	if !*hub && *broker == "" {
		return fmt.Errorf("%w: --broker is required, e.g. --broker ssl://hub.example.org:8883", errUsage)
	}

	res, err := deploy.Provision(deploy.Options{
		ID: *id, Hub: *hub, BrokerDir: *brokerDir, OutDir: *out, Broker: *broker,
		AllowPlaintext: *plaintext, ConfigDir: *configDir, CAFile: *ca,
		Camera: *camera, GNSS: *gnss, Force: *force, Rand: rand.Reader,
	})
	if errors.Is(err, deploy.ErrExists) {
		return err
	}
	if err != nil {
		return fmt.Errorf("provisioning: %w", err)
	}

	what := "device " + res.ID
	if *hub {
		what = "hub account " + res.ID
	}
	if res.Replaced {
		fmt.Fprintf(stdout, "%s: new password (the old one stops working when the broker reloads)\n", what)
	} else {
		fmt.Fprintf(stdout, "provisioned %s\n", what)
	}
	for _, f := range res.Files {
		fmt.Fprintf(stdout, "  wrote %s\n", f)
	}
	if *brokerDir == "" {
		fmt.Fprintf(stdout, "the broker was not changed (no --broker-dir): run on the broker\n"+
			"  mosquitto_passwd /etc/mosquitto/camaudit/passwd %s   # and enter the password in %s\n",
			res.ID, filepath.Join(res.Dir, "mqtt.pass"))
	} else {
		fmt.Fprintln(stdout, "next: systemctl reload mosquitto   # the broker re-reads its password file")
	}
	if *hub {
		fmt.Fprintf(stdout, "then, on the hub: install -m 0600 %s /etc/camaudit/hub-mqtt.pass\n", filepath.Join(res.Dir, "mqtt.pass"))
	} else {
		var names []string
		for _, f := range res.Files {
			if filepath.Dir(f) == res.Dir {
				names = append(names, "/tmp/"+filepath.Base(f))
			}
		}
		fmt.Fprintf(stdout, "then copy the files to the device (docs/pi.md):\n  scp %s/* pi@<device>:/tmp/\n  ssh pi@<device> sudo install -m 0640 -g camaudit %s %s/\n",
			res.Dir, strings.Join(names, " "), *configDir)
	}
	return nil
}
