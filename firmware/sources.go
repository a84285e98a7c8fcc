package firmware

import (
	"context"
	"io"
	"time"

	"github.com/camaudit/camaudit/gnss"
)

// Frame is one camera frame. The firmware never looks at the pixels: Image
// is whatever the camera and the detector agree on (a gocv.Mat in the
// device binary), released with Close once the detector is done. Frames
// live only in memory.
type Frame struct {
	Seq           int64     // 0, 1, 2, ... in capture order
	Time          time.Time // local capture time (see Clock)
	Width, Height int
	Image         io.Closer // may be nil for detectors that need no pixels
}

// Close releases the frame's pixels.
func (f Frame) Close() {
	if f.Image != nil {
		_ = f.Image.Close()
	}
}

// Camera delivers frames; Read returns io.EOF at the end of a recording.
type Camera interface {
	Read(ctx context.Context) (Frame, error)
}

// Detector finds surveillance cameras in a frame.
type Detector interface {
	Detect(f Frame) ([]Detection, error)
}

// GNSS delivers fixes, one per receiver epoch.
type GNSS interface {
	Next(ctx context.Context) (gnss.Fix, error)
}
