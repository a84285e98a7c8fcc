//go:build !customenv && !static

package detect

// The cgo flags mirror gocv's own (gocv.io/x/gocv cgo.go): OpenCV from
// pkg-config, C++11. Builds with the customenv tag take CGO_CPPFLAGS,
// CGO_CXXFLAGS and CGO_LDFLAGS from the environment instead, as gocv does (used
// when cross-compiling for the Pi against an arm64 sysroot).

/*
#cgo !windows pkg-config: opencv4
#cgo CXXFLAGS: --std=c++11
*/
import "C"
