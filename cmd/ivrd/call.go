package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ivrd/ivrd/api"
	"github.com/ivrd/ivrd/engine"
)

// CallCommand is "ivrd call": places, schedules, lists and cancels
// outbound calls through a running daemon's admin API.
type CallCommand struct {
	main *Main
	// now is the clock "-at 07:00" is read against (default time.Now).
	now func() time.Time
}

// tokenEnv names the environment variable "ivrd call" reads the admin
// token from; adminEnv the one it reads the API's URL from.
const (
	tokenEnv = "IVRD_TOKEN"
	adminEnv = "IVRD_ADMIN"
)

const callUsage = `Usage:
	ivrd call -to NUMBER -flow FLOW [-at TIME] [options]   place or schedule a call
	ivrd call -list [-state STATE]                        list the outbound jobs
	ivrd call -show JOB                                   show one job
	ivrd call -cancel JOB                                 cancel a job

Talks to a running "ivrd serve" through its admin API (README.md, "Admin API").
The API is found at -admin, else $IVRD_ADMIN, else the configuration's
[admin] listen, else ` + DefaultAdminURL + `; the token is -token, else
$IVRD_TOKEN, else the configuration's [admin] token or token_file. The
configuration is -config, else ./ivrd.toml when it exists.

-at takes a time of day ("07:00": the next 07:00 in -tz, today while it is
still ahead, else tomorrow), a local date and time ("2026-11-26 07:00", in
-tz) or an RFC 3339 time ("2026-11-26T07:00:00+08:00"). -tz defaults to the
configuration's [outbound] tz, else this machine's zone.

Examples:
	ivrd call -to 13800000001 -flow wakeup -at 07:00 -tz Asia/Shanghai -vars '{"room":"1203"}' \
	          -retry-attempts 3 -retry-delay 5m -window 07:00-22:00
	ivrd call -list -state scheduled
	ivrd call -cancel job-20261125T090000-1-a1b2c3

Flags:
`

// fieldFlags names the flag behind each field of the API's dial request,
// so the daemon's refusals name what the user typed.
var fieldFlags = map[string]string{
	"to": "-to", "flow": "-flow", "vars": "-vars", "secret": "-secret", "at": "-at", "tz": "-tz", "window": "-window",
	"retry.attempts": "-retry-attempts", "retry.delay": "-retry-delay", "retry.backoff": "-retry-backoff",
	"retry.on": "-retry-on", "device": "-device", "trunk": "-trunk", "webhook": "-webhook", "id": "-id",
}

