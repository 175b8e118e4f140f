package omproto_test

import (
	"bytes"
	"encoding/xml"
	"reflect"
	"strings"
	"testing"
	"unicode"

	"github.com/ivrd/ivrd/omproto"
)

// roundTripEvents holds an event of every documented name with the
// children it carries, in the form the decoder gives them.
func roundTripEvents() []*omproto.Event {
	in := omproto.Call{Kind: omproto.KindVisitor, ID: "31", From: "13012345678", To: "02161204000", CallID: "36895"}
	out := omproto.Call{Kind: omproto.KindOuter, ID: "186", From: "326", To: "013693848899", Trunk: "568116531", CallID: "20666"}
	return []*omproto.Event{
		{Name: omproto.EventBootup},
		{Name: omproto.EventConfigChange},
		{Name: omproto.EventBusy, Objects: []omproto.Ref{refExt("318")}},
		{Name: omproto.EventIdle, Objects: []omproto.Ref{refExt("318")}},
		{Name: omproto.EventOnline, Objects: []omproto.Ref{{Kind: omproto.KindExt, ID: "250", LineID: "IPPhone 50"}}},
		{Name: omproto.EventOffline, Objects: []omproto.Ref{refExt("250")}},
		{Name: omproto.EventRing, Calls: []omproto.Call{in}, Objects: []omproto.Ref{refExt("200")}},
		{Name: omproto.EventAlert, Calls: []omproto.Call{out}, Objects: []omproto.Ref{refExt("326")}},
		{Name: omproto.EventAnswer, Calls: []omproto.Call{{Kind: omproto.KindVisitor, From: "13012345678"}}, Objects: []omproto.Ref{refExt("200")}},
		{Name: omproto.EventAnswered, Calls: []omproto.Call{out}, Objects: []omproto.Ref{refExt("326")}},
		{Name: omproto.EventBye, Calls: []omproto.Call{{Kind: omproto.KindVisitor, From: "13012345678"}},
			Objects: []omproto.Ref{refExt("200")}, Recording: "20150612/200_x.wav"},
		{Name: omproto.EventDivert, Calls: []omproto.Call{in}, Objects: []omproto.Ref{refExt("200")},
			Divert: &omproto.Divert{From: "200", To: "13900001111", Reason: "noanswer"}},
		{Name: omproto.EventTransient, Calls: []omproto.Call{{Kind: omproto.KindOuter, ID: "8", From: "208", To: "13012345678", Trunk: "02161208234", CallID: "28680"}}},
		{Name: omproto.EventFailed, Calls: []omproto.Call{{Kind: omproto.KindOuter, To: "13012345678"}},
			Failure: &omproto.Failure{Code: 5, Reason: "no free trunk"}},
		{Name: omproto.EventInvite, Calls: []omproto.Call{in}, Objects: []omproto.Ref{refTrunk("02161204000")}},
		{Name: omproto.EventIncoming, Calls: []omproto.Call{in}, Objects: []omproto.Ref{refTrunk("02161204000")}},
		{Name: omproto.EventDTMF, Calls: []omproto.Call{in}, Objects: []omproto.Ref{refMenu("1")}, Info: "123#"},
		{Name: omproto.EventEndOfAnn, Calls: []omproto.Call{in}, Objects: []omproto.Ref{refMenu("3")}},
		{Name: omproto.EventQueue, Calls: []omproto.Call{in}, Objects: []omproto.Ref{refGroup("1")}},
	}
}

