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

// funnelCount counts a funnel call by call. It keeps only the totals, so
// a long period costs memory by prompt, not by call.
type funnelCount struct {
	f     Funnel
	steps map[string]*funnelStep
}

// funnelStep is a step being counted, with the sum of its first play's
// positions in the calls' paths (for the order of the steps).
type funnelStep struct {
	FunnelStep
	posSum float64
}

func newFunnelCount(flow string, p Period) *funnelCount {
	return &funnelCount{f: Funnel{Flow: flow, Period: p, Steps: []FunnelStep{}, Outcomes: map[string]int{}},
		steps: map[string]*funnelStep{}}
}

// add counts one ended call.
func (fc *funnelCount) add(c engine.HistoryEntry) {
	fc.f.Calls++
	fc.f.Outcomes[c.Outcome]++
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
		a := fc.steps[e.Value]
		if a == nil {
			a = &funnelStep{FunnelStep: FunnelStep{Prompt: e.Value}}
			fc.steps[e.Value] = a
		}
		a.Reached++
		a.posSum += float64(n)
		n++
	}
	if c.Outcome == "caller_hangup" {
		if last == "" {
			fc.f.HungUpBeforePrompt++
		} else {
			fc.steps[last].HungUp++
		}
	}
}

// funnel returns the funnel of the calls counted so far.
func (fc *funnelCount) funnel() Funnel {
	list := make([]*funnelStep, 0, len(fc.steps))
	for _, a := range fc.steps {
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
	f := fc.f
	f.Steps = make([]FunnelStep, 0, len(list))
	for _, a := range list {
		f.Steps = append(f.Steps, a.FunnelStep)
	}
	return f
}

// GET /api/v1/flows/{name}/funnel[?since=T][&until=T]: the flow's funnel
// over the calls that ended in the period (all the history keeps when
// open). The history is read a page at a time and each call counted as it
// comes, so no more than a page is held at once.
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
	fc := newFunnelCount(flow, p)
	truncated := false
pages:
	for {
		page, err := s.b.SearchHistory(q)
		if err != nil {
			return 0, nil, err
		}
		for _, h := range page.Calls {
			if h.Flow != flow || !p.Has(h.Ended) {
				continue
			}
			if fc.f.Calls == MaxFunnelCalls {
				truncated = true
				break pages
			}
			fc.add(h)
		}
		if page.Next == "" || page.Next == q.Before {
			break
		}
		q.Before = page.Next
	}
	f := fc.funnel()
	f.Truncated = truncated
	return http.StatusOK, f, nil
}
