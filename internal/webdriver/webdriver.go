// Package webdriver drives a real browser through the W3C WebDriver
// protocol, spoken over HTTP to chromedriver: enough for ivrd's console
// tests (open a page, find elements, click, type, read text, run a
// script, take a screenshot) and nothing more. Standard library only.
package webdriver

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Where Debian's chromium and chromium-driver packages put them.
const (
	DefaultDriver  = "/usr/bin/chromedriver"
	DefaultBrowser = "/usr/bin/chromium"
)

// HeadlessArgs are the browser flags of a quiet headless run on a build
// machine: no sandbox (containers seldom allow one), no GPU, nothing that
// reaches the network by itself. A session adds a fresh --user-data-dir.
var HeadlessArgs = []string{
	"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
	"--disable-background-networking", "--disable-component-update", "--disable-sync",
	"--disable-dev-shm-usage", "--window-size=1280,900",
}

// ErrNoSuchElement is a Find that matched nothing.
var ErrNoSuchElement = errors.New("no such element")

// Error is an error the driver answered with.
type Error struct {
	Status  int
	Code    string // "no such element", "javascript error", …
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("webdriver: %s: %s", e.Code, e.Message) }

// Is makes a "no such element" answer match ErrNoSuchElement.
func (e *Error) Is(target error) bool {
	return target == ErrNoSuchElement && e.Code == "no such element"
}

// Options start a Driver. Zero values take the defaults.
type Options struct {
	Driver  string    // chromedriver (default DefaultDriver)
	Browser string    // the browser binary (default DefaultBrowser)
	Args    []string  // browser flags (default HeadlessArgs)
	Log     io.Writer // chromedriver's own output (default: dropped)
}

// Driver is a running chromedriver, which this process started.
type Driver struct {
	opt    Options
	cmd    *exec.Cmd
	url    string
	client *http.Client
	exited chan struct{}
}

// Available reports whether the driver and the browser are installed.
func Available(opt Options) bool {
	opt = opt.filled()
	for _, p := range []string{opt.Driver, opt.Browser} {
		if fi, err := os.Stat(p); err != nil || fi.IsDir() {
			return false
		}
	}
	return true
}

