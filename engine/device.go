package engine

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// How gather waits after a prompt (omapi.md assumption 1).
const (
	// WaitParked: the call sits silent in the menu after EndOfAnn, still
	// reporting keys, while ivrd's timer runs.
	WaitParked = "parked"
	// WaitSilence: the prompt is followed by copies of the silence file
	// covering the timeout, so the device is still playing while ivrd
	// waits; EndOfAnn then means no input.
	WaitSilence = "silence"
)

// Device defaults.
const (
	DefaultCommandTimeout = 5 * time.Second
	DefaultSilenceFile    = "silence"
	DefaultSilenceLength  = time.Second
)

// Device is one OM the engine drives, with its configuration.
type Device struct {
	Name string
	PBX  PBX
	// TZ is the zone of the device's clock, in which its call records'
	// times are written (nil: UTC).
	TZ *time.Location
	// MenuFirst and MenuLast bound the menu ids ivrd may assign (1–50).
	MenuFirst, MenuLast int
	// Fallback is the extension that takes calls whose flow failed or
	// that no route matches; "" hangs them up.
	Fallback string
	// Wait is WaitParked (default) or WaitSilence.
	Wait string
	// SilenceFile and SilenceLength describe the device's silence file
	// (default "silence", 1 s).
	SilenceFile   string
	SilenceLength time.Duration
	// DigitFiles are the files say_digits plays for 0–9 (default
	// user_digit_0 … user_digit_9).
	DigitFiles [10]string
	// CommandTimeout bounds each command (default 5 s).
	CommandTimeout time.Duration
	// Reconcile is how long a waiting call may go without a report before
	// ivrd asks the device whether it is still up, in case its hang-up
	// report was lost (default DefaultReconcile).
	Reconcile time.Duration
	// MaxPrompt is how long a prompt may play before ivrd takes its end
	// report as lost and carries on (default DefaultMaxPrompt).
	MaxPrompt time.Duration

	menus *menuPool
}

func (d *Device) commandTimeout() time.Duration {
	if d.CommandTimeout > 0 {
		return d.CommandTimeout
	}
	return DefaultCommandTimeout
}

func (d *Device) fill() error {
	if d.Name == "" {
		return fmt.Errorf("device: name is empty")
	}
	if d.PBX == nil {
		return fmt.Errorf("device %s: no PBX", d.Name)
	}
	if d.MenuFirst == 0 && d.MenuLast == 0 {
		d.MenuFirst, d.MenuLast = 41, 50
	}
	if d.MenuFirst < 1 || d.MenuLast > 50 || d.MenuFirst > d.MenuLast {
		return fmt.Errorf("device %s: menus: [%d, %d] is not a range within 1–50", d.Name, d.MenuFirst, d.MenuLast)
	}
	switch d.Wait {
	case "":
		d.Wait = WaitParked
	case WaitParked, WaitSilence:
	default:
		return fmt.Errorf("device %s: wait: %q is neither %q nor %q", d.Name, d.Wait, WaitParked, WaitSilence)
	}
	if d.SilenceFile == "" {
		d.SilenceFile = DefaultSilenceFile
	}
	if d.SilenceLength <= 0 {
		d.SilenceLength = DefaultSilenceLength
	}
	for i := range d.DigitFiles {
		if d.DigitFiles[i] == "" {
			d.DigitFiles[i] = "user_digit_" + strconv.Itoa(i)
		}
	}
	d.menus = newMenuPool(d.MenuFirst, d.MenuLast)
	return nil
}

// playMenu is the menu play and gather use: each key reported as pressed,
// no exit key, the prompt played once — so ivrd owns every digit timer.
var playMenu = MenuSettings{Repeat: 1, InfoLength: 1}

// menuPool hands out the device's menu ids, per distinct settings. Menus
// are shared by all calls (the prompt is given per call), and an id once
// given keeps its settings, so a menu a live call is in is never
// re-assigned to other settings. The play menu's first id is the range's
// first and the park menu's the second, at every start, whatever the
// calls ask for first: a call recovered after a restart may still be in
// the menu it was in, and that id must keep its settings. Further ids
// (for play and gather to alternate) follow.
type menuPool struct {
	mu          sync.Mutex
	first, last int
	byKey       map[MenuSettings][]int
	fixed       map[MenuSettings]int // each kind's first id
	next        int                  // the next id for a further menu
}

func newMenuPool(first, last int) *menuPool {
	p := &menuPool{first: first, last: last, byKey: map[MenuSettings][]int{}, fixed: map[MenuSettings]int{}}
	p.fixed[playMenu] = first
	if last > first {
		p.fixed[parkMenu] = first + 1
	}
	p.next = first + len(p.fixed)
	return p
}

// get returns the menu id for settings, assigning a free one on first use.
func (p *menuPool) get(ctx context.Context, d *Device, m MenuSettings) (int, error) {
	ids, err := p.ids(ctx, d, m, 1)
	if err != nil {
		return 0, err
	}
	return ids[0], nil
}

// ids returns up to n menu ids with settings m, assigning ids as needed:
// the kind's fixed id first, then free ones; it fails only when not even
// one can be had.
func (p *menuPool) ids(ctx context.Context, d *Device, m MenuSettings, n int) ([]int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	have := p.byKey[m]
	for len(have) < n {
		id, fixed := p.fixed[m]
		if !fixed || len(have) > 0 {
			id = p.next
		}
		if id > p.last {
			break
		}
		cctx, cancel := context.WithTimeout(ctx, d.commandTimeout())
		err := d.PBX.AssignMenu(cctx, id, m)
		cancel()
		if err != nil {
			if len(have) > 0 {
				break
			}
			return nil, fmt.Errorf("assign menu %d: %w", id, err)
		}
		if !fixed || len(have) > 0 {
			p.next++
		}
		have = append(have, id)
		p.byKey[m] = have
	}
	if len(have) == 0 {
		return nil, fmt.Errorf("device %s: no free menu id in %d–%d for settings %+v", d.Name, p.first, p.last, m)
	}
	if len(have) > n {
		have = have[:n]
	}
	return have, nil
}

// reassign assigns every menu again, as after the device rebooted.
func (p *menuPool) reassign(ctx context.Context, d *Device) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var first error
	for m, ids := range p.byKey {
		for _, id := range ids {
			cctx, cancel := context.WithTimeout(ctx, d.commandTimeout())
			err := d.PBX.AssignMenu(cctx, id, m)
			cancel()
			if err != nil && first == nil {
				first = fmt.Errorf("assign menu %d: %w", id, err)
			}
		}
	}
	return first
}

// ownsMenu reports whether a menu id (as the device writes it) is in the
// range ivrd assigns.
func (d *Device) ownsMenu(id string) bool {
	n, err := strconv.Atoi(id)
	return err == nil && n >= d.MenuFirst && n <= d.MenuLast
}
