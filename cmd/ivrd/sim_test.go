package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ivrd/ivrd/omproto"
)

// syncBuffer is a bytes.Buffer safe for the logger and the test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestSimCommand runs "ivrd sim" in-process on real time: it reports
// BOOTUP and an incoming call to the report URL, answers the control API,
// prints a line per event and stops when its context ends.
func TestSimCommand(t *testing.T) {
	var mu sync.Mutex
	var kinds []string
	reports := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rep, err := omproto.DecodeReport(body)
		if err != nil || r.Method != http.MethodGet {
			t.Errorf("report %s %q: %v", r.Method, body, err)
			return
		}
		mu.Lock()
		kinds = append(kinds, rep.Kind())
		mu.Unlock()
	}))
	defer reports.Close()
	got := func() string {
		mu.Lock()
		defer mu.Unlock()
		return strings.Join(kinds, " ")
	}

	addr := freeAddr(t)
	var out syncBuffer
	m := &Main{Stdout: &out, Stderr: &out}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- m.Run(ctx, []string{"sim", "-listen", addr, "-report-url", reports.URL + "/om/om1", "-file-duration", "100ms"})
	}()
	waitFor(t, "BOOTUP", func() bool { return got() == "BOOTUP" })

	resp, err := http.Post("http://"+addr+"/sim/calls", "application/json", strings.NewReader(`{"from":"13800000001","to":"60001"}`))
	if err != nil {
		t.Fatal(err)
	}
	var placed struct{ ID string }
	if err := json.NewDecoder(resp.Body).Decode(&placed); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /sim/calls: %d %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	waitFor(t, "INCOMING", func() bool { return got() == "BOOTUP INCOMING" })

	resp, err = http.Get("http://" + addr + "/sim/calls/" + placed.ID)
	if err != nil {
		t.Fatal(err)
	}
	var info struct{ State, Leg string }
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if info.State != "incoming" || info.Leg != "visitor 1" {
		t.Fatalf("call = %+v, want state incoming on visitor 1", info)
	}

	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("Run returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ivrd sim did not stop")
	}
	for _, want := range []string{"simulated OM listening", "call c1 placed: 13800000001 → 60001", "report INCOMING sent"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestSimCommandFlagErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"sim", "-report-url", "ftp://x"}, "-report-url"},
		{[]string{"sim", "-config", "/nonexistent/sim.toml"}, "no such file"},
		{[]string{"sim", "extra"}, "unexpected argument"},
		{[]string{"nosuch"}, "unknown command"},
	}
	for _, c := range cases {
		var out bytes.Buffer
		err := (&Main{Stdout: &out, Stderr: &out}).Run(context.Background(), c.args)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one mentioning %q", c.args, err, c.want)
		}
	}
}
