package eval

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// syntheticEval adds n images of a detector that finds each of two or
// three objects per image with probability pFind (a box at a score drawn
// above or below the threshold) and adds a false detection with
// probability pFalse, from a fixed seed.
func syntheticEval(t testing.TB, n int, pFind, pFalse float64, seed uint64) *DetectEval {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	ev := NewDetectEval([]string{"dome", "bullet"}, 0.5)
	for i := range n {
		var truth []Truth
		var preds []Prediction
		for k := range 2 + i%2 {
			side := []float64{10, 20, 40}[(i+k)%3]
			x := float64(100 * k)
			b := box(x, 0, x+side, side)
			c := (i + k) % 2
			truth = append(truth, Truth{Class: c, Box: b})
			if rng.Float64() < pFind {
				preds = append(preds, Prediction{Class: c, Score: 0.3 + 0.7*rng.Float64(), Box: b})
			}
		}
		if rng.Float64() < pFalse {
			preds = append(preds, Prediction{Class: rng.IntN(2), Score: rng.Float64(), Box: box(500, 500, 520, 520)})
		}
		if err := ev.Add(truth, preds); err != nil {
			t.Fatal(err)
		}
	}
	return ev
}

func TestWeightedAPEqualsAveragePrecision(t *testing.T) {
	for _, c := range []struct {
		name          string
		pFind, pFalse float64
	}{
		{"good detector", 0.9, 0.1},
		{"poor detector", 0.4, 0.8},
		{"perfect", 1, 0},
	} {
		ev := syntheticEval(t, 200, c.pFind, c.pFalse, 3)
		ones := make([]int, ev.images)
		for i := range ones {
			ones[i] = 1
		}
		var buf apBuffers
		for cl := range ev.names {
			n := ev.objects[cl][0] + ev.objects[cl][1] + ev.objects[cl][2]
			want := float64(averagePrecision(ev.perClass[cl], n))
			sorted := append([]scored(nil), ev.perClass[cl]...)
			sortByScore(sorted)
			if got := buf.weightedAP(sorted, ones, n); math.Abs(got-want) > 1e-12 {
				t.Errorf("%s, class %d: weightedAP with weights 1 = %v, averagePrecision %v", c.name, cl, got, want)
			}
		}
		// Weight 2 on every image is the set twice: the same AP.
		twos := make([]int, ev.images)
		for i := range twos {
			twos[i] = 2
		}
		n := ev.objectsAny[0] + ev.objectsAny[1] + ev.objectsAny[2]
		sorted := append([]scored(nil), ev.agnostic...)
		sortByScore(sorted)
		if got, want := buf.weightedAP(sorted, twos, 2*n), float64(averagePrecision(ev.agnostic, n)); math.Abs(got-want) > 1e-12 {
			t.Errorf("%s: weightedAP of the set counted twice = %v, want %v", c.name, got, want)
		}
	}
}

func TestBootstrap(t *testing.T) {
	small := syntheticEval(t, 150, 0.7, 0.5, 1)
	large := syntheticEval(t, 2400, 0.7, 0.5, 1)
	for _, c := range []struct {
		name string
		ev   *DetectEval
	}{{"150 images", small}, {"2400 images", large}} {
		res := c.ev.Result()
		iv := c.ev.Bootstrap(500)
		if iv == nil || iv.Resamples != 500 || iv.Level != 0.95 {
			t.Fatalf("%s: Bootstrap(500) = %+v", c.name, iv)
		}
		for _, m := range []struct {
			name  string
			point Metric
			iv    Interval
		}{
			{"ap50", res.AP50, iv.AP50}, {"agnostic_ap50", res.AgnosticAP50, iv.AgnosticAP50},
			{"precision", res.Precision, iv.Precision}, {"recall", res.Recall, iv.Recall},
			{"recall <16", res.Sizes[0].Recall, iv.SizeRecall[0]}, {"recall 32+", res.Sizes[2].Recall, iv.SizeRecall[2]},
		} {
			lo, hi := float64(m.iv[0]), float64(m.iv[1])
			if !(lo < hi) || !m.iv.Contains(float64(m.point)) {
				t.Errorf("%s: %s %v not inside a proper interval %v", c.name, m.name, m.point, m.iv)
			}
		}
		again := c.ev.Bootstrap(500)
		if again.AP50 != iv.AP50 || again.SizeRecall[1] != iv.SizeRecall[1] {
			t.Errorf("%s: a second Bootstrap gave %v, the first %v: the draws must be reproducible", c.name, again.AP50, iv.AP50)
		}
	}
	// Sixteen times the images: intervals about a quarter as wide.
	ws := float64(small.Bootstrap(500).AP50[1] - small.Bootstrap(500).AP50[0])
	wl := float64(large.Bootstrap(500).AP50[1] - large.Bootstrap(500).AP50[0])
	if ratio := wl / ws; ratio < 0.15 || ratio > 0.4 {
		t.Errorf("AP50 interval width %.4f at 2400 images, %.4f at 150: ratio %.2f, want about 0.25", wl, ws, ratio)
	}

	perfect := syntheticEval(t, 100, 1, 0, 2)
	iv := perfect.Bootstrap(200)
	// Every box right (some under the threshold): AP50 and precision are
	// 1 on every draw.
	for _, v := range []Interval{iv.AP50, iv.AgnosticAP50, iv.Precision} {
		if v != (Interval{1, 1}) {
			t.Errorf("detector without false boxes: interval %v, want [1, 1]", v)
		}
	}
	if NewDetectEval([]string{"dome"}, 0.5).Bootstrap(1000) != nil || perfect.Bootstrap(1) != nil {
		t.Error("Bootstrap with no images or one draw must be nil")
	}
}

func TestIntervalsJSON(t *testing.T) {
	ev := syntheticEval(t, 50, 0.8, 0.2, 4)
	res := ev.Result()
	if b, _ := json.Marshal(res); strings.Contains(string(b), "intervals") {
		t.Errorf("a result without intervals writes them: %s", b)
	}
	res.Intervals = ev.Bootstrap(100)
	res.Intervals.SizeRecall[0] = Interval{Metric(math.NaN()), Metric(math.NaN())}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Intervals struct {
			Resamples  int          `json:"resamples"`
			AP50       []float64    `json:"ap50"`
			SizeRecall [][]*float64 `json:"size_recall"`
		} `json:"intervals"`
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Intervals.Resamples != 100 || len(back.Intervals.AP50) != 2 || back.Intervals.AP50[0] > back.Intervals.AP50[1] {
		t.Errorf("intervals in JSON: %+v", back.Intervals)
	}
	if s := back.Intervals.SizeRecall; len(s) != 3 || s[0][0] != nil || s[0][1] != nil || s[1][0] == nil {
		t.Errorf("size_recall in JSON: want null ends for NaN, numbers else: %s", b)
	}
}

// BenchmarkBootstrap measures 1000 draws on a set the size of make model's
// training set (12000 images, about 30000 detections): the cost
// `camaudit eval detect` adds for its intervals.
func BenchmarkBootstrap(b *testing.B) {
	ev := syntheticEval(b, 12000, 0.7, 0.5, 9)
	b.ResetTimer()
	for range b.N {
		if ev.Bootstrap(1000) == nil {
			b.Fatal("no intervals")
		}
	}
}
