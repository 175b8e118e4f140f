package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/ivrd/ivrd/engine"
)

// Clicks is what the API needs for click-to-call; the engine's Router
// implements it.
type Clicks interface {
	// PlaceClick asks the device for the call (engine.Router.PlaceClick).
	PlaceClick(ctx context.Context, req engine.ClickRequest) (engine.Click, error)
	// Click returns one click, or engine.ErrNoClick; Clicks the newest.
	Click(id string) (engine.Click, error)
	Clicks(limit int) []engine.Click
	// CancelClick ends a click through the device (engine.ErrNoClick,
	// engine.ErrClickOver).
	CancelClick(ctx context.Context, id string) (engine.Click, error)
}

// ClickList is the answer of GET /api/v1/dials.
type ClickList struct {
	Dials []engine.Click `json:"dials"`
}

// ClickError is the answer when the device refuses a click-to-call (409,
// with the reason word and the device's FAILED code) or does not answer
// (502). Dial is the click, ended, as GET /api/v1/dials/{id} shows it.
type ClickError struct {
	Msg    string       `json:"error"`
	Reason string       `json:"reason,omitempty"`
	Code   int          `json:"code,omitempty"`
	Dial   engine.Click `json:"dial"`
}

// DefaultClickLimit is how many clicks GET /api/v1/dials lists without
// ?limit.
const DefaultClickLimit = 50

func (s *Server) clickRoutes(routes map[string]func(*http.Request) (int, any, error)) {
	routes["POST /api/v1/dial"] = s.placeDial
	routes["POST /api/v1/connect"] = s.placeConnect
	routes["GET /api/v1/dials"] = s.clicks
	routes["GET /api/v1/dials/{id}"] = s.click
	routes["DELETE /api/v1/dials/{id}"] = s.cancelClick
}

var errNoClicks = fmt.Errorf("%w: this daemon does not place click-to-calls", ErrNotAvailable)

// POST /api/v1/dial {device?, ext, number, trunk?}: the device rings ext,
// then calls number. 202 with the click.
func (s *Server) placeDial(r *http.Request) (int, any, error) {
	req := engine.ClickRequest{Type: engine.ClickDial}
	return s.placeClick(r, &req, []string{"device", "ext", "number", "trunk"},
		map[string]*string{"device": &req.Device, "ext": &req.Ext, "number": &req.Number, "trunk": &req.Trunk})
}

// POST /api/v1/connect {device?, from_ext, to_ext}: the device rings
// from_ext, then to_ext. 202 with the click.
func (s *Server) placeConnect(r *http.Request) (int, any, error) {
	req := engine.ClickRequest{Type: engine.ClickConnect}
	return s.placeClick(r, &req, []string{"device", "from_ext", "to_ext"},
		map[string]*string{"device": &req.Device, "from_ext": &req.Ext, "to_ext": &req.ToExt})
}

func (s *Server) placeClick(r *http.Request, req *engine.ClickRequest, known []string, dst map[string]*string) (int, any, error) {
	if s.opt.Clicks == nil {
		return 0, nil, errNoClicks
	}
	f, err := s.readBody(r, "", known...)
	if err != nil {
		return 0, nil, err
	}
	for _, name := range known {
		if err := field(f, name, "", dst[name], "a string"); err != nil {
			return 0, nil, err
		}
	}
	req.Source = "api"
	// The command runs to its own timeout even if the client goes: the
	// device may act on it, and the click must say what became of it.
	c, err := s.opt.Clicks.PlaceClick(context.WithoutCancel(r.Context()), *req)
	var ref *engine.Refusal
	switch {
	case errors.As(err, &ref):
		msg := fmt.Sprintf("device %s refused the call: %s", c.Device, ref.Reason)
		if ref.Code != 0 {
			msg += fmt.Sprintf(" (FAILED code %d)", ref.Code)
		}
		return http.StatusConflict, &ClickError{Msg: msg, Reason: ref.Reason, Code: ref.Code, Dial: c}, nil
	case errors.Is(err, engine.ErrDeviceDown):
		return http.StatusBadGateway, &ClickError{Msg: err.Error(), Reason: engine.ReasonDeviceDown, Dial: c}, nil
	case err != nil:
		return 0, nil, err
	}
	s.log.Info("click-to-call placed", "click", c.ID, "type", c.Type, "device", c.Device, "ext", c.Ext, "remote", r.RemoteAddr)
	return http.StatusAccepted, c, nil
}

// GET /api/v1/dials[?limit=N]: the newest clicks first.
func (s *Server) clicks(r *http.Request) (int, any, error) {
	if s.opt.Clicks == nil {
		return 0, nil, errNoClicks
	}
	limit, err := limitParam(r, DefaultClickLimit, engine.DefaultClicksKept)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, ClickList{Dials: s.opt.Clicks.Clicks(limit)}, nil
}

// GET /api/v1/dials/{id}
func (s *Server) click(r *http.Request) (int, any, error) {
	if s.opt.Clicks == nil {
		return 0, nil, errNoClicks
	}
	c, err := s.opt.Clicks.Click(r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, c, nil
}

// DELETE /api/v1/dials/{id}: hangs the click's call up; 200 with the
// click, 409 when it has ended already.
func (s *Server) cancelClick(r *http.Request) (int, any, error) {
	if s.opt.Clicks == nil {
		return 0, nil, errNoClicks
	}
	id := r.PathValue("id")
	c, err := s.opt.Clicks.CancelClick(context.WithoutCancel(r.Context()), id)
	switch {
	case errors.Is(err, engine.ErrClickOver):
		return 0, nil, &Error{Status: http.StatusConflict, Msg: fmt.Sprintf("click-to-call %s is %s already", id, c.State)}
	case errors.Is(err, engine.ErrDeviceDown):
		return http.StatusBadGateway, &ClickError{Msg: err.Error(), Reason: engine.ReasonDeviceDown, Dial: c}, nil
	case err != nil:
		return 0, nil, err
	}
	s.log.Info("click-to-call cancelled", "click", id, "device", c.Device, "ext", c.Ext, "remote", r.RemoteAddr)
	return http.StatusOK, c, nil
}
