package loadgen

import (
	"bytes"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/ivrd/ivrd/omproto"
)

// tapListener wraps the system's report listener: it notes the moment each
// report has been read off its connection, before the system's handler
// sees it. Devices post one report per connection (the OM's short
// connections), so a connection is one request.
type tapListener struct {
	net.Listener
	r *run
}

func (l *tapListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &tapConn{Conn: c, r: l.r}, nil
}

// tapConn collects the first request's bytes as the server reads them and
// hands the report to the run once it is complete; a bad report of the
// junk sender (marked with junkHeader) it leaves out.
type tapConn struct {
	net.Conn
	r    *run
	buf  []byte
	done bool
}

// maxTapped bounds what a tapConn keeps; reports are well under it.
const maxTapped = 16 << 10

func (c *tapConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.done {
		c.buf = append(c.buf, p[:n]...)
		dev, body, junk, ok := parseRequest(c.buf)
		switch {
		case ok:
			now := time.Now()
			c.done, c.buf = true, nil
			if rep, err := omproto.DecodeReport(body); err == nil {
				c.r.reportRead(dev, rep, now)
			}
		case junk, len(c.buf) > maxTapped:
			c.done, c.buf = true, nil
		}
	}
	return n, err
}

// parseRequest finds a complete HTTP/1 request with a Content-Length body
// in b, and returns the device its path names (/om/NAME) and the body. As
// soon as the head is complete it says whether the request is junk.
func parseRequest(b []byte) (device string, body []byte, junk, ok bool) {
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		return "", nil, false, false
	}
	head := string(b[:end])
	line, rest, _ := strings.Cut(head, "\r\n")
	// GET /om/NAME HTTP/1.1
	parts := strings.Fields(line)
	if len(parts) < 2 {
		return "", nil, false, false
	}
	device = strings.TrimPrefix(parts[1], "/om/")
	length := 0
	for _, h := range strings.Split(rest, "\r\n") {
		k, v, _ := strings.Cut(h, ":")
		switch k = strings.TrimSpace(k); {
		case strings.EqualFold(k, "Content-Length"):
			length, _ = strconv.Atoi(strings.TrimSpace(v))
		case strings.EqualFold(k, junkHeader):
			return device, nil, true, false
		}
	}
	start := end + 4
	if len(b) < start+length {
		return "", nil, false, false
	}
	return device, b[start : start+length], false, true
}
