// shim.h: a small C interface over OpenCV's DNN module that catches every C++
// exception, so that a broken model becomes an error string instead of a
// process abort (gocv v0.31 lets cv::Exception escape through cgo).
#ifndef CAMAUDIT_DETECT_SHIM_H
#define CAMAUDIT_DETECT_SHIM_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct CANet CANet;

// CATile says where one model input comes from: the source rectangle in the
// frame (sx, sy, sw, sh) is resized into the destination rectangle (dx, dy,
// dw, dh) of a canvas of the model's input size filled with the pad value.
typedef struct {
	int sx, sy, sw, sh;
	int dx, dy, dw, dh;
} CATile;

// ca_net_open reads an ONNX file. On failure it returns NULL and sets *err to
// a malloc'ed message.
CANet *ca_net_open(const char *path, char **err);

// ca_net_close frees the net and its buffers.
void ca_net_close(CANet *n);

// ca_net_run builds one canvas per tile from frame (a cv::Mat*, 8-bit with 1,
// 3 or 4 channels, BGR order), turns them into an NCHW float blob (pixel *
// scale, channels swapped when swap_rb), and runs the net: in one forward of
// batch count when batched, else one forward per tile. The output (first
// dimension = count) stays valid until the next call. Returns 0 on success.
int ca_net_run(CANet *n, void *frame, const CATile *tiles, int count, int w, int h,
	double scale, int swap_rb, int pad, int batched,
	const float **out, int *shape, int *ndims, char **err);

// ca_net_forward_blob runs the net on an NCHW float blob held by the caller,
// in one forward (batch nb). The output stays valid until the next call.
int ca_net_forward_blob(CANet *n, const float *blob, int nb, int c, int h, int w,
	const float **out, int *shape, int *ndims, char **err);

// ca_set_num_threads sets OpenCV's worker threads for the whole process.
void ca_set_num_threads(int threads);

// ca_get_num_threads reports OpenCV's worker threads.
int ca_get_num_threads(void);

// ca_swap_log_level sets OpenCV's log level (cv::utils::logging::LogLevel;
// 0 = silent) and returns the previous one.
int ca_swap_log_level(int level);

#ifdef __cplusplus
}
#endif

#endif