// Run parses the flags and does what they ask.
func (c *CallCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("ivrd call", flag.ContinueOnError)
	fs.SetOutput(c.main.Stderr)
	var d dialFlags
	d.register(fs)
	list := fs.Bool("list", false, "list the jobs, newest first")
	state := fs.String("state", "", "with -list: only jobs in this state (scheduled, dialing, done, failed, cancelled, dropped) or phase (due, retrying, running)")
	show := fs.String("show", "", "show the job with this id")
	cancel := fs.String("cancel", "", "cancel the job with this id")
	asJSON := fs.Bool("json", false, "print the daemon's JSON answer")
	adminURL := fs.String("admin", "", "the admin API, \"http://127.0.0.1:8081\"")
	token := fs.String("token", "", "the admin token (prefer $IVRD_TOKEN: flags show in ps)")
	config := fs.String("config", "", "the configuration file to read [admin] and [outbound] from (default ./ivrd.toml when it exists)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), callUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("call: unexpected argument %q (flags come as -name value)", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	modes := 0
	for _, m := range []string{"list", "show", "cancel"} {
		if set[m] {
			modes++
		}
	}
	placing := set["to"] || set["flow"]
	if placing {
		modes++
	}
	switch {
	case modes == 0:
		fs.Usage()
		return errors.New("call: give -to and -flow to place a call, or -list, -show JOB or -cancel JOB")
	case modes > 1:
		return errors.New("call: give one of -to/-flow, -list, -show and -cancel")
	case set["state"] && !*list:
		return errors.New("call: -state goes with -list")
	}
	if !placing {
		for _, f := range []string{"at", "vars", "secret", "window", "retry-attempts", "retry-delay", "retry-backoff", "retry-on", "device", "trunk", "webhook", "id"} {
			if set[f] {
				return fmt.Errorf("call: -%s goes with -to and -flow", f)
			}
		}
	}

	cfg := &lazyConfig{path: *config}
	loc, err := c.zone(d.tz, cfg)
	if err != nil {
		return err
	}
	var req engine.DialRequest
	if placing {
		// Checked before the daemon is looked for: a typo is named first.
		if req, err = d.request(loc, c.clock()); err != nil {
			return err
		}
	}
	client, err := c.client(*adminURL, *token, cfg)
	if err != nil {
		return err
	}
	out := &jobPrinter{w: c.main.Stdout, loc: loc, now: c.clock(), json: *asJSON}

	switch {
	case *list:
		jobs, err := client.Jobs(ctx, *state)
		if err != nil {
			return c.apiError(client, err, "state")
		}
		return out.list(jobs)
	case set["show"]:
		j, err := client.Job(ctx, *show)
		if err != nil {
			return c.apiError(client, err, "")
		}
		return out.show(j)
	case set["cancel"]:
		j, err := client.CancelJob(ctx, *cancel)
		if err != nil {
			return c.apiError(client, err, "")
		}
		return out.line(j, "cancelled")
	}

	j, err := client.Dial(ctx, req)
	if err != nil {
		return c.apiError(client, err, "")
	}
	return out.line(j, "scheduled")
}

// dialFlags are the flags that describe a call to place.
type dialFlags struct {
	to, flow, at, tz, vars, window string
	secret                         string
	attempts                       int
	delay                          time.Duration
	backoff                        float64
	retryOn                        string
	device, trunk, webhook, id     string
}

func (d *dialFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&d.to, "to", "", "the number to call")
	fs.StringVar(&d.flow, "flow", "", "the flow whose answered(call) runs when the callee picks up")
	fs.StringVar(&d.at, "at", "", "when to call: \"07:00\", \"2026-11-26 07:00\" or RFC 3339 (default now)")
	fs.StringVar(&d.tz, "tz", "", "the time zone of -at, -window and the times shown, an IANA name (\"Asia/Shanghai\")")
	fs.StringVar(&d.vars, "vars", "", "call.vars of the call, a JSON object ('{\"room\":\"1203\"}')")
	fs.StringVar(&d.secret, "secret", "", "the vars that are secrets, comma-separated (\"code\"): shown as [secret] outside the state file")
	fs.StringVar(&d.window, "window", "", "the local time of day calls may be placed, \"07:00-22:00\" (default [outbound] window)")
	fs.IntVar(&d.attempts, "retry-attempts", 0, "the most attempts, the first included (default 1)")
	fs.DurationVar(&d.delay, "retry-delay", 0, "the wait before the second attempt, \"5m\" (default 60s)")
	fs.Float64Var(&d.backoff, "retry-backoff", 0, "multiplies the delay for each further attempt (default 1)")
	fs.StringVar(&d.retryOn, "retry-on", "", "the outcomes that retry, comma-separated (default busy,no_answer,failed,retry,interrupted)")
	fs.StringVar(&d.device, "device", "", "the OM to dial from (default the first configured)")
	fs.StringVar(&d.trunk, "trunk", "", "the trunk to dial out on (default the device's choice)")
	fs.StringVar(&d.webhook, "webhook", "", "a URL told the job's end (a signed JSON POST)")
	fs.StringVar(&d.id, "id", "", "names the job; asking again with the same id returns the same job")
}

