package main

import (
	"context"
	"errors"
	"io"
)

// cmdServe is not built yet: the hub issue owns this file.
func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("not implemented yet")
}
