package omproto

import (
	"strconv"
	"strings"
)

// DeviceInfo answers Query DeviceInfo. omapi.md names its fields but shows
// no capture; ivrd reads them wherever they appear and lists the objects
// found under <devices>.
type DeviceInfo struct {
	Manufacturer string
	Model        string
	Version      string
	MAC          string
	Exts         []Ref // ext objects, with lineid
	Lines        []Ref // line/trunk objects
	Groups       []Ref
	Extra        []Element
}

// Status answers a Query (other than DeviceInfo) or an Assign: the objects
// named, with their settings and current calls.
type Status struct {
	Calls  []Call // visitor and outer objects at the top level
	Exts   []ExtStatus
	Menus  []MenuStatus
	Groups []GroupStatus
	Trunks []TrunkStatus
	Extra  []Element
}

// ExtStatus is an extension in a Status answer.
type ExtStatus struct {
	ID      string
	LineID  string
	Groups  []string
	StaffID string
	Record  string
	API     string
	State   string // ready, active, offline … as the device says
	Calls   []Call
	Extra   []Element
}

// MenuStatus is a voice menu in a Status answer, with the calls in it.
type MenuStatus struct {
	ID         string
	VoiceFile  string
	Repeat     int
	InfoLength int
	Exit       string
	Calls      []Call
	Extra      []Element
}

// GroupStatus is an extension group in a Status answer, with its members
// and the calls waiting in it.
type GroupStatus struct {
	ID           string
	VoiceFile    string
	Distribution string
	Exts         []string
	Calls        []Call
	Extra        []Element
}

// TrunkStatus is a trunk or line in a Status answer.
type TrunkStatus struct {
	Kind   Kind // KindTrunk or KindLine
	ID     string
	LineID string
	State  string // ready, active, unwired, offline
	Calls  []Call
	Extra  []Element
}

// Response is the body the OM answers a command with. Exactly one field is
// set, or none for an empty body.
type Response struct {
	DeviceInfo *DeviceInfo
	Status     *Status
	// Event is a TRANSIENT or FAILED answer.
	Event *Event
	// Comment is the text of a comment-only body, e.g. "Error, can't find
	// extension:6604000" or "Empty Waiting List".
	Comment string
	// Other is a root element this package does not know.
	Other *Element

	root *Element
}

// VoiceFiles lists the voice file names in an answer to Manage Query
// voicefile. omapi.md shows no capture of that answer, so every <voicefile>
// element in the body counts, by its text or its name or id attribute.
func (r *Response) VoiceFiles() []string {
	var names []string
	var walk func(e *Element)
	walk = func(e *Element) {
		for i := range e.Children {
			ch := &e.Children[i]
			if ch.is("voicefile") {
				name := ch.Text
				if name == "" {
					name = ch.attr("name")
				}
				if name == "" {
					name = ch.attr("id")
				}
				if name != "" {
					names = append(names, name)
				}
				continue
			}
			walk(ch)
		}
	}
	if r.root != nil {
		walk(r.root)
	}
	return names
}

// Empty reports whether the body held nothing: neither element nor comment.
func (r *Response) Empty() bool {
	return r.DeviceInfo == nil && r.Status == nil && r.Event == nil && r.Comment == "" && r.Other == nil
}

// Err returns the error a response stands for: *Error for FAILED,
// ErrNotFound or ErrEmptyWaitingList for those comments, nil otherwise.
func (r *Response) Err() error {
	if r.Event != nil && r.Event.Name == EventFailed {
		return r.Event.Err()
	}
	return commentErr(r.Comment)
}

func commentErr(c string) error {
	lc := strings.ToLower(c)
	switch {
	case lc == "":
		return nil
	case strings.Contains(lc, "empty waiting list"):
		return ErrEmptyWaitingList
	case strings.Contains(lc, "can't find"), strings.Contains(lc, "cannot find"), strings.Contains(lc, "not found"):
		return ErrNotFound
	}
	return nil
}

