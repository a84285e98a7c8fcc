//go:build !customenv && !static

package sim

// Mirrors gocv's cgo.go: with the customenv or static tags the OpenCV flags
// come from CGO_CPPFLAGS/CGO_LDFLAGS (as in the arm64 cross build).

/*
#cgo !windows pkg-config: opencv4
#cgo CXXFLAGS: --std=c++11
*/
import "C"
