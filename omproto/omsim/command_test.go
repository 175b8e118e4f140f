package omsim_test

import (
	"errors"
	"net"
	"net/http"
	"net/netip"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ivrd/ivrd/omproto"
	"github.com/ivrd/ivrd/omproto/omsim"
)

const deviceInfoBody = `<?xml version="1.0" encoding="utf-8" ?>
<Control attribute="Query"><DeviceInfo/></Control>`

// TestCommandTransport checks the command server's strictness (one request
// per connection, no chunked bodies) and its tolerance (HTTP/1.1 with a
// fixed length, pretty-printed XML), on raw connections.
func TestCommandTransport(t *testing.T) {
	h := newHarness(t, nil)
	addr := h.sim.Addr()

	cases := []struct {
		name       string
		req        string
		wantProto  string
		wantStatus int
		wantBody   string // a substring of the answer
	}{
		{"HTTP/1.0 with a fixed length", rawRequest("HTTP/1.0", deviceInfoBody), "HTTP/1.0", 200, "<model>OM50</model>"},
		{"HTTP/1.1 with a fixed length", rawRequest("HTTP/1.1", deviceInfoBody), "HTTP/1.1", 200, "<model>OM50</model>"},
		{"HTTP/1.1 asking for keep-alive", rawRequest("HTTP/1.1", deviceInfoBody, "Connection: keep-alive"), "HTTP/1.1", 200, "<DeviceInfo>"},
		{"text/html content type, as the vendor's tool sends", strings.Replace(rawRequest("HTTP/1.0", deviceInfoBody), "text/xml", "text/html", 1), "HTTP/1.0", 200, "<DeviceInfo>"},
		{"pretty-printed XML", rawRequest("HTTP/1.0", "<?xml version=\"1.0\" encoding=\"utf-8\" ?>\n<Control attribute=\"Query\">\n    <ext id=\"201\" />\n</Control>\n"), "HTTP/1.0", 200, `<ext id="201">`},
		{"a chunked body", "POST /xml HTTP/1.1\r\nHost: om\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"31\r\n<Control attribute=\"Query\"><DeviceInfo/></Control>\r\n0\r\n\r\n", "HTTP/1.1", 400, "chunked"},
		{"GET /xml", "GET /xml HTTP/1.0\r\nHost: om\r\n\r\n", "HTTP/1.0", 405, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// rawExchange reads until the server closes the connection:
			// it fails if the server keeps it open.
			raw := rawExchange(t, addr, c.req)
			if !strings.Contains(raw, "\r\nConnection: close\r\n") {
				t.Errorf("answer %q lacks Connection: close", raw)
			}
			resps := parseResponses(t, raw)
			if len(resps) != 1 {
				t.Fatalf("got %d responses, want 1", len(resps))
			}
			r := resps[0]
			if r.Proto != c.wantProto || r.StatusCode != c.wantStatus {
				t.Fatalf("answer %s %d, want %s %d", r.Proto, r.StatusCode, c.wantProto, c.wantStatus)
			}
			if body := bodyOf(r); !strings.Contains(body, c.wantBody) {
				t.Errorf("answer body %q lacks %q", body, c.wantBody)
			}
		})
	}

	t.Run("one request per connection", func(t *testing.T) {
		before := len(h.sim.Commands())
		two := rawRequest("HTTP/1.1", deviceInfoBody) + rawRequest("HTTP/1.1", deviceInfoBody)
		resps := parseResponses(t, rawExchange(t, addr, two))
		if len(resps) != 1 {
			t.Fatalf("two pipelined requests got %d answers, want 1 and the connection closed", len(resps))
		}
		if got := len(h.sim.Commands()) - before; got != 1 {
			t.Fatalf("the device carried out %d commands, want 1", got)
		}
	})

	t.Run("a chunked command is not carried out", func(t *testing.T) {
		body := encode(omproto.AssignMenu{ID: "7", VoiceFile: "welcome", Repeat: 1})
		req := "POST /xml HTTP/1.1\r\nHost: om\r\nTransfer-Encoding: chunked\r\n\r\n" +
			strings.ToUpper(strconvHex(len(body))) + "\r\n" + body + "\r\n0\r\n\r\n"
		resps := parseResponses(t, rawExchange(t, addr, req))
		if len(resps) != 1 || resps[0].StatusCode != http.StatusBadRequest {
			t.Fatalf("chunked Assign answered %v, want 400", resps)
		}
		st, err := h.client.Query(h.ctx, omproto.KindMenu, "7")
		if err != nil || len(st.Menus) != 1 || st.Menus[0].VoiceFile != "" {
			t.Fatalf("menu 7 after a refused chunked Assign: %+v, %v; want it unassigned", st, err)
		}
	})

	t.Run("a client that closes without reading the answer", func(t *testing.T) {
		call, v := h.incoming(caller)
		before := len(h.sim.Commands())
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		body := encode(omproto.Connect{From: v.Ref(), To: menu("1"), VoiceFile: "user_welcome"})
		if _, err := conn.Write([]byte(rawRequest("HTTP/1.1", body))); err != nil {
			t.Fatal(err)
		}
		conn.Close()
		waitFor(t, "the command to be carried out", func() bool { return len(h.sim.Commands()) > before })
		h.settle()
		wantState(t, call, "menu")
		if got := call.Info().Connected; got != "menu 1" {
			t.Fatalf("call connected to %q, want menu 1", got)
		}
		// The operator hand-off was cancelled: nothing rings at 5 s.
		h.advance(5 * time.Second)
		h.expect()
	})
}

