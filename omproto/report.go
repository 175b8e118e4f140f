package omproto

import (
	"strconv"
	"strings"
	"time"
)

// Event names (omapi.md §5). All are upper case except EndOfAnn. Decoding
// maps any spelling of a known name to these; unknown names are kept as sent.
const (
	EventBootup       = "BOOTUP"
	EventConfigChange = "CONFIG_CHANGE"
	EventBusy         = "BUSY"
	EventIdle         = "IDLE"
	EventOnline       = "ONLINE"
	EventOffline      = "OFFLINE"
	EventRing         = "RING"
	EventAlert        = "ALERT"
	EventAnswer       = "ANSWER"
	EventAnswered     = "ANSWERED"
	EventBye          = "BYE"
	EventDivert       = "DIVERT"
	EventTransient    = "TRANSIENT"
	EventFailed       = "FAILED"
	EventInvite       = "INVITE"
	EventIncoming     = "INCOMING"
	EventDTMF         = "DTMF"
	EventEndOfAnn     = "EndOfAnn"
	EventQueue        = "QUEUE"
)

// EventNames lists every event the OM API documents, in omapi.md's order.
var EventNames = []string{
	EventBootup, EventConfigChange, EventBusy, EventIdle, EventOnline, EventOffline,
	EventRing, EventAlert, EventAnswer, EventAnswered, EventBye, EventDivert,
	EventTransient, EventFailed, EventInvite, EventIncoming, EventDTMF, EventEndOfAnn,
	EventQueue,
}

// KnownEvent reports whether name is one of the documented events.
func KnownEvent(name string) bool {
	for _, n := range EventNames {
		if n == name {
			return true
		}
	}
	return false
}

func canonicalEvent(name string) string {
	name = strings.TrimSpace(name)
	for _, n := range EventNames {
		if strings.EqualFold(n, name) {
			return n
		}
	}
	return name
}

// Event is an <Event attribute="NAME"> document: a report pushed by the OM,
// or a TRANSIENT or FAILED answer to a command.
//
// Children are kept by kind in document order. Where the wire nests objects
// inside the call leg (DTMF puts <menu> and <info> inside <visitor>), the
// decoder lifts them to the event, and the encoder puts them back where a
// device does.
type Event struct {
	Name string
	// Calls are the visitor and outer legs in document order. A leg nested
	// inside another (no device is known to send one) stays in that leg's
	// Peers.
	Calls []Call
	// Objects are the other objects (ext, trunk, line, group, menu) in
	// document order, including those nested inside a call leg.
	Objects []Ref
	// Info is the DTMF digits, with the exit key when it ended the input.
	Info string
	// Divert is the <divert> of a DIVERT event.
	Divert *Divert
	// Failure is the code and reason of a FAILED event.
	Failure *Failure
	// Recording is the <recording> of a 2015-era BYE: the first one with
	// text, whether a child of the event or of a call leg; any later one is
	// kept in Extra.
	Recording string
	// Extra holds children the decoder did not know, in order.
	Extra []Element
}

// Divert is where a call was forwarded.
type Divert struct {
	From, To, Reason string
}

// Failure is why a call could not be placed.
type Failure struct {
	Code   int
	Reason string
	// Attrs records that the device put code and reason as attributes of
	// the event's last object rather than in an <err> child; the encoder
	// reproduces the shape.
	Attrs bool
}

// Call returns the event's first call leg, or nil.
func (e *Event) Call() *Call {
	if len(e.Calls) == 0 {
		return nil
	}
	return &e.Calls[0]
}

// Object returns the id of the event's first object of kind k.
func (e *Event) Object(k Kind) (string, bool) {
	for _, o := range e.Objects {
		if o.Kind == k {
			return o.ID, true
		}
	}
	return "", false
}

// Ext returns the id of the event's first extension, or "".
func (e *Event) Ext() string { id, _ := e.Object(KindExt); return id }

// Menu returns the id of the event's menu, or "".
func (e *Event) Menu() string { id, _ := e.Object(KindMenu); return id }

// Trunk returns the id of the event's trunk, or "".
func (e *Event) Trunk() string { id, _ := e.Object(KindTrunk); return id }

// Err returns the FAILED answer as an *Error, or nil for other events.
func (e *Event) Err() error {
	if e.Name != EventFailed {
		return nil
	}
	if e.Failure == nil {
		return &Error{Code: CodeFailed}
	}
	return &Error{Code: e.Failure.Code, Reason: e.Failure.Reason}
}

// Cdr is a call record, pushed by the OM when a call is released.
type Cdr struct {
	ID        string
	CallID    string
	TimeStart string // yyyyMMddHHmmss, device local time
	TimeEnd   string
	Type      string // IN, OU, FI, FW, LO, CB
	Route     string // IP, XO, IC, OP
	CPN       string // caller
	CDPN      string // callee
	Duration  int    // seconds; 0 means never answered, DurationUnknown that the device sent no number
	// DurationText is what the device sent for Duration when it was not a
	// number of seconds.
	DurationText string
	TrunkNumber  string
	Recording    string
	RecCodec     string
	Extra        []Element
}

