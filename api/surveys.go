package api

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The survey report reads what stdlib/survey.lua keeps in a flow's
// ivr.store under "survey:<name>:": the question list, counters per
// question and answer, and the responses list (one entry per survey run,
// with when it ended). Over all time the counters answer; over a period
// the responses do, since only they carry a time.

// SurveyReport is the answer of GET /api/v1/surveys/{flow}: each survey
// the flow's store holds.
type SurveyReport struct {
	Flow    string        `json:"flow"`
	Period  Period        `json:"period"`
	Surveys []SurveyStats `json:"surveys"`
}

// SurveyStats is one survey's results over the report's period. Source
// says what they were counted from: "counters" (all time) or "responses"
// (a period).
type SurveyStats struct {
	Name      string          `json:"name"`
	Source    string          `json:"source"`
	Started   int64           `json:"started"`
	Completed int64           `json:"completed"`
	Questions []QuestionStats `json:"questions"`
}

// QuestionStats is one question's answers: how often each possible answer
// was given (in the question's order), how many gave none, and for a
// numeric scale the sum and average (absent until someone answered).
type QuestionStats struct {
	ID       string        `json:"id"`
	Scale    string        `json:"scale,omitempty"`
	Keys     string        `json:"keys,omitempty"`
	Answered int64         `json:"answered"`
	Missed   int64         `json:"missed"`
	Counts   []AnswerCount `json:"counts"`
	Sum      *float64      `json:"sum,omitempty"`
	Average  *float64      `json:"average,omitempty"`
}

// AnswerCount is how many times an answer was given.
type AnswerCount struct {
	Answer string `json:"answer"`
	Count  int64  `json:"count"`
}

// surveyQuestion is a question as survey.lua stores its definition.
type surveyQuestion struct {
	ID    string `json:"id"`
	Scale string `json:"scale"`
	Keys  string `json:"keys"`
}

// choices lists a question's possible answers as typed.
func (q surveyQuestion) choices() []string {
	var out []string
	if q.Scale != "" {
		lo, hi, ok := strings.Cut(q.Scale, "-")
		a, err1 := strconv.Atoi(lo)
		b, err2 := strconv.Atoi(hi)
		if ok && err1 == nil && err2 == nil && a <= b && b-a < 100 {
			for n := a; n <= b; n++ {
				out = append(out, strconv.Itoa(n))
			}
		}
		return out
	}
	for _, k := range q.Keys {
		out = append(out, string(k))
	}
	return out
}

// surveyResponse is one entry of a survey's responses list.
type surveyResponse struct {
	Call    string          `json:"call"`
	From    string          `json:"from"`
	At      float64         `json:"at"` // seconds, as ivr.now() gives
	Answers json.RawMessage `json:"answers"`
	Status  string          `json:"status"`
	// Missed lists the questions the caller gave no valid answer to;
	// entries written before survey.lua recorded it lack it.
	Missed []string `json:"missed"`
}

func (r surveyResponse) time() time.Time {
	return time.UnixMilli(int64(math.Round(r.At * 1000))).UTC()
}

// answers reads the answers by question id, as text ("4", "1"). An empty
// Lua table may have been stored as [].
func (r surveyResponse) answers() map[string]string {
	out := map[string]string{}
	var m map[string]json.RawMessage
	if json.Unmarshal(r.Answers, &m) != nil {
		return out
	}
	for id, raw := range m {
		var s string
		var n float64
		switch {
		case json.Unmarshal(raw, &s) == nil:
			out[id] = s
		case json.Unmarshal(raw, &n) == nil:
			out[id] = strconv.FormatFloat(n, 'f', -1, 64)
		}
	}
	return out
}

// storedSurvey is a survey as found in a flow's store.
type storedSurvey struct {
	name      string
	questions []surveyQuestion
	kv        map[string]json.RawMessage
}

func (s storedSurvey) key(parts ...string) string {
	return "survey:" + s.name + ":" + strings.Join(parts, ":")
}

func (s storedSurvey) counter(parts ...string) int64 {
	var n float64
	if raw, ok := s.kv[s.key(parts...)]; ok && json.Unmarshal(raw, &n) == nil {
		return int64(n)
	}
	return 0
}