// moreEvents are shapes beyond the common ones: both FAILED shapes, several
// objects in an order the encoder must keep, extras.
func moreEvents() []*omproto.Event {
	in := omproto.Call{Kind: omproto.KindVisitor, ID: "46", From: "13012345678"}
	return []*omproto.Event{
		{Name: omproto.EventFailed, Objects: []omproto.Ref{refExt("200"), refExt("201")},
			Failure: &omproto.Failure{Code: 6, Reason: "called extension busy", Attrs: true}},
		{Name: omproto.EventFailed, Calls: []omproto.Call{{Kind: omproto.KindOuter, To: "130"}},
			Failure: &omproto.Failure{Code: 5, Attrs: true}},
		{Name: omproto.EventFailed, Objects: []omproto.Ref{refMenu("1")}, Calls: []omproto.Call{in},
			Failure: &omproto.Failure{Code: 1, Attrs: true}},
		{Name: omproto.EventDTMF, Calls: []omproto.Call{in}, Objects: []omproto.Ref{refMenu("1")},
			Failure: &omproto.Failure{Code: 1, Attrs: true}},
		{Name: omproto.EventDTMF, Calls: []omproto.Call{in}, Objects: []omproto.Ref{refExt("200"), refMenu("1")}, Info: "1"},
		{Name: omproto.EventDTMF, Calls: []omproto.Call{in}, Objects: []omproto.Ref{refTrunk("1"), refMenu("1"), refMenu("2"), refTrunk("2")}, Info: "*"},
		{Name: omproto.EventDTMF, Objects: []omproto.Ref{refMenu("1")}, Info: "9"},
		{Name: omproto.EventIncoming, Calls: []omproto.Call{in, {Kind: omproto.KindOuter, ID: "2"}},
			Objects: []omproto.Ref{refExt("1"), refTrunk("2")}},
		{Name: omproto.EventBye, Recording: "no-call.wav", Objects: []omproto.Ref{refExt("200")}},
		{Name: omproto.EventBye, Calls: []omproto.Call{{Kind: omproto.KindVisitor, ID: "1", Extra: []omproto.Element{{Name: "recording", Text: "second.wav"}}}},
			Recording: "first.wav"},
		{Name: omproto.EventAnswered, Calls: []omproto.Call{{Kind: omproto.KindOuter, ID: "3",
			Peers: []omproto.Ref{{Kind: omproto.KindVisitor, ID: "4"}}}}},
		{Name: "PARK", Calls: []omproto.Call{in}, Extra: []omproto.Element{{Name: "slot", Attrs: []omproto.Attr{{Name: "n", Value: "7"}}}}},
		{Name: omproto.EventRing, Info: "stray", Calls: []omproto.Call{{Kind: omproto.KindVisitor, State: "progress",
			Extra: []omproto.Element{{Name: "ring", Text: "2", Children: []omproto.Element{{Name: "x"}}}}}}},
	}
}

// TestRoundTripEvents: decode(encode(x)) == x for events of every name.
func TestRoundTripEvents(t *testing.T) {
	for _, ev := range append(roundTripEvents(), moreEvents()...) {
		t.Run(ev.Name, func(t *testing.T) {
			enc := ev.Encode()
			checkWellFormed(t, enc)
			r, err := omproto.DecodeReport(enc)
			if err != nil {
				t.Fatalf("DecodeReport: %v\n%s", err, enc)
			}
			if !reflect.DeepEqual(r.Event, ev) {
				t.Errorf("round trip:\n got %s\nwant %s\nencoded %s", dumpJSON(r.Event), dumpJSON(ev), enc)
			}
			resp, err := omproto.DecodeResponse(enc)
			if err != nil {
				t.Fatalf("DecodeResponse: %v", err)
			}
			if !reflect.DeepEqual(resp.Event, ev) {
				t.Errorf("as a response:\n got %s\nwant %s", dumpJSON(resp.Event), dumpJSON(ev))
			}
		})
	}
}

func TestRoundTripEventsCoverEveryName(t *testing.T) {
	seen := map[string]bool{}
	for _, ev := range roundTripEvents() {
		seen[ev.Name] = true
	}
	for _, n := range omproto.EventNames {
		if !seen[n] {
			t.Errorf("no round-trip case for %s", n)
		}
	}
}