func strconvHex(n int) string {
	const digits = "0123456789abcdef"
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 16 {
		b = append([]byte{digits[n%16]}, b...)
	}
	return string(b)
}

// TestCommandAnswers checks the answer shapes of omapi.md §4 for commands
// on an idle device, byte for byte where the shape is fixed.
func TestCommandAnswers(t *testing.T) {
	h := newHarness(t, func(c *omsim.Config) {
		c.Groups = map[string][]string{"1": {"201", "202"}}
		c.Menus = map[int]omsim.MenuSettings{5: {VoiceFile: "user_menu", Repeat: 2, InfoLength: 3, Exit: "#"}}
	})
	const decl = `<?xml version="1.0" encoding="utf-8" ?>` + "\n"
	cases := []struct {
		name string
		cmd  omproto.Command
		want string // the whole answer body
	}{
		{"unknown extension", omproto.Query{Kind: omproto.KindExt, ID: "6604000"}, decl + "<!-- Error, can't find extension:6604000 -->"},
		{"visitor not live", omproto.Query{Kind: omproto.KindVisitor, ID: "1"}, decl + "<!-- Error, can't find visitor:1 -->"},
		{"outer not live", omproto.Query{Kind: omproto.KindOuter, ID: "3"}, decl + "<!-- Error, can't find outer:3 -->"},
		{"unknown group", omproto.Query{Kind: omproto.KindGroup, ID: "9"}, decl + "<!-- Error, can't find group:9 -->"},
		{"menu out of range", omproto.Query{Kind: omproto.KindMenu, ID: "51"}, decl + "<!-- Error, can't find menu:51 -->"},
		{"unknown trunk", omproto.Query{Kind: omproto.KindTrunk, ID: "99999"}, decl + "<!-- Error, can't find trunk:99999 -->"},
		{"clear a visitor not live", omproto.Clear{Target: visitor("4")}, decl + "<!-- Error, can't find visitor:4 -->"},
		{"connect a visitor not live", omproto.Connect{From: visitor("4"), To: menu("1")}, decl + "<!-- Error, can't find visitor:4 -->"},
		{"connect to an unknown extension", omproto.Connect{From: ext("201"), To: ext("999")}, decl + "<!-- Error, can't find extension:999 -->"},
		{"accept a visitor not live", omproto.Accept{Visitor: "2"}, decl + "<!-- Error, can't find visitor:2 -->"},
		{"hold an unknown extension", omproto.ExtControl{Action: omproto.VerbHold, Ext: "999"}, decl + "<!-- Error, can't find extension:999 -->"},
		{"hold an extension in no call", omproto.ExtControl{Action: omproto.VerbHold, Ext: "201"},
			decl + `<Event attribute="FAILED"><err><code>1</code><reason>extension 201 is not in a call</reason></err></Event>`},
		{"monitor an extension in no call", omproto.Supervise{Action: omproto.VerbMonitor, First: "201", Second: "202"},
			decl + `<Event attribute="FAILED"><err><code>1</code><reason>extension 202 is not in a call</reason></err></Event>`},
		{"query one extension", omproto.Query{Kind: omproto.KindExt, ID: "202"},
			decl + `<Status><ext id="202"><lineid>IPPhone 202</lineid><group id="1"/><state>ready</state></ext></Status>`},
		{"query the trunk", omproto.Query{Kind: omproto.KindTrunk, ID: "60001"},
			decl + `<Status><trunk id="60001"><lineid>Trunk 1</lineid><state>ready</state></trunk></Status>`},
		{"query a configured group", omproto.Query{Kind: omproto.KindGroup, ID: "1"},
			decl + `<Status><group id="1"><ext id="201"/><ext id="202"/></group></Status>`},
		{"query a configured menu", omproto.Query{Kind: omproto.KindMenu, ID: "5"},
			decl + `<Status><menu id="5"><voicefile>user_menu</voicefile><repeat>2</repeat><infolength>3</infolength><exit>#</exit></menu></Status>`},
		{"query all menus lists the configured ones", omproto.Query{Kind: omproto.KindMenu},
			decl + `<Status><menu id="5"><voicefile>user_menu</voicefile><repeat>2</repeat><infolength>3</infolength><exit>#</exit></menu></Status>`},
		{"query visitors when none is live", omproto.Query{Kind: omproto.KindVisitor}, decl + `<Status></Status>`},
		{"assign a menu", omproto.AssignMenu{ID: "3", VoiceFile: "user_welcome+user_menu", Repeat: 3, InfoLength: 5, Exit: "#"},
			decl + `<Status><menu id="3"><voicefile>user_welcome+user_menu</voicefile><repeat>3</repeat><infolength>5</infolength><exit>#</exit></menu></Status>`},
		{"assign a menu with a missing file", omproto.AssignMenu{ID: "3", VoiceFile: "user_nosuch"}, decl + "<!-- Error, can't find voicefile:user_nosuch -->"},
		{"unknown command", omproto.UnknownCommand{Element: omproto.Element{Name: "Control", Attrs: []omproto.Attr{{Name: "attribute", Value: "Reboot"}}}},
			decl + "<!-- Error, unknown command Control Reboot -->"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, body := h.post(encode(c.cmd))
			if status != http.StatusOK || body != c.want {
				t.Fatalf("answer %d\n  got  %q\n  want %q", status, body, c.want)
			}
		})
	}
	// None of these made a report.
	h.expect()

	t.Run("DeviceInfo", func(t *testing.T) {
		info, err := h.client.DeviceInfo(h.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.Manufacturer != "New Rock Technologies" || info.Model != omsim.DefaultModel || info.Version != omsim.DefaultVersion || info.MAC == "" {
			t.Errorf("DeviceInfo = %+v", info)
		}
		var exts []string
		for _, e := range info.Exts {
			exts = append(exts, e.ID+"/"+e.LineID)
		}
		want := []string{"200/IPPhone 200", "201/IPPhone 201", "202/IPPhone 202", "203/IPPhone 203", "204/IPPhone 204",
			"205/IPPhone 205", "206/IPPhone 206", "207/IPPhone 207", "208/IPPhone 208", "209/IPPhone 209"}
		if !reflect.DeepEqual(exts, want) {
			t.Errorf("exts %v, want %v", exts, want)
		}
		if len(info.Lines) != 1 || info.Lines[0].ID != omsim.DefaultTrunk || len(info.Groups) != 1 || info.Groups[0].ID != "1" {
			t.Errorf("lines %+v groups %+v, want trunk 60001 and group 1", info.Lines, info.Groups)
		}
	})

	t.Run("Manage Query voicefile", func(t *testing.T) {
		got, err := h.client.VoiceFiles(h.ctx)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for name := range h.sim.Config().VoiceFiles {
			want = append(want, name)
		}
		sort.Strings(want)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("voice files %v, want %v", got, want)
		}
		for _, f := range []string{"silence", "welcome", "user_digit_0", "user_welcome"} {
			if sort.SearchStrings(got, f) == len(got) || got[sort.SearchStrings(got, f)] != f {
				t.Errorf("voice files lack %s", f)
			}
		}
	})

	t.Run("a custom device lists its own files", func(t *testing.T) {
		h := newHarness(t, func(c *omsim.Config) {
			c.VoiceFiles = map[string]time.Duration{"user_a": time.Second, "silence": 0}
		})
		got, err := h.client.VoiceFiles(h.ctx)
		if want := []string{"silence", "user_a"}; err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("voice files %v, %v; want %v", got, err, want)
		}
	})
}