// DecodeResponse reads a command's answer body. An empty body, or one with
// only a comment, is a valid Response. Malformed XML is a *SyntaxError; a
// Status whose menu repeat or infolength is not a number in range is a
// *DecodeError.
func DecodeResponse(body []byte) (*Response, error) {
	doc, err := parse(body)
	if err != nil {
		return nil, err
	}
	r := &Response{}
	var main *Element
	for i := range doc.roots {
		if !doc.roots[i].is("Auth") {
			main = &doc.roots[i]
			break
		}
	}
	if main == nil {
		r.Comment = strings.Join(doc.comments, "\n")
		return r, nil
	}
	r.root = main
	switch {
	case main.is("DeviceInfo"):
		r.DeviceInfo = decodeDeviceInfo(main)
	case main.is("Status"):
		st, err := decodeStatus(main)
		if err != nil {
			return nil, err
		}
		r.Status = st
	case main.is("Event"):
		r.Event = decodeEvent(main)
	default:
		r.Other = main
	}
	return r, nil
}

func decodeDeviceInfo(el *Element) *DeviceInfo {
	d := &DeviceInfo{}
	var walk func(e *Element, top bool)
	walk = func(e *Element, top bool) {
		for i := range e.Children {
			ch := &e.Children[i]
			switch {
			case ch.is("manufacturer"):
				d.Manufacturer = ch.Text
			case ch.is("model"):
				d.Model = ch.Text
			case ch.is("version"):
				d.Version = ch.Text
			case ch.is("mac"):
				d.MAC = ch.Text
			case ch.is("devices"):
				walk(ch, false)
			case ch.is("ext"):
				d.Exts = append(d.Exts, decodeRef(ch, KindExt))
			case ch.is("line"), ch.is("trunk"):
				k, _ := kindOf(ch.Name)
				d.Lines = append(d.Lines, decodeRef(ch, k))
			case ch.is("group"):
				d.Groups = append(d.Groups, decodeRef(ch, KindGroup))
			case top:
				d.Extra = append(d.Extra, *ch)
			}
		}
	}
	walk(el, true)
	return d
}

// Encode writes the DeviceInfo answer.
func (d *DeviceInfo) Encode() []byte {
	w := newWriter()
	w.open("DeviceInfo")
	w.text("manufacturer", d.Manufacturer)
	w.text("model", d.Model)
	w.text("version", d.Version)
	w.text("mac", d.MAC)
	w.open("devices")
	for _, r := range d.Exts {
		writeRef(w, r)
	}
	for _, r := range d.Lines {
		writeRef(w, r)
	}
	for _, r := range d.Groups {
		writeRef(w, r)
	}
	w.close("devices")
	w.elements(d.Extra)
	w.close("DeviceInfo")
	return w.bytes()
}

// callsIn decodes the call legs among an element's children and returns the
// rest.
func callsIn(el *Element) (calls []Call, rest []*Element) {
	for i := range el.Children {
		ch := &el.Children[i]
		if k, ok := kindOf(ch.Name); ok && k.IsCall() {
			c, nested, _, _ := decodeCall(ch, k)
			c.Peers = nested
			calls = append(calls, c)
			continue
		}
		rest = append(rest, ch)
	}
	return calls, rest
}

func decodeStatus(el *Element) (*Status, error) {
	st := &Status{}
	calls, rest := callsIn(el)
	st.Calls = calls
	for _, ch := range rest {
		k, _ := kindOf(ch.Name)
		switch k {
		case KindExt:
			st.Exts = append(st.Exts, decodeExtStatus(ch))
		case KindMenu:
			m, err := decodeMenuStatus(ch)
			if err != nil {
				return nil, err
			}
			st.Menus = append(st.Menus, m)
		case KindGroup:
			st.Groups = append(st.Groups, decodeGroupStatus(ch))
		case KindTrunk, KindLine:
			st.Trunks = append(st.Trunks, decodeTrunkStatus(ch, k))
		default:
			st.Extra = append(st.Extra, *ch)
		}
	}
	return st, nil
}

func decodeExtStatus(el *Element) ExtStatus {
	x := ExtStatus{ID: el.attr("id"), LineID: el.attr("lineid")}
	calls, rest := callsIn(el)
	x.Calls = calls
	for _, ch := range rest {
		switch strings.ToLower(ch.Name) {
		case "lineid":
			x.LineID = ch.Text
		case "group":
			x.Groups = append(x.Groups, ch.attr("id"))
		case "staffid":
			x.StaffID = ch.Text
		case "record":
			x.Record = ch.Text
		case "api":
			x.API = ch.Text
		case "state":
			x.State = ch.Text
		default:
			x.Extra = append(x.Extra, *ch)
		}
	}
	return x
}

