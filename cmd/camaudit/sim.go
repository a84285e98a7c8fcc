package main

import (
	"context"
	"errors"
	"io"
)

// cmdSim is not built yet: its issue owns this file.
func cmdSim(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("not implemented yet")
}
