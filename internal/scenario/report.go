package scenario

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ivrd/ivrd/engine"
)

// logSink keeps the engine's log lines, stamped with the virtual time and
// the transcript sequence, for the transcripts.
type logSink struct {
	clk   interface{ Now() time.Time }
	seq   *atomic.Int64
	start time.Time

	mu    sync.Mutex
	lines []logLine
}

type logLine struct {
	at     time.Duration
	seq    int64
	level  hclog.Level
	msg    string
	args   []any
	callID string
	job    string
	loc    string // where in a flow, for the flow's own lines
}

// Accept implements hclog.SinkAdapter.
func (l *logSink) Accept(name string, level hclog.Level, msg string, args ...any) {
	ln := logLine{at: l.clk.Now().Sub(l.start), seq: l.seq.Add(1), level: level, msg: msg}
	seen := map[string]bool{}
	for i := 0; i+1 < len(args); i += 2 {
		k, _ := args[i].(string)
		if kv := fmt.Sprint(k, "=", args[i+1]); seen[kv] {
			continue // the flow's own field repeats the logger's
		} else {
			seen[kv] = true
		}
		switch k {
		case "call_id":
			ln.callID = fmt.Sprint(args[i+1])
		case "job":
			ln.job = fmt.Sprint(args[i+1])
			ln.args = append(ln.args, args[i], args[i+1])
		case "at":
			ln.loc = fmt.Sprint(args[i+1])
		case "device", "leg", "flow", "flow_hash":
		default:
			ln.args = append(ln.args, args[i], args[i+1])
		}
	}
	l.mu.Lock()
	l.lines = append(l.lines, ln)
	l.mu.Unlock()
}

func (l *logSink) all() []logLine {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]logLine(nil), l.lines...)
}

// quiet are engine lines that say nothing a transcript does not.
var quiet = map[string]bool{"call started": true, "call ended": true, "outbound job scheduled": true}

// event turns a log line into a transcript event; ok is false for lines a
// transcript leaves out.
func (ln logLine) event(forCall bool) (Event, bool) {
	var b strings.Builder
	verb := "ivrd"
	if ln.loc != "" {
		verb = "log"
		b.WriteString(strings.ToLower(ln.level.String()) + ": ")
	} else if quiet[ln.msg] || (ln.level < hclog.Warn && !forCall) {
		return Event{}, false
	}
	b.WriteString(ln.msg)
	for i := 0; i+1 < len(ln.args); i += 2 {
		if k := ln.args[i]; forCall && (k == "job" || k == "attempt") {
			continue // the transcript's heading says
		}
		v := fmt.Sprint(ln.args[i+1])
		if strings.ContainsAny(v, " \t\"") || v == "" {
			v = fmt.Sprintf("%q", v)
		}
		fmt.Fprintf(&b, "  %v=%s", ln.args[i], v)
	}
	if ln.loc != "" {
		fmt.Fprintf(&b, "  (%s)", ln.loc)
	}
	return Event{At: ln.at, Verb: verb, What: b.String(), seq: float64(ln.seq), hear: -1}, true
}

// pathEvent says what ivrd did at a step of a call's path; ok is false for
// the steps the transcript shows otherwise (prompts as heard, keys as
// pressed, refusals and errors as log lines).
func pathEvent(e engine.PathEntry) (string, bool) {
	switch e.Kind {
	case "noinput":
		return "no input", true
	case "invalid":
		if e.Value == "" {
			return "invalid input (none)", true
		}
		return "invalid input " + e.Value, true
	case "transfer":
		return "transfers the call to " + e.Value, true
	case "hangup":
		switch e.Value {
		case "":
			return "hangs up", true
		case "caller":
			return "", false
		}
		return "hang-up: " + e.Value, true
	case "fallback":
		return "hands the call to the fallback: " + e.Value, true
	}
	return "", false
}

// transcripts builds each party's transcript: its own events, and ivrd's
// path and log lines for its call. The path's entries carry their time but
// not their order among the party's events of the same moment; an entry
// is placed after the party's last key press or hang-up at that moment
// (what ivrd did answered it), or else before everything else at that
// moment (what ivrd did made it: a timer ran out).
func (r *rig) transcripts() ([]*Party, []Event) {
	lines := r.logs.all()
	used := make([]bool, len(lines))
	var out []*Party
	for _, p := range r.parties {
		pt := &Party{Label: p.label}
		evs := append([]Event(nil), p.events...)
		for i := range evs {
			// Not played to its end, and not playing still: a key, a
			// hang-up or a transfer cut it off.
			if h := evs[i].hear; h >= 0 && h < len(p.info.Heard) && !p.info.Heard[h].Completed &&
				(p.info.State != "menu" || h < len(p.info.Heard)-1) {
				evs[i].What += "  (cut off)"
			}
		}
		if h := p.hist; h != nil {
			pt.Outcome, pt.Target, pt.Path = h.Outcome, h.Target, h.Path
			for _, e := range h.Path {
				text, ok := pathEvent(e)
				if !ok {
					continue
				}
				at := e.At.Sub(r.start)
				seq := -1.0
				for _, ev := range p.events {
					if ev.At == at && (ev.Verb == "presses" || ev.Verb == "hangs up") {
						seq = ev.seq + 0.5
					}
				}
				evs = append(evs, Event{At: at, Verb: "ivrd", What: text, seq: seq, hear: -1})
			}
			for i, ln := range lines {
				if ln.callID == h.ID {
					used[i] = true
					if ev, ok := ln.event(true); ok {
						evs = append(evs, ev)
					}
				}
			}
		}
		sort.SliceStable(evs, func(i, j int) bool {
			if evs[i].At != evs[j].At {
				return evs[i].At < evs[j].At
			}
			return evs[i].seq < evs[j].seq
		})
		pt.Events = evs
		out = append(out, pt)
	}
	var other []Event
	for i, ln := range lines {
		if used[i] {
			continue
		}
		if ev, ok := ln.event(false); ok {
			other = append(other, ev)
		}
	}
	return out, other
}

