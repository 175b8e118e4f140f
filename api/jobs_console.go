package api

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/ivrd/ivrd/engine"
)

// The phases a job list can be narrowed to, besides the job states: the
// words an operator uses for where a job stands.
const (
	// PhaseDue is a scheduled job not yet tried.
	PhaseDue = "due"
	// PhaseRetrying is a scheduled job that has been tried and will be
	// tried again.
	PhaseRetrying = "retrying"
	// PhaseRunning is a job with an attempt under way (state dialing).
	PhaseRunning = "running"
)

// jobPhase is where a job stands: due, retrying, running, or its state
// once it has ended.
func jobPhase(j engine.Job) string {
	switch j.State {
	case engine.JobScheduled:
		if len(j.Attempts) > 0 {
			return PhaseRetrying
		}
		return PhaseDue
	case engine.JobDialing:
		return PhaseRunning
	}
	return j.State
}

var jobPhases = []string{PhaseDue, PhaseRetrying, PhaseRunning, engine.JobDone, engine.JobFailed, engine.JobCancelled, engine.JobDropped}

// matchesState reports whether a job is in a state or phase ("" matches
// every job).
func matchesState(j engine.Job, state string) bool {
	return state == "" || j.State == state || jobPhase(j) == state
}

// offsetParam reads ?offset=N (default 0); a bad one is a 400 saying it
// is not a number of what (0 or more).
func offsetParam(r *http.Request, what string) (int, error) {
	v := r.URL.Query().Get("offset")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, badField("offset", "%q is not a number of %s (0 or more)", v, what)
	}
	return n, nil
}

// GET /api/v1/jobs[?state=S][&limit=N][&offset=O]
func (s *Server) jobs(r *http.Request) (int, any, error) {
	state := r.URL.Query().Get("state")
	if state != "" && !contains(jobStates, state) && !contains(jobPhases, state) {
		return 0, nil, badField("state", "%q is not a job state (%s) or phase (%s)", state,
			strings.Join(jobStates, ", "), strings.Join(jobPhases[:3], ", "))
	}
	limit, err := limitParam(r, 0, 0)
	if err != nil {
		return 0, nil, err
	}
	offset, err := offsetParam(r, "jobs to skip")
	if err != nil {
		return 0, nil, err
	}
	all, err := s.b.Jobs()
	if err != nil {
		return 0, nil, err
	}
	out := JobList{Jobs: []engine.Job{}, Counts: map[string]int{}}
	for _, j := range all {
		out.Counts[jobPhase(j)]++
		if !matchesState(j, state) {
			continue
		}
		out.Total++
		if out.Total > offset && (limit == 0 || len(out.Jobs) < limit) {
			out.Jobs = append(out.Jobs, shownJob(j))
		}
	}
	return http.StatusOK, out, nil
}
