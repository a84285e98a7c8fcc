package firmware

import (
	"math"
	"math/rand/v2"
	"testing"
)

// walkTowards returns the bearings and box widths of a walker going north
// from (0, 0) to (0, walkM) in n steps towards a camera at cam whose real
// width is widthM, seen by a camera of focal length focal pixels, with
// Gaussian bearing noise sigmaDeg and width noise pxSigma (seeded).
func walkTowards(cam pointF, walkM float64, n int, widthM, focal, sigmaDeg, pxSigma float64, seed uint64) ([]Bearing, []float64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	bs := make([]Bearing, n)
	ws := make([]float64, n)
	for i := range bs {
		y := walkM * float64(i) / float64(n-1)
		dx, dy := cam.X, cam.Y-y
		az := math.Atan2(dx, dy)*180/math.Pi + rng.NormFloat64()*sigmaDeg
		bs[i] = Bearing{X: 0, Y: y, AzDeg: az, SigmaDeg: sigmaDeg, PosSigma: 0.5}
		ws[i] = focal*widthM/math.Hypot(dx, dy) + rng.NormFloat64()*pxSigma
	}
	return bs, ws
}

func TestApproachLocatesCameraWalkedTowards(t *testing.T) {
	const focal, size = 1000.0, 0.15
	tests := []struct {
		name   string
		cam    pointF
		widthM float64 // the camera's real width; the locator knows only size
		walkM  float64
		want   bool
	}{
		{"straight ahead, wider than typical", pointF{1.5, 45}, 0.2, 35, true},
		{"straight ahead, narrower than typical", pointF{-1, 40}, 0.11, 28, true},
		{"ahead, walked past to 8 m", pointF{2, 38}, 0.15, 30, true},
		{"far ahead, boxes barely grow", pointF{1, 200}, 0.15, 30, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bs, ws := walkTowards(tc.cam, tc.walkM, 80, tc.widthM, focal, 0.3, 0.7, 7)
			// The size prior as Walk.Locate sets it: one camera's typical
			// width over each box, worth one prior in all.
			withPrior := append([]Bearing(nil), bs...)
			for i, wd := range ws {
				r := focal * size / wd
				withPrior[i].RangeM, withPrior[i].RangeSigma = r, (sizePriorSigma*r+0.5)*math.Sqrt(float64(len(ws)))
			}
			plain, perr := Intersect(withPrior, 1, 8)
			est, ok := approach(withPrior, ws, size, focal, 1, 8)
			if ok != tc.want {
				t.Fatalf("approach ok = %v, want %v (%+v)", ok, tc.want, est)
			}
			if !ok {
				return
			}
			miss := math.Hypot(est.X-tc.cam.X, est.Y-tc.cam.Y)
			if miss > 3 {
				t.Errorf("placed at (%.1f, %.1f), %.1f m from the camera at (%.1f, %.1f)", est.X, est.Y, miss, tc.cam.X, tc.cam.Y)
			}
			if miss > 3*est.ErrM {
				t.Errorf("error estimate %.2f m for a %.2f m miss: not honest", est.ErrM, miss)
			}
			if perr == nil && est.ErrM >= plain.ErrM {
				t.Errorf("approach error %.2f m, bearings and size prior alone %.2f m: the growth should say more", est.ErrM, plain.ErrM)
			}
			t.Logf("approach: %.1f m off, ErrM %.2f; bearings with the size prior: ErrM %.2f (%v)", miss, est.ErrM, plain.ErrM, perr)
		})
	}
}

func TestApproachNeedsBoxes(t *testing.T) {
	bs, ws := walkTowards(pointF{1, 40}, 30, 80, 0.15, 1000, 0.3, 0.7, 3)
	if _, ok := approach(bs[:approachMinBoxes-1], ws[:approachMinBoxes-1], 0.15, 1000, 1, 8); ok {
		t.Error("approach placed a camera from fewer boxes than approachMinBoxes")
	}
	clipped := make([]float64, len(ws)) // every box touched the frame edge
	if _, ok := approach(bs, clipped, 0.15, 1000, 1, 8); ok {
		t.Error("approach placed a camera without a usable box")
	}
}
