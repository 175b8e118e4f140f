package api_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/ivrd/ivrd/api"
)

// fakeDevices is an api.Devices with one device, counting the checks asked.
type fakeDevices struct {
	mu     sync.Mutex
	checks []string
}

func (f *fakeDevices) Devices() []api.Device {
	return []api.Device{{Name: "om1", URL: "http://192.168.1.10", Reachable: "yes", Model: "OM50", Firmware: "2.1.5.112",
		MenuRange: [2]int{41, 50}, Menus: []api.Menu{{ID: 41, Purpose: "prompts", Repeat: 1, InfoLength: 1}},
		Exts: []api.Ext{{ID: "200", State: "idle"}, {ID: "201", State: "busy"}}}}
}

func (f *fakeDevices) CheckDevice(name string) (api.Device, error) {
	f.mu.Lock()
	f.checks = append(f.checks, name)
	f.mu.Unlock()
	if name != "om1" {
		return api.Device{}, api.ErrNotFound
	}
	return f.Devices()[0], nil
}

// TestDevices: GET /api/v1/devices lists what the daemon knows of each
// device; one device by name; a check on demand; unknown names are 404;
// without a token nothing.
func TestDevices(t *testing.T) {
	devs := &fakeDevices{}
	srv := newServer(t, newFake(), func(o *api.Options) { o.Devices = devs })
	var list api.DeviceList
	if code := do(t, srv, "GET", "/api/v1/devices", "", &list); code != 200 || len(list.Devices) != 1 {
		t.Fatalf("GET /api/v1/devices: %d %+v", code, list)
	}
	d := list.Devices[0]
	if d.Name != "om1" || d.Reachable != "yes" || d.Firmware != "2.1.5.112" || len(d.Menus) != 1 || len(d.Exts) != 2 || d.Exts[1].State != "busy" {
		t.Errorf("device: %+v", d)
	}
	var one api.Device
	if code := do(t, srv, "GET", "/api/v1/devices/om1", "", &one); code != 200 || one.Model != "OM50" {
		t.Errorf("GET /api/v1/devices/om1: %d %+v", code, one)
	}
	var e api.Error
	if code := do(t, srv, "GET", "/api/v1/devices/om9", "", &e); code != 404 || !strings.Contains(e.Msg, `"om9"`) {
		t.Errorf("GET /api/v1/devices/om9: %d %+v", code, e)
	}
	if code := do(t, srv, "POST", "/api/v1/devices/om1/check", "", &one); code != 200 || one.Name != "om1" {
		t.Errorf("POST check: %d %+v", code, one)
	}
	if code := do(t, srv, "POST", "/api/v1/devices/om9/check", "", nil); code != 404 {
		t.Errorf("POST check of om9: %d, want 404", code)
	}
	if len(devs.checks) != 2 || devs.checks[0] != "om1" {
		t.Errorf("checks asked: %v", devs.checks)
	}
	if code := doAuth(t, srv, "GET", "/api/v1/devices", "", "", nil); code != 401 {
		t.Errorf("GET /api/v1/devices without a token: %d, want 401", code)
	}

	// A daemon that gives no device source lists none.
	bare := newServer(t, newFake(), nil)
	if code := do(t, bare, "GET", "/api/v1/devices", "", &list); code != 200 || list.Devices == nil || len(list.Devices) != 0 {
		t.Errorf("without devices: %d %+v", code, list)
	}
}

// stubSim stands for a simulator's control API: it answers every request
// and remembers them.
type stubSim struct {
	mu   sync.Mutex
	seen []string
}