func (o Options) filled() Options {
	if o.Driver == "" {
		o.Driver = DefaultDriver
	}
	if o.Browser == "" {
		o.Browser = DefaultBrowser
	}
	if o.Args == nil {
		o.Args = HeadlessArgs
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	return o
}

// Start runs chromedriver on a loopback port of its own choosing and
// waits until it answers.
//
// chromedriver is given --port=0 and the port is read from the line it
// prints once it listens ("… started successfully on port N.", as
// Debian 12's chromedriver 148 prints it; a driver that names no port
// fails at ctx's deadline). Choosing a free port here and handing it
// over would leave a gap in which another process (a test server in a
// package tested alongside) can take it, and chromedriver then exits at
// start.
func Start(ctx context.Context, opt Options) (*Driver, error) {
	opt = opt.filled()
	cmd := exec.Command(opt.Driver, "--port=0", "--allowed-ips=127.0.0.1")
	// An os.Pipe of our own rather than StdoutPipe: Wait then returns
	// when chromedriver exits, even while a browser it started still
	// holds the pipe's write end.
	out, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	tail := &tailWriter{max: 2048}
	cmd.Stdout, cmd.Stderr = w, w
	err = cmd.Start()
	w.Close()
	if err != nil {
		out.Close()
		return nil, fmt.Errorf("webdriver: start %s: %w", opt.Driver, err)
	}
	d := &Driver{opt: opt, cmd: cmd, client: &http.Client{Timeout: time.Minute}, exited: make(chan struct{})}
	ports := make(chan int, 1)
	read := make(chan struct{})
	go func() {
		defer close(read)
		defer out.Close()
		scanPort(io.TeeReader(out, io.MultiWriter(opt.Log, tail)), ports)
	}()
	go func() { cmd.Wait(); close(d.exited) }()
	exitedAtStart := func() error {
		select { // its last words, which name the reason
		case <-read:
		case <-time.After(5 * time.Second):
		}
		return fmt.Errorf("webdriver: %s exited at start: %s", opt.Driver, strings.TrimSpace(tail.String()))
	}
	select {
	case port := <-ports:
		d.url = "http://127.0.0.1:" + strconv.Itoa(port)
	case <-d.exited:
		return nil, exitedAtStart()
	case <-ctx.Done():
		d.Close()
		return nil, fmt.Errorf("webdriver: %s named no port: %w", opt.Driver, ctx.Err())
	}
	for {
		var st struct {
			Ready bool `json:"ready"`
		}
		if err := d.call(ctx, "GET", "/status", nil, &st); err == nil && st.Ready {
			return d, nil
		}
		select {
		case <-ctx.Done():
			d.Close()
			return nil, fmt.Errorf("webdriver: %s did not become ready: %w", opt.Driver, ctx.Err())
		case <-d.exited:
			return nil, exitedAtStart()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// startedOn is what chromedriver prints once it listens, before the port.
const startedOn = "started successfully on port "

// scanPort sends the port of chromedriver's "started successfully on
// port N." line, then reads the rest of the output to its end so that
// chromedriver never blocks on a full pipe.
func scanPort(r io.Reader, ports chan<- int) {
	sc := bufio.NewScanner(r)
	found := false
	for sc.Scan() {
		if found {
			continue
		}
		line := sc.Text()
		i := strings.Index(line, startedOn)
		if i < 0 {
			continue
		}
		if port, err := strconv.Atoi(strings.TrimRight(line[i+len(startedOn):], ". \r")); err == nil && port > 0 {
			ports <- port
			found = true
		}
	}
	io.Copy(io.Discard, r)
}

// tailWriter keeps the last max bytes written to it, for an error message.
type tailWriter struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (w *tailWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if over := len(w.buf) - w.max; over > 0 {
		w.buf = append(w.buf[:0], w.buf[over:]...)
	}
	return len(p), nil
}

func (w *tailWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.buf)
}

// Close stops chromedriver (and with it any browser it still runs).
func (d *Driver) Close() error {
	select {
	case <-d.exited:
		return nil
	default:
	}
	d.cmd.Process.Kill()
	<-d.exited
	return nil
}

// call sends one command; out receives the answer's "value".
func (d *Driver) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, d.url+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return fmt.Errorf("webdriver: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("webdriver: %s %s: %w", method, path, err)
	}
	var answer struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(data, &answer); err != nil {
		return fmt.Errorf("webdriver: %s %s: answer %.200q: %w", method, path, data, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error   string `json:"error"`
			Message string `json:"message"`
		}
		json.Unmarshal(answer.Value, &e)
		return &Error{Status: resp.StatusCode, Code: e.Error, Message: firstLine(e.Message)}
	}
	if out != nil {
		return json.Unmarshal(answer.Value, out)
	}
	return nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// Session is one browser.
type Session struct {
	d       *Driver
	id      string
	dataDir string
	// Timeout bounds each command (default one minute).
	Timeout time.Duration
}

// NewSession starts a browser with the driver's flags and a fresh profile
// folder, removed by Close.
func (d *Driver) NewSession(ctx context.Context) (*Session, error) {
	dir, err := os.MkdirTemp("", "webdriver-profile-")
	if err != nil {
		return nil, err
	}
	args := append(append([]string(nil), d.opt.Args...), "--user-data-dir="+dir)
	caps := map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"browserName":             "chrome",
		"goog:chromeOptions":      map[string]any{"binary": d.opt.Browser, "args": args},
		"pageLoadStrategy":        "normal",
		"unhandledPromptBehavior": "dismiss",
		// Finding an element waits up to 5 s for it to appear: a page
		// draws after its data comes, and a test that clicks through the
		// pages must not race that.
		"timeouts": map[string]any{"implicit": 5000},
	}}}
	var out struct {
		SessionID string `json:"sessionId"`
	}
	if err := d.call(ctx, "POST", "/session", caps, &out); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &Session{d: d, id: out.SessionID, dataDir: dir, Timeout: time.Minute}, nil
}

