package main

import (
	"context"
	"errors"
	"io"
)

// cmdEval is not built yet: its issue owns this file.
func cmdEval(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("not implemented yet")
}
