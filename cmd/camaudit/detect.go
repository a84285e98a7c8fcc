package main

import (
	"context"
	"errors"
	"io"
)

// cmdDetect is not built yet: its issue owns this file.
func cmdDetect(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("not implemented yet")
}
