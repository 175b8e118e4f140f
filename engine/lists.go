package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	lua "github.com/yuin/gopher-lua"
	bolt "go.etcd.io/bbolt"
)

// Caller lists: named sets of numbers (a block list, a VIP list) that the
// router consults before routing and flows read with ivr.lists.contains.
// They live in the state file's "lists" bucket, one nested bucket per
// list, keyed by number. The bucket is created on the first write, so a
// state file made before lists existed opens unchanged and SchemaVersion
// stays as it was: a missing bucket reads as no lists.

// ListEntry is one number on a caller list.
type ListEntry struct {
	Number string    `json:"number"`
	Note   string    `json:"note,omitempty"`
	Added  time.Time `json:"added"`
}

// ListInfo names a caller list and counts its numbers.
type ListInfo struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

// ListStore keeps caller lists durable. BoltStore implements it.
type ListStore interface {
	// LoadLists returns every list with its entries.
	LoadLists() (map[string][]ListEntry, error)
	// PutListEntry adds or replaces a number on a list; it returns once
	// the write is durable.
	PutListEntry(list string, e ListEntry) error
	// DeleteListEntry removes a number from a list and reports whether it
	// was there.
	DeleteListEntry(list, number string) (bool, error)
}

// ErrNoList is a caller list that is neither configured nor holds a number.
var ErrNoList = errors.New("no such list")

// Bounds of list names, numbers and notes.
const (
	maxListNumber = 64
	maxListNote   = 256
)

var (
	listNameRE   = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	listNumberRE = regexp.MustCompile(`^\+?[A-Za-z0-9*#]+$`)
)

// NormalizeNumber is how a number is written on a list and how a caller's
// number is looked up: surrounding white space trimmed, inner spaces,
// hyphens, dots and brackets dropped; a leading + is kept.
func NormalizeNumber(s string) string {
	s = strings.TrimSpace(s)
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '-', '.', '(', ')':
			return -1
		}
		return r
	}, s)
}

// CheckListName checks a list's name: letters, digits, '-' and '_'.
func CheckListName(name string) error {
	if !listNameRE.MatchString(name) {
		return &FieldError{Field: "name", Msg: fmt.Sprintf("%q is not a list name (1–64 letters, digits, '-' or '_')", name)}
	}
	return nil
}

// checkListNumber checks a normalised number.
func checkListNumber(n string) error {
	if len(n) > maxListNumber || !listNumberRE.MatchString(n) {
		return &FieldError{Field: "number", Msg: fmt.Sprintf("%q is not a number (digits, letters, '*' or '#', an optional leading '+', at most %d)", n, maxListNumber)}
	}
	return nil
}

// Lists holds the caller lists in memory, for lookups that cost no I/O on
// the router's path, and writes every change through to its ListStore
// before it shows. Safe for concurrent use.
type Lists struct {
	store ListStore // nil: in memory only
	now   func() time.Time

	// wmu orders the writers: each writes the store, then the map, so
	// that lookups (under mu only) never wait for a commit's fsync.
	wmu      sync.Mutex
	mu       sync.RWMutex
	lists    map[string]map[string]ListEntry
	declared map[string]bool // named by the configuration: shown even when empty
}

// OpenLists loads the lists st holds; st nil keeps them in memory only.
// now stamps new entries (default time.Now). declared are lists the
// configuration names, which exist even while empty.
func OpenLists(st ListStore, now func() time.Time, declared ...string) (*Lists, error) {
	if now == nil {
		now = time.Now
	}
	l := &Lists{store: st, now: now, lists: map[string]map[string]ListEntry{}, declared: map[string]bool{}}
	for _, name := range declared {
		if name != "" {
			l.declared[name] = true
		}
	}
	if st == nil {
		return l, nil
	}
	all, err := st.LoadLists()
	if err != nil {
		return nil, fmt.Errorf("load caller lists: %w", err)
	}
	for name, entries := range all {
		m := map[string]ListEntry{}
		for _, e := range entries {
			m[e.Number] = e
		}
		l.lists[name] = m
	}
	return l, nil
}

