package main

import (
	"encoding/json"
	"sort"

	"github.com/ivrd/ivrd/api"
	"github.com/ivrd/ivrd/engine"
)

// adminBackend is the running daemon as the admin API sees it.
type adminBackend struct {
	s *Server
}

var _ api.Backend = adminBackend{}

func (b adminBackend) Dial(req engine.DialRequest) (engine.Job, error) { return b.s.router.Dial(req) }
func (b adminBackend) Jobs() ([]engine.Job, error)                     { return b.s.router.Jobs() }
func (b adminBackend) Job(id string) (engine.Job, error)               { return b.s.router.Job(id) }
func (b adminBackend) CancelJob(id string) (engine.Job, error)         { return b.s.router.CancelJob(id) }

func (b adminBackend) Redirect(device string, leg engine.Leg, flow string, vars json.RawMessage) (string, error) {
	return b.s.router.Redirect(device, leg, flow, vars)
}

func (b adminBackend) LiveCalls() []api.Call {
	sessions := b.s.router.Sessions()
	out := make([]api.Call, 0, len(sessions))
	for _, x := range sessions {
		out = append(out, liveCall(x))
	}
	return out
}

// liveCall is a session as the API shows it.
func liveCall(x *engine.Session) api.Call {
	a := x.Activity()
	c := api.Call{
		ID: x.ID, Live: true, Device: x.Device.Name, Leg: x.Leg.String(), CallID: x.CallID,
		From: x.From, To: x.To, Direction: x.Direction, Origin: x.Origin, State: a.String(), Activity: &a, Started: x.Started,
	}
	if x.Flow != nil {
		c.Flow, c.FlowHash = x.Flow.Name, x.Flow.Hash
	}
	return c
}

func (b adminBackend) LiveCall(id string) (api.Call, bool) {
	for _, x := range b.s.router.Sessions() {
		if x.ID == id {
			c := liveCall(x)
			c.Path = x.Path()
			return c, true
		}
	}
	return api.Call{}, false
}

func (b adminBackend) History(id string) (engine.HistoryEntry, error) { return b.s.store.History(id) }

func (b adminBackend) SearchHistory(q engine.HistoryQuery) (engine.HistoryPage, error) {
	return b.s.store.SearchHistory(q)
}

func (b adminBackend) Flows() []api.FlowInfo {
	byName := map[string]*api.FlowInfo{}
	for _, f := range b.s.catalog.Flows() {
		byName[f.Name] = &api.FlowInfo{Name: f.Name, Hash: f.Hash, Path: f.Path}
	}
	for name, msg := range b.s.catalog.Errors() {
		if byName[name] == nil {
			byName[name] = &api.FlowInfo{Name: name, Path: flowFile(b.s.cfg.Flows, name)}
		}
		byName[name].Error = msg
	}
	out := make([]api.FlowInfo, 0, len(byName))
	for _, f := range byName {
		out = append(out, *f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (b adminBackend) ReloadFlows() error { return b.s.Reload() }

func (b adminBackend) KV(flow string) (map[string]json.RawMessage, error) { return b.s.store.KV(flow) }

func (b adminBackend) Ready() bool { return !b.s.draining.Load() }
