// guard_shim.h: the people guard's detectors (OpenCV's HOG people detector and
// Haar cascades) behind a C interface that catches every C++ exception.
//
// gocv v0.31's HOGDefaultPeopleDetector wraps a temporary std::vector in a
// cv::Mat without copying it (objdetect.cpp: `new cv::Mat(getDefault...())`),
// so SetSVMDetector then reads the detector's weights from freed memory
// (AddressSanitizer: heap-use-after-free in HOGDescriptor::setSVMDetector).
// The weights it gets depend on the heap: HOG then finds people on one run and
// not on the next, fires on blank images, and differs between amd64 and arm64.
// This shim keeps the weights in a live vector.
#ifndef CAMAUDIT_DETECT_GUARD_SHIM_H
#define CAMAUDIT_DETECT_GUARD_SHIM_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct CAGuard CAGuard;

// CAGuardRect is one hit, in pixels of the searched image; score is the HOG
// SVM score (0 for cascades).
typedef struct {
	int x, y, w, h;
	double score;
} CAGuardRect;

// ca_guard_new builds the HOG people detector (OpenCV's default 64x128 SVM)
// and loads the frontal and profile face cascades. On failure it returns NULL
// and sets *err to a malloc'ed message.
CAGuard *ca_guard_new(const char *frontal, const char *profile, char **err);

// ca_guard_close frees the detectors.
void ca_guard_close(CAGuard *g);

// ca_guard_people runs HOGDescriptor::detectMultiScale on img (a cv::Mat*,
// 8-bit, 1 or 3 channels) with the given hit threshold, window stride (pixels),
// pyramid scale and group threshold. An image smaller than the 64x128 window
// gives no hits. *out is malloc'ed (free it), *n its length. Returns 0 on
// success, -1 with *err set.
int ca_guard_people(CAGuard *g, void *img, double hit, int stride, double scale,
	double group, CAGuardRect **out, int *n, char **err);

// ca_guard_faces runs a face cascade (profile=0: frontal, 1: profile) on gray
// (a cv::Mat*, 8-bit, 1 channel) with scale factor, min neighbours and minimum
// face size. Same conventions as ca_guard_people.
int ca_guard_faces(CAGuard *g, int profile, void *gray, double scale, int neighbours,
	int min_size, CAGuardRect **out, int *n, char **err);

// ca_guard_obliterate makes the rectangle inner of img (a cv::Mat*, 8-bit,
// any channel count) unrecognisable: the rectangle outer (which contains inner)
// is pixelated into blocks of block pixels and blurred, then blended into img
// with a weight that is full inside inner and falls linearly to zero at the
// edges of outer, so that no hard edge is left for a detector to latch on to.
// Both rectangles may reach beyond img; the blend uses integer arithmetic.
int ca_guard_obliterate(void *img, int ox, int oy, int ow, int oh, int ix, int iy, int iw,
	int ih, int block, char **err);

// ca_guard_save_people writes the HOG people detector (with its SVM weights)
// to path in OpenCV's YAML/XML format, loadable by HOGDescriptor::load.
int ca_guard_save_people(const char *path, char **err);

#ifdef __cplusplus
}
#endif

#endif
