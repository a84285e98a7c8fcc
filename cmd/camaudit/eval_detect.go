package main

import (
	"context"
	"errors"
	"io"
)

// cmdEvalDetect is not built yet: its issue owns this file.
func cmdEvalDetect(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("not implemented yet")
}
