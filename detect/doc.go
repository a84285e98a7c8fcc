// Package detect turns a frame into surveillance-camera boxes with an ONNX
// model run by OpenCV DNN, tiled so that cameras of 10-30 px are found, and
// owns the people guard that redacts anyone in an image before it may leave the
// process.
package detect
