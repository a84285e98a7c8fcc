package main

import (
	"context"
	"fmt"
	"io"
	"runtime"

	"gocv.io/x/gocv"
)

// Set at link time by the Makefile (-ldflags "-X main.version=... -X main.commit=...").
var (
	version = "dev"
	commit  = "unknown"
)

func cmdVersion(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("version", stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "camaudit %s\ncommit   %s\ngo       %s %s/%s\nopencv   %s (gocv %s)\n",
		version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH, gocv.OpenCVVersion(), gocv.Version())
	return nil
}
