package scenario

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/ivrd/ivrd/engine"
)

// check compares what happened with what the scenario expects, adding a
// failure for each difference.
func (r *rig) check(jobs []engine.Job) {
	sc := r.sc
	// Steps that never ran.
	for _, p := range r.parties {
		if p.step >= len(p.sc.steps) {
			continue
		}
		st := p.sc.steps[p.step]
		why := p.stopped
		switch {
		case why != "":
		case !p.active && p.kind == "callee":
			why = "the callee never answered"
		case !p.triggered && st.after != "":
			why = "it never heard " + st.after + " play to its end"
		case !p.triggered && st.hearing != "":
			why = "it never heard " + st.hearing
		case p.state == "ended":
			why = "the call had ended"
		default:
			why = "the scenario ended first"
		}
		r.fail("%s: step %d (%s) did not happen: %s", p.label, p.step+1, st, why)
	}

	// Scripted callers.
	callers := map[*script]*party{}
	for _, p := range r.parties {
		if p.kind == "call" {
			callers[p.sc] = p
		}
	}
	for i, cs := range sc.calls {
		p := callers[&cs.script]
		if p == nil {
			if cs.expect.any() {
				r.fail("call %d (%s → %s): never placed", i+1, cs.from, cs.to)
			}
			continue
		}
		r.checkParty(p, cs.expect)
	}

	// Callees: each script covers its attempt, the last one every later
	// attempt too.
	for _, n := range sc.numbers {
		scripts := sc.callees[n]
		for i, cs := range scripts {
			var got []*party
			for _, p := range r.parties {
				if p.callee == cs {
					got = append(got, p)
				}
			}
			if len(got) == 0 {
				if cs.expect.any() || len(cs.steps) > 0 {
					r.fail("callee %s, attempt %d: never called", n, i+1)
				}
				continue
			}
			for _, p := range got {
				r.checkParty(p, cs.expect)
			}
		}
	}

	// The flow's store.
	for _, k := range sortedKeys(sc.expect.store) {
		want := sc.expect.store[k]
		got, ok, err := r.store.Get(sc.flow, k)
		switch {
		case err != nil:
			r.fail("store %q: %v", k, err)
		case !ok:
			r.fail("store %q (flow %s): want %s, got nothing", k, sc.flow, want)
		case !sameJSON(want, got):
			r.fail("store %q (flow %s): want %s, got %s", k, sc.flow, want, compactJSON(got))
		}
	}

	for _, k := range sc.expect.storeAbsent {
		got, ok, err := r.store.Get(sc.flow, k)
		switch {
		case err != nil:
			r.fail("store %q: %v", k, err)
		case ok:
			r.fail("store_absent %q (flow %s): want nothing, got %s", k, sc.flow, compactJSON(got))
		}
	}

	// Jobs.
	if sc.expect.jobs != nil && *sc.expect.jobs != len(jobs) {
		r.fail("jobs: want %d, got %d%s", *sc.expect.jobs, len(jobs), jobList(jobs))
	}
	for i, je := range sc.expect.job {
		if i >= len(jobs) {
			r.fail("job %d: never made%s", i+1, jobList(jobs))
			continue
		}
		j := jobs[i]
		label := fmt.Sprintf("job %d (%s → %s)", i+1, j.ID, j.To)
		if je.to != "" && je.to != j.To {
			r.fail("%s: to: want %s, got %s", label, je.to, j.To)
		}
		if je.flow != "" && je.flow != j.Flow {
			r.fail("%s: flow: want %s, got %s", label, je.flow, j.Flow)
		}
		if je.state != "" && je.state != j.State {
			r.fail("%s: state: want %s, got %s%s", label, je.state, j.State, reasonText(j))
		}
		if je.attempts != nil && *je.attempts != len(j.Attempts) {
			r.fail("%s: attempts: want %d, got %d %s", label, *je.attempts, len(j.Attempts), outcomeList(j))
		}
		if je.outcomes != nil {
			var got []string
			for _, a := range j.Attempts {
				got = append(got, a.Outcome)
			}
			if !reflect.DeepEqual(nonNil(je.outcomes), nonNil(got)) {
				r.fail("%s: outcomes: want %s, got %s", label, listText(je.outcomes), listText(got))
			}
		}
		if je.attemptedAt != nil {
			var want, got []string
			for _, t := range je.attemptedAt {
				want = append(want, timeText(t, r.start))
			}
			for _, a := range j.Attempts {
				got = append(got, timeText(a.Started, r.start))
			}
			if !reflect.DeepEqual(want, nonNil(got)) {
				r.fail("%s: attempted_at: want %s, got %s", label, listText(want), listText(got))
			}
		}
		if je.outcome != "" && je.outcome != j.Outcome {
			r.fail("%s: outcome: want %s, got %s%s", label, je.outcome, orNone(j.Outcome), reasonText(j))
		}
	}
}