func (s *stubSim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.seen = append(s.seen, r.Method+" "+r.URL.Path+" "+string(body))
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"id":"c1"}`)
}

func (s *stubSim) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.seen...)
}

func phoneServer(t *testing.T) (*httptest.Server, *stubSim) {
	t.Helper()
	sim := &stubSim{}
	srv := newServer(t, newFake(), func(o *api.Options) {
		o.Phone = &api.Phone{Control: sim, Device: "om1", Trunk: "60001", Exts: []string{"200", "201"}}
		o.Prompts = map[string]string{"user_welcome": "Welcome to the Grand Hotel"}
	})
	return srv, sim
}

// TestSimBehindSignIn: /sim/ reaches the simulator only with the sign-in:
// a bearer token, or the console's cookie — with its CSRF token and the
// page's origin for a change.
func TestSimBehindSignIn(t *testing.T) {
	srv, sim := phoneServer(t)
	b := signIn(t, srv)
	call := `{"from":"13900000001","to":"60001"}`
	for _, c := range []struct {
		name   string
		who    browser
		method string
		want   int
	}{
		{"nobody reads", browser{}, "GET", 401},
		{"nobody places a call", browser{origin: srv.URL}, "POST", 401},
		{"a wrong token", browser{auth: "Bearer not-the-token"}, "POST", 401},
		{"a lost session", browser{cookie: "0123", csrf: b.csrf, origin: srv.URL}, "POST", 401},
		{"the cookie without the CSRF token", browser{cookie: b.cookie, origin: srv.URL}, "POST", 403},
		{"the cookie with a wrong CSRF token", browser{cookie: b.cookie, csrf: "x" + b.csrf, origin: srv.URL}, "POST", 403},
		{"a PUT with the cookie, without the CSRF token", browser{cookie: b.cookie, origin: srv.URL}, "PUT", 403},
		{"the cookie from another site", browser{cookie: b.cookie, csrf: b.csrf, origin: "http://evil.example"}, "POST", 403},
	} {
		if code, _, body := c.who.do(t, srv, c.method, "/sim/calls", call); code != c.want {
			t.Errorf("%s: %s /sim/calls: %d %s, want %d", c.name, c.method, code, body, c.want)
		}
	}
	if got := sim.requests(); len(got) != 0 {
		t.Fatalf("the simulator was reached without a proper sign-in: %q", got)
	}

	// Signed in, the console reads and changes; a script with the token too.
	if code, _, body := (browser{cookie: b.cookie}).do(t, srv, "GET", "/sim/calls/c1", ""); code != 200 || body != `{"id":"c1"}` {
		t.Errorf("the console reads a call: %d %s", code, body)
	}
	if code, _, body := b.do(t, srv, "POST", "/sim/calls", call); code != 200 {
		t.Errorf("the console places a call: %d %s", code, body)
	}
	if code, _, body := (browser{auth: "Bearer " + token}).do(t, srv, "POST", "/sim/calls/c1/keys", `{"keys":"1"}`); code != 200 {
		t.Errorf("a script presses a key: %d %s", code, body)
	}
	want := []string{"GET /sim/calls/c1 ", "POST /sim/calls " + call, `POST /sim/calls/c1/keys {"keys":"1"}`}
	if got := sim.requests(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("the simulator got %q, want %q", got, want)
	}

	var p api.PhoneInfo
	if code := do(t, srv, "GET", "/api/v1/phone", "", &p); code != 200 || p.Device != "om1" || p.Trunk != "60001" || p.Control != "/sim/" {
		t.Errorf("GET /api/v1/phone: %d %+v", code, p)
	}
	var pl api.PromptList
	if code := do(t, srv, "GET", "/api/v1/prompts", "", &pl); code != 200 || pl.Prompts["user_welcome"] != "Welcome to the Grand Hotel" {
		t.Errorf("GET /api/v1/prompts: %d %+v", code, pl)
	}
}

// TestSimWithoutSimulator: with no simulator in the process /sim/ is 404
// (after the sign-in, which a stranger meets first) and so is the phone.
func TestSimWithoutSimulator(t *testing.T) {
	srv := newServer(t, newFake(), nil)
	bearer := browser{auth: "Bearer " + token}
	for _, p := range []string{"/sim/calls", "/sim/calls/c1", "/sim/exts"} {
		if code, _, body := bearer.do(t, srv, "GET", p, ""); code != 404 || !strings.Contains(body, "ivrd demo") {
			t.Errorf("GET %s: %d %s, want 404", p, code, body)
		}
		if code, _, _ := (browser{}).do(t, srv, "GET", p, ""); code != 401 {
			t.Errorf("GET %s without a token: %d, want 401", p, code)
		}
	}
	if code, _, _ := bearer.do(t, srv, "POST", "/sim/calls", `{"from":"1"}`); code != 404 {
		t.Errorf("POST /sim/calls: %d, want 404", code)
	}
	if code := do(t, srv, "GET", "/api/v1/phone", "", nil); code != 404 {
		t.Errorf("GET /api/v1/phone: %d, want 404", code)
	}
	var pl api.PromptList
	if code := do(t, srv, "GET", "/api/v1/prompts", "", &pl); code != 200 || pl.Prompts == nil || len(pl.Prompts) != 0 {
		t.Errorf("GET /api/v1/prompts without texts: %d %+v", code, pl)
	}
}

// TestConsolePagesServed: the Devices and Phone pages' files are served
// and the console's page loads them.
func TestConsolePagesServed(t *testing.T) {
	srv := newServer(t, newFake(), nil)
	_, _, index := browser{}.do(t, srv, "GET", "/", "")
	for _, c := range []struct{ path, ctype, has string }{
		{"/console/devices.js", "text/javascript", `page("devices"`},
		{"/console/phone.js", "text/javascript", `page("phone"`},
		{"/console/phone.css", "text/css", ".keypad"},
	} {
		code, h, body := browser{}.do(t, srv, "GET", c.path, "")
		if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), c.ctype) || !strings.Contains(body, c.has) {
			t.Errorf("GET %s: %d %q", c.path, code, h.Get("Content-Type"))
		}
		if strings.HasSuffix(c.path, ".js") && !strings.Contains(index, `<script src="`+c.path+`" defer></script>`) {
			t.Errorf("the console's page does not load %s", c.path)
		}
	}
}
