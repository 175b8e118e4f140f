package api

import (
	"errors"
	"net/http"
	"time"
)

// ExtList is the answer of GET /api/v1/devices/{name}/extensions: the
// device's extensions and their states, as its reports left them and
// the last query of its extensions corrected them.
type ExtList struct {
	Device string `json:"device"`
	Exts   []Ext  `json:"exts"`
	// Queried is when the device's extensions were last asked for
	// (Query ext); QueryError why that failed, when it did.
	Queried    time.Time `json:"queried,omitzero"`
	QueryError string    `json:"query_error,omitempty"`
	// Corrected counts the states the queries have corrected since ivrd
	// started: reports the device sent and ivrd never got.
	Corrected int `json:"corrected"`
}

// DeviceExts is what a Devices may also offer: a device's extensions
// with what the periodic query found. Without it the extensions are the
// device's Exts.
type DeviceExts interface {
	// Extensions returns a device's extensions; ErrNotFound for a name
	// that is not configured.
	Extensions(name string) (ExtList, error)
}

// GET /api/v1/devices/{name}/extensions
func (s *Server) deviceExts(r *http.Request) (int, any, error) {
	name := r.PathValue("name")
	if de, ok := s.opt.Devices.(DeviceExts); ok {
		l, err := de.Extensions(name)
		if errors.Is(err, ErrNotFound) {
			return 0, nil, noDevice(name)
		}
		if err != nil {
			return 0, nil, err
		}
		if l.Exts == nil {
			l.Exts = []Ext{}
		}
		return http.StatusOK, l, nil
	}
	if s.opt.Devices != nil {
		for _, d := range s.opt.Devices.Devices() {
			if d.Name == name {
				return http.StatusOK, ExtList{Device: name, Exts: d.Exts}, nil
			}
		}
	}
	return 0, nil, noDevice(name)
}
