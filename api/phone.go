package api

import (
	"net/http"
	"strings"
)

// Phone is a simulated OM running inside ivrd (as in "ivrd demo"), which
// the console's phone uses to call into the IVR as a caller would.
type Phone struct {
	// Control is the simulator's control API (omsim's ControlHandler),
	// served under /sim/ behind the sign-in.
	Control http.Handler
	// Device is the name of the device the simulator is; Trunk the number
	// its incoming calls dial; Exts its extensions.
	Device string
	Trunk  string
	Exts   []string
}

// PhoneInfo is the answer of GET /api/v1/phone.
type PhoneInfo struct {
	Device string   `json:"device"`
	Trunk  string   `json:"trunk"`
	Exts   []string `json:"exts"`
	// Control is where the simulator's control API is: "/sim/".
	Control string `json:"control"`
}

// GET /api/v1/phone: whether the console's phone works here (404 when no
// simulator runs in the process).
func (s *Server) phone(r *http.Request) (int, any, error) {
	p := s.opt.Phone
	if p == nil || p.Control == nil {
		return 0, nil, &Error{Status: http.StatusNotFound,
			Msg: "no simulated OM runs inside this ivrd; the phone works under \"ivrd demo\""}
	}
	exts := p.Exts
	if exts == nil {
		exts = []string{}
	}
	return http.StatusOK, PhoneInfo{Device: p.Device, Trunk: p.Trunk, Exts: exts, Control: "/sim/"}, nil
}

// sim serves /sim/: the simulator's control API when one runs in the
// process, else 404. ServeHTTP has checked the sign-in (and, for a
// change made with the console's cookie, its CSRF token).
func (s *Server) sim(w http.ResponseWriter, r *http.Request) {
	p := s.opt.Phone
	if p == nil || p.Control == nil {
		writeJSON(w, http.StatusNotFound, &Error{Msg: "no simulated OM runs inside this ivrd; /sim/ works under \"ivrd demo\""})
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	if !safeMethod(r.Method) {
		s.log.Info("phone", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
	}
	p.Control.ServeHTTP(w, r)
}

// guarded reports whether a path needs the sign-in: the API, and the
// simulator's control API (whether or not a simulator runs, so that the
// answer does not tell a stranger).
func guarded(path string) bool {
	return (strings.HasPrefix(path, "/api/") && path != "/api/v1/session") || strings.HasPrefix(path, "/sim/") || path == "/sim"
}

// PromptList is the answer of GET /api/v1/prompts: what each voice file
// says, from the configuration's [prompts].
type PromptList struct {
	Prompts map[string]string `json:"prompts"`
}

// GET /api/v1/prompts
func (s *Server) prompts(r *http.Request) (int, any, error) {
	out := PromptList{Prompts: map[string]string{}}
	for k, v := range s.opt.Prompts {
		out.Prompts[k] = v
	}
	return http.StatusOK, out, nil
}
