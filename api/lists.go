package api

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/ivrd/ivrd/engine"
)

// Lists is what the API needs of the caller lists (block, allow, VIP):
// *engine.Lists, the router's, implements it.
type Lists interface {
	// Names lists the lists, configured or holding numbers.
	Names() []engine.ListInfo
	// Entries returns a list's numbers, or engine.ErrNoList.
	Entries(list string) ([]engine.ListEntry, error)
	// Put adds a number or replaces its note, and reports whether it is
	// new; a bad name, number or note is an *engine.FieldError.
	Put(list, number, note string) (engine.ListEntry, bool, error)
	// Delete removes a number and reports whether it was on the list.
	Delete(list, number string) (bool, error)
}

// ListSet is the answer of GET /api/v1/lists.
type ListSet struct {
	Lists []engine.ListInfo `json:"lists"`
}

// List is the answer of GET /api/v1/lists/{name}.
type List struct {
	Name    string             `json:"name"`
	Entries []engine.ListEntry `json:"entries"`
}

// ListEntry is the answer of PUT and DELETE /api/v1/lists/{name}/{number}.
type ListEntry struct {
	List    string    `json:"list"`
	Number  string    `json:"number"`
	Note    string    `json:"note,omitempty"`
	Added   time.Time `json:"added,omitzero"`
	Deleted bool      `json:"deleted,omitempty"`
}

// listRoutes adds the caller-list endpoints.
func (s *Server) listRoutes(routes map[string]func(*http.Request) (int, any, error)) {
	routes["GET /api/v1/lists"] = s.listNames
	routes["GET /api/v1/lists/{name}"] = s.listEntries
	routes["PUT /api/v1/lists/{name}/{number}"] = s.listPut
	routes["DELETE /api/v1/lists/{name}/{number}"] = s.listDelete
}

// callerLists returns Options.Lists, or a 501 when the daemon has none.
func (s *Server) callerLists() (Lists, error) {
	if s.opt.Lists == nil {
		return nil, fmt.Errorf("caller lists: %w", ErrNotAvailable)
	}
	return s.opt.Lists, nil
}

// namedList is what a request about one list needs: the lists, and its
// {name}.
func (s *Server) namedList(r *http.Request) (Lists, string, error) {
	ls, err := s.callerLists()
	if err != nil {
		return nil, "", err
	}
	name, err := listName(r)
	return ls, name, err
}

// listName reads {name}: a 400 naming the field when it is no list name.
func listName(r *http.Request) (string, error) {
	name := r.PathValue("name")
	if err := engine.CheckListName(name); err != nil {
		return "", err
	}
	return name, nil
}

// listError turns engine.ErrNoList into a 404.
func listError(name string, err error) error {
	if errors.Is(err, engine.ErrNoList) {
		return &Error{Status: http.StatusNotFound, Msg: fmt.Sprintf("no list %q (a list exists once configured or holding a number)", name)}
	}
	return err
}

// GET /api/v1/lists: every list, with how many numbers it holds.
func (s *Server) listNames(r *http.Request) (int, any, error) {
	ls, err := s.callerLists()
	if err != nil {
		return 0, nil, err
	}
	names := ls.Names()
	if names == nil {
		names = []engine.ListInfo{}
	}
	return http.StatusOK, ListSet{Lists: names}, nil
}

// GET /api/v1/lists/{name}: a list's numbers, in order.
func (s *Server) listEntries(r *http.Request) (int, any, error) {
	ls, name, err := s.namedList(r)
	if err != nil {
		return 0, nil, err
	}
	entries, err := ls.Entries(name)
	if err != nil {
		return 0, nil, listError(name, err)
	}
	return http.StatusOK, List{Name: name, Entries: entries}, nil
}

// PUT /api/v1/lists/{name}/{number} [{"note": "…"}]: adds the number (201)
// or replaces its note (200), creating the list if needed. The body is
// optional.
func (s *Server) listPut(r *http.Request) (int, any, error) {
	ls, name, err := s.namedList(r)
	if err != nil {
		return 0, nil, err
	}
	data, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, s.opt.MaxBody))
	if err != nil {
		return 0, nil, err
	}
	var note string
	if len(bytes.TrimSpace(data)) > 0 {
		f, err := objectFields(data, "", "note")
		if err != nil {
			return 0, nil, err
		}
		if err := field(f, "note", "", &note, "a string"); err != nil {
			return 0, nil, err
		}
	}
	e, created, err := ls.Put(name, r.PathValue("number"), note)
	if err != nil {
		return 0, nil, err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	s.log.Info("number put on a caller list", "list", name, "number", e.Number, "created", created, "remote", r.RemoteAddr)
	return status, ListEntry{List: name, Number: e.Number, Note: e.Note, Added: e.Added}, nil
}

// DELETE /api/v1/lists/{name}/{number}: 200 when the number was on the
// list, 404 when it was not (or there is no such list).
func (s *Server) listDelete(r *http.Request) (int, any, error) {
	ls, name, err := s.namedList(r)
	if err != nil {
		return 0, nil, err
	}
	number := engine.NormalizeNumber(r.PathValue("number"))
	ok, err := ls.Delete(name, number)
	if err != nil {
		return 0, nil, listError(name, err)
	}
	if !ok {
		return 0, nil, &Error{Status: http.StatusNotFound, Msg: fmt.Sprintf("%q is not on list %q", number, name)}
	}
	s.log.Info("number taken off a caller list", "list", name, "number", number, "remote", r.RemoteAddr)
	return http.StatusOK, ListEntry{List: name, Number: number, Deleted: true}, nil
}
