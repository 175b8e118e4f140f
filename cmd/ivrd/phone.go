package main

import (
	"strings"

	"github.com/ivrd/ivrd/api"
)

// phoneDevice names the device that Server.Phone is: the one whose URL is
// the simulator's ("" without a simulator, or when no device is it).
func (s *Server) phoneDevice() string {
	if s.Phone == nil {
		return ""
	}
	url := strings.TrimSuffix(s.Phone.URL(), "/")
	for _, d := range s.cfg.Devices {
		if strings.TrimSuffix(d.URL, "/") == url {
			return d.Name
		}
	}
	return ""
}

// phone is the in-process simulator as the admin API offers it to the
// console's phone; nil when there is none.
func (s *Server) phone() *api.Phone {
	name := s.phoneDevice()
	if name == "" {
		if s.Phone != nil {
			s.log.Warn("the in-process simulator is none of the configured devices; the console's phone is off", "sim", s.Phone.URL())
		}
		return nil
	}
	c := s.Phone.Config()
	return &api.Phone{Control: s.Phone.ControlHandler(), Device: name, Trunk: c.Trunk, Exts: c.Exts}
}
