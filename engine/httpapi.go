package engine

import "time"

// HTTPOptions say which backends ivr.http.get/post may reach.
type HTTPOptions struct {
	// Allow lists the hosts ("crm.example.com", "10.0.0.5:8080") flows may
	// call; empty allows none.
	Allow []string
	// Timeout bounds each request (default 5 s).
	Timeout time.Duration
}
