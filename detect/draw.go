package detect

import (
	"fmt"
	"image"
	"image/color"

	"gocv.io/x/gocv"
)

// DrawBoxes draws detections on img (for debug and --draw outputs of test
// images only: camera frames never leave the process).
func DrawBoxes(img *gocv.Mat, dets []Detection) {
	colours := map[string]color.RGBA{
		TypeDome: {R: 255, G: 64, B: 64, A: 255}, TypeBullet: {R: 255, G: 200, B: 0, A: 255},
		TypePTZ: {R: 0, G: 200, B: 255, A: 255}, TypeALPR: {R: 200, G: 0, B: 255, A: 255},
	}
	for _, d := range dets {
		c, ok := colours[d.Type]
		if !ok {
			c = color.RGBA{R: 255, G: 255, B: 255, A: 255}
		}
		gocv.Rectangle(img, d.Box, c, 2)
		label := fmt.Sprintf("%s %.2f", d.Label, d.Score)
		pt := image.Pt(d.Box.Min.X, max(12, d.Box.Min.Y-4))
		gocv.PutText(img, label, pt, gocv.FontHersheySimplex, 0.45, color.RGBA{A: 255}, 3)
		gocv.PutText(img, label, pt, gocv.FontHersheySimplex, 0.45, c, 1)
	}
}