func decodeMenuStatus(el *Element) (MenuStatus, error) {
	m := MenuStatus{ID: el.attr("id")}
	calls, rest := callsIn(el)
	m.Calls = calls
	for _, ch := range rest {
		var err error
		switch strings.ToLower(ch.Name) {
		case "voicefile":
			m.VoiceFile = ch.Text
		case "repeat":
			m.Repeat, err = intField(el, "repeat", 0, 0, 65535)
		case "infolength":
			m.InfoLength, err = intField(el, "infolength", 0, 1, 255)
		case "exit":
			m.Exit = ch.Text
		default:
			m.Extra = append(m.Extra, *ch)
		}
		if err != nil {
			return m, err
		}
	}
	return m, nil
}

func decodeGroupStatus(el *Element) GroupStatus {
	g := GroupStatus{ID: el.attr("id")}
	calls, rest := callsIn(el)
	g.Calls = calls
	for _, ch := range rest {
		switch strings.ToLower(ch.Name) {
		case "voicefile":
			g.VoiceFile = ch.Text
		case "distribution":
			g.Distribution = ch.Text
		case "ext":
			id := ch.attr("id")
			if id == "" {
				id = ch.Text
			}
			g.Exts = append(g.Exts, id)
		default:
			g.Extra = append(g.Extra, *ch)
		}
	}
	return g
}

func decodeTrunkStatus(el *Element, k Kind) TrunkStatus {
	t := TrunkStatus{Kind: k, ID: el.attr("id"), LineID: el.attr("lineid")}
	calls, rest := callsIn(el)
	t.Calls = calls
	for _, ch := range rest {
		switch strings.ToLower(ch.Name) {
		case "lineid":
			t.LineID = ch.Text
		case "state":
			t.State = ch.Text
		default:
			t.Extra = append(t.Extra, *ch)
		}
	}
	return t
}

// Encode writes the Status answer.
func (s *Status) Encode() []byte {
	w := newWriter()
	w.open("Status")
	for i := range s.Calls {
		writeCall(w, &s.Calls[i], nil)
	}
	for _, x := range s.Exts {
		w.open("ext", "id", x.ID)
		w.textIf("lineid", x.LineID)
		for _, g := range x.Groups {
			w.empty("group", "id", g)
		}
		w.textIf("staffid", x.StaffID)
		w.textIf("record", x.Record)
		w.textIf("api", x.API)
		w.textIf("state", x.State)
		writeCalls(w, x.Calls)
		w.elements(x.Extra)
		w.close("ext")
	}
	for _, m := range s.Menus {
		w.open("menu", "id", m.ID)
		w.textIf("voicefile", m.VoiceFile)
		w.text("repeat", strconv.Itoa(m.Repeat))
		if m.InfoLength > 0 {
			w.text("infolength", strconv.Itoa(m.InfoLength))
		}
		w.textIf("exit", m.Exit)
		writeCalls(w, m.Calls)
		w.elements(m.Extra)
		w.close("menu")
	}
	for _, g := range s.Groups {
		w.open("group", "id", g.ID)
		w.textIf("voicefile", g.VoiceFile)
		w.textIf("distribution", g.Distribution)
		for _, e := range g.Exts {
			w.empty("ext", "id", e)
		}
		writeCalls(w, g.Calls)
		w.elements(g.Extra)
		w.close("group")
	}
	for _, t := range s.Trunks {
		w.open(string(t.Kind), "id", t.ID)
		w.textIf("lineid", t.LineID)
		w.textIf("state", t.State)
		writeCalls(w, t.Calls)
		w.elements(t.Extra)
		w.close(string(t.Kind))
	}
	w.elements(s.Extra)
	w.close("Status")
	return w.bytes()
}

func writeCalls(w *writer, calls []Call) {
	for i := range calls {
		writeCall(w, &calls[i], nil)
	}
}

// EncodeVoiceFiles writes the answer to Manage Query voicefile as the
// simulator gives it: a <Status> listing one <voicefile> per file.
func EncodeVoiceFiles(names []string) []byte {
	w := newWriter()
	w.open("Status")
	for _, n := range names {
		w.text("voicefile", n)
	}
	w.close("Status")
	return w.bytes()
}

// EncodeComment writes a comment-only answer, as the OM gives for unknown
// objects ("Error, can't find extension:6604000").
func EncodeComment(text string) []byte {
	w := newWriter()
	w.comment(text)
	return w.bytes()
}
