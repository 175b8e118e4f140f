package api

import (
	"net/http"
	"sort"

	"github.com/ivrd/ivrd/engine"
)

// MaxFunnelCalls bounds the ended calls a funnel reads; beyond it the
// answer says it is truncated (the newest calls of the period counted).
const MaxFunnelCalls = 100_000

// Funnel is the answer of GET /api/v1/flows/{name}/funnel: over the ended
// calls of a flow in a period, how many reached each prompt and how many
// hung up during or after it. It is read from the calls' paths, which
// record a prompt played to its end or cut off by a key or by the
// caller's hang-up.
type Funnel struct {
	Flow   string `json:"flow"`
	Period Period `json:"period"`
	// Calls counts the flow's ended calls in the period; Truncated says
	// there were more than MaxFunnelCalls and only the newest counted.
	Calls     int  `json:"calls"`
	Truncated bool `json:"truncated,omitempty"`
	// Steps are the prompts, in the order callers meet them (the mean
	// position of each prompt's first play in the calls' paths).
	Steps []FunnelStep `json:"steps"`
	// HungUpBeforePrompt counts the callers who hung up before any prompt.
	HungUpBeforePrompt int `json:"hung_up_before_prompt"`
	// Outcomes counts the calls by how they ended ("transferred",
	// "caller_hangup", …).
	Outcomes map[string]int `json:"outcomes"`
}

// FunnelStep is one prompt of a funnel.
type FunnelStep struct {
	Prompt string `json:"prompt"`
	// Reached counts the calls that heard the prompt (whole, or cut off
	// by a key or a hang-up) at least once.
	Reached int `json:"reached"`
	// HungUp counts the callers who hung up with this the last prompt
	// they had heard: while it played, or waiting for keys after it.
	HungUp int `json:"hung_up"`
}

// funnelOf counts a funnel over calls.
func funnelOf(flow string, p Period, calls []engine.HistoryEntry) Funnel {
	f := Funnel{Flow: flow, Period: p, Steps: []FunnelStep{}, Outcomes: map[string]int{}}
	type acc struct {
		FunnelStep
		posSum float64
	}
	steps := map[string]*acc{}
	for _, c := range calls {
		f.Calls++
		f.Outcomes[c.Outcome]++
		seen := map[string]bool{}
		last, n := "", 0
		for _, e := range c.Path {
			if e.Kind != "prompt" && e.Kind != "prompt_interrupted" && e.Kind != "prompt_hangup" {
				continue
			}
			last = e.Value
			if seen[e.Value] {
				continue
			}
			seen[e.Value] = true
			a := steps[e.Value]
			if a == nil {
				a = &acc{FunnelStep: FunnelStep{Prompt: e.Value}}
				steps[e.Value] = a
			}
			a.Reached++
			a.posSum += float64(n)
			n++
		}
		if c.Outcome == "caller_hangup" {
			if last == "" {
				f.HungUpBeforePrompt++
			} else {
				steps[last].HungUp++
			}
		}
	}
	list := make([]*acc, 0, len(steps))
	for _, a := range steps {
		list = append(list, a)
	}
	sort.Slice(list, func(i, j int) bool {
		pi, pj := list[i].posSum/float64(list[i].Reached), list[j].posSum/float64(list[j].Reached)
		if pi != pj {
			return pi < pj
		}
		if list[i].Reached != list[j].Reached {
			return list[i].Reached > list[j].Reached
		}
		return list[i].Prompt < list[j].Prompt
	})
	for _, a := range list {
		f.Steps = append(f.Steps, a.FunnelStep)
	}
	return f
}

// GET /api/v1/flows/{name}/funnel[?since=T][&until=T]: the flow's funnel
// over the calls that ended in the period (all the history keeps when
// open).
func (s *Server) funnel(r *http.Request) (int, any, error) {
	flow := r.PathValue("name")
	if !deviceRE.MatchString(flow) {
		return 0, nil, badField("name", "%q is not a flow name (the file name without .lua)", flow)
	}
	p, err := periodParams(r)
	if err != nil {
		return 0, nil, err
	}
	q := engine.HistoryQuery{Since: p.Since, Until: p.Until, Limit: MaxHistoryLimit}
	var calls []engine.HistoryEntry
	truncated := false
	for {
		page, err := s.b.SearchHistory(q)
		if err != nil {
			return 0, nil, err
		}
		for _, h := range page.Calls {
			if h.Flow == flow && p.Has(h.Ended) {
				calls = append(calls, h)
			}
		}
		if len(calls) >= MaxFunnelCalls {
			calls, truncated = calls[:MaxFunnelCalls], true
			break
		}
		if page.Next == "" || page.Next == q.Before {
			break
		}
		q.Before = page.Next
	}
	f := funnelOf(flow, p, calls)
	f.Truncated = truncated
	return http.StatusOK, f, nil
}
