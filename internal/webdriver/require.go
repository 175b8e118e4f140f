package webdriver

import (
	"os"
	"testing"
)

// Require skips a browser test when chromedriver or the browser is not
// installed, unless the CI environment variable is set ("true", as CI
// services set it): there a missing browser fails the test, so that a CI
// run never passes by skipping it.
func Require(t testing.TB, opt Options) {
	t.Helper()
	if Available(opt) {
		return
	}
	opt = opt.filled()
	msg := "browser test: " + opt.Driver + " or " + opt.Browser + " is missing (apt-get install chromium chromium-driver)"
	if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}
