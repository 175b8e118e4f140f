package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ivrd/ivrd/internal/clock"
	"github.com/ivrd/ivrd/omproto/omsim"
)

// SimCommand is "ivrd sim": the OM simulator on real time, printing one line
// per thing that happens.
type SimCommand struct {
	main *Main
}

// DefaultSimListen is where "ivrd sim" listens unless -listen says otherwise.
const DefaultSimListen = "127.0.0.1:9080"

// Run parses the flags and runs the simulator until ctx is done.
func (c *SimCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("ivrd sim", flag.ContinueOnError)
	fs.SetOutput(c.main.Stderr)
	listen := fs.String("listen", DefaultSimListen, "address to serve the command side (POST /xml) and the control API (/sim/)")
	reportURL := fs.String("report-url", "", "where to push reports, e.g. http://127.0.0.1:8080/om/om1 (default: keep them in memory, see GET /sim/reports)")
	reportMethod := fs.String("report-method", "", "GET (the OM's default, XML in the body) or POST")
	fileDuration := fs.Duration("file-duration", 0, "length of each voice file (default 2s)")
	configPath := fs.String("config", "", "a sim.toml describing the device (extensions, voice files, number policies …)")
	logLevel := fs.String("log-level", "info", "trace shows the XML of every command and report")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: ivrd sim [flags]\n\nRuns a simulated New Rock OM on real time.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("sim: unexpected argument %q", fs.Arg(0))
	}

	cfg := omsim.DefaultConfig()
	if *configPath != "" {
		f, err := os.Open(*configPath)
		if err != nil {
			return fmt.Errorf("sim: %w", err)
		}
		cfg, err = parseSimConfig(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", *configPath, err)
		}
	}
	if *reportURL != "" {
		u, err := url.Parse(*reportURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("sim: -report-url: %q is not an http(s) URL", *reportURL)
		}
		cfg.ReportURL = *reportURL
	}
	if *reportMethod != "" {
		cfg.ReportMethod = strings.ToUpper(*reportMethod)
	}
	if *fileDuration != 0 {
		if *fileDuration < 0 {
			return errors.New("sim: -file-duration: must be positive")
		}
		cfg.FileDuration = *fileDuration
	}

	log := hclog.New(&hclog.LoggerOptions{
		Name:       "sim",
		Level:      hclog.LevelFromString(*logLevel),
		Output:     c.main.Stdout,
		TimeFormat: "15:04:05.000",
	})
	sim, err := omsim.New(cfg, clock.Real{})
	if err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	sim.SetLogf(func(format string, args ...any) { log.Info(fmt.Sprintf(format, args...)) })
	if err := sim.Start(*listen); err != nil {
		return err
	}
	defer sim.Close()
	reports := cfg.ReportURL
	if reports == "" {
		reports = "kept in memory (GET /sim/reports)"
	}
	log.Info("simulated OM listening", "commands", sim.URL()+"/xml", "control", sim.URL()+"/sim/", "reports", reports, "method", cfg.ReportMethod)
	log.Info(fmt.Sprintf("place a call: curl -s -X POST %s/sim/calls -d '{\"from\":\"13800000001\",\"to\":\"%s\"}'", sim.URL(), cfg.Trunk))
	<-ctx.Done()
	log.Info("stopping")
	done := make(chan struct{})
	go func() { sim.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	return nil
}
