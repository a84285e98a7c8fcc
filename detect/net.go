package detect

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"image"
	"unsafe"

	"gocv.io/x/gocv"
)

// net owns one OpenCV DNN network behind the exception-catching C++ shim.
// It is not safe for concurrent use.
type net struct {
	p     *C.CANet
	tiles []C.CATile // reused between frames
}

// tile says which part of the frame goes where in one model input.
type tile struct {
	src image.Rectangle // in frame pixels
	dst image.Rectangle // in model-input pixels
}

// output is a model output tensor: shape[0] is the batch.
type output struct {
	data  []float32 // valid until the next call on the net
	shape []int
}

func shimErr(cerr *C.char) error {
	if cerr == nil {
		return errors.New("unknown error")
	}
	defer C.free(unsafe.Pointer(cerr))
	return errors.New(C.GoString(cerr))
}

// openNet reads an ONNX file with OpenCV, turning any C++ exception into an
// error.
func openNet(path string) (*net, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var cerr *C.char
	p := C.ca_net_open(cpath, &cerr)
	if p == nil {
		return nil, shimErr(cerr)
	}
	return &net{p: p}, nil
}

func (n *net) close() {
	if n.p != nil {
		C.ca_net_close(n.p)
		n.p = nil
	}
}

func makeOutput(out *C.float, shape *[8]C.int, ndims C.int) output {
	o := output{shape: make([]int, int(ndims))}
	total := 1
	for i := range o.shape {
		o.shape[i] = int(shape[i])
		total *= o.shape[i]
	}
	if total > 0 && out != nil {
		o.data = unsafe.Slice((*float32)(unsafe.Pointer(out)), total)
	}
	return o
}

// run letterboxes the tiles of frame into the model's input and runs the net.
func (n *net) run(frame gocv.Mat, tiles []tile, in Input, batched bool) (output, error) {
	if n.p == nil {
		return output{}, errors.New("detector is closed")
	}
	if len(tiles) == 0 {
		return output{}, errors.New("no tiles")
	}
	n.tiles = n.tiles[:0]
	for _, t := range tiles {
		n.tiles = append(n.tiles, C.CATile{
			sx: C.int(t.src.Min.X), sy: C.int(t.src.Min.Y), sw: C.int(t.src.Dx()), sh: C.int(t.src.Dy()),
			dx: C.int(t.dst.Min.X), dy: C.int(t.dst.Min.Y), dw: C.int(t.dst.Dx()), dh: C.int(t.dst.Dy()),
		})
	}
	var (
		out   *C.float
		shape [8]C.int
		nd    C.int
		cerr  *C.char
	)
	b := C.int(0)
	if batched {
		b = 1
	}
	swap := C.int(0)
	if in.Color == "rgb" {
		swap = 1
	}
	rc := C.ca_net_run(n.p, unsafe.Pointer(frame.Ptr()), &n.tiles[0], C.int(len(n.tiles)),
		C.int(in.Width), C.int(in.Height), C.double(in.Scale), swap, C.int(padValue), b,
		(**C.float)(unsafe.Pointer(&out)), &shape[0], &nd, &cerr)
	if rc != 0 {
		return output{}, shimErr(cerr)
	}
	return makeOutput(out, &shape, nd), nil
}

// forwardBlob runs the net on an NCHW float32 blob.
func (n *net) forwardBlob(blob []float32, shape [4]int) (output, error) {
	if n.p == nil {
		return output{}, errors.New("detector is closed")
	}
	if len(blob) != shape[0]*shape[1]*shape[2]*shape[3] || len(blob) == 0 {
		return output{}, fmt.Errorf("blob of %d floats does not match shape %v", len(blob), shape)
	}
	var (
		out  *C.float
		sh   [8]C.int
		nd   C.int
		cerr *C.char
	)
	rc := C.ca_net_forward_blob(n.p, (*C.float)(unsafe.Pointer(&blob[0])),
		C.int(shape[0]), C.int(shape[1]), C.int(shape[2]), C.int(shape[3]),
		(**C.float)(unsafe.Pointer(&out)), &sh[0], &nd, &cerr)
	if rc != 0 {
		return output{}, shimErr(cerr)
	}
	return makeOutput(out, &sh, nd), nil
}

// SetThreads sets the number of worker threads OpenCV uses, for the whole
// process (OpenCV has one thread pool). 1 measures single-core speed; 0 lets
// OpenCV choose.
func SetThreads(n int) {
	C.ca_set_num_threads(C.int(n))
}

// Threads reports the number of worker threads OpenCV uses.
func Threads() int {
	return int(C.ca_get_num_threads())
}

// quietOpenCV silences OpenCV's own log lines (its errors are returned to us
// as exceptions anyway) and returns a function restoring the previous level.
func quietOpenCV() func() {
	prev := C.ca_swap_log_level(0)
	return func() {
		if prev >= 0 {
			C.ca_swap_log_level(prev)
		}
	}
}
