#include "cvshim.h"

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <vector>

void simSetNumThreads(int n) { cv::setNumThreads(n); }

int simGetNumThreads(void) { return cv::getNumThreads(); }

void simFillPolys(void *img, const int32_t *xy, const int32_t *counts, int npoly,
                  const uint8_t *bgr, int shift, int lineType) {
    cv::Mat *m = static_cast<cv::Mat *>(img);
    std::vector<cv::Point> pts;
    const int32_t *p = xy;
    for (int i = 0; i < npoly; i++) {
        int n = counts[i];
        pts.resize(n);
        for (int k = 0; k < n; k++) {
            pts[k] = cv::Point(p[2 * k], p[2 * k + 1]);
        }
        p += 2 * n;
        const cv::Point *pp = pts.data();
        try {
            cv::fillPoly(*m, &pp, &n, 1,
                         cv::Scalar(bgr[3 * i], bgr[3 * i + 1], bgr[3 * i + 2]),
                         lineType, shift);
        } catch (const cv::Exception &) {
            // A degenerate polygon must not abort the renderer.
        }
    }
}