func TestRoundTripCdr(t *testing.T) {
	for _, c := range []*omproto.Cdr{
		{ID: "5720170309175055-0", CallID: "32858", TimeStart: "20170309175037", TimeEnd: "20170309175055",
			Type: "LO", Route: "IC", CPN: "200", CDPN: "212", Duration: 13,
			Recording: "20170309/200_212_20170309_175042_805A_cg.wav", RecCodec: "PCMU"},
		{ID: "1", Type: "OU", Route: "IP", CPN: "208", CDPN: "13012345678", TrunkNumber: "02161208234"},
		{ID: "2", Duration: 86400, Extra: []omproto.Element{{Name: "Agent", Text: "1304081"}}},
		{},
	} {
		t.Run(c.ID, func(t *testing.T) {
			enc := (&omproto.Report{Cdr: c}).Encode()
			checkWellFormed(t, enc)
			r, err := omproto.DecodeReport(enc)
			if err != nil {
				t.Fatalf("DecodeReport: %v\n%s", err, enc)
			}
			if !reflect.DeepEqual(r.Cdr, c) {
				t.Errorf("round trip:\n got %+v\nwant %+v", r.Cdr, c)
			}
		})
	}
}

func TestRoundTripStatus(t *testing.T) {
	call := omproto.Call{Kind: omproto.KindVisitor, ID: "5", From: "13012345678", To: "02161204000", CallID: "36901", State: "wait"}
	st := &omproto.Status{
		Calls: []omproto.Call{{Kind: omproto.KindVisitor, ID: "1", From: "02167103750", To: "02161208234", CallID: "49189",
			State: "progress", Peers: []omproto.Ref{refExt("200"), refMenu("3"), {Kind: omproto.KindOuter, ID: "9", To: "130"}}}},
		Exts: []omproto.ExtStatus{{ID: "208", LineID: "Phone 1", Groups: []string{"1", "2"}, StaffID: "1304081",
			Record: "on", API: "7", State: "active",
			Calls: []omproto.Call{{Kind: omproto.KindOuter, ID: "8", From: "208", To: "13012345678", Trunk: "02161208234", CallID: "28680", State: "talk"}},
			Extra: []omproto.Element{{Name: "mobile", Text: "13900001111"}}}},
		Menus: []omproto.MenuStatus{{ID: "1", VoiceFile: "welcome", Repeat: 3, InfoLength: 5, Exit: "#", Calls: []omproto.Call{call}},
			{ID: "2", VoiceFile: "silence"}},
		Groups: []omproto.GroupStatus{{ID: "1", VoiceFile: "NewMorning", Distribution: "sequential", Exts: []string{"211", "212"}, Calls: []omproto.Call{call}}},
		Trunks: []omproto.TrunkStatus{{Kind: omproto.KindTrunk, ID: "02161208234", LineID: "Line 1", State: "active"},
			{Kind: omproto.KindLine, ID: "3", State: "offline"}},
		Extra: []omproto.Element{{Name: "voicefile", Text: "welcome"}},
	}
	enc := st.Encode()
	checkWellFormed(t, enc)
	r, err := omproto.DecodeResponse(enc)
	if err != nil {
		t.Fatalf("DecodeResponse: %v\n%s", err, enc)
	}
	if !reflect.DeepEqual(r.Status, st) {
		t.Errorf("round trip:\n got %s\nwant %s\nencoded %s", dumpJSON(r.Status), dumpJSON(st), enc)
	}
}

func TestRoundTripDeviceInfo(t *testing.T) {
	d := &omproto.DeviceInfo{
		Manufacturer: "New Rock Technologies", Model: "OM200", Version: "Rev 2.1.5.99", MAC: "00:0E:A9:00:00:01",
		Exts:   []omproto.Ref{{Kind: omproto.KindExt, ID: "200", LineID: "Phone 1"}, {Kind: omproto.KindExt, ID: "250", LineID: "IPPhone 50"}},
		Lines:  []omproto.Ref{{Kind: omproto.KindLine, ID: "02161208234", LineID: "Line 1"}, {Kind: omproto.KindTrunk, ID: "50017"}},
		Groups: []omproto.Ref{refGroup("1"), refGroup("2")},
		Extra:  []omproto.Element{{Name: "uptime", Text: "3600"}},
	}
	enc := d.Encode()
	checkWellFormed(t, enc)
	r, err := omproto.DecodeResponse(enc)
	if err != nil {
		t.Fatalf("DecodeResponse: %v\n%s", err, enc)
	}
	if !reflect.DeepEqual(r.DeviceInfo, d) {
		t.Errorf("round trip:\n got %+v\nwant %+v", r.DeviceInfo, d)
	}
}

