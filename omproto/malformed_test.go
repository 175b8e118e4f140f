package omproto_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/ivrd/ivrd/omproto"
)

// nested returns a document n elements deep.
func nested(root string, n int) string {
	return "<" + root + ` attribute="BUSY">` + strings.Repeat("<a>", n-1) + strings.Repeat("</a>", n-1) + "</" + root + ">"
}

// wide returns a document of n elements in all.
func wide(root string, n int) string {
	return "<" + root + ` attribute="BUSY">` + strings.Repeat("<ext/>", n-1) + "</" + root + ">"
}

var (
	errSyntax *omproto.SyntaxError
	errDecode *omproto.DecodeError
)

// malformedCases are bodies each decoder must refuse with the error its
// doc names, and never panic on. A nil error means the body is accepted.
var malformedCases = []struct {
	name string
	body string
	// report, response and command are the error each decoder returns.
	report, response, command error
}{
	{"empty", "", omproto.ErrEmpty, nil, omproto.ErrEmpty},
	{"whitespace", " \r\n\t", omproto.ErrEmpty, nil, omproto.ErrEmpty},
	{"bom only", "\xEF\xBB\xBF", omproto.ErrEmpty, nil, omproto.ErrEmpty},
	{"declaration only", `<?xml version="1.0" encoding="utf-8" ?>`, omproto.ErrEmpty, nil, omproto.ErrEmpty},
	{"comment only", "<!-- Empty Waiting List -->", omproto.ErrEmpty, nil, omproto.ErrEmpty},
	{"auth only", "<Auth><nonce>1</nonce></Auth>", omproto.ErrEmpty, nil, omproto.ErrEmpty},
	{"plain text", "Unauthorized", errSyntax, errSyntax, errSyntax},
	{"html", "<html><body>401 Unauthorized</body>", errSyntax, errSyntax, errSyntax},
	{"truncated start tag", `<Event attribute="DTMF"><visitor id="4`, errSyntax, errSyntax, errSyntax},
	{"truncated inside text", `<Event attribute="DTMF"><visitor id="46"><info>12`, errSyntax, errSyntax, errSyntax},
	{"truncated after root opens", `<?xml version="1.0" encoding="utf-8" ?><Status>`, errSyntax, errSyntax, errSyntax},
	{"truncated declaration", `<?xml version="1.0" enc`, errSyntax, errSyntax, errSyntax},
	{"truncated comment", `<!-- Error, can't`, errSyntax, errSyntax, errSyntax},
	{"mismatched tags", `<Event attribute="BUSY"><ext id="318"></Event></ext>`, errSyntax, errSyntax, errSyntax},
	{"stray end tag", `<Event attribute="BUSY"/></ext>`, errSyntax, errSyntax, errSyntax},
	{"text before root", `hello<Event attribute="BUSY"/>`, errSyntax, errSyntax, errSyntax},
	{"text after root", `<Event attribute="BUSY"/>trailing`, errSyntax, errSyntax, errSyntax},
	{"text between roots", `<Event attribute="BUSY"/>x<Auth/>`, errSyntax, errSyntax, errSyntax},
	{"unquoted attribute", `<Event attribute=BUSY/>`, errSyntax, errSyntax, errSyntax},
	{"bad entity", `<Event attribute="BUSY"><ext id="&nbsp;"/></Event>`, errSyntax, errSyntax, errSyntax},
	{"bare ampersand", `<Cdr id="1"><CPN>a & b</CPN></Cdr>`, errSyntax, errSyntax, errSyntax},
	{"invalid utf-8", "<Event attribute=\"BUSY\"><ext id=\"\xff\"/></Event>", errSyntax, errSyntax, errSyntax},
	{"control character", "<Event attribute=\"BUSY\">\x01</Event>", errSyntax, errSyntax, errSyntax},
	{"nul", "<Event attribute=\"BUSY\">\x00</Event>", errSyntax, errSyntax, errSyntax},
	{"prefixed name without a valid local part", `<A:0/>`, errSyntax, errSyntax, errSyntax},
	{"prefixed attribute without a valid local part", `<Event attribute="BUSY" a:1="x"/>`, errSyntax, errSyntax, errSyntax},
	{"namespaced names", `<p:Event xmlns:p="urn:x" p:attribute="BUSY"><p:ext id="1"/></p:Event>`, nil, nil, nil},
	{"32 deep", nested("Event", 32), nil, nil, nil},
	{"33 deep", nested("Event", 33), errSyntax, errSyntax, errSyntax},
	{"1000 deep", nested("Event", 1000), errSyntax, errSyntax, errSyntax},
	{"10000 elements", wide("Event", 10000), nil, nil, nil},
	{"10001 elements", wide("Event", 10001), errSyntax, errSyntax, errSyntax},
	{"100000 elements", wide("Event", 100000), errSyntax, errSyntax, errSyntax},
	{"10001 elements in roots", strings.Repeat("<Auth/>", 10001), errSyntax, errSyntax, errSyntax},
	{"status menu repeat", `<Status><menu id="1"><repeat>x</repeat></menu></Status>`, nil, errDecode, nil},
	{"status menu infolength 0", `<Status><menu id="1"><infolength>0</infolength></menu></Status>`, nil, errDecode, nil},
	{"assign menu repeat", `<Control attribute="Assign"><menu id="1"><repeat>65536</repeat></menu></Control>`, nil, nil, errDecode},
	{"assign menu infolength", `<Control attribute="Assign"><menu id="1"><infolength>256</infolength></menu></Control>`, nil, nil, errDecode},
	{"assign ext api", `<Control attribute="Assign"><ext lineid="Phone 1"><api>on</api></ext></Control>`, nil, nil, errDecode},
	{"assign nothing", `<Control attribute="Assign"><voicefile/></Control>`, nil, nil, errDecode},
	{"query nothing", `<Control attribute="Query"/>`, nil, nil, errDecode},
	{"hold nothing", `<Control attribute="Hold"/>`, nil, nil, errDecode},
	{"monitor one", `<Control attribute="Monitor"><ext id="1"/></Control>`, nil, nil, errDecode},
	{"clear nothing", `<Control attribute="Clear"/>`, nil, nil, errDecode},
	{"connect nothing", `<Transfer attribute="Connect"/>`, nil, nil, errDecode},
	{"connect one", `<Transfer attribute="Connect"><visitor id="1"/></Transfer>`, nil, nil, errDecode},
	{"connect trunk as destination", `<Transfer attribute="Connect"><ext id="208"/><trunk id="1"/></Transfer>`, nil, nil, errDecode},
	{"queue one", `<Transfer attribute="Queue"><visitor id="1"/></Transfer>`, nil, nil, errDecode},
	{"accept ext", `<Notify attribute="Accept"><ext id="1"/></Notify>`, nil, nil, errDecode},
}

