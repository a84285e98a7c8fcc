package eval

import (
	"math"
	"math/rand/v2"
	"sort"
)

// IntervalLevel is the coverage of the intervals Bootstrap computes.
const IntervalLevel = 0.95

// bootstrapSeed seeds Bootstrap's resampling, so that the same detections
// always give the same intervals.
const bootstrapSeed = 1

// imageTally is what one image added to a DetectEval, for resampling:
// its objects per class and size bucket, its detections at the threshold
// and the objects they found (class-aware) per bucket.
type imageTally struct {
	objects    [][3]int
	detections int
	found      [3]int
}

// Interval is the low and high end of a metric's interval, written to
// JSON as [low, high] (null ends where the metric had no denominator).
type Interval [2]Metric

// Contains reports whether v lies in the interval, ends included.
func (iv Interval) Contains(v float64) bool {
	return v >= float64(iv[0]) && v <= float64(iv[1])
}

// Intervals are percentile bootstrap intervals of a DetectResult's main
// figures: the images are drawn again with replacement, Resamples times,
// and each figure recomputed on each draw. They say how much a figure owes
// to which images happened to be in the set, so that two models (or two
// trainings of one) can be told apart from the luck of the set: a
// difference inside them is noise. They do not include the noise of
// training itself.
type Intervals struct {
	// Resamples is the number of draws; Level the coverage (0.95).
	Resamples int     `json:"resamples"`
	Level     float64 `json:"level"`
	// AP50 (mean of classes), AgnosticAP50, Precision and Recall (at the
	// threshold, class-aware), as in DetectResult.
	AP50         Interval `json:"ap50"`
	AgnosticAP50 Interval `json:"agnostic_ap50"`
	Precision    Interval `json:"precision"`
	Recall       Interval `json:"recall"`
	// SizeRecall holds the recall at the threshold per size bucket, in
	// DetectResult.Sizes' order.
	SizeRecall []Interval `json:"size_recall"`
}

// Bootstrap returns intervals at IntervalLevel of the figures of Result
// from resamples draws of the images added so far (1000 is usual; each
// draw costs one pass over the detections). It returns nil when
// resamples < 2 or no image was added. The draws come from a fixed seed:
// the same detections give the same intervals.
func (e *DetectEval) Bootstrap(resamples int) *Intervals {
	n := len(e.tallies)
	if resamples < 2 || n == 0 {
		return nil
	}
	byScore := func(recs []scored) []scored {
		r := append([]scored(nil), recs...)
		sortByScore(r)
		return r
	}
	perClass := make([][]scored, len(e.names))
	for c := range e.names {
		perClass[c] = byScore(e.perClass[c])
	}
	agnostic := byScore(e.agnostic)

	rng := rand.New(rand.NewPCG(bootstrapSeed, uint64(n)))
	w := make([]int, n)
	var ap, agn, prec, rec []float64
	size := make([][]float64, 3)
	var buf apBuffers
	for range resamples {
		clear(w)
		for range n {
			w[rng.IntN(n)]++
		}
		objs := make([][3]int, len(e.names))
		var dets int
		var bucketFound [3]int
		for i, t := range e.tallies {
			if w[i] == 0 {
				continue
			}
			for c := range t.objects {
				for b := range 3 {
					objs[c][b] += w[i] * t.objects[c][b]
				}
			}
			dets += w[i] * t.detections
			for b := range 3 {
				bucketFound[b] += w[i] * t.found[b]
			}
		}
		found := bucketFound[0] + bucketFound[1] + bucketFound[2]
		var sum float64
		var classes, total int
		var bucketObj [3]int
		for c := range e.names {
			nc := objs[c][0] + objs[c][1] + objs[c][2]
			total += nc
			for b := range 3 {
				bucketObj[b] += objs[c][b]
			}
			if nc > 0 {
				sum += buf.weightedAP(perClass[c], w, nc)
				classes++
			}
		}
		if classes > 0 {
			ap = append(ap, sum/float64(classes))
		}
		if total > 0 {
			agn = append(agn, buf.weightedAP(agnostic, w, total))
			rec = append(rec, float64(found)/float64(total))
		}
		if dets > 0 {
			prec = append(prec, float64(found)/float64(dets))
		}
		for b := range 3 {
			if bucketObj[b] > 0 {
				size[b] = append(size[b], float64(bucketFound[b])/float64(bucketObj[b]))
			}
		}
	}
	iv := &Intervals{
		Resamples: resamples, Level: IntervalLevel,
		AP50: percentiles(ap), AgnosticAP50: percentiles(agn),
		Precision: percentiles(prec), Recall: percentiles(rec),
	}
	for b := range 3 {
		iv.SizeRecall = append(iv.SizeRecall, percentiles(size[b]))
	}
	return iv
}

// apBuffers are the precision and recall curves weightedAP reuses from
// one draw to the next.
type apBuffers struct{ prec, rec []float64 }

// weightedAP is the area under the precision envelope (averagePrecision)
// of records sorted by score (highest first) where each record counts
// w[its image] times (w nil: once) and nTruth is the weighted number of
// objects (> 0). A record counted k times is k records of the same score
// in a row, which move the envelope exactly as one step of k does, so
// with every weight 1 it is the plain average precision.
func (buf *apBuffers) weightedAP(sorted []scored, w []int, nTruth int) float64 {
	prec := append(buf.prec[:0], 1)
	rec := append(buf.rec[:0], 0)
	tp, fp := 0, 0
	for _, s := range sorted {
		k := 1
		if w != nil {
			k = w[s.image]
		}
		if k == 0 {
			continue
		}
		if s.tp {
			tp += k
		} else {
			fp += k
		}
		prec = append(prec, float64(tp)/float64(tp+fp))
		rec = append(rec, float64(tp)/float64(nTruth))
	}
	prec = append(prec, 0)
	rec = append(rec, rec[len(rec)-1])
	for i := len(prec) - 2; i >= 0; i-- {
		prec[i] = math.Max(prec[i], prec[i+1])
	}
	ap := 0.0
	for i := 1; i < len(rec); i++ {
		ap += (rec[i] - rec[i-1]) * prec[i]
	}
	buf.prec, buf.rec = prec, rec
	return ap
}

// percentiles returns the central IntervalLevel interval of the values
// (linear interpolation between order statistics); NaN ends when there
// are no values.
func percentiles(v []float64) Interval {
	if len(v) == 0 {
		return Interval{Metric(math.NaN()), Metric(math.NaN())}
	}
	sort.Float64s(v)
	q := func(p float64) Metric {
		x := p * float64(len(v)-1)
		i := int(x)
		if i >= len(v)-1 {
			return Metric(v[len(v)-1])
		}
		return Metric(v[i] + (x-float64(i))*(v[i+1]-v[i]))
	}
	tail := (1 - IntervalLevel) / 2
	return Interval{q(tail), q(1 - tail)}
}
