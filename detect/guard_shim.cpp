// guard_shim.cpp: see guard_shim.h. Every entry point catches all C++
// exceptions: a crash in the guard would be a crash of the device.
#include "guard_shim.h"

#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <exception>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/objdetect.hpp>

struct CAGuard {
	std::vector<float> weights;  // the SVM, owned here (see guard_shim.h)
	cv::HOGDescriptor hog;
	cv::CascadeClassifier frontal;
	cv::CascadeClassifier profile;
};

static void guard_err(char **err, const std::string &msg) {
	if (err == NULL) return;
	*err = (char *)malloc(msg.size() + 1);
	if (*err != NULL) memcpy(*err, msg.c_str(), msg.size() + 1);
}

static std::string guard_what(const std::exception &e) {
	std::string s = e.what();
	for (size_t i = 0; i < s.size(); i++) {
		if (s[i] == '\n' || s[i] == '\r') s[i] = ' ';
	}
	while (!s.empty() && s[s.size() - 1] == ' ') s.erase(s.size() - 1);
	return s;
}

static int guard_rects(const std::vector<cv::Rect> &r, const std::vector<double> *score,
		CAGuardRect **out, int *n, char **err) {
	*out = NULL;
	*n = 0;
	if (r.empty()) return 0;
	CAGuardRect *a = (CAGuardRect *)malloc(r.size() * sizeof(CAGuardRect));
	if (a == NULL) {
		guard_err(err, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < r.size(); i++) {
		a[i].x = r[i].x;
		a[i].y = r[i].y;
		a[i].w = r[i].width;
		a[i].h = r[i].height;
		a[i].score = (score != NULL && i < score->size()) ? (*score)[i] : 0;
	}
	*out = a;
	*n = (int)r.size();
	return 0;
}

static void people_detector(cv::HOGDescriptor &hog, std::vector<float> &weights) {
	weights = cv::HOGDescriptor::getDefaultPeopleDetector();
	hog.setSVMDetector(weights);
}

extern "C" {

CAGuard *ca_guard_new(const char *frontal, const char *profile, char **err) {
	CAGuard *g = NULL;
	try {
		g = new CAGuard();
		people_detector(g->hog, g->weights);
		if (!g->frontal.load(frontal)) {
			guard_err(err, std::string("cannot load face cascade ") + frontal);
			delete g;
			return NULL;
		}
		if (!g->profile.load(profile)) {
			guard_err(err, std::string("cannot load face cascade ") + profile);
			delete g;
			return NULL;
		}
		return g;
	} catch (const std::exception &e) {
		guard_err(err, guard_what(e));
	} catch (...) {
		guard_err(err, "unknown C++ exception");
	}
	delete g;
	return NULL;
}

void ca_guard_close(CAGuard *g) {
	delete g;
}

int ca_guard_people(CAGuard *g, void *img, double hit, int stride, double scale,
		double group, CAGuardRect **out, int *n, char **err) {
	try {
		const cv::Mat &m = *(const cv::Mat *)img;
		*out = NULL;
		*n = 0;
		if (m.depth() != CV_8U || (m.channels() != 1 && m.channels() != 3)) {
			guard_err(err, "people detector: want an 8-bit image with 1 or 3 channels");
			return -1;
		}
		cv::Size win = g->hog.winSize;
		if (m.cols < win.width || m.rows < win.height) return 0;
		std::vector<cv::Rect> found;
		std::vector<double> weights;
		g->hog.detectMultiScale(m, found, weights, hit, cv::Size(stride, stride), cv::Size(0, 0),
			scale, group, false);
		return guard_rects(found, &weights, out, n, err);
	} catch (const std::exception &e) {
		guard_err(err, guard_what(e));
	} catch (...) {
		guard_err(err, "unknown C++ exception");
	}
	return -1;
}

int ca_guard_faces(CAGuard *g, int profile, void *gray, double scale, int neighbours,
		int min_size, CAGuardRect **out, int *n, char **err) {
	try {
		const cv::Mat &m = *(const cv::Mat *)gray;
		*out = NULL;
		*n = 0;
		if (m.type() != CV_8UC1) {
			guard_err(err, "face detector: want an 8-bit grey image");
			return -1;
		}
		if (m.cols < min_size || m.rows < min_size) return 0;
		std::vector<cv::Rect> found;
		cv::CascadeClassifier &c = profile ? g->profile : g->frontal;
		c.detectMultiScale(m, found, scale, neighbours, 0, cv::Size(min_size, min_size), cv::Size());
		return guard_rects(found, NULL, out, n, err);
	} catch (const std::exception &e) {
		guard_err(err, guard_what(e));
	} catch (...) {
		guard_err(err, "unknown C++ exception");
	}
	return -1;
}

// ramp is the blend weight (0-255) at coordinate v for an outer span [o0, o1)
// around an inner span [i0, i1): 255 inside, falling linearly to the edges.
static int ramp(int v, int o0, int i0, int i1, int o1) {
	int a = 255;
	if (v < i0) a = i0 > o0 ? (v - o0) * 255 / (i0 - o0) : 255;
	else if (v >= i1) a = o1 > i1 ? (o1 - 1 - v) * 255 / (o1 - i1) : 255;
	return a < 0 ? 0 : (a > 255 ? 255 : a);
}

int ca_guard_obliterate(void *img, int ox, int oy, int ow, int oh, int ix, int iy, int iw,
		int ih, int block, char **err) {
	try {
		cv::Mat &m = *(cv::Mat *)img;
		if (m.depth() != CV_8U || m.dims != 2) {
			guard_err(err, "obliterate: want an 8-bit image");
			return -1;
		}
		cv::Rect outer(ox, oy, ow, oh);
		cv::Rect r = outer & cv::Rect(0, 0, m.cols, m.rows);
		if (r.empty()) return 0;
		if (block < 1) block = 1;
		cv::Mat roi = m(r);
		cv::Mat small, fill;
		cv::resize(roi, small, cv::Size(std::max(1, r.width / block), std::max(1, r.height / block)),
			0, 0, cv::INTER_AREA);
		cv::resize(small, fill, r.size(), 0, 0, cv::INTER_LINEAR);
		int k = (2 * block) | 1;
		cv::GaussianBlur(fill, fill, cv::Size(k, k), 0, 0, cv::BORDER_REFLECT);
		int cn = m.channels();
		std::vector<int> ax(r.width);
		for (int x = 0; x < r.width; x++) ax[x] = ramp(r.x + x, ox, ix, ix + iw, ox + ow);
		for (int y = 0; y < r.height; y++) {
			int ay = ramp(r.y + y, oy, iy, iy + ih, oy + oh);
			uchar *d = roi.ptr<uchar>(y);
			const uchar *s = fill.ptr<uchar>(y);
			for (int x = 0; x < r.width; x++) {
				int a = std::min(ax[x], ay);
				for (int c = 0; c < cn; c++) {
					int i = x * cn + c;
					d[i] = (uchar)((d[i] * (255 - a) + s[i] * a + 127) / 255);
				}
			}
		}
		return 0;
	} catch (const std::exception &e) {
		guard_err(err, guard_what(e));
	} catch (...) {
		guard_err(err, "unknown C++ exception");
	}
	return -1;
}

int ca_guard_save_people(const char *path, char **err) {
	try {
		cv::HOGDescriptor hog;
		std::vector<float> weights;
		people_detector(hog, weights);
		hog.save(path);
		return 0;
	} catch (const std::exception &e) {
		guard_err(err, guard_what(e));
	} catch (...) {
		guard_err(err, "unknown C++ exception");
	}
	return -1;
}

}  // extern "C"
