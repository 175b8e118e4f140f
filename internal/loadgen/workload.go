package loadgen

import (
	"fmt"
	"strings"
)

// Workload names what the callers do and which flow answers them; the
// system under test runs the flow of the same name.
type Workload string

// The workloads.
const (
	// Survey: INCOMING, three questions gathered one key each, a count
	// in ivr.store, then a transfer (one call in five) or a hang-up; the
	// caller hangs up after a transfer. 10 reports and 4 commands a call
	// (one more report and command with a transfer).
	Survey Workload = "survey"
	// Menu: a welcome, a one-key menu, then a transfer (two calls in
	// three) or a goodbye and a hang-up.
	Menu Workload = "menu"
	// Wakeup: a storm of outbound wake-up calls, all due at once, dialled
	// at the system's pace; the guest answers, hears the prompt and
	// confirms with 1.
	Wakeup Workload = "wakeup"
	// Parked: calls that hear a prompt and then wait, silent, in a
	// gather; used to measure the memory a live call holds.
	Parked Workload = "parked"
)

// Workloads lists the workloads, for usage text.
var Workloads = []Workload{Survey, Menu, Wakeup, Parked}

// ParseWorkload returns the workload named s.
func ParseWorkload(s string) (Workload, error) {
	for _, w := range Workloads {
		if string(w) == s {
			return w, nil
		}
	}
	names := make([]string, len(Workloads))
	for i, w := range Workloads {
		names[i] = string(w)
	}
	return "", fmt.Errorf("workload %q is not one of %s", s, strings.Join(names, ", "))
}

// Flow is the name of the flow that serves the workload.
func (w Workload) Flow() string { return string(w) }

// Prompts of the workloads, as the flows and the ceiling name them.
const (
	promptQ1      = "user_survey_q1"
	promptQ2      = "user_survey_q2"
	promptQ3      = "user_survey_q3"
	promptWelcome = "user_welcome"
	promptMenu    = "user_menu"
	promptBye     = "user_bye"
	promptWakeup  = "user_wakeup"
	promptConfirm = "user_wakeup_confirm"
	promptSilence = "silence"
)

// callerKey is the key caller n presses when it hears prompt, or "" for
// none. It fixes the mix: one survey caller in five rates the stay 1 (and
// is transferred), two menu callers in three choose a transfer.
func (w Workload) callerKey(n int, prompt string) string {
	switch w {
	case Survey:
		switch prompt {
		case promptQ1:
			if n%5 == 0 {
				return "1"
			}
			return "4"
		case promptQ2:
			return "3"
		case promptQ3:
			return "5"
		}
	case Menu:
		if prompt == promptMenu {
			return string(rune('1' + n%3))
		}
	}
	return ""
}

// transferExt is the extension a call from caller is transferred to:
// 2NNN, NNN the caller's last three digits, as the flows compute it.
func transferExt(caller string) string {
	if len(caller) < 3 {
		return "2" + caller
	}
	return "2" + caller[len(caller)-3:]
}
