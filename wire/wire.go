// Package wire is the one owner of camaudit's MQTT contract: topic names,
// payload types and their validation. The firmware encodes with it and the hub
// decodes with it, so both sides agree on what a valid message is.
//
// Topics live under camaudit/v1/<device>/ where <device> is a pseudonym
// matching [a-z0-9-]{3,32}. Payloads are JSON objects carrying a "schema"
// field; unknown fields are ignored, a payload over MaxPayload bytes, with a
// wrong schema, or whose device differs from the topic's is rejected.
package wire

import (
	"errors"
	"fmt"
	"strings"
)

// Root is the first two levels of every camaudit topic.
const Root = "camaudit/v1"

// MaxPayload is the largest payload, in bytes, that a receiver accepts.
const MaxPayload = 16 << 10

// Kind is the last level of a topic: what sort of message it carries.
type Kind string

// The message kinds of the contract.
const (
	KindStatus    Kind = "status"    // "online" / "offline", retained, Last Will
	KindSightings Kind = "sightings" // one confirmed camera per message
	KindCounts    Kind = "counts"    // cameras per H3 cell and walk
	KindCoverage  Kind = "coverage"  // H3 cells walked, at walk end
	KindTelemetry Kind = "telemetry" // device health, QoS 0
)

// Kinds lists every message kind, in the order of the contract table.
var Kinds = []Kind{KindStatus, KindSightings, KindCounts, KindCoverage, KindTelemetry}

// QoS returns the MQTT quality of service the contract prescribes for k.
func (k Kind) QoS() byte {
	if k == KindTelemetry {
		return 0
	}
	return 1
}

// Retained reports whether messages of kind k are published with the retain flag.
func (k Kind) Retained() bool { return k == KindStatus }

// Status payloads.
const (
	StatusOnline  = "online"
	StatusOffline = "offline"
)

// ValidDevice reports whether id is a valid device pseudonym: 3 to 32
// characters from [a-z0-9-].
func ValidDevice(id string) bool {
	if len(id) < 3 || len(id) > 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// Topic returns the topic on which device publishes messages of kind k.
func Topic(device string, k Kind) string {
	return Root + "/" + device + "/" + string(k)
}

// Filter returns the subscription filter for kind k from every device
// ("camaudit/v1/+/<kind>"). With a non-empty group it is wrapped as an MQTT
// shared subscription ("$share/<group>/...") so that several hubs split the load.
func Filter(k Kind, group string) string {
	f := Root + "/+/" + string(k)
	if group != "" {
		f = "$share/" + group + "/" + f
	}
	return f
}

// ParseTopic splits a camaudit topic into its device and kind. It rejects
// topics outside Root, with an invalid device pseudonym or an unknown kind.
func ParseTopic(topic string) (device string, k Kind, err error) {
	rest, ok := strings.CutPrefix(topic, Root+"/")
	if !ok {
		return "", "", &Error{Reason: ReasonTopic, Msg: fmt.Sprintf("topic %q is not under %s/", clip(topic), Root)}
	}
	device, kind, ok := strings.Cut(rest, "/")
	if !ok || strings.Contains(kind, "/") {
		return "", "", &Error{Reason: ReasonTopic, Msg: fmt.Sprintf("topic %q is not %s/<device>/<kind>", clip(topic), Root)}
	}
	if !ValidDevice(device) {
		return "", "", &Error{Reason: ReasonTopic, Msg: fmt.Sprintf("topic %q: device %q is not [a-z0-9-]{3,32}", clip(topic), clip(device))}
	}
	for _, known := range Kinds {
		if Kind(kind) == known {
			return device, known, nil
		}
	}
	return "", "", &Error{Reason: ReasonTopic, Msg: fmt.Sprintf("topic %q: unknown kind %q", clip(topic), clip(kind))}
}

// Reason is a short, stable name for why a message was rejected. Receivers
// count rejects by reason; the names are part of the hub's /api/stats.
type Reason string

// Reject reasons.
const (
	ReasonTopic       Reason = "bad_topic"       // not a camaudit topic, bad device id, unknown kind
	ReasonOversize    Reason = "oversize"        // payload larger than MaxPayload
	ReasonJSON        Reason = "bad_json"        // not a JSON object, or fields of the wrong JSON type
	ReasonSchema      Reason = "bad_schema"      // missing or wrong "schema"
	ReasonDevice      Reason = "device_mismatch" // payload device differs from the topic's
	ReasonField       Reason = "bad_field"       // a required field is missing or out of range
	ReasonTime        Reason = "bad_time"        // unparsable, implausibly old or in the future
	ReasonCoordinates Reason = "bad_coordinates" // NaN, out of range, or null island
	ReasonCell        Reason = "bad_cell"        // not an H3 resolution-9 cell
	ReasonStatus      Reason = "bad_status"      // status payload other than online/offline
	ReasonIDConflict  Reason = "id_conflict"     // an id already stored with different content (set by stores)
)

// Error is a validation failure: the reason a receiver counts, the field at
// fault (JSON name, may be empty) and a human-readable message.
type Error struct {
	Reason Reason
	Field  string
	Msg    string
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: field %q: %s", e.Reason, e.Field, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.Reason, e.Msg)
}

// ReasonOf returns the reject reason carried by err, or ReasonJSON when err
// is not a *Error (a decoding failure of the standard library).
func ReasonOf(err error) Reason {
	var we *Error
	if errors.As(err, &we) {
		return we.Reason
	}
	return ReasonJSON
}

func fieldErr(r Reason, field, format string, a ...any) error {
	return &Error{Reason: r, Field: field, Msg: fmt.Sprintf(format, a...)}
}

// clip shortens attacker-controlled strings before they go into messages and logs.
func clip(s string) string {
	const n = 64
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
