package hw

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"gocv.io/x/gocv"
)

// Frame is one captured image, BGR, with its capture time and sequence
// number. Close releases the pixels; frames are never written anywhere.
type Frame struct {
	Seq  int64
	Time time.Time
	Mat  gocv.Mat
}

// Close releases the frame's pixels.
func (f *Frame) Close() error { return f.Mat.Close() }

// CameraOptions tunes how a source is opened.
type CameraOptions struct {
	// Start, when set, stamps frame i of a recording (file:, dir:) at
	// Start + i/FPS instead of the time it was read: a replay in step with
	// a recorded NMEA log.
	Start time.Time
	// FPS is the frame rate for such stamps (0: the video's own rate,
	// or 10 for an image folder).
	FPS float64
	// Width and Height request a capture size from a v4l2 device (0: its default).
	Width, Height int
	// Realtime plays a recording (file:, dir:) at its frame rate, like a
	// live camera, instead of as fast as it decodes.
	Realtime bool
}

// Camera reads frames from one source: v4l2:/dev/videoN (V4L2),
// gst:<pipeline> (GStreamer, e.g. libcamerasrc on a Pi), file:<video> or
// dir:<images> (sorted by name).
type Camera struct {
	source string
	kind   string
	cap    *gocv.VideoCapture
	files  []string
	opt    CameraOptions
	seq    int64
	frames int
	t0     time.Time // wall time of frame 0 for Realtime playback
}

// OpenCamera opens a camera source. Errors name the source and say what is wrong.
func OpenCamera(source string, opt CameraOptions) (*Camera, error) {
	kind, arg, ok := strings.Cut(source, ":")
	if !ok || arg == "" {
		return nil, fmt.Errorf("camera source %q: want v4l2:/dev/videoN, gst:<pipeline>, file:<video> or dir:<images>", source)
	}
	c := &Camera{source: source, kind: kind, opt: opt}
	var err error
	switch kind {
	case "v4l2":
		if _, serr := os.Stat(arg); serr != nil {
			return nil, fmt.Errorf("camera source %q: %w (is the camera connected and enabled?)", source, serr)
		}
		c.cap, err = gocv.OpenVideoCaptureWithAPI(arg, gocv.VideoCaptureV4L2)
		if err == nil && opt.Width > 0 && opt.Height > 0 {
			c.cap.Set(gocv.VideoCaptureFrameWidth, float64(opt.Width))
			c.cap.Set(gocv.VideoCaptureFrameHeight, float64(opt.Height))
		}
	case "gst":
		c.cap, err = gocv.OpenVideoCaptureWithAPI(arg, gocv.VideoCaptureGstreamer)
	case "file":
		if _, serr := os.Stat(arg); serr != nil {
			return nil, fmt.Errorf("camera source %q: %w", source, serr)
		}
		c.cap, err = gocv.OpenVideoCaptureWithAPI(arg, gocv.VideoCaptureAny)
		if err == nil && c.opt.FPS <= 0 {
			c.opt.FPS = c.cap.Get(gocv.VideoCaptureFPS)
		}
		if err == nil {
			c.frames = int(c.cap.Get(gocv.VideoCaptureFrameCount))
		}
	case "dir":
		entries, rerr := os.ReadDir(arg)
		if rerr != nil {
			return nil, fmt.Errorf("camera source %q: %w", source, rerr)
		}
		for _, e := range entries {
			switch strings.ToLower(filepath.Ext(e.Name())) {
			case ".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".tif", ".tiff":
				c.files = append(c.files, filepath.Join(arg, e.Name()))
			}
		}
		sort.Strings(c.files)
		if len(c.files) == 0 {
			return nil, fmt.Errorf("camera source %q: no images (.jpg, .png, ...) in the folder", source)
		}
		if c.opt.FPS <= 0 {
			c.opt.FPS = 10
		}
		c.frames = len(c.files)
		return c, nil
	default:
		return nil, fmt.Errorf("camera source %q: unknown kind %q (want v4l2, gst, file or dir)", source, kind)
	}
	if err != nil {
		return nil, fmt.Errorf("camera source %q: %w", source, err)
	}
	if !c.cap.IsOpened() {
		c.cap.Close()
		return nil, fmt.Errorf("camera source %q: OpenCV could not open it", source)
	}
	return c, nil
}

// Frames returns the number of frames of a recording (0 when unknown or live).
func (c *Camera) Frames() int { return c.frames }

// FPS returns the frame rate used for recording timestamps (0 for live sources).
func (c *Camera) FPS() float64 { return c.opt.FPS }

// Live reports whether the source is a live camera (timestamps from the clock).
func (c *Camera) Live() bool { return c.kind == "v4l2" || c.kind == "gst" }

// Read returns the next frame; io.EOF at the end of a recording.
func (c *Camera) Read(ctx context.Context) (Frame, error) {
	if err := ctx.Err(); err != nil {
		return Frame{}, err
	}
	var m gocv.Mat
	if c.kind == "dir" {
		if int(c.seq) >= len(c.files) {
			return Frame{}, io.EOF
		}
		m = gocv.IMRead(c.files[c.seq], gocv.IMReadColor)
		if m.Empty() {
			m.Close()
			return Frame{}, fmt.Errorf("camera source %q: cannot read image %s", c.source, c.files[c.seq])
		}
	} else {
		m = gocv.NewMat()
		if !c.cap.Read(&m) || m.Empty() {
			m.Close()
			if c.Live() {
				return Frame{}, fmt.Errorf("camera source %q: no frame (camera disconnected?)", c.source)
			}
			return Frame{}, io.EOF
		}
	}
	if c.opt.Realtime && !c.Live() && c.opt.FPS > 0 {
		if c.t0.IsZero() {
			c.t0 = time.Now()
		}
		due := c.t0.Add(time.Duration(float64(c.seq) / c.opt.FPS * float64(time.Second)))
		if d := time.Until(due); d > 0 {
			select {
			case <-ctx.Done():
				m.Close()
				return Frame{}, ctx.Err()
			case <-time.After(d):
			}
		}
	}
	now := time.Now()
	if !c.Live() && !c.opt.Start.IsZero() && c.opt.FPS > 0 {
		now = c.opt.Start.Add(time.Duration(float64(c.seq) / c.opt.FPS * float64(time.Second)))
	}
	f := Frame{Seq: c.seq, Time: now, Mat: m}
	c.seq++
	return f, nil
}

// Close releases the source.
func (c *Camera) Close() error {
	if c.cap != nil {
		return c.cap.Close()
	}
	return nil
}

// ErrNoFrame is returned by Probe when a source opened but gave no frame.
var ErrNoFrame = errors.New("no frame")

// Probe opens a source, reads one frame and reports its size: what
// selftest needs to say whether the camera works.
func Probe(source string) (width, height int, err error) {
	c, err := OpenCamera(source, CameraOptions{})
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	f, err := c.Read(context.Background())
	if err != nil {
		return 0, 0, fmt.Errorf("camera source %q: %w: %v", source, ErrNoFrame, err)
	}
	defer f.Close()
	return f.Mat.Cols(), f.Mat.Rows(), nil
}
