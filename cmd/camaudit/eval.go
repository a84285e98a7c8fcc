package main

import (
	"context"
	"fmt"
	"io"
)

// cmdEval dispatches "camaudit eval detect" (eval_detect.go) and
// "camaudit eval walk" (eval_walk.go).
func cmdEval(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: camaudit eval detect|walk [flags]", errUsage)
	}
	switch args[0] {
	case "detect":
		return cmdEvalDetect(ctx, args[1:], stdout, stderr)
	case "walk":
		return cmdEvalWalk(ctx, args[1:], stdout, stderr)
	default:
		return fmt.Errorf("%w: unknown evaluation %q (want detect or walk)", errUsage, args[0])
	}
}
