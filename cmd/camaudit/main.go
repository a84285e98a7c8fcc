// Command camaudit is the device binary: it runs the on-device pipeline on a
// Raspberry Pi (run), replays recorded walks through the same pipeline
// (replay), and carries the tools developers and volunteers need around it:
// detect, sim, eval, gnss, selftest, provision and version.
//
// Each subcommand lives in its own file in this folder and wires the packages
// that own the feature (firmware, detect, sim, hw, gnss, ...).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// command is one subcommand: a one-line summary and the function running it.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() map[string]command {
	return map[string]command{
		"version":   {"print version, commit, Go and OpenCV versions", cmdVersion},
		"run":       {"run the device pipeline: camera + GNSS -> sightings over MQTT", cmdRun},
		"replay":    {"run the pipeline on a recorded video and NMEA log", cmdReplay},
		"detect":    {"detect surveillance cameras in images", cmdDetect},
		"sim":       {"simulate walks and generate training data (sim walk|dataset)", cmdSim},
		"eval":      {"evaluate detection or a walk against ground truth (eval detect|walk)", cmdEval},
		"gnss":      {"read a GNSS source and report fixes and problems", cmdGNSS},
		"selftest":  {"check camera, GNSS, GPIO, broker and model, and say what is wrong", cmdSelftest},
		"provision": {"create a device id, credentials and config for a campaign broker", cmdProvision},
	}
}

// errUsage marks errors caused by wrong arguments: exit status 2.
var errUsage = errors.New("usage")

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: camaudit <command> [flags]\n\ncommands:")
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'camaudit <command> -h' for the flags of a command.")
}

func main() {
	os.Exit(runMain(os.Args[1:], os.Stdout, os.Stderr))
}

func runMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands()[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "camaudit: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := cmd.run(ctx, args[1:], stdout, stderr)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "camaudit %s: %v\n", args[0], err)
		return 2
	default:
		fmt.Fprintf(stderr, "camaudit %s: %v\n", args[0], err)
		return 1
	}
}

// newFlags returns a FlagSet for a subcommand that reports errors instead of
// exiting, writing its usage to stderr.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("camaudit "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags parses args, turning flag errors into errUsage.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	return nil
}
