package omproto

import (
	"strconv"
	"strings"
)

// Command roots and verbs (omapi.md §3).
const (
	RootControl  = "Control"
	RootTransfer = "Transfer"
	RootNotify   = "Notify"
	RootManage   = "Manage"

	VerbQuery   = "Query"
	VerbAssign  = "Assign"
	VerbHold    = "Hold"
	VerbUnhold  = "Unhold"
	VerbMute    = "Mute"
	VerbUnmute  = "Unmute"
	VerbMonitor = "Monitor"
	VerbTalk    = "Talk"
	VerbListen  = "Listen"
	VerbBargein = "Bargein"
	VerbClear   = "Clear"
	VerbConnect = "Connect"
	VerbQueue   = "Queue"
	VerbAccept  = "Accept"
)

// Command is one OM API command document.
type Command interface {
	// Root and Verb name the document: <Root attribute="Verb">.
	Root() string
	Verb() string
	writeBody(w *writer)
}

// EncodeCommand writes a command as the OM expects it: one XML declaration,
// the optional <Auth> signature, then the command element.
func EncodeCommand(c Command, auth *Auth) []byte {
	w := newWriter()
	if auth != nil {
		writeCommandAuth(w, auth)
	}
	// An unknown command is written back whole, with every attribute it
	// came with, so that it decodes to the same element.
	switch u := c.(type) {
	case UnknownCommand:
		w.element(u.Element)
	case *UnknownCommand:
		w.element(u.Element)
	default:
		w.open(c.Root(), "attribute", c.Verb())
		c.writeBody(w)
		w.close(c.Root())
	}
	return w.bytes()
}

// QueryDeviceInfo asks for the device's model, version and objects.
type QueryDeviceInfo struct{}

// Query asks for the state of objects of one kind; an empty ID lists all.
type Query struct {
	Kind Kind
	ID   string
}

// AssignMenu sets a voice menu (omapi.md §6).
type AssignMenu struct {
	ID        string
	VoiceFile string // names joined by "+"
	// Repeat is how many times the file plays; 0 loops forever.
	Repeat int
	// InfoLength is how many keys make a DTMF report; 0 leaves the device
	// default (1).
	InfoLength int
	// Exit is the key that reports the keys so far at once; "" for none.
	Exit string
}

// AssignGroup sets an extension group.
type AssignGroup struct {
	ID           string
	VoiceFile    string
	Distribution string // e.g. sequential, circular, all
	Exts         []string
}

// AssignExt sets an extension's configuration. Only the fields set are
// sent; Extra carries any other setting element as is.
type AssignExt struct {
	LineID string // identifies the line ("Phone 1", "IPPhone 50")
	ID     string // the extension number to give it
	// API is the report switch (0, 7, 10, 20 and sums); nil leaves it.
	API   *int
	Extra []Element
}

// ExtControl is Hold, Unhold, Mute or Unmute on an extension.
type ExtControl struct {
	Action string // VerbHold, VerbUnhold, VerbMute or VerbUnmute
	Ext    string
}

// Supervise is Monitor, Talk, Listen or Bargein: one extension joins
// another's call. First is sent first; ivrd assumes it is the supervising
// extension (omapi.md §3 gives the shape, not the roles).
type Supervise struct {
	Action string // VerbMonitor, VerbTalk, VerbListen or VerbBargein
	First  string
	Second string
}

// Clear hangs up the call of an object (visitor, outer or ext), or rejects
// an INVITE.
type Clear struct {
	Target Ref
}

// Connect is Transfer Connect: every call set-up and transfer. From is the
// call being moved (or the calling side), To the destination. Trunk, when
// set, is sent between them to choose the outgoing trunk. VoiceFile is the
// per-call prompt (with a menu) or a file to play (with an ext and no To).
type Connect struct {
	From      Ref
	Trunk     string
	To        Ref
	VoiceFile string
}

// Queue is Transfer Queue: put a call in a group's or extension's queue.
type Queue struct {
	Call Ref
	To   Ref
}

// Accept is Notify Accept: answer an INVITE.
type Accept struct {
	Visitor string
}

// QueryVoiceFiles is Manage Query voicefile: list the device's voice files.
type QueryVoiceFiles struct{}

// UnknownCommand is a command document whose root or verb this package does
// not know; DecodeCommand returns it (as a value, like every other command
// type) rather than an error. EncodeCommand writes its Element back as it
// is, attributes and all.
type UnknownCommand struct {
	Element Element
}

func (QueryDeviceInfo) Root() string { return RootControl }
func (QueryDeviceInfo) Verb() string { return VerbQuery }
func (QueryDeviceInfo) writeBody(w *writer) {
	w.empty("DeviceInfo")
}

func (Query) Root() string { return RootControl }
func (Query) Verb() string { return VerbQuery }
func (q Query) writeBody(w *writer) {
	w.empty(string(q.Kind), "id", q.ID)
}