// request builds and checks the dial request; -at is read in loc
// against now.
func (d *dialFlags) request(loc *time.Location, now time.Time) (engine.DialRequest, error) {
	var none engine.DialRequest
	if d.to == "" {
		return none, errors.New("call: -to: the number to call is required")
	}
	if d.flow == "" {
		return none, errors.New("call: -flow: the flow to run when the callee answers is required")
	}
	req := engine.DialRequest{To: d.to, Flow: d.flow, TZ: d.tz, Window: d.window,
		Device: d.device, Trunk: d.trunk, Webhook: d.webhook, ID: d.id}
	var err error
	if req.At, err = api.ParseAt(d.at, loc, now); err != nil {
		return none, fmt.Errorf("call: -at: %v", err)
	}
	if d.vars != "" {
		var m map[string]any
		if err := json.Unmarshal([]byte(d.vars), &m); err != nil || m == nil {
			return none, fmt.Errorf("call: -vars: %q is not a JSON object like '{\"room\":\"1203\"}'", d.vars)
		}
		req.Vars = json.RawMessage(d.vars)
	}
	if d.secret != "" {
		for _, n := range strings.Split(d.secret, ",") {
			if n = strings.TrimSpace(n); n != "" {
				req.Secret = append(req.Secret, n)
			}
		}
	}
	if d.window != "" {
		if _, err := engine.ParseWindow(d.window, d.tz); err != nil {
			return none, fmt.Errorf("call: -%v", err)
		}
	}
	if d.attempts < 0 {
		return none, fmt.Errorf("call: -retry-attempts: %d is negative", d.attempts)
	}
	if d.delay < 0 {
		return none, fmt.Errorf("call: -retry-delay: %s is negative", d.delay)
	}
	if d.backoff < 0 {
		return none, fmt.Errorf("call: -retry-backoff: %g is negative", d.backoff)
	}
	req.Retry = engine.RetryPolicy{Attempts: d.attempts, Delay: engine.Duration(d.delay), Backoff: d.backoff}
	if d.retryOn != "" {
		for _, o := range strings.Split(d.retryOn, ",") {
			req.Retry.On = append(req.Retry.On, strings.TrimSpace(o))
		}
	}
	return req, nil
}

func (c *CallCommand) clock() time.Time {
	if c.now != nil {
		return c.now()
	}
	return time.Now()
}

// lazyConfig reads the configuration the first time something is needed
// from it: -config, else ./ivrd.toml when it exists, else nothing.
type lazyConfig struct {
	path string
	read bool
	cfg  *Config
	err  error
}

func (l *lazyConfig) get() (*Config, error) {
	if l.read {
		return l.cfg, l.err
	}
	l.read = true
	path := l.path
	if path == "" {
		if _, err := os.Stat(DefaultConfigPath); err != nil {
			return nil, nil
		}
		path = DefaultConfigPath
	}
	cfg, err := ReadConfigFile(path)
	if err != nil {
		l.err = fmt.Errorf("call: %w", err)
		return nil, l.err
	}
	l.cfg = &cfg
	return l.cfg, nil
}

// zone returns the time zone of -at and of the times shown.
func (c *CallCommand) zone(tz string, lc *lazyConfig) (*time.Location, error) {
	if tz != "" {
		loc, err := time.LoadLocation(tz)
		if err != nil {
			return nil, fmt.Errorf("call: -tz: unknown time zone %q (use an IANA name like \"Asia/Shanghai\")", tz)
		}
		return loc, nil
	}
	cfg, err := lc.get()
	if err != nil {
		return nil, err
	}
	if cfg != nil && cfg.Outbound.TZ != "" {
		return cfg.Outbound.location(), nil
	}
	return time.Local, nil
}

// client finds the admin API and its token.
func (c *CallCommand) client(adminURL, token string, lc *lazyConfig) (*api.Client, error) {
	if adminURL == "" {
		adminURL = os.Getenv(adminEnv)
	}
	if token == "" {
		token = os.Getenv(tokenEnv)
	}
	if adminURL == "" || token == "" {
		cfg, err := lc.get()
		if err != nil {
			return nil, err
		}
		if cfg != nil {
			if adminURL == "" && cfg.Admin.Listen != "" {
				adminURL = listenURL(cfg.Admin.Listen)
			}
			if token == "" {
				if token, err = cfg.Admin.token(); err != nil {
					return nil, fmt.Errorf("call: %w", err)
				}
			}
		}
	}
	if adminURL == "" {
		adminURL = DefaultAdminURL
	}
	if !strings.Contains(adminURL, "://") {
		adminURL = "http://" + adminURL
	}
	if token == "" {
		return nil, fmt.Errorf("call: no admin token: give -token, set $%s, or name a configuration with an [admin] token (-config)", tokenEnv)
	}
	return &api.Client{BaseURL: adminURL, Token: token}, nil
}

