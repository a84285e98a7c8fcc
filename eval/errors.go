package eval

// Error analysis: why each ground-truth object that was not found at the
// threshold was missed, and what each false detection at the threshold is.
// AP50 and recall say how far a model is from its targets; these reasons
// say where the gap is (types, boxes, scores or nothing at all), which is
// what decides whether more data, more epochs or another architecture
// would close it.

// LooseIoU is the overlap from which a detection counts as a loose box on
// an object (a localisation error) rather than as being elsewhere.
const LooseIoU = 0.1

// Reasons a ground-truth object was missed at the threshold, in the order
// they are tested: the first that applies is the one given.
const (
	// MissMerged: a detection of its class at the threshold boxes it, but
	// was matched to another object (one box for two cameras).
	MissMerged = "merged"
	// MissWrongType: a detection of another class at the threshold boxes it
	// (IoU >= MatchIoU): the camera was found, its type is wrong.
	MissWrongType = "wrong_type"
	// MissLooseBox: a detection at the threshold overlaps it with an IoU
	// in [LooseIoU, MatchIoU): found, but the box is off.
	MissLooseBox = "loose_box"
	// MissLowScore: a detection under the threshold (down to the
	// collection floor) boxes it: a lower threshold would find it.
	MissLowScore = "low_score"
	// MissNotFound: nothing overlaps it: the model does not see it.
	MissNotFound = "not_found"
)

// Kinds of false detection at the threshold, in the order they are tested.
const (
	// FalseDuplicate: it boxes an object of its class that a higher-scoring
	// detection already matched (tile merging or NMS left two boxes).
	FalseDuplicate = "duplicate"
	// FalseWrongType: it boxes an object of another class.
	FalseWrongType = "wrong_type"
	// FalseLooseBox: it overlaps an object with an IoU in [LooseIoU, MatchIoU).
	FalseLooseBox = "loose_box"
	// FalseBackground: it overlaps no object: a distractor or clutter taken
	// for a camera.
	FalseBackground = "background"
)

// missReasons and falseKinds list the reasons in the order results give them.
var (
	missReasons = [...]string{MissMerged, MissWrongType, MissLooseBox, MissLowScore, MissNotFound}
	falseKinds  = [...]string{FalseDuplicate, FalseWrongType, FalseLooseBox, FalseBackground}
)

// Error is one object missed, or one false detection, at the threshold.
type Error struct {
	// Missed is true for a missed object, false for a false detection.
	Missed bool
	// Reason is one of the Miss* or False* constants.
	Reason string
	// Class is the object's class (missed) or the detection's (false; -1
	// for a label outside the data set's classes).
	Class int
	// Box is the object's box (missed) or the detection's (false).
	Box BoxF
	// Other is what the reason refers to: the detection that explains a
	// miss (none for not_found), or the object a false detection overlaps
	// (none for background). OtherClass is -1 and OtherIoU 0 when none.
	OtherClass int
	OtherBox   BoxF
	OtherIoU   float64
	// Score is the false detection's score, or the explaining detection's.
	Score float64
}

// ErrorCount counts the errors of one reason, in all and per size bucket
// ("<16", "16-32", "32+" px, as DetectResult.Sizes): a missed object's own
// size, a false detection's own size.
type ErrorCount struct {
	Reason string `json:"reason"`
	Count  int    `json:"count"`
	BySize [3]int `json:"by_size"`
}

// explain sorts out the errors of one image. classMatch is the class-aware
// matching of every prediction (index of its truth or -1), thr the
// threshold.
func explain(truth []Truth, preds []Prediction, classMatch []int, thr float64) []Error {
	found := make([]bool, len(truth))
	for i, j := range classMatch {
		if j >= 0 && preds[i].Score >= thr {
			found[j] = true
		}
	}
	var out []Error
	for j, t := range truth {
		if found[j] {
			continue
		}
		e := Error{Missed: true, Class: t.Class, Box: t.Box, OtherClass: -1, Reason: MissNotFound}
		// best returns the highest-IoU prediction passing keep.
		best := func(keep func(p Prediction, iou float64) bool) (int, float64) {
			bi, biou := -1, 0.0
			for i, p := range preds {
				if iou := p.Box.IoU(t.Box); keep(p, iou) && iou > biou {
					bi, biou = i, iou
				}
			}
			return bi, biou
		}
		above := func(p Prediction) bool { return p.Score >= thr }
		tests := []struct {
			reason string
			keep   func(p Prediction, iou float64) bool
		}{
			{MissMerged, func(p Prediction, iou float64) bool { return above(p) && p.Class == t.Class && iou >= MatchIoU }},
			{MissWrongType, func(p Prediction, iou float64) bool { return above(p) && p.Class != t.Class && iou >= MatchIoU }},
			{MissLooseBox, func(p Prediction, iou float64) bool { return above(p) && iou >= LooseIoU }},
			{MissLowScore, func(p Prediction, iou float64) bool { return !above(p) && iou >= MatchIoU }},
		}
		for _, tc := range tests {
			if i, iou := best(tc.keep); i >= 0 {
				p := preds[i]
				e.Reason, e.OtherClass, e.OtherBox, e.OtherIoU, e.Score = tc.reason, p.Class, p.Box, iou, p.Score
				break
			}
		}
		out = append(out, e)
	}
	for i, p := range preds {
		if p.Score < thr || classMatch[i] >= 0 {
			continue
		}
		e := Error{Class: p.Class, Box: p.Box, Score: p.Score, OtherClass: -1, Reason: FalseBackground}
		bj, biou, bReason := -1, 0.0, ""
		for j, t := range truth {
			iou := p.Box.IoU(t.Box)
			var r string
			switch {
			case iou >= MatchIoU && t.Class == p.Class:
				r = FalseDuplicate
			case iou >= MatchIoU:
				r = FalseWrongType
			case iou >= LooseIoU:
				r = FalseLooseBox
			default:
				continue
			}
			if bj < 0 || rank(falseKinds[:], r) < rank(falseKinds[:], bReason) || (r == bReason && iou > biou) {
				bj, biou, bReason = j, iou, r
			}
		}
		if bj >= 0 {
			e.Reason, e.OtherClass, e.OtherBox, e.OtherIoU = bReason, truth[bj].Class, truth[bj].Box, biou
		}
		out = append(out, e)
	}
	return out
}

// rank is the position of r in order (len(order) when absent).
func rank(order []string, r string) int {
	for i, o := range order {
		if o == r {
			return i
		}
	}
	return len(order)
}

// errorTally counts errors per reason (in the order of missReasons and
// falseKinds) and size bucket.
type errorTally struct {
	missed   [len(missReasons)][3]int
	falseDet [len(falseKinds)][3]int
}

// add counts one image's errors.
func (t *errorTally) add(errs []Error) {
	for _, e := range errs {
		if e.Missed {
			t.missed[rank(missReasons[:], e.Reason)][bucketOf(e.Box.Longest())]++
		} else {
			t.falseDet[rank(falseKinds[:], e.Reason)][bucketOf(e.Box.Longest())]++
		}
	}
}

// counts returns the tallies of missed objects and of false detections,
// every reason listed (zero counts too) in the order of the constants.
func (t *errorTally) counts() (missed, falseDet []ErrorCount) {
	list := func(order []string, n [][3]int) []ErrorCount {
		out := make([]ErrorCount, len(order))
		for i, r := range order {
			out[i] = ErrorCount{Reason: r, Count: n[i][0] + n[i][1] + n[i][2], BySize: n[i]}
		}
		return out
	}
	return list(missReasons[:], t.missed[:]), list(falseKinds[:], t.falseDet[:])
}
