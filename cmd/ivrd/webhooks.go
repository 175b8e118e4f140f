package main

import (
	"fmt"
	"net/url"
	"regexp"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ivrd/ivrd/api"
	"github.com/ivrd/ivrd/engine"
)

// Defaults of [[webhook]].
const (
	DefaultWebhookBatch       = api.DefaultHookBatch
	DefaultWebhookTimeout     = "10s"
	DefaultWebhookBackoff     = "1s"
	DefaultWebhookMaxBackoff  = "5m"
	DefaultWebhookGiveUpAfter = "1h"
)

// WebhookConfig is one [[webhook]]: an outgoing webhook of the event log.
// ivrd POSTs the events its filters keep to URL, in id order, in batches,
// signed, from a cursor kept in the state file (see api.EventHooks).
type WebhookConfig struct {
	// Name names the webhook in the API (/api/v1/webhooks/NAME), the
	// metrics and the logs: letters, digits, '-', '_'; unique. Required.
	Name string `toml:"name"`
	// URL receives the POSTs: http or https. Required.
	URL string `toml:"url"`
	// Secret is the HMAC-SHA256 key of X-Ivrd-Signature; empty uses
	// [admin] webhook_secret, and with neither the deliveries go out
	// unsigned (ivrd warns at start).
	Secret string `toml:"secret"`
	// Kinds are the kinds sent: exact ("cdr", "flow.lead") or a prefix
	// ending in '*' ("call.*", "flow.*"); empty sends all. Devices and
	// Exts keep the events of those devices (configured names) and
	// extensions; empty keeps all.
	Kinds   []string `toml:"kinds"`
	Devices []string `toml:"devices"`
	Exts    []string `toml:"exts"`
	// BatchSize is the most events per POST (default DefaultWebhookBatch,
	// at most api.MaxHookBatch).
	BatchSize int `toml:"batch_size"`
	// Timeout bounds one POST (default DefaultWebhookTimeout).
	Timeout string `toml:"timeout"`
	// Backoff is the wait after a batch's first failed attempt, doubled
	// after each further one up to MaxBackoff (defaults
	// DefaultWebhookBackoff, DefaultWebhookMaxBackoff); a receiver's
	// Retry-After is honoured up to MaxBackoff.
	Backoff    string `toml:"backoff"`
	MaxBackoff string `toml:"max_backoff"`
	// GiveUpAfter is how long one batch is retried before it is set aside
	// as a failed delivery and the next one goes (default
	// DefaultWebhookGiveUpAfter).
	GiveUpAfter string `toml:"give_up_after"`
}

var kindPatternRE = regexp.MustCompile(`^([a-z0-9_][a-z0-9_.-]*\*?|\*)$`)

// hook returns the webhook for api.StartEventHooks; its errors start
// with the field name, for validateWebhooks to prefix with the index.
// devices are the configured device names.
func (w WebhookConfig) hook(devices map[string]int, adminSecret string) (api.EventHook, error) {
	h := api.EventHook{Name: w.Name, URL: w.URL, Secret: w.Secret, Kinds: w.Kinds, Devices: w.Devices, Exts: w.Exts, BatchSize: w.BatchSize}
	if w.Name == "" {
		return h, fmt.Errorf("name: required (letters, digits, '-', '_')")
	}
	if !nameRE.MatchString(w.Name) {
		return h, fmt.Errorf("name: %q is not letters, digits, '-' and '_'", w.Name)
	}
	if w.URL == "" {
		return h, fmt.Errorf("url: required (http://host[:port]/path or https://…)")
	}
	u, err := url.Parse(w.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return h, fmt.Errorf("url: %q is not an http or https URL with a host", redactURL(w.URL))
	}
	for _, k := range w.Kinds {
		if !kindPatternRE.MatchString(k) {
			return h, fmt.Errorf("kinds: %q is not an event kind (\"call.ended\") or a prefix ending in '*' (\"call.*\")", k)
		}
	}
	for _, d := range w.Devices {
		if _, ok := devices[d]; !ok {
			return h, fmt.Errorf("devices: no [[device]] is named %q", d)
		}
	}
	for _, x := range w.Exts {
		if !engine.ValidExt(x) {
			return h, fmt.Errorf("exts: %q is not an extension number", x)
		}
	}
	if w.BatchSize < 0 || w.BatchSize > api.MaxHookBatch {
		return h, fmt.Errorf("batch_size: %d is not within 1–%d (0 takes the default, %d)", w.BatchSize, api.MaxHookBatch, DefaultWebhookBatch)
	}
	for _, d := range []struct {
		field, v string
		to       *time.Duration
	}{
		{"timeout", w.Timeout, &h.Timeout},
		{"backoff", w.Backoff, &h.Backoff},
		{"max_backoff", w.MaxBackoff, &h.MaxBackoff},
		{"give_up_after", w.GiveUpAfter, &h.GiveUpAfter},
	} {
		if *d.to, err = parseDurationField(d.field, d.v); err != nil {
			return h, err
		}
	}
	if h.MaxBackoff > 0 && h.Backoff > h.MaxBackoff {
		return h, fmt.Errorf("max_backoff: %s is shorter than backoff (%s)", w.MaxBackoff, w.Backoff)
	}
	if h.Secret == "" {
		h.Secret = adminSecret
	}
	return h, nil
}

