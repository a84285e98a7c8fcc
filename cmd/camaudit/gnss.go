package main

import (
	"context"
	"errors"
	"io"
)

// cmdGNSS is not built yet: its issue owns this file.
func cmdGNSS(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("not implemented yet")
}
