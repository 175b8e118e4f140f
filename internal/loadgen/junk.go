package loadgen

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/ivrd/ivrd/omproto"
)

// JunkKind is a kind of bad report Options.JunkRate sends to the system.
type JunkKind int

// The kinds of bad report. Each is a forged INCOMING for a call the device
// does not have, wrong in one way only, so that the status says which
// check caught it.
const (
	// JunkOversized is signed and well-formed, padded past 64 KiB: 413.
	JunkOversized JunkKind = iota
	// JunkMalformed is XML cut short: 400.
	JunkMalformed
	// JunkUnsigned carries no signature: 401.
	JunkUnsigned
	// JunkStale is signed with the right secret an hour ago: 401.
	JunkStale
	// JunkForeign is signed and fresh, but sent from 127.0.0.2, outside
	// the device's allow list (127.0.0.1): 403.
	JunkForeign
)

// JunkKinds lists the kinds, in the order they are sent in turn.
var JunkKinds = []JunkKind{JunkOversized, JunkMalformed, JunkUnsigned, JunkStale, JunkForeign}

// String names the kind.
func (k JunkKind) String() string {
	switch k {
	case JunkOversized:
		return "oversized"
	case JunkMalformed:
		return "malformed"
	case JunkUnsigned:
		return "unsigned"
	case JunkStale:
		return "stale-signed"
	case JunkForeign:
		return "wrong-source"
	}
	return "unknown"
}

// Want is the status the system should answer the kind with.
func (k JunkKind) Want() int {
	switch k {
	case JunkOversized:
		return http.StatusRequestEntityTooLarge
	case JunkMalformed:
		return http.StatusBadRequest
	case JunkUnsigned, JunkStale:
		return http.StatusUnauthorized
	case JunkForeign:
		return http.StatusForbidden
	}
	return 0
}

// JunkResult is what the system answered to the bad reports.
type JunkResult struct {
	// Rate is the bad reports per second asked for; Elapsed how long the
	// sender ran (while the calls were placed).
	Rate    float64
	Elapsed time.Duration
	// Skipped were due but not sent because too many were still waiting
	// for an answer.
	Skipped int
	// Kinds counts, in JunkKinds order, what each kind got; nil when none
	// was sent.
	Kinds []JunkCount
}

// JunkCount is what the bad reports of one kind got.
type JunkCount struct {
	Kind JunkKind
	// Sent is how many were sent; Statuses counts their answers by HTTP
	// status, Failed those that got none (a connection error).
	Sent     int
	Statuses map[int]int
	Failed   int
}

// Expected is how many got the kind's status.
func (c JunkCount) Expected() int { return c.Statuses[c.Kind.Want()] }

// Sent is how many bad reports were sent, of all kinds.
func (j JunkResult) Sent() int {
	n := 0
	for _, c := range j.Kinds {
		n += c.Sent
	}
	return n
}

// Achieved is the bad reports sent per second.
func (j JunkResult) Achieved() float64 { return perSecond(float64(j.Sent()), j.Elapsed) }

// Unexpected is how many bad reports did not get their kind's status.
func (j JunkResult) Unexpected() int {
	n := 0
	for _, c := range j.Kinds {
		n += c.Sent - c.Expected()
	}
	return n
}

// The junk sender's constants.
const (
	// reportSecret signs the devices' reports when Options.Guarded.
	reportSecret = "loadgen-report-secret"
	// deviceSource is the address the devices report from, the only one
	// a guarded system admits; foreignSource is another loopback address.
	deviceSource = "127.0.0.1"
	// junkHeader marks a bad report for the run's tap, which leaves it
	// out of the reports counted and timed. The system ignores it.
	junkHeader = "X-Loadgen-Junk"
	// junkVisitor and junkCaller make the forged call: a visitor id the
	// simulator never gives out, so that a bad report the system took
	// would show as commands the device refuses.
	junkVisitor = "65000"
	junkCaller  = "13600000000"
	// maxJunkInFlight bounds the bad reports waiting for an answer.
	maxJunkInFlight = 512
)

var foreignSource = net.IPv4(127, 0, 0, 2)

// junkSender sends bad reports at a rate, kinds and devices in turn, from
// a ticker, each on its own connection as the devices send theirs.
type junkSender struct {
	rate          float64
	urls          []string // the devices' report URLs
	local, remote *http.Client
	padding       []byte
	inFlight      chan struct{}
	wg            sync.WaitGroup
	stopc, done   chan struct{}
	start, end    time.Time

	mu      sync.Mutex
	counts  []JunkCount
	skipped int
}