func (AssignMenu) Root() string { return RootControl }
func (AssignMenu) Verb() string { return VerbAssign }
func (m AssignMenu) writeBody(w *writer) {
	w.open("menu", "id", m.ID)
	w.text("voicefile", m.VoiceFile)
	w.text("repeat", strconv.Itoa(m.Repeat))
	if m.InfoLength > 0 {
		w.text("infolength", strconv.Itoa(m.InfoLength))
	}
	w.textIf("exit", m.Exit)
	w.close("menu")
}

func (AssignGroup) Root() string { return RootControl }
func (AssignGroup) Verb() string { return VerbAssign }
func (g AssignGroup) writeBody(w *writer) {
	w.open("group", "id", g.ID)
	w.textIf("voicefile", g.VoiceFile)
	w.textIf("distribution", g.Distribution)
	for _, e := range g.Exts {
		w.text("ext", e)
	}
	w.close("group")
}

func (AssignExt) Root() string { return RootControl }
func (AssignExt) Verb() string { return VerbAssign }
func (e AssignExt) writeBody(w *writer) {
	w.open("ext", "lineid", e.LineID)
	w.textIf("id", e.ID)
	if e.API != nil {
		w.text("api", strconv.Itoa(*e.API))
	}
	w.elements(e.Extra)
	w.close("ext")
}

func (ExtControl) Root() string   { return RootControl }
func (c ExtControl) Verb() string { return c.Action }
func (c ExtControl) writeBody(w *writer) {
	w.empty("ext", "id", c.Ext)
}

func (Supervise) Root() string   { return RootControl }
func (s Supervise) Verb() string { return s.Action }
func (s Supervise) writeBody(w *writer) {
	w.empty("ext", "id", s.First)
	w.empty("ext", "id", s.Second)
}

func (Clear) Root() string { return RootControl }
func (Clear) Verb() string { return VerbClear }
func (c Clear) writeBody(w *writer) {
	writeRef(w, c.Target)
}

func (Connect) Root() string { return RootTransfer }
func (Connect) Verb() string { return VerbConnect }
func (c Connect) writeBody(w *writer) {
	writeRef(w, c.From)
	if c.Trunk != "" {
		w.empty("trunk", "id", c.Trunk)
	}
	if c.To.Kind != "" {
		writeRef(w, c.To)
	}
	w.textIf("voicefile", c.VoiceFile)
}

func (Queue) Root() string { return RootTransfer }
func (Queue) Verb() string { return VerbQueue }
func (q Queue) writeBody(w *writer) {
	writeRef(w, q.Call)
	writeRef(w, q.To)
}

func (Accept) Root() string { return RootNotify }
func (Accept) Verb() string { return VerbAccept }
func (a Accept) writeBody(w *writer) {
	w.empty("visitor", "id", a.Visitor)
}

func (QueryVoiceFiles) Root() string { return RootManage }
func (QueryVoiceFiles) Verb() string { return VerbQuery }
func (QueryVoiceFiles) writeBody(w *writer) {
	w.empty("voicefile")
}

func (u UnknownCommand) Root() string { return u.Element.Name }
func (u UnknownCommand) Verb() string { return u.Element.attr("attribute") }
func (u UnknownCommand) writeBody(w *writer) {
	escape(&w.b, u.Element.Text)
	w.elements(u.Element.Children)
}

// DecodeCommand reads a command body as the OM's command server does: the
// <Auth> element, if any, may come before or after the command. A command
// this package does not know is returned as an UnknownCommand value. A
// command that is known but lacks what it needs (a Connect with one object)
// is a *DecodeError naming what is missing; malformed XML is a
// *SyntaxError, and a body without a command ErrEmpty.
func DecodeCommand(body []byte) (Command, *Auth, error) {
	doc, err := parse(body)
	if err != nil {
		return nil, nil, err
	}
	var auth *Auth
	var main *Element
	for i := range doc.roots {
		el := &doc.roots[i]
		if el.is("Auth") {
			if auth == nil {
				a := decodeAuth(el)
				auth = &a
			}
			continue
		}
		if main == nil {
			main = el
		}
	}
	if main == nil {
		return nil, auth, ErrEmpty
	}
	cmd, err := decodeCommand(main)
	return cmd, auth, err
}