// Title is the scenario's "file:line name".
func (r *Result) Title() string {
	return fmt.Sprintf("%s %s", r.Scenario.Where(), r.Scenario.Name)
}

// WriteFailures writes one line per failure, indented.
func (r *Result) WriteFailures(w io.Writer, indent string) {
	if r.Err != nil {
		fmt.Fprintf(w, "%scould not run: %v\n", indent, r.Err)
	}
	for _, f := range r.Failures {
		fmt.Fprintf(w, "%s%s\n", indent, f)
	}
}

// WriteTranscript writes what each party heard and did, what ivrd did with
// each call, and the jobs.
func (r *Result) WriteTranscript(w io.Writer, indent string) {
	r.WriteTranscriptTexts(w, indent, nil)
}

// WriteTranscriptTexts is WriteTranscript with each voice file heard
// followed by what it says, where texts (by file name: the prompt texts
// of ivrd.toml) say.
func (r *Result) WriteTranscriptTexts(w io.Writer, indent string, texts map[string]string) {
	for _, p := range r.Parties {
		fmt.Fprintf(w, "%s%s\n", indent, p.Label)
		for _, e := range p.Events {
			what := e.What
			if e.Verb == "hears" {
				file, rest, _ := strings.Cut(what, "  ")
				if t := texts[file]; t != "" {
					what = file + "  “" + t + "”"
					if rest != "" {
						what += "  " + rest
					}
				}
			}
			line(w, "%s  %8s  %-9s %s", indent, clockText(e.At), e.Verb, what)
		}
		switch {
		case p.Outcome == "":
			fmt.Fprintf(w, "%s  %8s  %-9s %s\n", indent, "", "outcome", "none: ivrd has no record of the call")
		case p.Target != "":
			fmt.Fprintf(w, "%s  %8s  %-9s %s, %s\n", indent, "", "outcome", p.Outcome, p.Target)
		default:
			fmt.Fprintf(w, "%s  %8s  %-9s %s\n", indent, "", "outcome", p.Outcome)
		}
		fmt.Fprintf(w, "%s  %8s  %-9s %s\n", indent, "", "path", strings.Join(pathText(p.Path), " · "))
	}
	start := r.Scenario.start
	for i, j := range r.Jobs {
		fmt.Fprintf(w, "%sjob %d: %s → %s (flow %s), %s", indent, i+1, j.ID, j.To, j.Flow, j.State)
		if j.Outcome != "" {
			fmt.Fprintf(w, ", %s", j.Outcome)
		}
		if j.Reason != "" {
			fmt.Fprintf(w, " (%s)", j.Reason)
		}
		fmt.Fprintln(w)
		if len(j.Attempts) == 0 && !j.Final() {
			fmt.Fprintf(w, "%s  %8s  due\n", indent, clockText(j.Due.Sub(start)))
		}
		for _, a := range j.Attempts {
			fmt.Fprintf(w, "%s  %8s  attempt %d: %s", indent, clockText(a.Started.Sub(start)), a.N, orNone(a.Outcome))
			if a.Reason != "" {
				fmt.Fprintf(w, " (%s)", a.Reason)
			}
			fmt.Fprintln(w)
		}
	}
	if len(r.Other) > 0 {
		fmt.Fprintf(w, "%sother log lines\n", indent)
		for _, e := range r.Other {
			line(w, "%s  %8s  %-9s %s", indent, clockText(e.At), e.Verb, e.What)
		}
	}
}

// line writes one line without trailing blanks.
func line(w io.Writer, format string, args ...any) {
	fmt.Fprintln(w, strings.TrimRight(fmt.Sprintf(format, args...), " "))
}

// WriteTrace writes the simulated OM's log, when the run kept it.
func (r *Result) WriteTrace(w io.Writer, indent string) {
	if len(r.Trace) == 0 {
		return
	}
	fmt.Fprintf(w, "%sthe simulated OM's log\n", indent)
	for _, l := range r.Trace {
		line(w, "%s%s", indent+"  ", l)
	}
}