// responses reads the survey's responses list; ok is false when the
// survey keeps none (responses = false) and has never kept any.
func (s storedSurvey) responses() ([]surveyResponse, bool, error) {
	raw, ok := s.kv[s.key("responses")]
	if !ok {
		return nil, false, nil
	}
	var list []surveyResponse
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, true, fmt.Errorf("survey %s: the responses list does not read: %w", s.name, err)
	}
	return list, true, nil
}

// surveysIn finds the surveys a flow's store holds, by name.
func surveysIn(kv map[string]json.RawMessage) []storedSurvey {
	var out []storedSurvey
	for k, v := range kv {
		rest, ok := strings.CutPrefix(k, "survey:")
		if !ok {
			continue
		}
		name, ok := strings.CutSuffix(rest, ":questions")
		if !ok || strings.Contains(name, ":") {
			continue
		}
		var qs []surveyQuestion
		if json.Unmarshal(v, &qs) != nil || len(qs) == 0 {
			continue
		}
		out = append(out, storedSurvey{name: name, questions: qs, kv: kv})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// fromCounters is a survey's results over all time.
func (s storedSurvey) fromCounters() SurveyStats {
	st := SurveyStats{Name: s.name, Source: "counters", Started: s.counter("started"), Completed: s.counter("completed"),
		Questions: []QuestionStats{}}
	for _, q := range s.questions {
		qs := QuestionStats{ID: q.ID, Scale: q.Scale, Keys: q.Keys, Answered: s.counter(q.ID, "answered"),
			Missed: s.counter(q.ID, "missed"), Counts: []AnswerCount{}}
		for _, a := range q.choices() {
			qs.Counts = append(qs.Counts, AnswerCount{Answer: a, Count: s.counter(q.ID, "count", a)})
		}
		if q.Scale != "" {
			sum := float64(s.counter(q.ID, "sum"))
			qs.Sum = &sum
			if qs.Answered > 0 {
				avg := sum / float64(qs.Answered)
				qs.Average = &avg
			}
		}
		st.Questions = append(st.Questions, qs)
	}
	return st
}

// fromResponses is a survey's results over the responses that ended in p.
func (s storedSurvey) fromResponses(list []surveyResponse, p Period) SurveyStats {
	st := SurveyStats{Name: s.name, Source: "responses", Questions: make([]QuestionStats, len(s.questions))}
	index := make([]map[string]int, len(s.questions))
	for i, q := range s.questions {
		st.Questions[i] = QuestionStats{ID: q.ID, Scale: q.Scale, Keys: q.Keys, Counts: []AnswerCount{}}
		index[i] = map[string]int{}
		for _, a := range q.choices() {
			index[i][a] = len(st.Questions[i].Counts)
			st.Questions[i].Counts = append(st.Questions[i].Counts, AnswerCount{Answer: a})
		}
		if q.Scale != "" {
			st.Questions[i].Sum = new(float64)
		}
	}
	for _, r := range list {
		if !p.Has(r.time()) {
			continue
		}
		st.Started++
		if r.Status == "done" {
			st.Completed++
		}
		answers := r.answers()
		missed := map[string]bool{}
		for _, id := range r.Missed {
			missed[id] = true
		}
		for i, q := range s.questions {
			qs := &st.Questions[i]
			a, ok := answers[q.ID]
			if !ok {
				// Entries without a missed list: a finished survey
				// missed every question it has no answer to.
				if missed[q.ID] || (r.Missed == nil && r.Status == "done") {
					qs.Missed++
				}
				continue
			}
			qs.Answered++
			if j, ok := index[i][a]; ok {
				qs.Counts[j].Count++
			} else {
				index[i][a] = len(qs.Counts)
				qs.Counts = append(qs.Counts, AnswerCount{Answer: a, Count: 1})
			}
			if qs.Sum != nil {
				if n, err := strconv.ParseFloat(a, 64); err == nil {
					*qs.Sum += n
				}
			}
		}
	}
	for i := range st.Questions {
		qs := &st.Questions[i]
		if qs.Sum != nil && qs.Answered > 0 {
			avg := *qs.Sum / float64(qs.Answered)
			qs.Average = &avg
		}
	}
	return st
}

// GET /api/v1/surveys/{flow}[?survey=NAME][&since=T][&until=T][&format=csv]
func (s *Server) surveys(w http.ResponseWriter, r *http.Request) {
	status, v, err := s.surveyReport(w, r)
	if err != nil {
		e := s.errorOf(r, err)
		status, v = e.Status, e
	}
	if v != nil {
		writeJSON(w, status, v)
	}
}

// surveyReport answers the survey request: the report as JSON, or the
// responses written to w as CSV (then v is nil).
func (s *Server) surveyReport(w http.ResponseWriter, r *http.Request) (int, any, error) {
	qs := r.URL.Query()
	format := qs.Get("format")
	if format != "" && format != "json" && format != "csv" {
		return 0, nil, badField("format", "%q is not json or csv", format)
	}
	p, err := periodParams(r)
	if err != nil {
		return 0, nil, err
	}
	flow, kv, err := s.kvOf(r)
	if err != nil {
		return 0, nil, err
	}
	all := surveysIn(kv)
	name := qs.Get("survey")
	var picked []storedSurvey
	for _, sv := range all {
		if name == "" || sv.name == name {
			picked = append(picked, sv)
		}
	}
	if name != "" && len(picked) == 0 {
		return 0, nil, &Error{Status: http.StatusNotFound, Msg: fmt.Sprintf("flow %s has no survey %q in its store", flow, name)}
	}
	if format == "csv" {
		if len(picked) != 1 {
			names := make([]string, len(all))
			for i, sv := range all {
				names[i] = sv.name
			}
			if len(all) == 0 {
				return 0, nil, &Error{Status: http.StatusNotFound, Msg: fmt.Sprintf("flow %s has no survey in its store", flow)}
			}
			return 0, nil, badField("survey", "flow %s has several surveys (%s): name one", flow, strings.Join(names, ", "))
		}
		list, ok, err := picked[0].responses()
		if err != nil {
			return 0, nil, err
		}
		if !ok {
			return 0, nil, &Error{Status: http.StatusConflict, Msg: fmt.Sprintf("survey %s keeps no responses (responses = false): only its counters exist", picked[0].name)}
		}
		writeSurveyCSV(w, flow, picked[0], list, p)
		return 0, nil, nil
	}
	out := SurveyReport{Flow: flow, Period: p, Surveys: []SurveyStats{}}
	for _, sv := range picked {
		if p.Open() {
			out.Surveys = append(out.Surveys, sv.fromCounters())
			continue
		}
		list, ok, err := sv.responses()
		if err != nil {
			return 0, nil, err
		}
		if !ok {
			return 0, nil, &Error{Status: http.StatusConflict, Msg: fmt.Sprintf("survey %s keeps no responses (responses = false), "+
				"so its answers have no time: ask without since and until for its totals", sv.name)}
		}
		out.Surveys = append(out.Surveys, sv.fromResponses(list, p))
	}
	return http.StatusOK, out, nil
}

// writeSurveyCSV writes one row per response in p, oldest first: when it
// ended (RFC 3339, UTC), the call, the caller, its status, then one column
// per question (empty when not answered).
func writeSurveyCSV(w http.ResponseWriter, flow string, sv storedSurvey, list []surveyResponse, p Period) {
	var b bytes.Buffer
	cw := csv.NewWriter(&b)
	head := []string{"ended", "call", "from", "status"}
	for _, q := range sv.questions {
		head = append(head, q.ID)
	}
	cw.Write(head)
	sort.SliceStable(list, func(i, j int) bool { return list[i].At < list[j].At })
	for _, r := range list {
		t := r.time()
		if !p.Has(t) {
			continue
		}
		answers := r.answers()
		row := []string{t.Format(time.RFC3339), r.Call, csvSafe(r.From), r.Status}
		for _, q := range sv.questions {
			row = append(row, answers[q.ID])
		}
		cw.Write(row)
	}
	cw.Flush()
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-%s.csv"`, flow, sv.name))
	w.Header().Set("Cache-Control", "no-store")
	allowBulkWrite(w, int64(b.Len()))
	w.WriteHeader(http.StatusOK)
	w.Write(b.Bytes())
}

// csvSafe keeps a spreadsheet from reading a caller's number as a formula
// ("+8613800000001" or worse, "=cmd|…").
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
