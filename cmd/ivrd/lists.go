package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ivrd/ivrd/engine"
)

// ListsConfig is [lists]: the caller lists the router applies before
// routing. The lists themselves live in the state file and are managed
// through the admin API (/api/v1/lists).
type ListsConfig struct {
	// Block names the list whose callers are refused before routing: an
	// INCOMING hears BlockPrompt and is hung up, an INVITE is refused
	// unanswered. Empty blocks no one.
	Block string `toml:"block"`
	// BlockPrompt is the voice file ("user_blocked", or a chain
	// "user_a+user_b") a blocked INCOMING hears before the hang-up; empty
	// hangs up at once. Needs Block.
	BlockPrompt string `toml:"block_prompt"`
}

func (l ListsConfig) validate() error {
	if l.Block != "" {
		if err := engine.CheckListName(l.Block); err != nil {
			return fmt.Errorf("lists.block: %q is not a list name (letters, digits, '-' and '_')", l.Block)
		}
	}
	if l.BlockPrompt == "" {
		return nil
	}
	if l.Block == "" {
		return errors.New("lists.block_prompt: set lists.block, the list whose callers hear it")
	}
	for _, f := range strings.Split(l.BlockPrompt, "+") {
		if !fileRE.MatchString(f) {
			return fmt.Errorf("lists.block_prompt: %q is not a voice file name or a chain of them (letters, digits, '_', joined by '+')", l.BlockPrompt)
		}
	}
	return nil
}

// engine returns [lists] for the router.
func (l ListsConfig) engine() engine.Block {
	return engine.Block{List: l.Block, Prompt: l.BlockPrompt}
}

// validateRouteList checks a route's list.
func validateRouteList(list string) error {
	if list == "" {
		return nil
	}
	if err := engine.CheckListName(list); err != nil {
		return fmt.Errorf("list: %q is not a list name (letters, digits, '-' and '_')", list)
	}
	return nil
}

// ---- metrics ----

var _ engine.ListObserver = (*metrics)(nil)

// ListDecision counts the router's caller-list decisions.
func (m *metrics) ListDecision(list, decision string) {
	m.listDecisions.WithLabelValues(list, decision).Inc()
}

// ListDecision tells the observers that count list decisions.
func (obs observers) ListDecision(list, decision string) {
	for _, o := range obs {
		if lo, ok := o.(engine.ListObserver); ok {
			lo.ListDecision(list, decision)
		}
	}
}