// TestCommandStatusOfLiveCalls checks that queries nest the live calls:
// a visitor in a menu, a visitor talking to an extension, the trunk.
func TestCommandStatusOfLiveCalls(t *testing.T) {
	h := newHarness(t, nil)
	h.assignMenu(omproto.AssignMenu{ID: "1", VoiceFile: "user_welcome", Repeat: 0, InfoLength: 5, Exit: "#"})
	_, v1 := h.incoming(caller)
	_, v2 := h.incoming("13800000002")
	h.connect(v1.Ref(), menu("1"), "")
	h.connect(v2.Ref(), ext("203"), "")
	h.advance(time.Second) // 203 answers
	h.expect("RING visitor:2 ext:203", "ANSWER visitor:2 ext:203", "BUSY ext:203")

	_, body := h.post(encode(omproto.Query{Kind: omproto.KindMenu, ID: "1"}))
	wantMenu := `<Status><menu id="1"><voicefile>user_welcome</voicefile><repeat>0</repeat><infolength>5</infolength><exit>#</exit>` +
		`<visitor id="1" from="13800000001" to="60001" callid="` + v1.CallID + `"/></menu></Status>`
	if !strings.HasSuffix(body, wantMenu) {
		t.Errorf("Query menu 1:\n  got  %q\n  want …%q", body, wantMenu)
	}
	_, body = h.post(encode(omproto.Query{Kind: omproto.KindVisitor, ID: "2"}))
	wantVisitor := `<Status><visitor id="2" from="13800000002" to="60001" callid="` + v2.CallID + `"><ext id="203"/><state>talk</state></visitor></Status>`
	if !strings.HasSuffix(body, wantVisitor) {
		t.Errorf("Query visitor 2:\n  got  %q\n  want …%q", body, wantVisitor)
	}

	st, err := h.client.Query(h.ctx, omproto.KindVisitor, "")
	if err != nil || len(st.Calls) != 2 {
		t.Fatalf("Query all visitors = %+v, %v", st, err)
	}
	if c := st.Calls[0]; c.ID != "1" || c.State != "wait" || len(c.Peers) != 1 || c.Peers[0] != menu("1") {
		t.Errorf("visitor 1 = %+v, want waiting in menu 1", c)
	}
	st, err = h.client.Query(h.ctx, omproto.KindExt, "203")
	if err != nil || len(st.Exts) != 1 || st.Exts[0].State != "active" || len(st.Exts[0].Calls) != 1 ||
		st.Exts[0].Calls[0].ID != "2" || st.Exts[0].Calls[0].State != "talk" {
		t.Fatalf("Query ext 203 = %+v, %v; want active with visitor 2 talking", st, err)
	}
	st, err = h.client.Query(h.ctx, omproto.KindTrunk, "")
	if err != nil || len(st.Trunks) != 1 || st.Trunks[0].State != "active" || len(st.Trunks[0].Calls) != 2 {
		t.Fatalf("Query trunk = %+v, %v; want active with two calls", st, err)
	}
}