// startJunk starts sending rate bad reports a second to urls.
func startJunk(rate float64, urls []string) *junkSender {
	// Each report goes on a connection of its own, closed by the sender
	// once answered. It does not ask the system to close it (as
	// DisableKeepAlives would, with "Connection: close"): a server that
	// answers 413 before reading the whole body then drains the rest, as
	// it does for any client, instead of closing on unread data, whose
	// reset can reach the sender before the answer does.
	client := func(local net.IP) *http.Client {
		d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: local}}
		return &http.Client{
			Timeout:   10 * time.Second,
			Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: -1},
		}
	}
	s := &junkSender{
		rate:     rate,
		urls:     urls,
		local:    client(net.ParseIP(deviceSource)),
		remote:   client(foreignSource),
		padding:  bytes.Repeat([]byte(" "), omproto.DefaultMaxBody+4<<10),
		inFlight: make(chan struct{}, maxJunkInFlight),
		stopc:    make(chan struct{}),
		done:     make(chan struct{}),
		start:    time.Now(),
	}
	for _, k := range JunkKinds {
		s.counts = append(s.counts, JunkCount{Kind: k, Statuses: map[int]int{}})
	}
	go s.loop()
	return s
}

// loop sends, at each tick, the reports due by then: a tick the runtime
// dropped is made up at the next, so the rate holds on average, unless
// maxJunkInFlight are waiting for an answer, when the due ones are
// skipped and counted.
func (s *junkSender) loop() {
	defer close(s.done)
	period := max(time.Duration(float64(time.Second)/s.rate), time.Millisecond)
	t := time.NewTicker(period)
	defer t.Stop()
	issued := 0
	for {
		select {
		case <-s.stopc:
			return
		case <-t.C:
		}
		due := int(time.Since(s.start).Seconds() * s.rate)
		for ; issued < due; issued++ {
			k := JunkKinds[issued%len(JunkKinds)]
			url := s.urls[issued/len(JunkKinds)%len(s.urls)]
			select {
			case s.inFlight <- struct{}{}:
			default:
				s.mu.Lock()
				s.skipped++
				s.mu.Unlock()
				continue
			}
			s.wg.Add(1)
			go s.send(k, url)
		}
	}
}

// stop stops sending, waits for the answers still due, and returns the
// counts.
func (s *junkSender) stop() JunkResult {
	close(s.stopc)
	<-s.done
	s.end = time.Now()
	s.wg.Wait()
	s.local.CloseIdleConnections()
	s.remote.CloseIdleConnections()
	s.mu.Lock()
	defer s.mu.Unlock()
	return JunkResult{Rate: s.rate, Elapsed: s.end.Sub(s.start), Skipped: s.skipped, Kinds: s.counts}
}

// send sends one bad report of kind k and counts its answer.
func (s *junkSender) send(k JunkKind, url string) {
	defer func() {
		<-s.inFlight
		s.wg.Done()
	}()
	client := s.local
	if k == JunkForeign {
		client = s.remote
	}
	status := 0
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, url, bytes.NewReader(s.body(k)))
	if err == nil {
		req.Header.Set("Content-Type", "text/xml")
		req.Header.Set(junkHeader, k.String())
		var resp *http.Response
		if resp, err = client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
			resp.Body.Close()
			status = resp.StatusCode
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := &s.counts[k]
	c.Sent++
	if err != nil {
		c.Failed++
		return
	}
	c.Statuses[status]++
}

// body is a bad report of kind k, signed (where it is) now.
func (s *junkSender) body(k JunkKind) []byte {
	switch k {
	case JunkOversized:
		return append(forgedReport(omproto.Sign(reportSecret, omproto.NewNonce(), time.Now())), s.padding...)
	case JunkMalformed:
		return []byte(`<Event attribute="INCOMING"><visitor id="` + junkVisitor + `" from="` + junkCaller)
	case JunkUnsigned:
		return forgedReport(nil)
	case JunkStale:
		return forgedReport(omproto.Sign(reportSecret, omproto.NewNonce(), time.Now().Add(-time.Hour)))
	default:
		return forgedReport(omproto.Sign(reportSecret, omproto.NewNonce(), time.Now()))
	}
}

// forgedReport is an INCOMING for the forged call, with auth if not nil.
func forgedReport(auth *omproto.Auth) []byte {
	rep := &omproto.Report{Auth: auth, Event: &omproto.Event{
		Name:  omproto.EventIncoming,
		Calls: []omproto.Call{{Kind: omproto.KindVisitor, ID: junkVisitor, From: junkCaller, To: "60001", CallID: "junk"}},
	}}
	return rep.Encode()
}
