// shim.cpp: see shim.h. Every entry point catches all C++ exceptions.
#include "shim.h"

#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/core/utils/logger.hpp>
#include <opencv2/dnn.hpp>
#include <opencv2/imgproc.hpp>

struct CANet {
	cv::dnn::Net net;
	std::vector<cv::Mat> canvases;  // one per tile, reused between frames
	cv::Mat bgr;                    // frame converted to 3 channels when needed
	cv::Mat blob;                   // NCHW input, reused
	cv::Mat last;                   // output of the last forward (kept alive)
	cv::Mat acc;                    // outputs of per-tile forwards, concatenated
};

static void set_err(char **err, const std::string &msg) {
	if (err == NULL) return;
	*err = (char *)malloc(msg.size() + 1);
	if (*err != NULL) memcpy(*err, msg.c_str(), msg.size() + 1);
}

static std::string what(const std::exception &e) {
	std::string s = e.what();
	// cv::Exception messages start with "OpenCV(4.6.0) /path/file.cpp:123: error: ..."
	// followed by a newline; keep them on one line.
	for (size_t i = 0; i < s.size(); i++) {
		if (s[i] == '\n' || s[i] == '\r') s[i] = ' ';
	}
	while (!s.empty() && s[s.size() - 1] == ' ') s.erase(s.size() - 1);
	return s;
}

static int report(const cv::Mat &m, const float **out, int *shape, int *ndims, char **err) {
	if (m.depth() != CV_32F) {
		set_err(err, "model output is not float32");
		return -1;
	}
	if (!m.isContinuous()) {
		set_err(err, "model output is not continuous");
		return -1;
	}
	int d = m.dims;
	if (d > 8) {
		set_err(err, "model output has more than 8 dimensions");
		return -1;
	}
	for (int i = 0; i < d; i++) shape[i] = m.size[i];
	*ndims = d;
	*out = (const float *)m.ptr<float>();
	return 0;
}

