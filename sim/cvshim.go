package sim

/*
#include <stdint.h>
#include "cvshim.h"
*/
import "C"

import (
	"math"
	"unsafe"

	"gocv.io/x/gocv"
)

// SetCVThreads sets how many threads OpenCV may use for one operation
// (cv::setNumThreads; gocv v0.31 does not expose it). Use 1 to measure or
// run single-core; 0 runs everything on the calling thread.
func SetCVThreads(n int) { C.simSetNumThreads(C.int(n)) }

// CVThreads returns OpenCV's current thread count (cv::getNumThreads).
func CVThreads() int { return int(C.simGetNumThreads()) }

// polyBatch collects filled polygons to draw in one cgo call, in order.
type polyBatch struct {
	xy     []int32
	counts []int32
	bgr    []uint8
}

// polyShift is the number of fractional bits of polygon vertices.
const polyShift = 4

const polyOne = 1 << polyShift

func (b *polyBatch) reset() {
	b.xy, b.counts, b.bgr = b.xy[:0], b.counts[:0], b.bgr[:0]
}

// add appends a polygon of pixel coordinates (x0,y0,x1,y1,...) filled with c (BGR).
func (b *polyBatch) add(pts []float64, c [3]uint8) {
	if len(pts) < 6 {
		return
	}
	for i := 0; i < len(pts); i++ {
		v := math.Round(pts[i] * polyOne)
		// keep the fixed-point values well inside int32
		if v > 1<<28 {
			v = 1 << 28
		} else if v < -(1 << 28) {
			v = -(1 << 28)
		}
		b.xy = append(b.xy, int32(v))
	}
	b.counts = append(b.counts, int32(len(pts)/2))
	b.bgr = append(b.bgr, c[0], c[1], c[2])
}

// draw fills the collected polygons onto img (anti-aliased when aa) and resets b.
func (b *polyBatch) draw(img *gocv.Mat, aa bool) {
	if len(b.counts) == 0 {
		return
	}
	lt := 8
	if aa {
		lt = 16
	}
	C.simFillPolys(unsafe.Pointer(img.Ptr()),
		(*C.int32_t)(unsafe.Pointer(&b.xy[0])),
		(*C.int32_t)(unsafe.Pointer(&b.counts[0])),
		C.int(len(b.counts)),
		(*C.uint8_t)(unsafe.Pointer(&b.bgr[0])),
		C.int(polyShift), C.int(lt))
	b.reset()
}
