// Package deploy holds what a campaign needs to run camaudit for real: the
// systemd units, the Mosquitto configuration and ACL for a campaign broker,
// the nfpm package definitions, and the code behind `camaudit provision`,
// which gives a device its pseudonymous id, a strong password in the
// broker's password file, and a device configuration (contract E) to copy to
// the Pi.
//
// The broker's security model: every device logs in with its id as MQTT
// username and may write only under camaudit/v1/<its id>/ (an ACL pattern,
// so adding a device needs no ACL edit); the hub account (HubUser) may read
// everything under camaudit/v1/ and write nothing; anonymous clients are
// refused; off the loopback interface the broker speaks only TLS.
//
// The files themselves live beside this file (systemd/, mosquitto/,
// nfpm/) and are embedded, so `camaudit provision` can create a missing
// ACL and tests check the very files that get shipped.
package deploy
