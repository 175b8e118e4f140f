// Command ivrd is a programmable IVR engine for New Rock OM IP-PBXs.
//
// Usage:
//
//	ivrd <command> [flags]
//
// Commands:
//
//	demo   a simulated OM and ivrd in one process, with scripted calls
//	serve  the daemon (-config ivrd.toml)
//	check  compile the flows and check their voice files against the devices
//	call   place, schedule, list or cancel outbound calls through the daemon
//	sim    run the OM simulator on its own
//	state  show or compact the state file of a stopped daemon
//	test   run flow scenario tests on a simulated OM and a virtual clock
//	bench  load-test ivrd against simulated OMs, beside a bare-HTTP ceiling
//
// Run "ivrd <command> -h" for a command's flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	m := NewMain()
	if err := m.Run(context.Background(), os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(m.Stderr, "ivrd:", err)
		os.Exit(1)
	}
}

// Main is the program: its output streams and the subcommands.
type Main struct {
	Stdout io.Writer
	Stderr io.Writer
}

// NewMain returns a Main writing to the process's standard streams.
func NewMain() *Main {
	return &Main{Stdout: os.Stdout, Stderr: os.Stderr}
}

const usage = `ivrd is a programmable IVR engine for New Rock OM IP-PBXs.

Usage:

	ivrd <command> [flags]

Commands:

	demo   start a simulated OM and ivrd in one process, place a few calls
	       through flows/main.lua and print what the callers heard (start here)
	serve  the daemon: serve the devices in ivrd.toml (-config)
	check  compile every flow and check the voice files they name against
	       the devices
	call   place or schedule an outbound call through a running daemon's
	       admin API; -list, -show and -cancel its jobs
	sim    run the OM simulator on its own, to point a test deployment at
	state  the state file of a stopped daemon: ls (live calls), show CALL
	       (a call's journal and path), history, compact
	test   run the scenario tests of flows (callers, keys, expected
	       prompts and outcomes) on a simulated OM, in virtual time
	bench  measure calls/s, report-to-command latency and memory per call
	       against simulated OMs, beside a bare responder (the ceiling)

Run "ivrd <command> -h" for a command's flags.
`

// Run runs the subcommand named by args[0]. SIGINT or SIGTERM cancels the
// context of every command but serve, which handles signals itself (the
// first drains, the second stops at once).
func (m *Main) Run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(m.Stderr, usage)
		return flag.ErrHelp
	}
	if args[0] != "serve" {
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
	}
	switch args[0] {
	case "demo":
		return (&DemoCommand{main: m}).Run(ctx, args[1:])
	case "serve":
		return (&ServeCommand{main: m}).Run(ctx, args[1:])
	case "check":
		return (&CheckCommand{main: m}).Run(ctx, args[1:])
	case "call":
		return (&CallCommand{main: m}).Run(ctx, args[1:])
	case "sim":
		return (&SimCommand{main: m}).Run(ctx, args[1:])
	case "state":
		return (&StateCommand{main: m}).Run(ctx, args[1:])
	case "test":
		return (&TestCommand{main: m}).Run(ctx, args[1:])
	case "bench":
		return (&BenchCommand{main: m}).Run(ctx, args[1:])
	case "help", "-h", "-help", "--help":
		fmt.Fprint(m.Stdout, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q (run \"ivrd help\")", args[0])
}
