package api

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ivrd/ivrd/engine"
)

// The console signs in once with the admin token and then works with a
// session cookie. These are the names and limits of that scheme.
const (
	// SessionCookie holds the session id: HttpOnly, SameSite=Strict,
	// Secure when the console is served over TLS.
	SessionCookie = "ivrd_session"
	// HeaderCSRF carries the session's CSRF token on every request that
	// changes something and is authenticated by the cookie.
	HeaderCSRF = "X-Ivrd-Csrf"
	// DefaultSessionTTL is how long a session lasts after sign-in.
	DefaultSessionTTL = 12 * time.Hour
	// maxSessions bounds the sessions kept; signing in beyond it drops
	// the oldest.
	maxSessions = 256
)

// session is a signed-in console. Only a digest of its id is kept, so a
// memory dump or the state file does not hand out live cookies.
type session struct {
	csrf    string
	expires time.Time
	created time.Time
}

// SessionStore keeps the console's sessions across restarts;
// engine.BoltStore implements it.
type SessionStore interface {
	PutConsoleSession(engine.ConsoleSession) error
	DeleteConsoleSessions(keys ...[]byte) error
	// LoadConsoleSessions returns the kept sessions and the keys of the
	// records that do not read.
	LoadConsoleSessions() (sessions []engine.ConsoleSession, bad [][]byte, err error)
	// ConsoleToken returns the check of the admin token the sessions
	// were made under; ResetConsoleSessions drops them all and keeps
	// another check.
	ConsoleToken() ([]byte, error)
	ResetConsoleSessions(check []byte) error
}

// sessions are the console's signed-in browsers: in memory, and in the
// store when there is one, so that a restart signs nobody out. A session
// is found by a digest of the admin token and its id; the store also
// keeps a check of the token, so that sessions made under another token
// are dropped at start.
type sessions struct {
	mu    sync.Mutex
	ttl   time.Duration
	now   func() time.Time
	token string
	store SessionStore // nil: memory only
	log   hclog.Logger
	by    map[[sha256.Size]byte]*session
}

func newSessions(ttl time.Duration, now func() time.Time, token string, store SessionStore, log hclog.Logger) *sessions {
	return &sessions{ttl: ttl, now: now, token: token, store: store, log: log, by: map[[sha256.Size]byte]*session{}}
}

// The token check is a salt and PBKDF2-SHA256 of the admin token: slow to
// compute, so the state file is no quick test of guesses at a weak token.
const (
	tokenCheckSalt = 16
	tokenCheckIter = 100_000
)

func tokenCheck(token string, salt []byte) []byte {
	dk, err := pbkdf2.Key(sha256.New, token, salt, tokenCheckIter, sha256.Size)
	if err != nil {
		panic(err) // only for lengths FIPS mode refuses; ours are fixed
	}
	return append(append([]byte(nil), salt...), dk...)
}

// sameToken reports whether check was made from token.
func sameToken(check []byte, token string) bool {
	if len(check) != tokenCheckSalt+sha256.Size {
		return false
	}
	return subtle.ConstantTimeCompare(tokenCheck(token, check[:tokenCheckSalt]), check) == 1
}

// load takes the sessions the store kept: none when they were made under
// another admin token (then the store is reset to this one's); expired
// ones, those past the TTL now configured, records that do not read and
// those beyond maxSessions are removed from it.
func (ss *sessions) load() error {
	if ss.store == nil {
		return nil
	}
	check, err := ss.store.ConsoleToken()
	if err != nil {
		return err
	}
	if !sameToken(check, ss.token) {
		salt := make([]byte, tokenCheckSalt)
		rand.Read(salt)
		if err := ss.store.ResetConsoleSessions(tokenCheck(ss.token, salt)); err != nil {
			return err
		}
		if check != nil {
			ss.log.Info("the admin token has changed: the console sessions kept under the old one are dropped")
		}
		return nil
	}
	kept, drop, err := ss.store.LoadConsoleSessions()
	if err != nil {
		return err
	}
	if len(drop) > 0 {
		ss.log.Warn("console sessions in the state file that do not read are dropped", "count", len(drop))
	}
	now := ss.now()
	ss.mu.Lock()
	for _, cs := range kept {
		expires := cs.Expires
		if limit := cs.Created.Add(ss.ttl); limit.Before(expires) {
			expires = limit // the TTL was shortened since
		}
		if len(cs.Key) != sha256.Size || !now.Before(expires) {
			drop = append(drop, cs.Key)
			continue
		}
		ss.by[[sha256.Size]byte(cs.Key)] = &session{csrf: cs.CSRF, created: cs.Created, expires: expires}
	}
	drop = append(drop, ss.evictLocked(maxSessions)...)
	ss.mu.Unlock()
	ss.forget(drop)
	return nil
}

