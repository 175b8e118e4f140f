package engine_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/ivrd/ivrd/engine"
	"github.com/ivrd/ivrd/internal/clock"
)

// agentPBX is a fakePBX with agent call control built from function
// fields; sent records each agent command.
type agentPBX struct {
	fakePBX
	extCall func(ext string) (engine.ExtCall, error)
	sent    []string
}

func (p *agentPBX) ExtCall(_ context.Context, ext string) (engine.ExtCall, error) {
	return p.extCall(ext)
}
func (p *agentPBX) Hold(_ context.Context, ext string, on bool) error {
	p.sent = append(p.sent, map[bool]string{true: "hold ", false: "unhold "}[on]+ext)
	return nil
}
func (p *agentPBX) HangupExt(_ context.Context, ext string) error {
	p.sent = append(p.sent, "hangup "+ext)
	return nil
}
func (p *agentPBX) Supervise(_ context.Context, mode, sup, ext string) error {
	p.sent = append(p.sent, mode+" "+sup+" "+ext)
	return nil
}

func agentRouter(t *testing.T, pbx engine.PBX) *engine.Router {
	t.Helper()
	rt, err := engine.NewRouter(engine.Config{
		Devices: []*engine.Device{{Name: "om1", PBX: pbx, Fallback: "200"}},
		Routes:  []engine.Route{{Flow: "main"}},
		Flows:   compileFlows(t, map[string]string{"main": `return { incoming = function(call) end }`}),
		Clock:   clock.NewVirtual(epoch),
	})
	if err != nil {
		t.Fatal(err)
	}
	rt.Start(context.Background())
	t.Cleanup(rt.Close)
	return rt
}

// Bad requests are refused before anything is sent, naming the field.
func TestAgentRequestChecks(t *testing.T) {
	pbx := &agentPBX{extCall: func(string) (engine.ExtCall, error) {
		t.Fatal("a bad request reached the device")
		return engine.ExtCall{}, nil
	}}
	rt := agentRouter(t, pbx)
	cases := []struct {
		name  string
		req   engine.AgentRequest
		field string
	}{
		{"no extension", engine.AgentRequest{Action: engine.AgentHold}, "ext"},
		{"unknown action", engine.AgentRequest{Ext: "201", Action: "mute"}, "action"},
		{"transfer nowhere", engine.AgentRequest{Ext: "201", Action: engine.AgentTransfer}, "ext"},
		{"transfer twice", engine.AgentRequest{Ext: "201", Action: engine.AgentTransfer, To: engine.Target{Ext: "202", Group: "1"}}, "group"},
		{"transfer to itself", engine.AgentRequest{Ext: "201", Action: engine.AgentTransfer, To: engine.Target{Ext: "201"}}, "ext"},
		{"transfer to a number", engine.AgentRequest{Ext: "201", Action: engine.AgentTransfer, To: engine.Target{Number: "139"}}, "to"},
		{"an unknown flow", engine.AgentRequest{Ext: "201", Action: engine.AgentTransfer, Flow: "nosuch"}, "flow"},
		{"vars without a flow", engine.AgentRequest{Ext: "201", Action: engine.AgentTransfer, To: engine.Target{Ext: "202"}, Vars: []byte(`{}`)}, "vars"},
		{"no mode", engine.AgentRequest{Ext: "201", Action: engine.AgentSupervise, Supervisor: "202"}, "mode"},
		{"no supervisor", engine.AgentRequest{Ext: "201", Action: engine.AgentSupervise, Mode: engine.SuperviseTalk}, "supervisor"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.req.Device = "om1"
			_, err := rt.Agent(context.Background(), c.req)
			var fe *engine.FieldError
			if !errors.As(err, &fe) || fe.Field != c.field {
				t.Fatalf("error %v, want a FieldError naming %s", err, c.field)
			}
		})
	}
	if _, err := rt.Agent(context.Background(), engine.AgentRequest{Device: "om9", Ext: "201", Action: engine.AgentHold}); !errors.Is(err, engine.ErrNoDevice) {
		t.Fatalf("unknown device: %v", err)
	}
}