// DurationUnknown is a Cdr's Duration when the device's value was not a
// number of seconds (DurationText holds it).
const DurationUnknown = -1

// CdrTimeLayout is the layout of Cdr times.
const CdrTimeLayout = "20060102150405"

// Start parses TimeStart in the device's time zone.
func (c *Cdr) Start(loc *time.Location) (time.Time, error) {
	return time.ParseInLocation(CdrTimeLayout, c.TimeStart, loc)
}

// End parses TimeEnd in the device's time zone.
func (c *Cdr) End(loc *time.Location) (time.Time, error) {
	return time.ParseInLocation(CdrTimeLayout, c.TimeEnd, loc)
}

// Report is one document the OM pushes: an Event, a Cdr, or a root element
// of a kind this package does not know (kept in Other, not an error).
type Report struct {
	Event *Event
	Cdr   *Cdr
	Other *Element
	// Auth is the signature element, when the report was signed.
	Auth *Auth
}

// Kind names what the report carries: the event name, "Cdr", or the
// unknown root element's name.
func (r *Report) Kind() string {
	switch {
	case r.Event != nil:
		return r.Event.Name
	case r.Cdr != nil:
		return "Cdr"
	case r.Other != nil:
		return r.Other.Name
	}
	return ""
}

// DecodeReport reads a report body. An empty body or one holding only a
// comment is ErrEmpty; malformed XML is a *SyntaxError; a Cdr whose
// Duration is not a number of seconds is a *DecodeError.
func DecodeReport(body []byte) (*Report, error) {
	doc, err := parse(body)
	if err != nil {
		return nil, err
	}
	r := &Report{}
	var main *Element
	for i := range doc.roots {
		el := &doc.roots[i]
		if el.is("Auth") {
			if r.Auth == nil {
				a := decodeAuth(el)
				r.Auth = &a
			}
			continue
		}
		if main == nil {
			main = el
		}
	}
	if main == nil {
		return nil, ErrEmpty
	}
	switch {
	case main.is("Event"):
		r.Event = decodeEvent(main)
	case main.is("Cdr"):
		c, err := decodeCdr(main)
		if err != nil {
			return nil, err
		}
		r.Cdr = c
	default:
		r.Other = main
	}
	return r, nil
}

func decodeEvent(el *Element) *Event {
	ev := &Event{Name: canonicalEvent(el.attr("attribute"))}
	var coded *Element // the last object carrying a code attribute
	for i := range el.Children {
		ch := &el.Children[i]
		k, isObj := kindOf(ch.Name)
		switch {
		case isObj && k.IsCall():
			c, nested, info, infoSet := decodeCall(ch, k)
			for _, n := range nested {
				if n.Kind.IsCall() {
					c.Peers = append(c.Peers, n)
				} else {
					ev.Objects = append(ev.Objects, n)
				}
			}
			if infoSet {
				ev.Info = info
			}
			c.Extra = ev.takeRecording(c.Extra)
			ev.Calls = append(ev.Calls, c)
		case isObj:
			ev.Objects = append(ev.Objects, decodeRef(ch, k))
		case ch.is("info"):
			ev.Info = ch.Text
		case ch.is("divert"):
			ev.Divert = &Divert{From: ch.attr("from"), To: ch.attr("to"), Reason: ch.attr("reason")}
		case ch.is("err"):
			ev.Failure = &Failure{Code: atoiLoose(ch.childText("code")), Reason: ch.childText("reason")}
		case ch.is("recording") && ev.Recording == "":
			ev.Recording = ch.Text
		default:
			ev.Extra = append(ev.Extra, *ch)
		}
		if _, ok := ch.Attr("code"); ok && isObj {
			coded = ch
		}
	}
	if ev.Failure == nil && coded != nil {
		ev.Failure = &Failure{Code: atoiLoose(coded.attr("code")), Reason: coded.attr("reason"), Attrs: true}
	}
	return ev
}

// takeRecording moves <recording> elements out of a call leg's unknown
// children into e.Recording until one with text is found, and returns the
// children left.
func (e *Event) takeRecording(extra []Element) []Element {
	var out []Element
	for _, x := range extra {
		if e.Recording == "" && x.is("recording") {
			e.Recording = x.Text
			continue
		}
		out = append(out, x)
	}
	return out
}

// atoiLoose reads a decimal number, ignoring surrounding space; anything
// else reads as 0 (a FAILED with a garbled code is still a failure).
func atoiLoose(s string) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0
	}
	return n
}