// listenURL turns a listen address into the URL a client on this machine
// reaches it at.
func listenURL(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "http://" + listen
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// apiError words a failed request: the daemon's refusal naming the flag
// behind the field at fault, or why the daemon could not be reached.
func (c *CallCommand) apiError(client *api.Client, err error, queryFlag string) error {
	var e *api.Error
	if !errors.As(err, &e) {
		if errors.Is(err, context.Canceled) {
			return err
		}
		return fmt.Errorf("call: cannot reach the admin API at %s: %v (is \"ivrd serve\" running with [admin] listen set?)", client.BaseURL, err)
	}
	if e.Field != "" {
		name := fieldFlags[e.Field]
		if queryFlag != "" && e.Field == queryFlag {
			name = "-" + queryFlag
		}
		if name == "" {
			name = e.Field
		}
		return fmt.Errorf("call: %s: %s", name, e.Msg)
	}
	switch e.Status {
	case 401:
		return fmt.Errorf("call: the daemon refused the token: %s", e.Msg)
	case 404, 409:
		return fmt.Errorf("call: %s", e.Msg)
	}
	return fmt.Errorf("call: the daemon answered %d: %s", e.Status, e.Msg)
}

// jobPrinter prints jobs for people (times in loc) or as JSON.
type jobPrinter struct {
	w    io.Writer
	loc  *time.Location
	now  time.Time
	json bool
}

func (p *jobPrinter) printJSON(v any) error {
	enc := json.NewEncoder(p.w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (p *jobPrinter) when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.In(p.loc).Format("2006-01-02 15:04:05 MST")
}

// line prints a job in one line: what was done, its number, flow and due
// time.
func (p *jobPrinter) line(j engine.Job, done string) error {
	if p.json {
		return p.printJSON(j)
	}
	due := "now"
	if d := j.Due.Sub(p.now); d > time.Second && done == "scheduled" {
		due = fmt.Sprintf("due %s (in %s)", p.when(j.Due), d.Round(time.Second))
	} else if done != "scheduled" {
		due = "was due " + p.when(j.Due)
	}
	if done == "scheduled" && j.State != engine.JobScheduled {
		done = j.State
	}
	_, err := fmt.Fprintf(p.w, "%s %s: %s, flow %s, %s\n", j.ID, done, j.To, j.Flow, due)
	return err
}

func (p *jobPrinter) list(jobs []engine.Job) error {
	if p.json {
		if jobs == nil {
			jobs = []engine.Job{}
		}
		return p.printJSON(jobs)
	}
	tw := tabwriter.NewWriter(p.w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tSTATE\tTO\tFLOW\tDUE\tATTEMPTS\tOUTCOME")
	for _, j := range jobs {
		outcome := j.Outcome
		if outcome == "" {
			outcome = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d/%d\t%s\n", j.ID, j.State, j.To, j.Flow, p.when(j.Due), len(j.Attempts), max(j.Retry.Attempts, 1), outcome)
	}
	return tw.Flush()
}

func (p *jobPrinter) show(j engine.Job) error {
	if p.json {
		return p.printJSON(j)
	}
	tw := tabwriter.NewWriter(p.w, 2, 8, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s\t%s\n", k, v)
		}
	}
	row("job", j.ID)
	row("state", j.State)
	row("to", j.To)
	row("flow", j.Flow)
	row("device", j.Device)
	row("trunk", j.Trunk)
	if len(j.Vars) > 0 {
		row("vars", string(j.Vars))
	}
	row("window", strings.TrimSpace(j.Window+" "+j.TZ))
	row("created", p.when(j.Created))
	row("due", p.when(j.Due))
	if n := j.Retry.Attempts; n > 1 {
		row("retry", fmt.Sprintf("%d attempts, %s apart (×%g), on %s", n, time.Duration(j.Retry.Delay), j.Retry.Backoff, strings.Join(j.Retry.On, ",")))
	} else {
		row("retry", "none (1 attempt)")
	}
	row("source", j.Source)
	row("webhook", j.Webhook)
	for _, a := range j.Attempts {
		what := a.Outcome
		if a.Reason != "" {
			what += " (" + a.Reason + ")"
		}
		if a.CallID != "" {
			what += ", call " + a.CallID
		}
		row(fmt.Sprintf("attempt %d", a.N), p.when(a.Started)+"  "+what)
	}
	if j.Final() {
		row("ended", p.when(j.Ended))
		row("outcome", strings.TrimSpace(j.Outcome+" "+j.Reason))
	}
	return tw.Flush()
}
