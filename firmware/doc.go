// Package firmware is the on-device pipeline: walk state, frame scheduling,
// tracking, camera geolocation, dedup, the durable journal and the MQTT uplink.
// It declares the small interfaces it consumes (Camera, Detector, GNSS, Panel)
// and cmd plugs the implementations in.
package firmware