extern "C" {

CANet *ca_net_open(const char *path, char **err) {
	try {
		cv::dnn::Net net = cv::dnn::readNetFromONNX(path);
		if (net.empty()) {
			set_err(err, "OpenCV returned an empty network");
			return NULL;
		}
		net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
		net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
		CANet *n = new CANet();
		n->net = net;
		return n;
	} catch (const std::exception &e) {
		set_err(err, what(e));
	} catch (...) {
		set_err(err, "unknown C++ exception");
	}
	return NULL;
}

void ca_net_close(CANet *n) {
	try {
		delete n;
	} catch (...) {
	}
}

static int forward_into(CANet *n, const cv::Mat &blob, cv::Mat &dst, char **err) {
	n->net.setInput(blob);
	cv::Mat o = n->net.forward();
	if (o.empty()) {
		set_err(err, "model produced no output");
		return -1;
	}
	dst = o.isContinuous() ? o : o.clone();
	return 0;
}

int ca_net_run(CANet *n, void *frame, const CATile *tiles, int count, int w, int h,
	double scale, int swap_rb, int pad, int batched,
	const float **out, int *shape, int *ndims, char **err) {
	try {
		if (n == NULL || frame == NULL) {
			set_err(err, "nil net or frame");
			return -1;
		}
		if (count < 1 || w < 1 || h < 1) {
			set_err(err, "bad tile count or input size");
			return -1;
		}
		cv::Mat &src0 = *(cv::Mat *)frame;
		if (src0.empty()) {
			set_err(err, "empty frame");
			return -1;
		}
		if (src0.depth() != CV_8U) {
			set_err(err, "frame is not 8-bit");
			return -1;
		}
		const cv::Mat *src = &src0;
		switch (src0.channels()) {
		case 3:
			break;
		case 1:
			cv::cvtColor(src0, n->bgr, cv::COLOR_GRAY2BGR);
			src = &n->bgr;
			break;
		case 4:
			cv::cvtColor(src0, n->bgr, cv::COLOR_BGRA2BGR);
			src = &n->bgr;
			break;
		default:
			set_err(err, "frame must have 1, 3 or 4 channels");
			return -1;
		}
		if ((int)n->canvases.size() < count) n->canvases.resize(count);
		cv::Rect frameRect(0, 0, src->cols, src->rows);
		cv::Rect canvasRect(0, 0, w, h);
		for (int i = 0; i < count; i++) {
			const CATile &t = tiles[i];
			cv::Rect s(t.sx, t.sy, t.sw, t.sh), d(t.dx, t.dy, t.dw, t.dh);
			if (s.width < 1 || s.height < 1 || (s & frameRect) != s) {
				set_err(err, "tile source rectangle outside the frame");
				return -1;
			}
			if (d.width < 1 || d.height < 1 || (d & canvasRect) != d) {
				set_err(err, "tile destination rectangle outside the model input");
				return -1;
			}
			cv::Mat &c = n->canvases[i];
			c.create(h, w, CV_8UC3);
			if (d != canvasRect) c.setTo(cv::Scalar(pad, pad, pad));
			cv::Mat roi = c(d);
			if (s.size() == d.size()) {
				(*src)(s).copyTo(roi);
			} else {
				cv::resize((*src)(s), roi, d.size(), 0, 0, cv::INTER_LINEAR);
			}
		}
		std::vector<cv::Mat> imgs(n->canvases.begin(), n->canvases.begin() + count);
		cv::dnn::blobFromImages(imgs, n->blob, scale, cv::Size(), cv::Scalar(), swap_rb != 0, false, CV_32F);
		if (batched || count == 1) {
			if (forward_into(n, n->blob, n->last, err) != 0) return -1;
			if (n->last.dims < 2 || n->last.size[0] != count) {
				set_err(err, "model output batch does not match the input batch");
				return -1;
			}
			return report(n->last, out, shape, ndims, err);
		}
		int one[4] = {1, 3, h, w};
		size_t per = (size_t)3 * h * w;
		for (int i = 0; i < count; i++) {
			cv::Mat b(4, one, CV_32F, n->blob.ptr<float>() + per * i);
			if (forward_into(n, b, n->last, err) != 0) return -1;
			if (n->last.dims < 2 || n->last.size[0] != 1) {
				set_err(err, "model output batch is not 1");
				return -1;
			}
			if (i == 0) {
				std::vector<int> sz(n->last.size.p, n->last.size.p + n->last.dims);
				sz[0] = count;
				n->acc.create((int)sz.size(), sz.data(), CV_32F);
			}
			size_t each = n->last.total();
			if (each * count != n->acc.total()) {
				set_err(err, "model output size changed between tiles");
				return -1;
			}
			memcpy(n->acc.ptr<float>() + each * i, n->last.ptr<float>(), each * sizeof(float));
		}
		return report(n->acc, out, shape, ndims, err);
	} catch (const std::exception &e) {
		set_err(err, what(e));
	} catch (...) {
		set_err(err, "unknown C++ exception");
	}
	return -1;
}

int ca_net_forward_blob(CANet *n, const float *blob, int nb, int c, int h, int w,
	const float **out, int *shape, int *ndims, char **err) {
	try {
		if (n == NULL || blob == NULL || nb < 1 || c < 1 || h < 1 || w < 1) {
			set_err(err, "bad blob");
			return -1;
		}
		int sz[4] = {nb, c, h, w};
		cv::Mat b(4, sz, CV_32F, (void *)blob);
		if (forward_into(n, b, n->last, err) != 0) return -1;
		return report(n->last, out, shape, ndims, err);
	} catch (const std::exception &e) {
		set_err(err, what(e));
	} catch (...) {
		set_err(err, "unknown C++ exception");
	}
	return -1;
}

void ca_set_num_threads(int threads) {
	try {
		cv::setNumThreads(threads);
	} catch (...) {
	}
}

int ca_get_num_threads(void) {
	try {
		return cv::getNumThreads();
	} catch (...) {
	}
	return -1;
}

int ca_swap_log_level(int level) {
	try {
		return (int)cv::utils::logging::setLogLevel((cv::utils::logging::LogLevel)level);
	} catch (...) {
	}
	return -1;
}

}  // extern "C"