// TestCommandFailed checks the FAILED answers of omapi.md §4 and that the
// call stays where it was.
func TestCommandFailed(t *testing.T) {
	h := newHarness(t, func(c *omsim.Config) {
		c.ExtPolicies = map[string]omsim.Policy{
			"205": {Answer: omsim.AnswerOffline},
			"206": {Answer: omsim.AnswerBusy},
			"207": {Answer: omsim.AnswerManual},
		}
	})
	h.assignMenu(omproto.AssignMenu{ID: "1", VoiceFile: "user_welcome", Repeat: 1})
	call, v := h.incoming(caller)
	h.connect(v.Ref(), menu("1"), "")

	// 201 is talking with another caller; 207 is ringing for a third.
	_, v2 := h.incoming("13800000002")
	h.connect(v2.Ref(), ext("201"), "")
	h.expect("RING visitor:2 ext:201")
	_, v3 := h.incoming("13800000003")
	h.connect(v3.Ref(), ext("207"), "")
	h.advance(time.Second)
	h.expect("RING visitor:3 ext:207", "ANSWER visitor:2 ext:201", "BUSY ext:201")

	cases := []struct {
		name   string
		cmd    omproto.Command
		code   int
		reason string
	}{
		{"called extension offline", omproto.Connect{From: v.Ref(), To: ext("205")}, omproto.CodeCalledOffline, "called extension offline"},
		{"called extension talking", omproto.Connect{From: v.Ref(), To: ext("201")}, omproto.CodeCalledTalking, "called extension talking"},
		{"called extension busy", omproto.Connect{From: v.Ref(), To: ext("206")}, omproto.CodeCalledBusy, "called extension busy"},
		{"called extension ringing", omproto.Connect{From: v.Ref(), To: ext("207")}, omproto.CodeCalledBusy, "called extension busy"},
		{"calling extension offline", omproto.Connect{From: ext("205"), To: ext("202")}, omproto.CodeCallingExtOffline, "calling extension offline"},
		{"calling extension offline, to an outside number", omproto.Connect{From: ext("205"), To: dial("13900000000")}, omproto.CodeCallingExtOffline, "calling extension offline"},
		{"missing voice file", omproto.Connect{From: v.Ref(), To: menu("2"), VoiceFile: "user_welcome+user_nosuch"}, omproto.CodeFailed, "can't find voicefile:user_nosuch"},
		{"missing voice file with an extension", omproto.Connect{From: v.Ref(), To: ext("202"), VoiceFile: "nosuch"}, omproto.CodeFailed, "can't find voicefile:nosuch"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			oe := h.failCode(c.cmd, c.code)
			if oe.Reason != c.reason {
				t.Errorf("reason %q, want %q", oe.Reason, c.reason)
			}
			// The caller is still in menu 1, the prompt still playing.
			if info := call.Info(); info.Connected != "menu 1" || info.State != "menu" {
				t.Fatalf("after the refusal the call is %s in %q, want menu in menu 1", info.State, info.Connected)
			}
		})
	}
	// The raw shape: an <Event attribute="FAILED"> naming the call, with
	// the code and reason in <err>.
	_, body := h.post(encode(omproto.Connect{From: v.Ref(), To: ext("205")}))
	want := `<Event attribute="FAILED"><visitor id="1" from="13800000001" to="60001" callid="` + v.CallID +
		`"/><err><code>3</code><reason>called extension offline</reason></err></Event>`
	if !strings.HasSuffix(body, want) {
		t.Errorf("FAILED answer\n  got  %q\n  want …%q", body, want)
	}
	// No refusal made a report, and the prompt ends as it would have.
	h.expect()
	h.advance(2 * time.Second)
	h.expect("EndOfAnn visitor:1 menu:1")
	if got := call.Heard(); !reflect.DeepEqual(got, []omsim.Heard{{File: "user_welcome", Completed: true}}) {
		t.Errorf("heard %+v, want user_welcome once, completed", got)
	}
}

