package engine

import (
	"regexp"
	"sort"
)

// deviceNameRE is the shape of a device's name.
var deviceNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// ValidDeviceName reports whether name has the shape of a device's name:
// letters, digits, '-' and '_'. The name is part of the report URL
// (/om/<name>) and the folder of the device's recordings.
func ValidDeviceName(name string) bool { return deviceNameRE.MatchString(name) }

// extRE is the shape of an extension's (or a group's) number.
var extRE = regexp.MustCompile(`^[0-9]{1,16}$`)

// ValidExt reports whether s has the shape of an extension's (or a
// group's) number: 1–16 digits.
func ValidExt(s string) bool { return extRE.MatchString(s) }

// MenuUse is a voice menu ivrd has assigned on a device: its id and the
// settings it was given. Calls play their prompts through it (the prompt
// is given per call), so one menu serves many calls at once.
type MenuUse struct {
	ID       int
	Settings MenuSettings
	// Purpose says what the engine uses it for: "prompts" (play and
	// gather), "park" (calls waiting in silence, outbound calls while they
	// ring), or "other".
	Purpose string
}

// Menu purposes of MenuUse.
const (
	MenuPrompts = "prompts"
	MenuPark    = "park"
	MenuOther   = "other"
)

// Menus lists the menus the engine has assigned on a device, by id; nil
// for a device it does not drive. The range a device may use is
// Device.MenuFirst–MenuLast.
func (r *Router) Menus(device string) []MenuUse {
	d := r.devices[device]
	if d == nil || d.menus == nil {
		return nil
	}
	p := d.menus
	p.mu.Lock()
	out := []MenuUse{}
	for m, ids := range p.byKey {
		purpose := MenuOther
		switch m {
		case playMenu:
			purpose = MenuPrompts
		case parkMenu:
			purpose = MenuPark
		}
		for _, id := range ids {
			out = append(out, MenuUse{ID: id, Settings: m, Purpose: purpose})
		}
	}
	p.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// ExtStates returns the last known state of every extension of a device
// the device has reported on (BUSY, IDLE, RING, ANSWER, ONLINE, OFFLINE),
// by extension: idle, busy, ringing or offline. Extensions it never
// reported on are absent (ExtState calls them unknown).
func (r *Router) ExtStates(device string) map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]string, len(r.exts[device]))
	for ext, st := range r.exts[device] {
		out[ext] = st
	}
	return out
}

// Device returns the device the router drives under name.
func (r *Router) Device(name string) (*Device, bool) {
	d, ok := r.devices[name]
	return d, ok
}