// TestMalformed checks that each decoder refuses malformed input with the
// typed error its doc promises, and accepts what it should.
func TestMalformed(t *testing.T) {
	for _, tc := range malformedCases {
		t.Run(tc.name, func(t *testing.T) {
			body := []byte(tc.body)
			r, err := omproto.DecodeReport(body)
			checkDecodeErr(t, "DecodeReport", err, tc.report, r != nil)
			resp, err := omproto.DecodeResponse(body)
			checkDecodeErr(t, "DecodeResponse", err, tc.response, resp != nil)
			cmd, _, err := omproto.DecodeCommand(body)
			checkDecodeErr(t, "DecodeCommand", err, tc.command, cmd != nil)
		})
	}
}

func checkDecodeErr(t *testing.T, fn string, err, want error, gotValue bool) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Errorf("%s: error %v, want none", fn, err)
		}
		if !gotValue {
			t.Errorf("%s: no value and no error", fn)
		}
		return
	}
	if !codecErrorIs(err, want) {
		t.Errorf("%s: error %v (%T), want %T %v", fn, err, err, want, want)
	}
	if gotValue {
		t.Errorf("%s: returned a value beside the error", fn)
	}
	var se *omproto.SyntaxError
	if errors.As(err, &se) {
		if se.Err == nil || errors.Unwrap(se) != se.Err || !strings.Contains(se.Error(), "malformed XML") {
			t.Errorf("%s: SyntaxError %+v does not carry its cause", fn, se)
		}
		if se.Offset < 0 || se.Offset > int64(1<<20) {
			t.Errorf("%s: SyntaxError offset %d", fn, se.Offset)
		}
	}
	var de *omproto.DecodeError
	if errors.As(err, &de) && (de.Msg == "" || de.Field == "") {
		t.Errorf("%s: DecodeError %+v names no field or reason", fn, de)
	}
}

// TestCdrDurationNotANumber keeps the call record: one garbled field does
// not lose it, and the value the device sent is kept.
func TestCdrDurationNotANumber(t *testing.T) {
	for _, text := range []string{"13s", "-1", "-5", "99999999999999999999", "1.5"} {
		r, err := omproto.DecodeReport([]byte(`<Cdr id="1"><callid>7</callid><Duration>` + text + `</Duration></Cdr>`))
		if err != nil {
			t.Fatalf("%q: %v, want the Cdr kept", text, err)
		}
		if r.Cdr.Duration != omproto.DurationUnknown || r.Cdr.DurationText != text || r.Cdr.CallID != "7" {
			t.Fatalf("%q: Cdr = %+v", text, r.Cdr)
		}
	}
}

// TestSyntaxErrorOffset points near the fault.
func TestSyntaxErrorOffset(t *testing.T) {
	body := `<Event attribute="BUSY"><ext id="318"></Event>`
	_, err := omproto.DecodeReport([]byte(body))
	var se *omproto.SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("error = %v, want *SyntaxError", err)
	}
	if se.Offset < int64(strings.Index(body, "</Event>")) {
		t.Errorf("offset %d is before the mismatched end tag at %d", se.Offset, strings.Index(body, "</Event>"))
	}
}

// TestDecodeLongText: text split by many comments is read in linear time
// (a quadratic parse of this body takes seconds) and kept whole.
func TestDecodeLongText(t *testing.T) {
	const n = 200000
	body := "<Event attribute=\"DTMF\"><info>" + strings.Repeat("1<!---->", n) + "</info></Event>"
	r, err := omproto.DecodeReport([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Event.Info) != n || strings.Trim(r.Event.Info, "1") != "" {
		t.Errorf("Info has %d characters, want %d ones", len(r.Event.Info), n)
	}
}