func decodeCommand(el *Element) (Command, error) {
	root := strings.ToLower(el.Name)
	verb := strings.ToLower(el.attr("attribute"))
	var objs []Ref
	voicefile := ""
	var firstOther *Element
	for i := range el.Children {
		ch := &el.Children[i]
		if k, ok := kindOf(ch.Name); ok {
			objs = append(objs, decodeRef(ch, k))
			continue
		}
		if ch.is("voicefile") && voicefile == "" {
			voicefile = ch.Text
		}
		if firstOther == nil {
			firstOther = ch
		}
	}
	field := el.Name + " " + el.attr("attribute")
	switch root + "/" + verb {
	case "control/query":
		if firstOther != nil && firstOther.is("DeviceInfo") {
			return QueryDeviceInfo{}, nil
		}
		if len(objs) == 0 {
			return nil, &DecodeError{Field: field, Msg: "names no object to query"}
		}
		return Query{Kind: objs[0].Kind, ID: objs[0].ID}, nil
	case "control/assign":
		return decodeAssign(el, field)
	case "control/hold", "control/unhold", "control/mute", "control/unmute":
		if len(objs) == 0 {
			return nil, &DecodeError{Field: field, Msg: "names no extension"}
		}
		return ExtControl{Action: canonicalVerb(verb), Ext: objs[0].ID}, nil
	case "control/monitor", "control/talk", "control/listen", "control/bargein":
		if len(objs) < 2 {
			return nil, &DecodeError{Field: field, Msg: "needs two extensions"}
		}
		return Supervise{Action: canonicalVerb(verb), First: objs[0].ID, Second: objs[1].ID}, nil
	case "control/clear":
		if len(objs) == 0 {
			return nil, &DecodeError{Field: field, Msg: "names no call"}
		}
		return Clear{Target: objs[0]}, nil
	case "transfer/connect":
		return decodeConnect(objs, voicefile, field)
	case "transfer/queue":
		if len(objs) < 2 {
			return nil, &DecodeError{Field: field, Msg: "needs a call and a group or extension"}
		}
		return Queue{Call: objs[0], To: objs[1]}, nil
	case "notify/accept":
		if len(objs) == 0 || objs[0].Kind != KindVisitor {
			return nil, &DecodeError{Field: field, Msg: "names no visitor"}
		}
		return Accept{Visitor: objs[0].ID}, nil
	case "manage/query":
		if firstOther != nil && firstOther.is("voicefile") {
			return QueryVoiceFiles{}, nil
		}
	}
	return UnknownCommand{Element: *el}, nil
}

func canonicalVerb(v string) string {
	for _, c := range []string{VerbHold, VerbUnhold, VerbMute, VerbUnmute, VerbMonitor, VerbTalk, VerbListen, VerbBargein} {
		if strings.EqualFold(c, v) {
			return c
		}
	}
	return v
}

func decodeConnect(objs []Ref, voicefile, field string) (Command, error) {
	c := Connect{VoiceFile: voicefile}
	var rest []Ref
	for _, o := range objs {
		// A trunk between the two ends chooses the outgoing trunk; a trunk
		// as the only second object is not a destination the OM knows.
		if o.Kind == KindTrunk && c.Trunk == "" && len(rest) == 1 {
			c.Trunk = o.ID
			continue
		}
		rest = append(rest, o)
	}
	switch {
	case len(rest) == 0:
		return nil, &DecodeError{Field: field, Msg: "names no call"}
	case len(rest) == 1 && voicefile == "":
		return nil, &DecodeError{Field: field, Msg: "needs a destination or a voicefile"}
	}
	c.From = rest[0]
	if len(rest) > 1 {
		c.To = rest[1]
	}
	return c, nil
}

func decodeAssign(el *Element, field string) (Command, error) {
	var target *Element
	for i := range el.Children {
		if _, ok := kindOf(el.Children[i].Name); ok {
			target = &el.Children[i]
			break
		}
	}
	if target == nil {
		return nil, &DecodeError{Field: field, Msg: "names no menu, group or extension"}
	}
	switch {
	case target.is("menu"):
		m := AssignMenu{ID: target.attr("id"), VoiceFile: target.childText("voicefile")}
		var err error
		if m.Repeat, err = intField(target, "repeat", 0, 0, 65535); err != nil {
			return nil, err
		}
		if m.InfoLength, err = intField(target, "infolength", 0, 1, 255); err != nil {
			return nil, err
		}
		m.Exit = target.childText("exit")
		return m, nil
	case target.is("group"):
		g := AssignGroup{ID: target.attr("id"), VoiceFile: target.childText("voicefile"),
			Distribution: target.childText("distribution")}
		for _, ch := range target.Children {
			if ch.is("ext") {
				id := ch.Text
				if id == "" {
					id = ch.attr("id")
				}
				g.Exts = append(g.Exts, id)
			}
		}
		return g, nil
	case target.is("ext"):
		e := AssignExt{LineID: target.attr("lineid"), ID: target.childText("id")}
		if e.ID == "" {
			e.ID = target.attr("id")
		}
		for _, ch := range target.Children {
			switch {
			case ch.is("id"):
			case ch.is("api"):
				n, err := strconv.Atoi(ch.Text)
				if err != nil {
					return nil, &DecodeError{Field: "ext/api", Msg: strconv.Quote(ch.Text) + " is not a number"}
				}
				e.API = &n
			default:
				e.Extra = append(e.Extra, ch)
			}
		}
		return e, nil
	}
	return UnknownCommand{Element: *el}, nil
}

// intField reads a numeric child element, giving def when it is absent.
func intField(el *Element, name string, def, lo, hi int) (int, error) {
	ch := el.Child(name)
	if ch == nil || ch.Text == "" {
		return def, nil
	}
	n, err := strconv.Atoi(ch.Text)
	if err != nil || n < lo || n > hi {
		return 0, &DecodeError{Field: el.Name + "/" + name, Msg: strconv.Quote(ch.Text) + " is not a number in " + strconv.Itoa(lo) + "–" + strconv.Itoa(hi)}
	}
	return n, nil
}
