package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ivrd/ivrd/engine"
)

// DefaultClientTimeout bounds a Client's requests when it has no
// http.Client of its own.
const DefaultClientTimeout = 30 * time.Second

// Client calls the admin API of a running ivrd. Errors the API answers
// are *Error.
type Client struct {
	// BaseURL is the admin listener, "http://127.0.0.1:8081".
	BaseURL string
	// Token is the bearer token.
	Token string
	// HTTP makes the requests (default: one with DefaultClientTimeout).
	HTTP *http.Client
}

// Dial places or schedules a call (POST /api/v1/calls).
func (c *Client) Dial(ctx context.Context, req engine.DialRequest) (engine.Job, error) {
	var j engine.Job
	err := c.do(ctx, http.MethodPost, "/api/v1/calls", req, &j)
	return j, err
}

// Jobs lists the jobs, newest first, only those in state when it is not
// empty (GET /api/v1/jobs).
func (c *Client) Jobs(ctx context.Context, state string) ([]engine.Job, error) {
	path := "/api/v1/jobs"
	if state != "" {
		path += "?state=" + url.QueryEscape(state)
	}
	var out JobList
	err := c.do(ctx, http.MethodGet, path, nil, &out)
	return out.Jobs, err
}

// Job returns one job (GET /api/v1/jobs/{id}).
func (c *Client) Job(ctx context.Context, id string) (engine.Job, error) {
	var j engine.Job
	err := c.do(ctx, http.MethodGet, "/api/v1/jobs/"+url.PathEscape(id), nil, &j)
	return j, err
}

// CancelJob cancels a job (DELETE /api/v1/jobs/{id}).
func (c *Client) CancelJob(ctx context.Context, id string) (engine.Job, error) {
	var j engine.Job
	err := c.do(ctx, http.MethodDelete, "/api/v1/jobs/"+url.PathEscape(id), nil, &j)
	return j, err
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.BaseURL, "/")+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: DefaultClientTimeout}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		e := &Error{Status: resp.StatusCode}
		if json.Unmarshal(data, e) != nil || e.Msg == "" {
			e.Msg = strings.TrimSpace(string(data))
			if e.Msg == "" {
				e.Msg = resp.Status
			}
		}
		return e
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: the answer is not what ivrd sends: %w", method, path, err)
		}
	}
	return nil
}
