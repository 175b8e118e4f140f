package api

import "testing"

func TestLogURLDropsCredentials(t *testing.T) {
	for in, want := range map[string]string{
		"https://user:pw@crm.example.com/hook?token=abc": "https://crm.example.com/hook",
		"http://10.0.0.5:8080/ivrd":                      "http://10.0.0.5:8080/ivrd",
		"%zz":                                            "(unparsable URL)",
	} {
		if got := logURL(in); got != want {
			t.Errorf("logURL(%q) = %q, want %q", in, got, want)
		}
	}
}
