package omproto

import "strings"

// Kind is the kind of an OM object, as its element is named.
type Kind string

// Object kinds (omapi.md §2).
const (
	KindVisitor Kind = "visitor" // an incoming call from a trunk
	KindOuter   Kind = "outer"   // an outgoing call
	KindExt     Kind = "ext"     // an extension
	KindTrunk   Kind = "trunk"   // an outside line, by trunk number
	KindLine    Kind = "line"    // an outside line, by line id
	KindGroup   Kind = "group"   // an extension group (hunt group, queue)
	KindMenu    Kind = "menu"    // a voice menu
)

var kinds = []Kind{KindVisitor, KindOuter, KindExt, KindTrunk, KindLine, KindGroup, KindMenu}

// kindOf returns the Kind an element name stands for, ignoring case.
func kindOf(name string) (Kind, bool) {
	for _, k := range kinds {
		if strings.EqualFold(name, string(k)) {
			return k, true
		}
	}
	return "", false
}

// IsCall reports whether objects of this kind are call legs.
func (k Kind) IsCall() bool { return k == KindVisitor || k == KindOuter }

// Ref names one object: an extension, a menu, a group, a trunk, or a call
// leg by id. In a command, an outer with To and no ID asks the OM to dial
// that number.
type Ref struct {
	Kind   Kind
	ID     string
	To     string // for <outer to="NUMBER"/> in commands
	LineID string // lineid attribute, when the device gives one
}

// Call is a call leg: an incoming visitor or an outgoing outer. Every field
// is optional on the wire; old firmware omits ID, To and CallID on some
// reports.
type Call struct {
	Kind   Kind // KindVisitor or KindOuter
	ID     string
	From   string
	To     string
	Trunk  string
	CallID string
	// State is talk, progress or wait, in Status answers.
	State string
	// Peers are the objects the call is connected to, as Status answers
	// nest them (<visitor><ext id="200"/></visitor>). In an Event, objects
	// nested in a leg are lifted to Event.Objects instead, and only a leg
	// nested in a leg stays here.
	Peers []Ref
	// Extra holds children the decoder did not know.
	Extra []Element
}

// Ref returns a reference to the call leg by id.
func (c *Call) Ref() Ref { return Ref{Kind: c.Kind, ID: c.ID} }

func decodeRef(e *Element, k Kind) Ref {
	return Ref{Kind: k, ID: e.attr("id"), To: e.attr("to"), LineID: e.attr("lineid")}
}

func writeRef(w *writer, r Ref) {
	w.empty(string(r.Kind), "id", r.ID, "lineid", r.LineID, "to", r.To)
}

// decodeCall reads a visitor or outer element. Nested objects become Peers;
// nested <menu> and <info> (DTMF) are returned for the caller to lift.
func decodeCall(e *Element, k Kind) (c Call, nested []Ref, info string, infoSet bool) {
	c = Call{
		Kind: k, ID: e.attr("id"), From: e.attr("from"), To: e.attr("to"),
		Trunk: e.attr("trunk"), CallID: e.attr("callid"),
	}
	for i := range e.Children {
		ch := &e.Children[i]
		switch {
		case ch.is("state"):
			c.State = ch.Text
		case ch.is("info"):
			info, infoSet = ch.Text, true
		default:
			if ck, ok := kindOf(ch.Name); ok && !ck.IsCall() {
				nested = append(nested, decodeRef(ch, ck))
			} else if ok {
				nested = append(nested, Ref{Kind: ck, ID: ch.attr("id"), To: ch.attr("to")})
			} else {
				c.Extra = append(c.Extra, *ch)
			}
		}
	}
	return c, nested, info, infoSet
}

// writeCall writes a call leg; inner writes children that belong inside it
// (a DTMF event's menu and info) before its state and peers.
func writeCall(w *writer, c *Call, inner func(), extraAttrs ...string) {
	attrs := append([]string{"id", c.ID, "from", c.From, "to", c.To, "trunk", c.Trunk, "callid", c.CallID}, extraAttrs...)
	if inner == nil && c.State == "" && len(c.Peers) == 0 && len(c.Extra) == 0 {
		w.empty(string(c.Kind), attrs...)
		return
	}
	w.open(string(c.Kind), attrs...)
	if inner != nil {
		inner()
	}
	for _, p := range c.Peers {
		writeRef(w, p)
	}
	w.textIf("state", c.State)
	w.elements(c.Extra)
	w.close(string(c.Kind))
}
