package main

import (
	"context"
	"errors"
	"io"
)

// cmdProvision is not built yet: its issue owns this file.
func cmdProvision(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("not implemented yet")
}
