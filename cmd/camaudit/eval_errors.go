package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/camaudit/camaudit/eval"
)

// errorLog writes "camaudit eval detect --errors FILE": one JSON object a
// line for each object missed and each false detection at the threshold,
// so that a developer can find the images behind the error counts.
type errorLog struct {
	path  string
	f     *os.File
	w     *bufio.Writer
	enc   *json.Encoder
	names []string
}

// errorRecord is one line of the errors file. Boxes are [x1, y1, x2, y2]
// in image pixels.
type errorRecord struct {
	Image  string     `json:"image"`
	Kind   string     `json:"kind"`   // "missed" or "false"
	Reason string     `json:"reason"` // eval's Miss* or False* constants
	Class  string     `json:"class"`
	Box    [4]float64 `json:"box"`
	SizePx float64    `json:"size_px"` // longest side
	Score  float64    `json:"score,omitempty"`
	// The detection that explains a miss, or the object a false
	// detection overlaps.
	OtherClass string      `json:"other_class,omitempty"`
	OtherBox   *[4]float64 `json:"other_box,omitempty"`
	IoU        float64     `json:"iou,omitempty"`
}

// createErrorLog creates (or truncates) the errors file.
func createErrorLog(path string, names []string) (*errorLog, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("creating the errors file: %w", err)
	}
	w := bufio.NewWriter(f)
	return &errorLog{path: path, f: f, w: w, enc: json.NewEncoder(w), names: names}, nil
}

// name is a class id's name ("" for -1 or out of range).
func (l *errorLog) name(c int) string {
	if c < 0 || c >= len(l.names) {
		return ""
	}
	return l.names[c]
}

// write appends one image's errors; a nil log writes nothing.
func (l *errorLog) write(image string, errs []eval.Error) error {
	if l == nil {
		return nil
	}
	for _, e := range errs {
		rec := errorRecord{Image: image, Kind: "false", Reason: e.Reason, Class: l.name(e.Class),
			Box: [4]float64{e.Box.X1, e.Box.Y1, e.Box.X2, e.Box.Y2}, SizePx: e.Box.Longest(), Score: e.Score}
		if e.Missed {
			rec.Kind = "missed"
		}
		if e.OtherIoU > 0 {
			rec.OtherClass = l.name(e.OtherClass)
			rec.OtherBox = &[4]float64{e.OtherBox.X1, e.OtherBox.Y1, e.OtherBox.X2, e.OtherBox.Y2}
			rec.IoU = e.OtherIoU
		}
		if err := l.enc.Encode(rec); err != nil {
			return fmt.Errorf("writing %s: %w", l.path, err)
		}
	}
	return nil
}

// Close flushes and closes the file; it may be called more than once, and
// on a nil log.
func (l *errorLog) Close() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.w.Flush()
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	if err != nil {
		return fmt.Errorf("writing %s: %w", l.path, err)
	}
	return nil
}

// printErrorCounts writes the reasons for misses and false detections as a
// table with a column per size bucket.
func printErrorCounts(w io.Writer, missed, falses []eval.ErrorCount) error {
	fmt.Fprintln(w, "\nat the threshold, per size (px)")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\tall\t<16\t16-32\t32+\t")
	rows := func(title string, cs []eval.ErrorCount) {
		fmt.Fprintf(tw, "%s\t\t\t\t\t\n", title)
		for _, c := range cs {
			fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%d\t\n", c.Reason, c.Count, c.BySize[0], c.BySize[1], c.BySize[2])
		}
	}
	rows("missed objects", missed)
	rows("false detections", falses)
	return tw.Flush()
}