// TestCommandAuth checks the command allow-list and signatures: the
// address first, the signature only when the address is not allowed.
func TestCommandAuth(t *testing.T) {
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	elsewhere := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	const secret = "command-secret"
	cases := []struct {
		name    string
		allow   []netip.Prefix
		secret  string
		sign    string        // secret the client signs with; "" unsigned
		skew    time.Duration // added to the client's timestamp
		wantErr error
	}{
		{"open device, unsigned", nil, "", "", 0, nil},
		{"secret only, unsigned", nil, secret, "", 0, omproto.ErrUnauthorized},
		{"secret only, signed", nil, secret, secret, 0, nil},
		{"secret only, wrong secret", nil, secret, "other", 0, omproto.ErrUnauthorized},
		{"secret only, stale signature", nil, secret, secret, -301 * time.Second, omproto.ErrUnauthorized},
		{"secret only, signature within the window", nil, secret, secret, -299 * time.Second, nil},
		{"address not allowed, unsigned", elsewhere, secret, "", 0, omproto.ErrUnauthorized},
		{"address not allowed, signed", elsewhere, secret, secret, 0, nil},
		{"address not allowed, no secret configured", elsewhere, "", "", 0, omproto.ErrUnauthorized},
		{"address not allowed, no secret configured, signed anyway", elsewhere, "", secret, 0, omproto.ErrUnauthorized},
		{"address allowed, unsigned", loopback, secret, "", 0, nil},
		{"address allowed, wrong signature", loopback, secret, "other", 0, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, func(cfg *omsim.Config) {
				cfg.CommandAllow = c.allow
				cfg.CommandSecret = c.secret
			})
			h.client.Secret = c.sign
			h.client.Now = func() time.Time { return h.clk.Now().Add(c.skew) }
			_, err := h.client.DeviceInfo(h.ctx)
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("DeviceInfo: %v, want %v", err, c.wantErr)
			}
			recs := h.sim.Commands()
			wantStatus := http.StatusOK
			if c.wantErr != nil {
				wantStatus = http.StatusUnauthorized
			}
			if len(recs) != 1 || recs[0].Status != wantStatus {
				t.Fatalf("command records %+v, want one with status %d", recs, wantStatus)
			}
		})
	}

	t.Run("raw 401", func(t *testing.T) {
		h := newHarness(t, func(cfg *omsim.Config) { cfg.CommandSecret = secret })
		status, body := h.post(deviceInfoBody)
		if status != http.StatusUnauthorized || body != "Unauthorized" {
			t.Fatalf("unsigned answered %d %q, want 401 Unauthorized", status, body)
		}
		// The vendor tool's shape: newlines around each value.
		auth := omproto.Sign(secret, "1804289383", h.clk.Now())
		signed := "<?xml version=\"1.0\" encoding=\"utf-8\" ?>\n<Auth><Timestamp>\n" + auth.Timestamp + "\n</Timestamp><nonce>\n1804289383\n</nonce>\n<Signature>\n" +
			auth.Signature + "\n</Signature></Auth>\n<Control attribute=\"Query\"><DeviceInfo/></Control>"
		status, body = h.post(signed)
		if status != http.StatusOK || !strings.Contains(body, "<DeviceInfo>") {
			t.Fatalf("signed answered %d %q, want 200 DeviceInfo", status, body)
		}
	})
}
