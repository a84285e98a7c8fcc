package main

import (
	"context"
	"errors"
	"io"
)

// cmdReplay is not built yet: its issue owns this file.
func cmdReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("not implemented yet")
}