// checkParty compares one party's call with its expectations.
func (r *rig) checkParty(p *party, e partyExpect) {
	heard := p.heard()
	if e.heard != nil && !reflect.DeepEqual(nonNil(*e.heard), nonNil(heard)) {
		r.fail("%s: heard: want %s, got %s", p.label, listText(*e.heard), listText(heard))
	}
	if len(e.heardIncludes) > 0 {
		if missing, ok := subsequence(e.heardIncludes, heard); !ok {
			r.fail("%s: heard_includes: want %s in this order, got %s (%s missing)", p.label, listText(e.heardIncludes), listText(heard), missing)
		}
	}
	for _, f := range e.notHeard {
		if contains(heard, f) {
			r.fail("%s: not_heard: heard %s, got %s", p.label, f, listText(heard))
		}
	}
	h := p.hist
	if h == nil && (e.keys != nil || e.path != nil || e.target != nil || e.outcome != "") {
		r.fail("%s: ivrd has no record of the call (no flow took it)", p.label)
		return
	}
	if e.keys != nil {
		if got := keysOf(h.Path); got != *e.keys {
			r.fail("%s: keys: want %q, got %q", p.label, *e.keys, got)
		}
	}
	if e.path != nil {
		got := pathText(h.Path)
		if !reflect.DeepEqual(nonNil(*e.path), nonNil(got)) {
			r.fail("%s: path: want %s, got %s", p.label, listText(*e.path), listText(got))
		}
	}
	if e.target != nil && *e.target != h.Target {
		r.fail("%s: target: want %s, got %s (outcome %s)", p.label, orNone(*e.target), orNone(h.Target), h.Outcome)
	}
	if e.outcome != "" && e.outcome != h.Outcome {
		what := ""
		if h.Target != "" {
			what = " (" + h.Target + ")"
		}
		r.fail("%s: outcome: want %s, got %s%s", p.label, e.outcome, h.Outcome, what)
	}
}

// keysOf joins the keys ivrd took.
func keysOf(path []engine.PathEntry) string {
	var b strings.Builder
	for _, e := range path {
		if e.Kind == "keys" {
			b.WriteString(e.Value)
		}
	}
	return b.String()
}

// pathText writes each path entry as "kind value".
func pathText(path []engine.PathEntry) []string {
	var out []string
	for _, e := range path {
		if e.Value == "" {
			out = append(out, e.Kind)
		} else {
			out = append(out, e.Kind+" "+e.Value)
		}
	}
	return out
}

// subsequence reports whether want appears in got in order, and else the
// first item of want not found.
func subsequence(want, got []string) (string, bool) {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	if i == len(want) {
		return "", true
	}
	return want[i], false
}

func sameJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	return reflect.DeepEqual(x, y)
}

func compactJSON(b []byte) string {
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return string(b)
	}
	return buf.String()
}

func listText(l []string) string {
	if len(l) == 0 {
		return "[]"
	}
	return "[" + strings.Join(l, ", ") + "]"
}

func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func reasonText(j engine.Job) string {
	if j.Reason == "" {
		return ""
	}
	return " (" + j.Reason + ")"
}

func outcomeList(j engine.Job) string {
	var out []string
	for _, a := range j.Attempts {
		out = append(out, a.Outcome)
	}
	return listText(out)
}

func jobList(jobs []engine.Job) string {
	if len(jobs) == 0 {
		return ""
	}
	var out []string
	for _, j := range jobs {
		out = append(out, j.ID+" → "+j.To)
	}
	return " (" + strings.Join(out, ", ") + ")"
}

// timeText writes a time as the scenario's clock shows it, with its offset
// from the start: "2026-11-26 07:00:00 +0800 (+9:30:00)".
func timeText(t, start time.Time) string {
	return fmt.Sprintf("%s (+%s)", t.In(start.Location()).Format("2006-01-02 15:04:05 -0700"), clockText(t.Sub(start)))
}
