package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/camaudit/camaudit/eval"
)

// cmdEvalWalk compares a walk's sightings with the simulator's truth.
func cmdEvalWalk(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("eval walk", stderr)
	truth := fs.String("truth", "", "true cameras: GeoJSON Points `FILE` (truth.geojson from camaudit sim walk)")
	sightings := fs.String("sightings", "", "found cameras: GeoJSON Points `FILE` (from camaudit replay --out)")
	asJSON := fs.Bool("json", false, "print one JSON object")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: camaudit eval walk --truth truth.geojson --sightings sightings.geojson [--json]")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *truth == "" || *sightings == "" || fs.NArg() != 0 {
		return fmt.Errorf("%w: --truth and --sightings are required", errUsage)
	}
	tp, err := eval.ReadPoints(*truth)
	if err != nil {
		return err
	}
	sp, err := eval.ReadPoints(*sightings)
	if err != nil {
		return err
	}
	r := eval.Walk(tp, sp)
	if *asJSON {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%s\n", b)
		return err
	}
	fmt.Fprintf(stdout, "cameras: %d true, %d found; %d matched (within %d m), %d missed, %d false\n",
		r.Truth, r.Found, r.Matched, eval.MatchRadiusM, r.Missed, r.False)
	fmt.Fprintf(stdout, "precision %.3f  recall %.3f  count error %.1f %%\n", r.Precision, r.Recall, 100*r.CountError)
	fmt.Fprintf(stdout, "position error: median %.2f m, p90 %.2f m, mean %.2f m; type right in %.0f %% of matches; err_m honest (2σ) in %.0f %%\n",
		r.MedianErrorM, r.P90ErrorM, r.MeanErrorM, 100*r.TypeAccuracy, 100*r.ErrCoverage)
	if len(r.MissedIDs) > 0 {
		fmt.Fprintf(stdout, "missed: %v\n", r.MissedIDs)
	}
	if len(r.FalseIDs) > 0 {
		fmt.Fprintf(stdout, "false: %v\n", r.FalseIDs)
	}
	return nil
}