func (s *Session) call(method, path string, in, out any) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.Timeout)
	defer cancel()
	return s.d.call(ctx, method, "/session/"+s.id+path, in, out)
}

// Close ends the browser and removes its profile.
func (s *Session) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := s.d.call(ctx, "DELETE", "/session/"+s.id, nil, nil)
	os.RemoveAll(s.dataDir)
	return err
}

// Navigate opens url and waits for the page to load.
func (s *Session) Navigate(url string) error {
	return s.call("POST", "/url", map[string]string{"url": url}, nil)
}

// Refresh reloads the page.
func (s *Session) Refresh() error { return s.call("POST", "/refresh", map[string]any{}, nil) }

// URL returns the page's address.
func (s *Session) URL() (string, error) {
	var u string
	err := s.call("GET", "/url", nil, &u)
	return u, err
}

// elementKey is the W3C name of an element reference.
const elementKey = "element-6066-11e4-a52e-4f735466cecf"

// Element is an element of the page.
type Element struct {
	s  *Session
	id string
}

// Find returns the first element the CSS selector matches, waiting up to
// 5 s for one to appear, or an error matching ErrNoSuchElement.
func (s *Session) Find(css string) (*Element, error) {
	var ref map[string]string
	if err := s.call("POST", "/element", map[string]string{"using": "css selector", "value": css}, &ref); err != nil {
		return nil, fmt.Errorf("find %s: %w", css, err)
	}
	return &Element{s: s, id: ref[elementKey]}, nil
}

// FindAll returns every element the CSS selector matches, waiting up to
// 5 s for the first to appear (an empty list takes those 5 s).
func (s *Session) FindAll(css string) ([]*Element, error) {
	var refs []map[string]string
	if err := s.call("POST", "/elements", map[string]string{"using": "css selector", "value": css}, &refs); err != nil {
		return nil, fmt.Errorf("find %s: %w", css, err)
	}
	out := make([]*Element, len(refs))
	for i, r := range refs {
		out[i] = &Element{s: s, id: r[elementKey]}
	}
	return out, nil
}

// Execute runs a script in the page (its body: "return document.title")
// with args as arguments[0…], and decodes what it returns into out (when
// not nil).
func (s *Session) Execute(out any, script string, args ...any) error {
	if args == nil {
		args = []any{}
	}
	return s.call("POST", "/execute/sync", map[string]any{"script": script, "args": args}, out)
}

// Screenshot returns a PNG of the window.
func (s *Session) Screenshot() ([]byte, error) {
	var b64 string
	if err := s.call("GET", "/screenshot", nil, &b64); err != nil {
		return nil, err
	}
	return base64.StdEncoding.DecodeString(b64)
}

// Click clicks the element.
func (e *Element) Click() error {
	return e.s.call("POST", "/element/"+e.id+"/click", map[string]any{}, nil)
}

// SendKeys types text into the element.
func (e *Element) SendKeys(text string) error {
	return e.s.call("POST", "/element/"+e.id+"/value", map[string]string{"text": text}, nil)
}

// Clear empties an input.
func (e *Element) Clear() error {
	return e.s.call("POST", "/element/"+e.id+"/clear", map[string]any{}, nil)
}

// Text returns the element's rendered text.
func (e *Element) Text() (string, error) {
	var t string
	err := e.s.call("GET", "/element/"+e.id+"/text", nil, &t)
	return t, err
}

// Attribute returns an attribute's value ("" when absent).
func (e *Element) Attribute(name string) (string, error) {
	var v *string
	err := e.s.call("GET", "/element/"+e.id+"/attribute/"+name, nil, &v)
	if v == nil {
		return "", err
	}
	return *v, err
}

// Cookie returns the value of one of the page's cookies, HttpOnly ones
// included (which the page's scripts cannot read).
func (s *Session) Cookie(name string) (string, error) {
	var c struct {
		Value string `json:"value"`
	}
	err := s.call("GET", "/cookie/"+name, nil, &c)
	return c.Value, err
}