// nastyValues are strings an encoder must escape or replace.
var nastyValues = []string{
	`<>&"'`,
	`a<b>c&amp;d"e'f`,
	"]]>",
	"tab\tnewline\nreturn\rcrlf\r\n",
	"bell\a nul\x00 esc\x1b del\x7f",
	"bad utf-8 \xff\xfe \xc3",
	"\uFFFE\uFFFF",
	"中文 name ✓ 😀",
	"  padded  ",
	"-- comment --> end",
}

// representable is what a value can come back as: characters XML forbids
// replaced by U+FFFD (one per invalid byte), and for element text the
// surrounding white space trimmed, as the decoder does.
func representable(s string, text bool) string {
	var b strings.Builder
	for _, r := range s {
		if !(r == '\t' || r == '\n' || r == '\r' || r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF) {
			r = unicode.ReplacementChar
		}
		b.WriteRune(r)
	}
	if text {
		return strings.TrimSpace(b.String())
	}
	return b.String()
}

// TestEncodeEscaping: whatever the values, the output is well-formed UTF-8
// that encoding/xml reads, and what XML can represent comes back.
func TestEncodeEscaping(t *testing.T) {
	for _, v := range nastyValues {
		t.Run(v, func(t *testing.T) {
			attr, text := representable(v, false), representable(v, true)

			cmd := omproto.Connect{From: refVisitor(v), To: refDial(v), VoiceFile: v}
			enc := omproto.EncodeCommand(cmd, &omproto.Auth{Timestamp: v, Nonce: v, Signature: v})
			checkWellFormed(t, enc)
			got, auth, err := omproto.DecodeCommand(enc)
			if err != nil {
				t.Fatalf("DecodeCommand: %v\n%s", err, enc)
			}
			want := omproto.Connect{From: refVisitor(attr), To: refDial(attr), VoiceFile: text}
			if got != want {
				t.Errorf("command:\n got %#v\nwant %#v", got, want)
			}
			if auth == nil || *auth != (omproto.Auth{Timestamp: text, Nonce: text, Signature: text}) {
				t.Errorf("auth = %+v, want every field %q", auth, text)
			}

			menu := omproto.AssignMenu{ID: v, VoiceFile: v, Exit: v}
			enc = omproto.EncodeCommand(menu, nil)
			checkWellFormed(t, enc)
			got, _, err = omproto.DecodeCommand(enc)
			if err != nil {
				t.Fatalf("DecodeCommand: %v\n%s", err, enc)
			}
			if want := (omproto.AssignMenu{ID: attr, VoiceFile: text, Exit: text}); got != want {
				t.Errorf("menu:\n got %#v\nwant %#v", got, want)
			}

			ev := &omproto.Event{Name: v, Calls: []omproto.Call{{Kind: omproto.KindVisitor, ID: v, From: v, To: v, CallID: v, State: v}},
				Objects: []omproto.Ref{{Kind: omproto.KindMenu, ID: v}}, Info: v, Divert: &omproto.Divert{From: v, To: v, Reason: v},
				Failure: &omproto.Failure{Code: 1, Reason: v}}
			enc = (&omproto.Report{Event: ev, Auth: &omproto.Auth{Nonce: v}}).Encode()
			checkWellFormed(t, enc)
			r, err := omproto.DecodeReport(enc)
			if err != nil {
				t.Fatalf("DecodeReport: %v\n%s", err, enc)
			}
			wantEv := &omproto.Event{Name: strings.TrimSpace(attr), Calls: []omproto.Call{{Kind: omproto.KindVisitor, ID: attr, From: attr, To: attr, CallID: attr, State: text}},
				Objects: []omproto.Ref{{Kind: omproto.KindMenu, ID: attr}}, Info: text, Divert: &omproto.Divert{From: attr, To: attr, Reason: attr},
				Failure: &omproto.Failure{Code: 1, Reason: text}}
			if !reflect.DeepEqual(r.Event, wantEv) {
				t.Errorf("event:\n got %s\nwant %s", dumpJSON(r.Event), dumpJSON(wantEv))
			}
			if r.Auth == nil || r.Auth.Nonce != text {
				t.Errorf("report auth = %+v, want nonce %q", r.Auth, text)
			}

			cdr := &omproto.Cdr{ID: v, CallID: v, CPN: v, CDPN: v, Recording: v}
			enc = (&omproto.Report{Cdr: cdr}).Encode()
			checkWellFormed(t, enc)
			r, err = omproto.DecodeReport(enc)
			if err != nil {
				t.Fatalf("DecodeReport(cdr): %v\n%s", err, enc)
			}
			if want := (&omproto.Cdr{ID: attr, CallID: text, CPN: text, CDPN: text, Recording: text}); !reflect.DeepEqual(r.Cdr, want) {
				t.Errorf("cdr:\n got %+v\nwant %+v", r.Cdr, want)
			}

			unknown := omproto.UnknownCommand{Element: omproto.Element{Name: "Control",
				Attrs: []omproto.Attr{{Name: "attribute", Value: v}}, Text: v}}
			enc = omproto.EncodeCommand(unknown, nil)
			checkWellFormed(t, enc)
			got, _, err = omproto.DecodeCommand(enc)
			if err != nil {
				t.Fatalf("DecodeCommand(unknown): %v\n%s", err, enc)
			}
			wantU := omproto.UnknownCommand{Element: omproto.Element{Name: "Control",
				Attrs: []omproto.Attr{{Name: "attribute", Value: attr}}, Text: text}}
			if !reflect.DeepEqual(got, wantU) {
				t.Errorf("unknown command:\n got %#v\nwant %#v", got, wantU)
			}

			enc = omproto.EncodeComment(v)
			checkWellFormed(t, enc)
			resp, err := omproto.DecodeResponse(enc)
			if err != nil {
				t.Fatalf("DecodeResponse(comment): %v\n%s", err, enc)
			}
			if !strings.Contains(v, "--") && !strings.HasSuffix(v, "-") && resp.Comment != text {
				t.Errorf("comment = %q, want %q", resp.Comment, text)
			}
			enc = omproto.EncodeVoiceFiles([]string{v})
			checkWellFormed(t, enc)
			resp, err = omproto.DecodeResponse(enc)
			if err != nil {
				t.Fatalf("DecodeResponse(voicefiles): %v\n%s", err, enc)
			}
			if text != "" && !reflect.DeepEqual(resp.VoiceFiles(), []string{text}) {
				t.Errorf("VoiceFiles() = %q, want [%q]", resp.VoiceFiles(), text)
			}
		})
	}
}

