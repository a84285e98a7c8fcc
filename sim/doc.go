// Package sim renders synthetic walks with exact ground truth: scenario
// files, a street renderer, NMEA and truth writers, and YOLO training datasets.
package sim
