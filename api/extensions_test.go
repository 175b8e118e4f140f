package api_test

import (
	"testing"

	"github.com/ivrd/ivrd/api"
)

// GET /api/v1/devices/{name}/extensions lists a device's extensions; an
// unknown device is a 404.
func TestDeviceExtensions(t *testing.T) {
	srv := newServer(t, newFake(), func(o *api.Options) { o.Devices = &fakeDevices{} })
	var l api.ExtList
	if code := getJSON(t, srv, "/api/v1/devices/om1/extensions", &l); code != 200 || l.Device != "om1" ||
		len(l.Exts) != 2 || l.Exts[1] != (api.Ext{ID: "201", State: "busy"}) {
		t.Fatalf("%d %+v", code, l)
	}
	var e api.Error
	if code := getJSON(t, srv, "/api/v1/devices/om9/extensions", &e); code != 404 {
		t.Fatalf("unknown device: %d %+v", code, e)
	}
	bare := newServer(t, newFake(), nil)
	if code := getJSON(t, bare, "/api/v1/devices/om1/extensions", &e); code != 404 {
		t.Fatalf("no devices: %d %+v", code, e)
	}
}
