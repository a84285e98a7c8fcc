package detect

/*
#include <stdlib.h>
#include "guard_shim.h"
*/
import "C"

import (
	"fmt"
	"image"
	"unsafe"

	"gocv.io/x/gocv"
)

// guardNet owns the people guard's OpenCV detectors behind the
// exception-catching C++ shim (guard_shim.cpp). It is not safe for concurrent
// use.
type guardNet struct {
	p *C.CAGuard
}

// hit is one detector hit in pixels of the searched image; score is the HOG
// SVM score (0 for face cascades).
type hit struct {
	r     image.Rectangle
	score float64
}

func openGuardNet(frontal, profile string) (*guardNet, error) {
	cf, cp := C.CString(frontal), C.CString(profile)
	defer C.free(unsafe.Pointer(cf))
	defer C.free(unsafe.Pointer(cp))
	var cerr *C.char
	p := C.ca_guard_new(cf, cp, &cerr)
	if p == nil {
		return nil, shimErr(cerr)
	}
	return &guardNet{p: p}, nil
}

func (n *guardNet) close() {
	if n.p != nil {
		C.ca_guard_close(n.p)
		n.p = nil
	}
}

// hits copies the shim's rectangles and frees them.
func hits(a *C.CAGuardRect, cnt C.int) []hit {
	if a == nil || cnt <= 0 {
		return nil
	}
	defer C.free(unsafe.Pointer(a))
	rs := unsafe.Slice(a, int(cnt))
	out := make([]hit, len(rs))
	for i, r := range rs {
		out[i] = hit{image.Rect(int(r.x), int(r.y), int(r.x+r.w), int(r.y+r.h)), float64(r.score)}
	}
	return out
}

// hogParams are the settings of one HOG people search.
type hogParams struct {
	hit    float64 // SVM score a window needs (OpenCV's default 0)
	stride int     // window stride in pixels (OpenCV's default 8)
	scale  float64 // pyramid step (OpenCV's default 1.05)
	group  float64 // windows a hit needs around it (OpenCV's default 2)
}

// people runs the HOG people detector on img (8-bit, 1 or 3 channels).
func (n *guardNet) people(img gocv.Mat, p hogParams) ([]hit, error) {
	var out *C.CAGuardRect
	var cnt C.int
	var cerr *C.char
	if C.ca_guard_people(n.p, unsafe.Pointer(img.Ptr()), C.double(p.hit), C.int(p.stride),
		C.double(p.scale), C.double(p.group), &out, &cnt, &cerr) != 0 {
		return nil, fmt.Errorf("HOG people detector: %w", shimErr(cerr))
	}
	return hits(out, cnt), nil
}

// faceParams are the settings of one face cascade search.
type faceParams struct {
	scale      float64 // pyramid step (OpenCV's default 1.1)
	neighbours int     // overlapping hits a face needs (OpenCV's default 3)
	min        int     // smallest face, pixels
}

// faces runs the frontal (profile false) or profile face cascade on gray
// (8-bit, 1 channel).
func (n *guardNet) faces(profile bool, gray gocv.Mat, p faceParams) ([]hit, error) {
	var out *C.CAGuardRect
	var cnt C.int
	var cerr *C.char
	prof := C.int(0)
	if profile {
		prof = 1
	}
	if C.ca_guard_faces(n.p, prof, unsafe.Pointer(gray.Ptr()), C.double(p.scale), C.int(p.neighbours),
		C.int(p.min), &out, &cnt, &cerr) != 0 {
		return nil, fmt.Errorf("face detector: %w", shimErr(cerr))
	}
	return hits(out, cnt), nil
}

// savePeopleDetector writes OpenCV's HOG people detector, weights included,
// to path (YAML or XML by its extension), for gocv's HOGDescriptor.Load.
func savePeopleDetector(path string) error {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var cerr *C.char
	if C.ca_guard_save_people(cpath, &cerr) != 0 {
		return fmt.Errorf("saving the HOG people detector to %s: %w", path, shimErr(cerr))
	}
	return nil
}

// obliterate blurs inner beyond recognition in img (8-bit, any channels):
// outer (around inner) is pixelated into blocks of block pixels and blurred,
// and blended in at full weight inside inner, fading out to outer's edges.
func obliterate(img gocv.Mat, outer, inner image.Rectangle, block int) error {
	var cerr *C.char
	if C.ca_guard_obliterate(unsafe.Pointer(img.Ptr()), C.int(outer.Min.X), C.int(outer.Min.Y),
		C.int(outer.Dx()), C.int(outer.Dy()), C.int(inner.Min.X), C.int(inner.Min.Y),
		C.int(inner.Dx()), C.int(inner.Dy()), C.int(block), &cerr) != 0 {
		return fmt.Errorf("blurring %v: %w", inner, shimErr(cerr))
	}
	return nil
}
