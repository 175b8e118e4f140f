package api

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Device is an OM device as GET /api/v1/devices shows it: whether ivrd
// reaches it, what it is, and what ivrd knows of its state.
type Device struct {
	Name string `json:"name"`
	URL  string `json:"url"`
	// Reachable is "yes" when the last check (Query DeviceInfo) was
	// answered, "no" when it failed (Error says why), "unknown" before the
	// first check has ended.
	Reachable string    `json:"reachable"`
	Checked   time.Time `json:"checked,omitzero"`
	// LatencyMS is how long the last answered check took.
	LatencyMS float64 `json:"latency_ms,omitempty"`
	Error     string  `json:"error,omitempty"`
	// LastReport is when the device last sent a report; LastBootup when
	// it last reported BOOTUP (since ivrd started).
	LastReport time.Time `json:"last_report,omitzero"`
	LastBootup time.Time `json:"last_bootup,omitzero"`
	// Manufacturer, Model, Firmware and MAC are the device's DeviceInfo,
	// from the last answered check.
	Manufacturer string `json:"manufacturer,omitempty"`
	Model        string `json:"model,omitempty"`
	Firmware     string `json:"firmware,omitempty"`
	MAC          string `json:"mac,omitempty"`
	// MenuRange is the menu ids ivrd may assign, [first, last]; Menus the
	// ones it has assigned so far.
	MenuRange [2]int `json:"menu_range"`
	Menus     []Menu `json:"menus"`
	// Exts are the extensions, from DeviceInfo and the device's reports,
	// with their last reported state ("unknown" when none came).
	Exts []Ext `json:"exts"`
	// LiveCalls counts the calls in the IVR on the device now.
	LiveCalls int `json:"live_calls"`
	// Simulated is set for the simulator running inside ivrd (ivrd demo),
	// which the console's phone drives.
	Simulated bool `json:"simulated,omitempty"`
}

// Menu is a voice menu ivrd has assigned on a device. Purpose is
// "prompts" (play and gather), "park" (silent waiting, outbound calls
// while they ring) or "other".
type Menu struct {
	ID         int    `json:"id"`
	Purpose    string `json:"purpose"`
	VoiceFile  string `json:"voicefile,omitempty"`
	Repeat     int    `json:"repeat"`
	InfoLength int    `json:"infolength"`
	Exit       string `json:"exit,omitempty"`
}

// Ext is an extension and its last reported state: idle, busy, ringing,
// offline or unknown.
type Ext struct {
	ID    string `json:"id"`
	State string `json:"state"`
}

// Devices is what the API needs to show the devices; cmd/ivrd implements
// it over the engine's Router and a check of each device.
type Devices interface {
	// Devices lists the configured devices, in configuration order.
	Devices() []Device
	// CheckDevice asks a device now (Query DeviceInfo) and returns what is
	// known after it; ErrNotFound for a name that is not configured. A
	// check that ran moments ago is not repeated: the device is not to be
	// hammered from a browser.
	CheckDevice(name string) (Device, error)
}

// DeviceList is the answer of GET /api/v1/devices.
type DeviceList struct {
	Devices []Device `json:"devices"`
}

// GET /api/v1/devices
func (s *Server) devices(r *http.Request) (int, any, error) {
	out := DeviceList{Devices: []Device{}}
	if s.opt.Devices != nil {
		out.Devices = append(out.Devices, s.opt.Devices.Devices()...)
	}
	return http.StatusOK, out, nil
}

// GET /api/v1/devices/{name}
func (s *Server) device(r *http.Request) (int, any, error) {
	name := r.PathValue("name")
	if s.opt.Devices != nil {
		for _, d := range s.opt.Devices.Devices() {
			if d.Name == name {
				return http.StatusOK, d, nil
			}
		}
	}
	return 0, nil, noDevice(name)
}

// POST /api/v1/devices/{name}/check: asks the device now.
func (s *Server) checkDevice(r *http.Request) (int, any, error) {
	name := r.PathValue("name")
	if s.opt.Devices == nil {
		return 0, nil, noDevice(name)
	}
	d, err := s.opt.Devices.CheckDevice(name)
	if errors.Is(err, ErrNotFound) {
		return 0, nil, noDevice(name)
	}
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, d, nil
}

func noDevice(name string) error {
	return &Error{Status: http.StatusNotFound, Msg: fmt.Sprintf("no device %q is configured", name)}
}
