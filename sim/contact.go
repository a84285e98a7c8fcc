package sim

import (
	"fmt"
	"image"
	"image/color"

	"gocv.io/x/gocv"
)

// SheetOptions configure ContactSheet.
type SheetOptions struct {
	Walks       []*Scenario  // scenarios to take walk frames from (3 frames each, spread over the walk)
	WalkFrames  int          // walk frames in all (default 6)
	Samples     int          // dataset samples (default 8)
	Seed        int64        // dataset seed
	Backgrounds *Backgrounds // optional, for dataset samples and photo facades
	Boxes       bool         // draw the truth boxes
}

// ContactSheet renders a grid of walk frames (3 per row, 16:9) above
// dataset samples (4 per row, square), with their ground-truth boxes, so a
// reader can see what the simulator draws. The result is 1280 px wide.
func ContactSheet(opt SheetOptions) (gocv.Mat, error) {
	if opt.WalkFrames == 0 {
		opt.WalkFrames = 6
	}
	if opt.Samples == 0 {
		opt.Samples = 8
	}
	const width = 1280
	tw, th := width/3, width/3*9/16
	ds := width / 4
	wRows := (opt.WalkFrames + 2) / 3
	sRows := (opt.Samples + 3) / 4
	sheet := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(30, 30, 30, 0), wRows*th+sRows*ds, width, gocv.MatTypeCV8UC3)
	put := func(img gocv.Mat, at image.Rectangle) {
		dst := sheet.Region(at)
		defer dst.Close()
		gocv.Resize(img, &dst, at.Size(), 0, 0, gocv.InterpolationArea)
	}
	green := color.RGBA{60, 255, 60, 255}
	// walk frames
	k := 0
	for wi, sc := range opt.Walks {
		wk, err := NewWalk(sc, opt.Backgrounds)
		if err != nil {
			sheet.Close()
			return gocv.Mat{}, err
		}
		per := opt.WalkFrames / len(opt.Walks)
		if wi == len(opt.Walks)-1 {
			per = opt.WalkFrames - k
		}
		r := NewRenderer(sc.Device.Width, sc.Device.Height, uint64(sc.Seed))
		for j := 0; j < per; j++ {
			fi := (j + 1) * wk.Frames / (per + 1)
			_, boxes := wk.RenderFrame(r, fi)
			if opt.Boxes {
				for _, b := range boxes {
					if b.Visible < 0.3 {
						continue
					}
					rc := image.Rect(b.Box[0]-3, b.Box[1]-3, b.Box[2]+3, b.Box[3]+3)
					gocv.Rectangle(&r.Frame, rc, green, 2)
					gocv.PutText(&r.Frame, b.Type, image.Pt(rc.Min.X, rc.Min.Y-4), gocv.FontHersheySimplex, 0.7, green, 2)
				}
			}
			gocv.PutText(&r.Frame, fmt.Sprintf("%s frame %d", sc.Name, fi), image.Pt(10, sc.Device.Height-14), gocv.FontHersheySimplex, 0.9, color.RGBA{255, 255, 255, 255}, 2)
			x, y := (k%3)*tw, (k/3)*th
			put(r.Frame, image.Rect(x, y, x+tw, y+th))
			k++
		}
		r.Close()
		wk.Close()
	}
	// dataset samples
	kit := newDatasetKit(DatasetOptions{Seed: opt.Seed, Backgrounds: opt.Backgrounds, ValFrac: 0, NegFrac: 0.3})
	defer kit.close()
	r := NewRenderer(640, 640, uint64(opt.Seed)+0xda7a)
	defer r.Close()
	for j := 0; j < opt.Samples; j++ {
		s := kit.renderSample(r, j)
		if opt.Boxes {
			for _, l := range s.labels {
				rc := l.Box.Inset(-2)
				gocv.Rectangle(&r.Frame, rc, green, 1)
				gocv.PutText(&r.Frame, CameraTypes[l.Class], image.Pt(rc.Min.X, rc.Min.Y-3), gocv.FontHersheySimplex, 0.45, green, 1)
			}
		}
		x, y := (j%4)*ds, wRows*th+(j/4)*ds
		put(r.Frame, image.Rect(x, y, x+ds, y+ds))
	}
	return sheet, nil
}
