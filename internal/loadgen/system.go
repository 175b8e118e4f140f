package loadgen

import (
	"context"
	"net"
)

// System is what the load is driven against: it plays the IVR side of the
// OM API for a set of devices.
type System interface {
	// Name names the system in the results ("ivrd", "ceiling").
	Name() string
	// Open starts serving: the devices push their reports to
	// http://LN/om/NAME, and the system commands each at its URL. The
	// workload's flow is named by w.
	Open(ctx context.Context, ln net.Listener, devices []Device, w Workload) error
	// Dial asks for an outbound call from a device to number (the wake-up
	// workload). The system paces its dialling by DialLimits.
	Dial(device, number string) error
	// Live returns how many calls the system holds, or -1 if it does not
	// say.
	Live() int
	// Close stops the system. Run calls it once the calls have drained.
	Close() error
}

// Device is a simulated OM as a System sees it.
type Device struct {
	Name string // reports go to /om/Name
	URL  string // commands go to URL/xml
	// ReportSecret, when set, signs the device's reports: the system
	// must answer 401 to a report not signed with it, or signed long ago.
	ReportSecret string
	// Allow, when set, lists the addresses the device reports from: the
	// system must answer 403 to a report from any other.
	Allow []string
	// Fallback is the extension the system hands a call to when its flow
	// fails or is stopped (FallbackExt).
	Fallback string
}

// DialLimits pace outbound calls, in ivrd's and the ceiling's dialler
// alike.
type DialLimits struct {
	MaxConcurrent int     // live outbound calls over all devices
	PerSecond     float64 // new outbound calls per second and device
}
