// Small C API over OpenCV calls that gocv v0.31 lacks or makes slow.
#ifndef CAMAUDIT_SIM_CVSHIM_H
#define CAMAUDIT_SIM_CVSHIM_H
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

// simSetNumThreads sets OpenCV's worker thread count (cv::setNumThreads).
void simSetNumThreads(int n);

// simGetNumThreads returns cv::getNumThreads().
int simGetNumThreads(void);

// simFillPolys fills npoly polygons in order onto the cv::Mat* img.
// xy holds the vertices (x, y pairs, fixed point with `shift` fractional
// bits), counts the vertex count of each polygon, bgr three bytes per polygon.
// lineType is cv::LINE_8 (8) or cv::LINE_AA (16).
void simFillPolys(void *img, const int32_t *xy, const int32_t *counts, int npoly,
                  const uint8_t *bgr, int shift, int lineType);

#ifdef __cplusplus
}
#endif
#endif
