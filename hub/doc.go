// Package hub is the campaign hub: ingest of device messages, the camera
// registry, its store, the HTTP API and the web map.
package hub
