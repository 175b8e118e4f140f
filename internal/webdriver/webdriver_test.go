package webdriver_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ivrd/ivrd/internal/webdriver"
)

const page = `<!doctype html><title>echo</title>
<input id="in"><button id="go" onclick="document.getElementById('out').textContent = 'got ' + document.getElementById('in').value">go</button>
<p id="out"></p><ul><li>a</li><li>b</li></ul>`

// TestSession drives a real headless Chromium over a page of our own.
func TestSession(t *testing.T) {
	webdriver.Require(t, webdriver.Options{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		http.SetCookie(w, &http.Cookie{Name: "k", Value: "v1", HttpOnly: true})
		w.Write([]byte(page))
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := webdriver.Start(ctx, webdriver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	s, err := d.NewSession(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	if err := s.Navigate(srv.URL + "/x"); err != nil {
		t.Fatal(err)
	}
	if u, err := s.URL(); err != nil || u != srv.URL+"/x" {
		t.Fatalf("URL: %q, %v", u, err)
	}
	in, err := s.Find("#in")
	if err != nil {
		t.Fatal(err)
	}
	if err := in.SendKeys("hello"); err != nil {
		t.Fatal(err)
	}
	btn, err := s.Find("#go")
	if err != nil {
		t.Fatal(err)
	}
	if err := btn.Click(); err != nil {
		t.Fatal(err)
	}
	out, _ := s.Find("#out")
	if text, err := out.Text(); err != nil || text != "got hello" {
		t.Fatalf("text: %q, %v", text, err)
	}
	if items, err := s.FindAll("li"); err != nil || len(items) != 2 {
		t.Fatalf("FindAll: %d, %v", len(items), err)
	}
	var title string
	if err := s.Execute(&title, "return document.title + arguments[0]", "!"); err != nil || title != "echo!" {
		t.Fatalf("Execute: %q, %v", title, err)
	}
	if _, err := s.Find("#absent"); !errors.Is(err, webdriver.ErrNoSuchElement) {
		t.Fatalf("Find of nothing: %v", err)
	}
	if v, err := s.Cookie("k"); err != nil || v != "v1" {
		t.Fatalf("cookie: %q, %v", v, err)
	}
	png, err := s.Screenshot()
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("screenshot: %d bytes, %v", len(png), err)
	}
}

// TestStartReportsWhyTheDriverExited: a driver that exits before it
// listens fails Start with its own last words, not a bare "exited".
func TestStartReportsWhyTheDriverExited(t *testing.T) {
	driver := filepath.Join(t.TempDir(), "chromedriver")
	script := "#!/bin/sh\necho 'Starting ChromeDriver on port 0'\necho '[SEVERE]: bind() failed: Address already in use (98)' >&2\nexit 1\n"
	if err := os.WriteFile(driver, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := webdriver.Start(ctx, webdriver.Options{Driver: driver})
	if err == nil || !strings.Contains(err.Error(), "exited at start") || !strings.Contains(err.Error(), "bind() failed") {
		t.Fatalf("Start: %v", err)
	}
}

// TestStartTakesThePortTheDriverNames: Start asks for --port=0 and talks
// to the port named in the driver's "started successfully" line.
func TestStartTakesThePortTheDriverNames(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/status" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(`{"value":{"ready":true}}`))
	}))
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	dir := t.TempDir()
	driver := filepath.Join(dir, "chromedriver")
	// The fake records its arguments, names the test server's port, and
	// stays up until Close kills it.
	script := "#!/bin/sh\necho \"$@\" > " + filepath.Join(dir, "args") + "\n" +
		"echo 'ChromeDriver was started successfully on port " + strconv.Itoa(port) + ".'\nexec sleep 60\n"
	if err := os.WriteFile(driver, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := webdriver.Start(ctx, webdriver.Options{Driver: driver})
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	args, err := os.ReadFile(filepath.Join(dir, "args"))
	if err != nil || !strings.Contains(string(args), "--port=0") {
		t.Fatalf("driver's arguments: %q, %v", args, err)
	}
}
