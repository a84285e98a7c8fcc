package hw

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gocv.io/x/gocv"
)

// synthetic returns a test image whose top-left pixel encodes i.
func synthetic(i int) gocv.Mat {
	m := gocv.NewMatWithSize(120, 160, gocv.MatTypeCV8UC3)
	gocv.Rectangle(&m, image.Rect(0, 0, 160, 120), color.RGBA{uint8(20 * i), 80, 160, 0}, -1)
	return m
}

func TestFileSource(t *testing.T) {
	path := filepath.Join(t.TempDir(), "walk.avi")
	w, err := gocv.VideoWriterFile(path, "MJPG", 10, 160, 120, true)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		m := synthetic(i)
		if err := w.Write(m); err != nil {
			t.Fatal(err)
		}
		m.Close()
	}
	w.Close()
	start := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	c, err := OpenCamera("file:"+path, CameraOptions{Start: start})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Frames() != 5 || c.FPS() != 10 || c.Live() {
		t.Errorf("frames %d fps %v live %v; want 5, 10, false", c.Frames(), c.FPS(), c.Live())
	}
	for i := 0; i < 5; i++ {
		f, err := c.Read(context.Background())
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		want := start.Add(time.Duration(i) * 100 * time.Millisecond)
		if f.Seq != int64(i) || !f.Time.Equal(want) || f.Mat.Cols() != 160 || f.Mat.Rows() != 120 {
			t.Errorf("frame %d: seq %d time %v size %dx%d", i, f.Seq, f.Time, f.Mat.Cols(), f.Mat.Rows())
		}
		f.Close()
	}
	if _, err := c.Read(context.Background()); !errors.Is(err, io.EOF) {
		t.Errorf("after the last frame: %v, want io.EOF", err)
	}

	// Played like a camera: 5 frames at 10 fps take at least 0.4 s.
	rt, err := OpenCamera("file:"+path, CameraOptions{Realtime: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	t0 := time.Now()
	for i := 0; i < 5; i++ {
		f, err := rt.Read(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	if el := time.Since(t0); el < 400*time.Millisecond {
		t.Errorf("realtime playback of 5 frames at 10 fps took %v, want >= 400 ms", el)
	}
}

func TestDirSource(t *testing.T) {
	dir := t.TempDir()
	for i := 0; i < 3; i++ {
		m := synthetic(i + 1)
		gocv.IMWrite(filepath.Join(dir, fmt.Sprintf("f%03d.png", i)), m)
		m.Close()
	}
	c, err := OpenCamera("dir:"+dir, CameraOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := 0; i < 3; i++ {
		f, err := c.Read(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if got := f.Mat.GetVecbAt(0, 0)[2]; got != uint8(20*(i+1)) {
			t.Errorf("image %d read out of order: red %d", i, got)
		}
		f.Close()
	}
	if _, err := c.Read(context.Background()); !errors.Is(err, io.EOF) {
		t.Errorf("end of folder: %v", err)
	}
}

func TestGStreamerSource(t *testing.T) {
	w, h, err := Probe("gst:videotestsrc num-buffers=3 ! video/x-raw,width=320,height=240 ! videoconvert ! appsink")
	if err != nil {
		t.Fatalf("GStreamer source (needs gstreamer1.0-plugins-base, installed by make setup): %v", err)
	}
	if w != 320 || h != 240 {
		t.Errorf("frame size %dx%d, want 320x240", w, h)
	}
}

func TestSourceErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"v4l2:/dev/video-none", "no such file"},
		{"usb:0", "unknown kind"},
		{"/dev/video0", "want v4l2:"},
		{"file:/nonexistent.avi", "no such file"},
		{"dir:" + t.TempDir(), "no images"},
	} {
		_, err := OpenCamera(tc.src, CameraOptions{})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "camera source") {
			t.Errorf("OpenCamera(%q) = %v, want an error naming the source and %q", tc.src, err, tc.want)
		}
	}
}
