// Package hw provides the device's hardware: camera sources (V4L2,
// GStreamer/libcamera, video file, image folder) and the GPIO panel (button and
// LEDs via periph.io).
package hw