func decodeCdr(el *Element) (*Cdr, error) {
	c := &Cdr{ID: el.attr("id")}
	for i := range el.Children {
		ch := &el.Children[i]
		switch strings.ToLower(ch.Name) {
		case "callid":
			c.CallID = ch.Text
		case "timestart":
			c.TimeStart = ch.Text
		case "timeend":
			c.TimeEnd = ch.Text
		case "type":
			c.Type = ch.Text
		case "route":
			c.Route = ch.Text
		case "cpn":
			c.CPN = ch.Text
		case "cdpn":
			c.CDPN = ch.Text
		case "duration":
			if ch.Text != "" {
				n, err := strconv.Atoi(ch.Text)
				if err != nil || n < 0 {
					// Kept, not refused: a call record is not lost for
					// one garbled field.
					c.Duration, c.DurationText = DurationUnknown, ch.Text
					break
				}
				c.Duration = n
			}
		case "trunknumber":
			c.TrunkNumber = ch.Text
		case "recording":
			c.Recording = ch.Text
		case "reccodec":
			c.RecCodec = ch.Text
		default:
			c.Extra = append(c.Extra, *ch)
		}
	}
	return c, nil
}

// Encode writes the report as a device sends it: the XML declaration, the
// event or Cdr, then the signature (if any) after it.
func (r *Report) Encode() []byte {
	w := newWriter()
	switch {
	case r.Event != nil:
		writeEvent(w, r.Event)
	case r.Cdr != nil:
		writeCdr(w, r.Cdr)
	case r.Other != nil:
		w.element(*r.Other)
	}
	if r.Auth != nil {
		writeReportAuth(w, r.Auth)
	}
	return w.bytes()
}

// Encode writes the event as a standalone document (how the OM answers a
// command with TRANSIENT or FAILED).
func (e *Event) Encode() []byte {
	w := newWriter()
	writeEvent(w, e)
	return w.bytes()
}

// writeEvent writes the event with its children where a device puts them:
// leading trunks before the call legs (INCOMING, INVITE), the menu and the
// digits of a DTMF inside its call leg, the other objects after the legs.
// Only leading runs of Objects are moved, so that decoding the output gives
// Objects back in the same order.
func writeEvent(w *writer, e *Event) {
	w.open("Event", "attribute", e.Name)
	objs := e.Objects
	// In the attribute shape of FAILED, code and reason sit on the last
	// object at the top level: the last of Objects, or else the last call.
	coded := -1
	attrsOnCall := false
	if f := e.Failure; f != nil && f.Attrs {
		if len(objs) > 0 {
			coded = len(objs) - 1
		} else {
			attrsOnCall = len(e.Calls) > 0
		}
	}
	before := 0
	for before < len(objs) && objs[before].Kind == KindTrunk {
		before++
	}
	dtmf := e.Name == EventDTMF && len(e.Calls) > 0
	nested := before
	for dtmf && nested < len(objs) && objs[nested].Kind == KindMenu && nested != coded {
		nested++
	}
	writeObj := func(i int) {
		o := objs[i]
		if i == coded {
			w.empty(string(o.Kind), "id", o.ID, "lineid", o.LineID, "to", o.To,
				"code", strconv.Itoa(e.Failure.Code), "reason", e.Failure.Reason)
			return
		}
		writeRef(w, o)
	}
	for i := 0; i < before; i++ {
		writeObj(i)
	}
	for i := range e.Calls {
		var inner func()
		if i == 0 && (dtmf || e.Recording != "") {
			inner = func() {
				for j := before; j < nested; j++ {
					writeRef(w, objs[j])
				}
				if dtmf {
					w.textIf("info", e.Info)
				}
				w.textIf("recording", e.Recording)
			}
		}
		if attrsOnCall && i == len(e.Calls)-1 {
			writeCall(w, &e.Calls[i], inner, "code", strconv.Itoa(e.Failure.Code), "reason", e.Failure.Reason)
			continue
		}
		writeCall(w, &e.Calls[i], inner)
	}
	for i := nested; i < len(objs); i++ {
		writeObj(i)
	}
	if !dtmf {
		w.textIf("info", e.Info)
	}
	if len(e.Calls) == 0 {
		w.textIf("recording", e.Recording)
	}
	if e.Divert != nil {
		w.empty("divert", "from", e.Divert.From, "to", e.Divert.To, "reason", e.Divert.Reason)
	}
	if e.Failure != nil && coded < 0 && !attrsOnCall {
		w.open("err")
		w.text("code", strconv.Itoa(e.Failure.Code))
		w.textIf("reason", e.Failure.Reason)
		w.close("err")
	}
	w.elements(e.Extra)
	w.close("Event")
}

func writeCdr(w *writer, c *Cdr) {
	w.open("Cdr", "id", c.ID)
	w.text("callid", c.CallID)
	w.text("TimeStart", c.TimeStart)
	w.text("Type", c.Type)
	w.text("Route", c.Route)
	w.text("CPN", c.CPN)
	w.text("CDPN", c.CDPN)
	w.text("TimeEnd", c.TimeEnd)
	if c.DurationText != "" {
		w.text("Duration", c.DurationText)
	} else {
		w.text("Duration", strconv.Itoa(c.Duration))
	}
	w.text("TrunkNumber", c.TrunkNumber)
	w.textIf("Recording", c.Recording)
	w.textIf("RecCodec", c.RecCodec)
	w.elements(c.Extra)
	w.close("Cdr")
}