// TestEncodeCommentDashes: XML forbids "--" inside a comment, so runs of
// dashes are broken up, and the comment still says what it said.
func TestEncodeCommentDashes(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"a--b", "a- -b"},
		{"a---b", "a- - -b"},
		{"----", "- - - -"},
		{"ends with -", "ends with -"},
		{"-starts", "-starts"},
		{"--> closes", "- -> closes"},
	} {
		enc := omproto.EncodeComment(tc.in)
		checkWellFormed(t, enc)
		body := string(bytes.TrimPrefix(enc, []byte(codecDecl)))
		inner := strings.TrimSuffix(strings.TrimPrefix(body, "<!--"), "-->")
		if strings.Contains(inner, "--") {
			t.Errorf("EncodeComment(%q) = %s: the comment holds --", tc.in, body)
		}
		r, err := omproto.DecodeResponse(enc)
		if err != nil {
			t.Fatalf("DecodeResponse(%s): %v", enc, err)
		}
		if r.Comment != tc.want {
			t.Errorf("EncodeComment(%q) reads back as %q, want %q", tc.in, r.Comment, tc.want)
		}
	}
}

// TestEncodeUsesNoNamespaces guards the plain element names the OM expects.
func TestEncodeUsesNoNamespaces(t *testing.T) {
	enc := omproto.EncodeCommand(omproto.Connect{From: refVisitor("1"), To: refMenu("2")}, commandAuth)
	d := xml.NewDecoder(bytes.NewReader(enc))
	for {
		tok, err := d.Token()
		if err != nil {
			break
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Space != "" {
			t.Errorf("element %v has a namespace", se.Name)
		}
	}
}
