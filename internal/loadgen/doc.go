// Package loadgen drives a realistic telephone workload against a system
// that plays the IVR side of the OM API, and measures it: the engine of
// "ivrd bench".
//
// One or more simulated OMs (omsim, on real time, with short voice files)
// place calls and press keys as callers would; the System under test — ivrd
// in-process, or Ceiling, a bare responder with a hard-coded state machine
// per call and no engine, Lua or store — receives their reports and
// commands them over loopback. Run counts calls, reports and commands,
// times each report from the moment the system has read it off its socket
// to the moment the device receives the command that answers it, samples
// live calls and resident memory, and counts what went wrong.
//
// The workloads (Survey, Menu, Wakeup, Parked) are Lua flows embedded here
// (Flows) for ivrd, the same exchanges in Go for the ceiling, and a caller
// script for the simulated devices.
//
// Two kinds of abuse can run beside a workload: a share of the calls sent
// to HostileFlows, which the sandbox must stop and hand to the fallback
// (Options.Hostile), and bad reports at a steady rate, which the system
// must refuse with the status of each kind (Options.JunkRate). Their
// outcomes are counted apart from the ordinary calls' figures.
package loadgen
