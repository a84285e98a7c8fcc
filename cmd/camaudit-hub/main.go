// Command camaudit-hub is the campaign hub: it ingests every device's messages
// from the MQTT broker, merges sightings into one camera registry, and serves
// the map, the API and the exports that campaigners use.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"
)

// Set at link time by the Makefile.
var (
	version = "dev"
	commit  = "unknown"
)

func main() {
	os.Exit(runMain(os.Args[1:], os.Stdout, os.Stderr))
}

func usage(w io.Writer) {
	fmt.Fprintln(w, `usage: camaudit-hub <command> [flags]

commands:
  serve      ingest from the broker and serve the map, API and exports
  version    print version, commit and Go version`)
}

func runMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch args[0] {
	case "version":
		fmt.Fprintf(stdout, "camaudit-hub %s\ncommit       %s\ngo           %s %s/%s\nopencv       none (the hub does not use OpenCV)\n",
			version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	case "serve":
		err = cmdServe(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		usage(stderr)
	default:
		fmt.Fprintf(stderr, "camaudit-hub: unknown command %q\n", args[0])
		usage(stderr)
		return 2
	}
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(stderr, "camaudit-hub %s: %v\n", args[0], err)
		return 1
	}
	return 0
}