// What the device says of the extension decides: no call, a refusal, no
// answer, a call between extensions (no caller to transfer).
func TestAgentDeviceAnswers(t *testing.T) {
	var call engine.ExtCall
	var callErr error
	pbx := &agentPBX{extCall: func(string) (engine.ExtCall, error) { return call, callErr }}
	rt := agentRouter(t, pbx)
	hold := engine.AgentRequest{Device: "om1", Ext: "201", Action: engine.AgentHold}
	transfer := engine.AgentRequest{Device: "om1", Ext: "201", Action: engine.AgentTransfer, To: engine.Target{Ext: "202"}}

	call = engine.ExtCall{State: engine.ExtIdle}
	if _, err := rt.Agent(context.Background(), hold); !errors.Is(err, engine.ErrNoExtCall) {
		t.Fatalf("idle: %v", err)
	}
	call, callErr = engine.ExtCall{}, &engine.Refusal{Reason: engine.ReasonNotFound}
	var ref *engine.Refusal
	if _, err := rt.Agent(context.Background(), hold); !errors.As(err, &ref) || ref.Reason != engine.ReasonNotFound {
		t.Fatalf("unknown ext: %v", err)
	}
	callErr = errors.New("connection refused")
	if _, err := rt.Agent(context.Background(), hold); !errors.Is(err, engine.ErrDeviceDown) {
		t.Fatalf("no answer: %v", err)
	}
	call, callErr = engine.ExtCall{State: engine.ExtBusy}, nil
	if _, err := rt.Agent(context.Background(), transfer); !errors.Is(err, engine.ErrNoExtCall) {
		t.Fatalf("transfer of a call between extensions: %v", err)
	}
	if _, err := rt.Agent(context.Background(), hold); err != nil {
		t.Fatalf("hold of a call between extensions: %v", err)
	}
	call.Legs = []engine.LegStatus{{Leg: engine.Leg{Kind: engine.LegVisitor, ID: "3"}, From: "138"}}
	res, err := rt.Agent(context.Background(), transfer)
	if err != nil || res.Leg != "visitor 3" || res.Target != "ext 202" {
		t.Fatalf("transfer: %+v %v", res, err)
	}
	if len(pbx.sent) != 1 || pbx.sent[0] != "hold 201" {
		t.Fatalf("agent commands %v", pbx.sent)
	}
	if l := pbx.log; len(l) == 0 || l[len(l)-1] != "transfer ext 202" {
		t.Fatalf("device log %v", l)
	}
}

// A device whose PBX offers no agent call control says so; nothing is
// sent.
func TestAgentWithoutAgentControl(t *testing.T) {
	pbx := &fakePBX{}
	rt := agentRouter(t, pbx)
	_, err := rt.Agent(context.Background(), engine.AgentRequest{Device: "om1", Ext: "201", Action: engine.AgentHangup})
	if !errors.Is(err, engine.ErrNoAgentControl) {
		t.Fatalf("error %v, want ErrNoAgentControl", err)
	}
}

// queryPBX is an agentPBX whose device knows the leg an agent's transfer
// into a flow takes over.
type queryPBX struct {
	agentPBX
}

func (p *queryPBX) Query(context.Context, engine.Leg) (engine.LegStatus, error) {
	return engine.LegStatus{CallID: "c3", From: "138", To: "60001", Connected: "ext 201"}, nil
}

// An agent's transfer into a flow answers only once the flow's first
// command has taken the caller from the extension: an agent who hangs up
// as soon as it is told must not cut the caller off.
func TestAgentTransferToFlowWaitsForTheFirstCommand(t *testing.T) {
	release := make(chan struct{})
	played := make(chan struct{})
	pbx := &queryPBX{agentPBX{extCall: func(string) (engine.ExtCall, error) {
		return engine.ExtCall{State: engine.ExtBusy, Legs: []engine.LegStatus{{Leg: engine.Leg{Kind: engine.LegVisitor, ID: "3"}, From: "138"}}}, nil
	}}}
	pbx.play = func(engine.Leg, int, string) error {
		close(played)
		<-release // the device takes its time to move the caller
		return nil
	}
	rt, err := engine.NewRouter(engine.Config{
		Devices: []*engine.Device{{Name: "om1", PBX: pbx, Fallback: "200"}},
		Routes:  []engine.Route{{Flow: "main"}},
		Flows:   compileFlows(t, map[string]string{"main": `return { incoming = function(call) call:play("user_welcome") end }`}),
		Clock:   clock.NewVirtual(epoch),
	})
	if err != nil {
		t.Fatal(err)
	}
	rt.Start(context.Background())
	t.Cleanup(rt.Close)
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock) // before rt.Close: a failing test leaves no session stuck in its play

	type answer struct {
		res engine.AgentResult
		err error
	}
	done := make(chan answer, 1)
	go func() {
		res, err := rt.Agent(context.Background(), engine.AgentRequest{Device: "om1", Ext: "201", Action: engine.AgentTransfer, Flow: "main"})
		done <- answer{res, err}
	}()
	<-played
	select {
	case a := <-done:
		t.Fatalf("the transfer answered %+v (%v) while the flow's first prompt was still being placed", a.res, a.err)
	default:
	}
	unblock()
	a := <-done
	if a.err != nil || a.res.Call == "" || a.res.Target != "flow main" {
		t.Fatalf("transfer: %+v %v", a.res, a.err)
	}
}
