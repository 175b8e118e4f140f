package engine

import (
	"context"
	"fmt"
	"testing"
)

// assignPBX records menu assignments; a pool test needs nothing else.
type assignPBX struct {
	PBX
	assigned map[int]MenuSettings
}

func (p *assignPBX) AssignMenu(_ context.Context, id int, m MenuSettings) error {
	p.assigned[id] = m
	return nil
}

// Each id keeps its settings from one start to the next, whatever the
// calls ask for first: a call recovered in a menu must not find it
// assigned to other settings (a prompt menu turned into the looping park
// menu would play its prompt for ever; a park menu turned into a prompt
// menu would end a parked call's silence).
func TestMenuIDsKeepTheirSettingsAcrossStarts(t *testing.T) {
	ctx := context.Background()
	start := func(order func(p *menuPool, d *Device)) map[int]MenuSettings {
		pbx := &assignPBX{assigned: map[int]MenuSettings{}}
		d := &Device{Name: "om1", PBX: pbx}
		p := newMenuPool(41, 50)
		order(p, d)
		return pbx.assigned
	}
	// Before the restart: prompts first, three ids to alternate, then a
	// call parked.
	before := start(func(p *menuPool, d *Device) {
		if _, err := p.ids(ctx, d, playMenu, 3); err != nil {
			t.Fatal(err)
		}
		if _, err := p.get(ctx, d, parkMenu); err != nil {
			t.Fatal(err)
		}
	})
	// After it: the park menu first (a recovered outbound call), then
	// prompts.
	after := start(func(p *menuPool, d *Device) {
		if _, err := p.get(ctx, d, parkMenu); err != nil {
			t.Fatal(err)
		}
		if _, err := p.ids(ctx, d, playMenu, 3); err != nil {
			t.Fatal(err)
		}
	})
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Fatalf("menus before a restart %v, after it %v", before, after)
	}
	if before[41] != playMenu || before[42] != parkMenu {
		t.Errorf("menus %v: want the play menu in 41 and the park menu in 42", before)
	}
}