// key is what a session is kept under.
func (ss *sessions) key(id string) [sha256.Size]byte {
	return sha256.Sum256([]byte(ss.token + "\x00" + id))
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// create starts a session and returns its id (the cookie) and state.
func (ss *sessions) create() (string, session) {
	id := randomHex(32)
	now := ss.now()
	s := &session{csrf: randomHex(32), created: now, expires: now.Add(ss.ttl)}
	key := ss.key(id)
	ss.mu.Lock()
	var drop [][]byte
	for k, v := range ss.by {
		if !now.Before(v.expires) {
			delete(ss.by, k)
			drop = append(drop, k[:])
		}
	}
	drop = append(drop, ss.evictLocked(maxSessions-1)...)
	ss.by[key] = s
	ss.mu.Unlock()
	ss.forget(drop)
	if ss.store != nil {
		if err := ss.store.PutConsoleSession(engine.ConsoleSession{Key: key[:], CSRF: s.csrf, Created: s.created, Expires: s.expires}); err != nil {
			ss.log.Warn("cannot keep the console session in the state file; a restart ends it", "error", err)
		}
	}
	return id, *s
}

// evictLocked drops the oldest sessions until at most n are left, and
// returns their keys. ss.mu is held.
func (ss *sessions) evictLocked(n int) [][]byte {
	var drop [][]byte
	for len(ss.by) > n {
		var oldest [sha256.Size]byte
		var at time.Time
		for k, v := range ss.by {
			if at.IsZero() || v.created.Before(at) {
				oldest, at = k, v.created
			}
		}
		delete(ss.by, oldest)
		drop = append(drop, oldest[:])
	}
	return drop
}

// forget removes sessions from the store.
func (ss *sessions) forget(keys [][]byte) {
	if ss.store == nil || len(keys) == 0 {
		return
	}
	if err := ss.store.DeleteConsoleSessions(keys...); err != nil {
		ss.log.Warn("cannot remove ended console sessions from the state file", "count", len(keys), "error", err)
	}
}

// get returns the live session the id names.
func (ss *sessions) get(id string) (session, bool) {
	if id == "" {
		return session{}, false
	}
	key := ss.key(id)
	ss.mu.Lock()
	s := ss.by[key]
	if s == nil {
		ss.mu.Unlock()
		return session{}, false
	}
	if !ss.now().Before(s.expires) {
		delete(ss.by, key)
		ss.mu.Unlock()
		ss.forget([][]byte{key[:]})
		return session{}, false
	}
	defer ss.mu.Unlock()
	return *s, true
}

// remove ends a session: in the store first, so that a session the store
// still holds is not taken for ended (it would come back at the next
// start).
func (ss *sessions) remove(id string) error {
	key := ss.key(id)
	if ss.store != nil {
		if err := ss.store.DeleteConsoleSessions(key[:]); err != nil {
			return err
		}
	}
	ss.mu.Lock()
	delete(ss.by, key)
	ss.mu.Unlock()
	return nil
}

// secureRequest reports whether the browser reached us over TLS: directly,
// or through a proxy that says so. Either way the cookie is then marked
// Secure (which can only restrict where the browser sends it).
func secureRequest(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// sameOrigin reports whether a browser request comes from a page of this
// listener: its Origin, or without one its Referer, names the scheme and
// host the request was sent to. A request with neither is refused; every
// browser this console supports sends Origin on a POST or DELETE.
func sameOrigin(r *http.Request) bool {
	scheme := "http"
	if secureRequest(r) {
		scheme = "https"
	}
	want := scheme + "://" + r.Host
	if o := r.Header.Get("Origin"); o != "" {
		return strings.EqualFold(o, want)
	}
	ref := r.Header.Get("Referer")
	if ref == "" {
		return false
	}
	u, err := url.Parse(ref)
	return err == nil && strings.EqualFold(u.Scheme+"://"+u.Host, want)
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// cookieAuth checks a request carrying the session cookie and no
// Authorization header: 401 without a live session; for a request that
// changes something, 403 unless it is same-origin and carries the
// session's CSRF token in HeaderCSRF.
func (s *Server) cookieAuth(w http.ResponseWriter, r *http.Request) bool {
	c, err := r.Cookie(SessionCookie)
	var sess session
	ok := err == nil
	if ok {
		sess, ok = s.sessions.get(c.Value)
	}
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="ivrd"`)
		msg := "a bearer token is required (Authorization: Bearer TOKEN), or sign in to the console"
		if err == nil {
			msg = "the session has ended; sign in again"
		}
		writeJSON(w, http.StatusUnauthorized, &Error{Msg: msg})
		return false
	}
	if safeMethod(r.Method) {
		return true
	}
	if !sameOrigin(r) {
		s.log.Warn("cross-origin request with a console session refused", "remote", r.RemoteAddr, "method", r.Method,
			"path", r.URL.Path, "origin", r.Header.Get("Origin"))
		writeJSON(w, http.StatusForbidden, &Error{Msg: "cross-origin request refused"})
		return false
	}
	if subtle.ConstantTimeCompare([]byte(r.Header.Get(HeaderCSRF)), []byte(sess.csrf)) != 1 {
		s.log.Warn("console request without its CSRF token refused", "remote", r.RemoteAddr, "method", r.Method, "path", r.URL.Path)
		writeJSON(w, http.StatusForbidden, &Error{Msg: "missing or wrong " + HeaderCSRF + " header"})
		return false
	}
	return true
}

// SessionInfo is the answer of POST and GET /api/v1/session: the CSRF
// token the console sends in HeaderCSRF, and when the session ends.
type SessionInfo struct {
	CSRF    string    `json:"csrf"`
	Expires time.Time `json:"expires"`
}

// POST /api/v1/session {"token"}: signs a browser in. The token is the
// admin token; the answer sets the session cookie and gives the CSRF
// token. Same-origin only, so another site cannot sign a browser into
// its own session.
func (s *Server) signIn(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) && r.Header.Get("Origin") != "" {
		writeJSON(w, http.StatusForbidden, &Error{Msg: "cross-origin request refused"})
		return
	}
	host := remoteHost(r)
	if left, refused := s.limit.refused(host); refused {
		tooMany(w, left)
		return
	}
	f, err := s.readBody(r, "", "token")
	if err != nil {
		e := s.errorOf(r, err)
		writeJSON(w, e.Status, e)
		return
	}
	var tok string
	if err := field(f, "token", "", &tok, "a string"); err != nil {
		e := s.errorOf(r, err)
		writeJSON(w, e.Status, e)
		return
	}
	if admin, _ := s.tokenIs(tok); !admin {
		s.log.Warn("console sign-in with a wrong token", "remote", r.RemoteAddr)
		s.wrongToken(host)
		writeJSON(w, http.StatusUnauthorized, &Error{Msg: "the token is not valid", Field: "token"})
		return
	}
	id, sess := s.sessions.create()
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: id, Path: "/", Expires: sess.expires, MaxAge: int(s.sessions.ttl / time.Second),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secureRequest(r),
	})
	s.log.Info("console signed in", "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, SessionInfo{CSRF: sess.csrf, Expires: sess.expires})
}

// GET /api/v1/session: the session's CSRF token again, for a reloaded
// page; 401 when not signed in.
func (s *Server) sessionInfo(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(SessionCookie)
	if err == nil {
		if sess, ok := s.sessions.get(c.Value); ok {
			writeJSON(w, http.StatusOK, SessionInfo{CSRF: sess.csrf, Expires: sess.expires})
			return
		}
	}
	if r.Header.Get("Authorization") != "" {
		writeJSON(w, http.StatusBadRequest, &Error{Msg: "a bearer token has no session; sessions are the console's"})
		return
	}
	writeJSON(w, http.StatusUnauthorized, &Error{Msg: "not signed in"})
}

// DELETE /api/v1/session: signs out (the cookie and CSRF rules apply, as
// to every change).
func (s *Server) signOut(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		writeJSON(w, http.StatusUnauthorized, &Error{Msg: "not signed in"})
		return
	}
	if !s.cookieAuth(w, r) {
		return
	}
	if err := s.sessions.remove(c.Value); err != nil {
		s.log.Error("cannot sign out: the state file refused the change", "remote", r.RemoteAddr, "error", err)
		writeJSON(w, http.StatusServiceUnavailable, &Error{Msg: "cannot sign out now (the state file refused the change); try again"})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secureRequest(r)})
	s.log.Info("console signed out", "remote", r.RemoteAddr)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}