// redactURL shows a URL in an error without what may be a credential.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable)"
	}
	if u.User != nil {
		u.User = url.User("…")
	}
	u.RawQuery = ""
	return u.String()
}

// webhooks returns the [[webhook]]s for api.StartEventHooks; the error
// names the first bad field ("webhook[1].url: …").
func (c *Config) webhooks() ([]api.EventHook, error) {
	devices := map[string]int{}
	for i, d := range c.Devices {
		devices[d.Name] = i
	}
	names := map[string]int{}
	var out []api.EventHook
	for i, w := range c.Webhooks {
		h, err := w.hook(devices, c.Admin.WebhookSecret)
		if err != nil {
			return nil, fmt.Errorf("webhook[%d].%w", i, err)
		}
		if j, ok := names[w.Name]; ok {
			return nil, fmt.Errorf("webhook[%d].name: %q is already the name of webhook[%d]", i, w.Name, j)
		}
		names[w.Name] = i
		out = append(out, h)
	}
	return out, nil
}

// startWebhooks starts the event webhooks, warning about each that goes
// out unsigned.
func (s *Server) startWebhooks() error {
	hooks, err := s.cfg.webhooks()
	if err != nil {
		return err
	}
	if len(hooks) == 0 {
		return nil
	}
	for _, h := range hooks {
		if h.Secret == "" {
			s.log.Warn("webhook deliveries go out unsigned: set its secret or [admin] webhook_secret", "webhook", h.Name)
		}
	}
	opt := api.EventHooksOptions{Hooks: hooks, Log: s.events, Store: s.store, Logger: s.log}
	if s.metrics != nil {
		opt.Observer = s.metrics
	}
	s.eventHooks, err = api.StartEventHooks(opt)
	return err
}

// EventHooks returns the event webhooks (nil when none is configured).
func (s *Server) EventHooks() *api.EventHooks { return s.eventHooks }

// ---- metrics ----

var _ api.HookObserver = (*metrics)(nil)

func (m *metrics) HookAttempt(webhook, result string) {
	m.hookAttempts.WithLabelValues(webhook, result).Inc()
}

func (m *metrics) HookDelivered(webhook string, events int) {
	m.hookEvents.WithLabelValues(webhook).Add(float64(events))
}

func (m *metrics) HookSetAside(webhook, reason string) {
	m.hookSetAside.WithLabelValues(webhook, reason).Inc()
}

var (
	descHookBacklog = prometheus.NewDesc("ivrd_webhook_backlog",
		"Events logged after a webhook's cursor, not yet dealt with (its filters may drop some), by webhook.", []string{"webhook"}, nil)
	descHookFailures = prometheus.NewDesc("ivrd_webhook_failures",
		"Failed deliveries set aside in the state file, by webhook (GET /api/v1/webhooks/NAME/failures).", []string{"webhook"}, nil)
	descHookFailing = prometheus.NewDesc("ivrd_webhook_failing",
		"1 while a webhook's last attempt failed (it is retrying, or set the batch aside), else 0, by webhook.", []string{"webhook"}, nil)
)

// hookCollector reads the webhooks' state at scrape time.
type hookCollector struct{ src scrapeSource }

func (c hookCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descHookBacklog, descHookFailures, descHookFailing} {
		ch <- d
	}
}

func (c hookCollector) Collect(ch chan<- prometheus.Metric) {
	for _, st := range c.src.EventHooks().Status() {
		ch <- prometheus.MustNewConstMetric(descHookBacklog, prometheus.GaugeValue, float64(st.Backlog), st.Name)
		ch <- prometheus.MustNewConstMetric(descHookFailures, prometheus.GaugeValue, float64(st.Failures), st.Name)
		failing := 0.0
		if st.LastError != "" {
			failing = 1
		}
		ch <- prometheus.MustNewConstMetric(descHookFailing, prometheus.GaugeValue, failing, st.Name)
	}
}
