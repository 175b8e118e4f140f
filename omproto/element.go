package omproto

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Element is an XML element as the OM sent it. Decoders keep every child
// they do not know as an Element (in Extra fields), so nothing a device sends
// is lost, and encoders write them back unchanged.
type Element struct {
	Name     string
	Attrs    []Attr
	Text     string // character data, whitespace trimmed
	Children []Element
}

// Attr is one attribute of an Element.
type Attr struct {
	Name  string
	Value string
}

// Attr returns the value of the named attribute (case-insensitive) and
// whether it was present.
func (e *Element) Attr(name string) (string, bool) {
	for _, a := range e.Attrs {
		if strings.EqualFold(a.Name, name) {
			return a.Value, true
		}
	}
	return "", false
}

// attr returns the value of the named attribute, or "".
func (e *Element) attr(name string) string {
	v, _ := e.Attr(name)
	return v
}

// Child returns the first child with the given name (case-insensitive).
func (e *Element) Child(name string) *Element {
	for i := range e.Children {
		if strings.EqualFold(e.Children[i].Name, name) {
			return &e.Children[i]
		}
	}
	return nil
}

// childText returns the text of the first child with the given name.
func (e *Element) childText(name string) string {
	if c := e.Child(name); c != nil {
		return c.Text
	}
	return ""
}

// is reports whether the element has the given name, ignoring case.
func (e *Element) is(name string) bool { return strings.EqualFold(e.Name, name) }

// maxDepth bounds how deeply nested a document may be; real OM documents
// nest four levels at most.
const maxDepth = 32

// maxElements bounds how many elements one document may hold.
const maxElements = 10000

// document is a parsed OM body: zero or more top-level elements (a command
// or report, plus an optional <Auth>), and any top-level comments.
type document struct {
	roots    []Element
	comments []string
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// parse reads an OM body tolerantly: a BOM, leading whitespace, several
// top-level elements, comments and any declared charset are accepted (the
// bytes are read as UTF-8 whatever the declaration says).
func parse(body []byte) (*document, error) {
	body = bytes.TrimPrefix(body, utf8BOM)
	d := xml.NewDecoder(bytes.NewReader(body))
	d.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }
	doc := &document{}
	var stack []*Element
	// texts[i] gathers the character data of stack[i]; appending to a
	// buffer keeps text split by many comments or CDATA sections linear.
	var texts [][]byte
	count := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, &SyntaxError{Offset: d.InputOffset(), Err: err}
		}
		switch t := tok.(type) {
		case xml.StartElement:
			count++
			if len(stack) >= maxDepth || count > maxElements {
				return nil, &SyntaxError{Offset: d.InputOffset(), Err: errors.New("document too deep or too large")}
			}
			// Names are kept without their namespace prefix, which must
			// leave a name XML accepts on its own: <A:0/> is well-formed
			// but would be written back as <0/>, which is not.
			if t.Name.Space != "" && !localName(t.Name.Local) {
				return nil, &SyntaxError{Offset: d.InputOffset(), Err: fmt.Errorf("element name %q has no valid local part", t.Name.Space+":"+t.Name.Local)}
			}
			el := Element{Name: t.Name.Local}
			for _, a := range t.Attr {
				if a.Name.Space != "" && !localName(a.Name.Local) {
					return nil, &SyntaxError{Offset: d.InputOffset(), Err: fmt.Errorf("attribute name %q has no valid local part", a.Name.Space+":"+a.Name.Local)}
				}
				el.Attrs = append(el.Attrs, Attr{Name: a.Name.Local, Value: a.Value})
			}
			if len(stack) == 0 {
				doc.roots = append(doc.roots, el)
				stack = append(stack, &doc.roots[len(doc.roots)-1])
			} else {
				parent := stack[len(stack)-1]
				parent.Children = append(parent.Children, el)
				stack = append(stack, &parent.Children[len(parent.Children)-1])
			}
			texts = append(texts, nil)
		case xml.EndElement:
			if len(stack) == 0 {
				return nil, &SyntaxError{Offset: d.InputOffset(), Err: errors.New("unexpected end element")}
			}
			top := stack[len(stack)-1]
			top.Text = string(bytes.TrimSpace(texts[len(texts)-1]))
			stack = stack[:len(stack)-1]
			texts = texts[:len(texts)-1]
		case xml.CharData:
			if len(stack) == 0 {
				if len(bytes.TrimSpace(t)) > 0 {
					return nil, &SyntaxError{Offset: d.InputOffset(), Err: errors.New("text outside any element")}
				}
				continue
			}
			texts[len(texts)-1] = append(texts[len(texts)-1], t...)
		case xml.Comment:
			if len(stack) == 0 {
				// encoding/xml checks the characters of text but not of
				// comments; keep a comment to what a document can hold.
				doc.comments = append(doc.comments, strings.TrimSpace(strings.Map(xmlCharOrReplacement, string(t))))
			}
		}
	}
	if len(stack) != 0 {
		return nil, &SyntaxError{Offset: d.InputOffset(), Err: io.ErrUnexpectedEOF}
	}
	return doc, nil
}

