//go:build !customenv && static

package detect

// Static builds link OpenCV the way gocv's static tag does; the flags come from
// pkg-config --static.

/*
#cgo !windows pkg-config: --static opencv4
#cgo CXXFLAGS: --std=c++11
*/
import "C"