// Contains reports whether number (normalised here) is on list.
func (l *Lists) Contains(list, number string) bool {
	n := NormalizeNumber(number)
	if n == "" {
		return false
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	_, ok := l.lists[list][n]
	return ok
}

// Names lists the caller lists, by name: those configured and those that
// hold a number.
func (l *Lists) Names() []ListInfo {
	l.mu.RLock()
	defer l.mu.RUnlock()
	seen := map[string]bool{}
	var out []ListInfo
	for name, m := range l.lists {
		seen[name] = true
		out = append(out, ListInfo{Name: name, Count: len(m)})
	}
	for name := range l.declared {
		if !seen[name] {
			out = append(out, ListInfo{Name: name})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Entries returns a list's numbers in order, or ErrNoList.
func (l *Lists) Entries(list string) ([]ListEntry, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	m, ok := l.lists[list]
	if !ok && !l.declared[list] {
		return nil, fmt.Errorf("list %q: %w", list, ErrNoList)
	}
	out := make([]ListEntry, 0, len(m))
	for _, e := range m {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Number < out[j].Number })
	return out, nil
}

// Put adds number to list (creating the list), or replaces its note. It
// returns the entry and whether the number is new on the list; a bad name,
// number or note is a *FieldError.
func (l *Lists) Put(list, number, note string) (ListEntry, bool, error) {
	if err := CheckListName(list); err != nil {
		return ListEntry{}, false, err
	}
	n := NormalizeNumber(number)
	if err := checkListNumber(n); err != nil {
		return ListEntry{}, false, err
	}
	if len(note) > maxListNote {
		return ListEntry{}, false, &FieldError{Field: "note", Msg: fmt.Sprintf("longer than %d bytes", maxListNote)}
	}
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.mu.RLock()
	old, had := l.lists[list][n]
	l.mu.RUnlock()
	e := ListEntry{Number: n, Note: note, Added: l.now().UTC()}
	if had {
		e.Added = old.Added
	}
	if l.store != nil {
		if err := l.store.PutListEntry(list, e); err != nil {
			return ListEntry{}, false, fmt.Errorf("list %q: %w", list, err)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lists[list] == nil {
		l.lists[list] = map[string]ListEntry{}
	}
	l.lists[list][n] = e
	return e, !had, nil
}

// Delete removes number from list and reports whether it was there; an
// unknown list is ErrNoList.
func (l *Lists) Delete(list, number string) (bool, error) {
	n := NormalizeNumber(number)
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.mu.RLock()
	m, ok := l.lists[list]
	_, on := m[n]
	declared := l.declared[list]
	l.mu.RUnlock()
	if !ok && !declared {
		return false, fmt.Errorf("list %q: %w", list, ErrNoList)
	}
	if !on {
		return false, nil
	}
	if l.store != nil {
		if _, err := l.store.DeleteListEntry(list, n); err != nil {
			return false, fmt.Errorf("list %q: %w", list, err)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(m, n)
	if len(m) == 0 {
		delete(l.lists, list)
	}
	return true, nil
}

// ---- BoltStore ----

var bucketLists = []byte("lists")

// listEntryValue is an entry as the store keeps it, under its number.
type listEntryValue struct {
	Note  string    `json:"note,omitempty"`
	Added time.Time `json:"added"`
}

// LoadLists returns every list the state file holds.
func (s *BoltStore) LoadLists() (map[string][]ListEntry, error) {
	out := map[string][]ListEntry{}
	err := s.db.View(func(tx *bolt.Tx) error {
		root := tx.Bucket(bucketLists)
		if root == nil {
			return nil // a state file from before lists
		}
		return root.ForEachBucket(func(name []byte) error {
			list := string(name)
			return root.Bucket(name).ForEach(func(k, v []byte) error {
				var ev listEntryValue
				if err := json.Unmarshal(v, &ev); err != nil {
					return fmt.Errorf("list %q, number %q: %w", list, k, err)
				}
				out[list] = append(out[list], ListEntry{Number: string(k), Note: ev.Note, Added: ev.Added})
				return nil
			})
		})
	})
	return out, err
}

// PutListEntry adds or replaces a number on a list.
func (s *BoltStore) PutListEntry(list string, e ListEntry) error {
	enc, err := json.Marshal(listEntryValue{Note: e.Note, Added: e.Added})
	if err != nil {
		return err
	}
	return s.write(func(tx *bolt.Tx) error {
		root, err := tx.CreateBucketIfNotExists(bucketLists)
		if err != nil {
			return err
		}
		b, err := root.CreateBucketIfNotExists([]byte(list))
		if err != nil {
			return err
		}
		return b.Put([]byte(e.Number), enc)
	})
}

// DeleteListEntry removes a number from a list; a list left empty goes.
func (s *BoltStore) DeleteListEntry(list, number string) (bool, error) {
	found := false
	err := s.write(func(tx *bolt.Tx) error {
		found = false // the committer may run this again on its own
		root := tx.Bucket(bucketLists)
		if root == nil {
			return nil
		}
		b := root.Bucket([]byte(list))
		if b == nil || b.Get([]byte(number)) == nil {
			return nil
		}
		found = true
		if err := b.Delete([]byte(number)); err != nil {
			return err
		}
		if k, _ := b.Cursor().First(); k == nil {
			return root.DeleteBucket([]byte(list))
		}
		return nil
	})
	return found, err
}

// ---- the router ----

// Block refuses the callers on a caller list before routing: an INCOMING
// hears Prompt (when set) and is hung up; an INVITE is refused with a
// Clear, unanswered. Neither reaches a flow.
type Block struct {
	// List names the caller list; "" blocks no one.
	List string
	// Prompt is the voice file (or "a+b" chain) a blocked INCOMING hears
	// before the hang-up; "" hangs up at once.
	Prompt string
}

// Caller-list decisions, as ListObserver.ListDecision gives them.
const (
	ListBlocked   = "blocked"    // a caller on the block list was refused
	ListMember    = "member"     // a route's list held the caller: the route matched
	ListNotMember = "not_member" // a route's list did not: the next route was tried
)

// ListObserver is an Observer that is also told of caller-list decisions.
// The router checks whether its Observer implements it.
type ListObserver interface {
	// ListDecision: the router consulted list for a call and decided
	// (ListBlocked, ListMember, ListNotMember).
	ListDecision(list, decision string)
}

// openLists checks the lists the configuration names and opens the lists.
func (r *Router) openLists(cfg Config) error {
	names := []string{}
	if cfg.Block.List != "" {
		if err := CheckListName(cfg.Block.List); err != nil {
			return fmt.Errorf("block list: %w", err)
		}
		names = append(names, cfg.Block.List)
	}
	if cfg.Block.Prompt != "" {
		for _, f := range chainFiles(cfg.Block.Prompt) {
			if f == "" {
				return fmt.Errorf("block prompt %q: an empty file name", cfg.Block.Prompt)
			}
		}
	}
	for i, rt := range cfg.Routes {
		if rt.List == "" {
			continue
		}
		if err := CheckListName(rt.List); err != nil {
			return fmt.Errorf("route %d: list: %w", i+1, err)
		}
		names = append(names, rt.List)
	}
	if cfg.Lists != nil {
		cfg.Lists.declare(names...)
		r.lists = cfg.Lists
		return nil
	}
	var st ListStore
	if ls, ok := cfg.Store.(ListStore); ok {
		st = ls
	}
	var err error
	r.lists, err = OpenLists(st, r.clk.Now, names...)
	return err
}

// declare adds lists the configuration names.
func (l *Lists) declare(names ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, n := range names {
		l.declared[n] = true
	}
}

// Lists returns the router's caller lists, for the admin API.
func (r *Router) Lists() *Lists { return r.lists }

// isBlocked reports whether a caller is on the block list, counting the
// refusal. The session logs it, with its call_id.
func (r *Router) isBlocked(from string) bool {
	if r.block.List == "" || !r.lists.Contains(r.block.List, from) {
		return false
	}
	r.listDecision(r.block.List, ListBlocked)
	return true
}

// onRouteList reports whether a route's list, if it names one, holds the
// caller; each such decision is logged and counted.
func (r *Router) onRouteList(rt Route, from, callID string) bool {
	if rt.List == "" {
		return true
	}
	ok := r.lists.Contains(rt.List, from)
	decision := ListNotMember
	if ok {
		decision = ListMember
	}
	r.log.Debug("route list consulted", "call_id", callID, "from", from, "list", rt.List, "flow", rt.Flow, "decision", decision)
	r.listDecision(rt.List, decision)
	return ok
}

func (r *Router) listDecision(list, decision string) {
	if o, ok := r.obs.(ListObserver); ok {
		o.ListDecision(list, decision)
	}
}

// refuse ends a blocked call without running a flow: an INVITE is refused
// unanswered with a Clear (playing a prompt would mean answering it); an
// INCOMING hears the block prompt, if any, and is hung up.
func (s *Session) refuse(ctx context.Context) {
	list, prompt := s.r.block.List, s.r.block.Prompt
	kind := "INCOMING"
	if s.invite {
		kind, prompt = "INVITE", ""
	}
	s.log.Info("caller on the block list; refusing the call", "from", s.From, "to", s.To, "list", list, "report", kind)
	s.addPath("blocked", list)
	if prompt != "" {
		res, err := s.playChain(ctx, prompt)
		switch {
		case err != nil:
			s.log.Warn("the block prompt did not play", "prompt", prompt, "error", err)
		case res == "hangup":
			s.log.Info("the blocked caller hung up during the prompt")
			return
		default:
			s.addPath("prompt", prompt)
		}
	}
	s.hangup(ctx)
	if s.left {
		s.log.Info("blocked call ended", "outcome", s.outcome)
	}
}

// luaListsContains is ivr.lists.contains(list, number): whether number is
// on the caller list. The answer is journaled, so a replayed call sees the
// answer it had even when the list has changed since.
func (s *Session) luaListsContains(L *lua.LState) int {
	list := checkKey(L, 1, "list")
	number := checkKey(L, 2, "number")
	if err := CheckListName(list); err != nil {
		L.ArgError(1, fmt.Sprintf("%q is not a list name", list))
	}
	on, err := journaled(s, "lists.contains", map[string]string{"list": list, "number": number}, func() (bool, error) {
		return s.r.lists.Contains(list, number), nil
	})
	s.raiseDiverged(err)
	if err != nil {
		L.RaiseError("ivr.lists.contains: %v", err)
	}
	L.Push(lua.LBool(on))
	return 1
}