// localName reports whether encoding/xml reads s, standing alone, as an
// element name. Only names that came with a prefix need the check, which
// is rare enough for a parse of its own.
func localName(s string) bool {
	tok, err := xml.NewDecoder(strings.NewReader("<" + s + "/>")).RawToken()
	se, ok := tok.(xml.StartElement)
	return err == nil && ok && se.Name.Space == "" && se.Name.Local == s
}

// writer builds an OM document. Values are escaped; the output is UTF-8.
type writer struct {
	b bytes.Buffer
}

const xmlDecl = `<?xml version="1.0" encoding="utf-8" ?>` + "\n"

func newWriter() *writer {
	w := &writer{}
	w.b.Grow(256)
	w.b.WriteString(xmlDecl)
	return w
}

// open writes <name a="v" …> for the non-empty attribute pairs.
func (w *writer) open(name string, attrs ...string) {
	w.b.WriteByte('<')
	w.b.WriteString(name)
	w.attrs(attrs)
	w.b.WriteByte('>')
}

// empty writes <name a="v" …/> for the non-empty attribute pairs.
func (w *writer) empty(name string, attrs ...string) {
	w.b.WriteByte('<')
	w.b.WriteString(name)
	w.attrs(attrs)
	w.b.WriteString("/>")
}

func (w *writer) attrs(kv []string) {
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			continue
		}
		w.b.WriteByte(' ')
		w.b.WriteString(kv[i])
		w.b.WriteString(`="`)
		escape(&w.b, kv[i+1])
		w.b.WriteByte('"')
	}
}

func (w *writer) close(name string) {
	w.b.WriteString("</")
	w.b.WriteString(name)
	w.b.WriteByte('>')
}

// text writes <name>value</name>, escaped.
func (w *writer) text(name, value string) {
	w.open(name)
	escape(&w.b, value)
	w.close(name)
}

// textIf writes <name>value</name> when value is not empty.
func (w *writer) textIf(name, value string) {
	if value != "" {
		w.text(name, value)
	}
}

// element writes an Element kept from a decoded document.
func (w *writer) element(e Element) {
	w.b.WriteByte('<')
	w.b.WriteString(e.Name)
	for _, a := range e.Attrs {
		w.b.WriteByte(' ')
		w.b.WriteString(a.Name)
		w.b.WriteString(`="`)
		escape(&w.b, a.Value)
		w.b.WriteByte('"')
	}
	if e.Text == "" && len(e.Children) == 0 {
		w.b.WriteString("/>")
		return
	}
	w.b.WriteByte('>')
	escape(&w.b, e.Text)
	for _, c := range e.Children {
		w.element(c)
	}
	w.close(e.Name)
}

func (w *writer) elements(es []Element) {
	for _, e := range es {
		w.element(e)
	}
}

// comment writes <!-- s -->. XML allows neither "--" nor characters outside
// its range in a comment, so each run of dashes is broken up with spaces and
// such characters become U+FFFD; every other comment reads back as written.
func (w *writer) comment(s string) {
	w.b.WriteString("<!-- ")
	dash := false
	for _, r := range s {
		if r == '-' && dash {
			w.b.WriteByte(' ')
		}
		dash = r == '-'
		if !xmlChar(r) {
			r = '\uFFFD'
		}
		w.b.WriteRune(r)
	}
	w.b.WriteString(" -->")
}

func (w *writer) bytes() []byte { return w.b.Bytes() }

// escape writes s with XML's special characters escaped. Control characters
// that XML 1.0 forbids become U+FFFD so the output always parses.
func escape(b *bytes.Buffer, s string) {
	for _, r := range s {
		switch r {
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			b.WriteString("&amp;")
		case '"':
			b.WriteString("&quot;")
		case '\'':
			b.WriteString("&apos;")
		case '\t', '\n', '\r':
			fmt.Fprintf(b, "&#x%X;", r)
		default:
			if !xmlChar(r) {
				r = '\uFFFD'
			}
			b.WriteRune(r)
		}
	}
}

func xmlCharOrReplacement(r rune) rune {
	if xmlChar(r) {
		return r
	}
	return '\uFFFD'
}

// xmlChar reports whether XML 1.0 allows r in a document. Invalid UTF-8
// reaches here as U+FFFD, which it allows.
func xmlChar(r rune) bool {
	return r == '\t' || r == '\n' || r == '\r' ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}
