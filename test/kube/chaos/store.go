package chaos

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/kubelect/kubelect/fencing"
)

// Store is the fenced store that leaders write to while they act: a
// fencing.Checker, as a program would keep one in front of its database,
// wrapped to record what it accepted and refused, in order. The Checker
// alone decides; the wrapper judges each decision by the ground truth of
// which leadership began later: the order in which the store heard the
// candidates announce their leaderships (each announces in
// OnStartedLeading, before its first write), not the tokens.
//
//   - A write accepted after a write of a leadership that began later had
//     been accepted is a stale write: what fencing must stop.
//   - A write refused although no leadership that began later had a write
//     accepted is a misfenced write: a token out of order, which locks the
//     current leader out.
//
// Endpoints, all POST with query parameters id (the identity) and lead
// (the leadership: unique per process and leadership), and token and term
// as the leadership read them when it started:
//
//	/lead  a candidate started leading
//	/stop  a candidate stopped leading
//	/act   a write carrying token: 200 accepted, 409 refused (a stale
//	       token), 400 no valid token
type Store struct {
	ln      net.Listener
	server  *http.Server
	checker *fencing.Checker

	mu        sync.Mutex       // protects the fields below
	leads     []*Lead          // announcements, in arrival order: the order leaderships began
	byKey     map[string]*Lead // id + "/" + lead -> its announcement
	leading   map[string]*Lead // who says it leads now
	latest    *Lead            // the latest-begun leadership with a write accepted
	writes    []Write          // every write offered, in the order the Checker decided
	stale     []StaleWrite     // accepted writes that fencing should have stopped
	misfenced []StaleWrite     // refused writes that no later leadership explains
	invalid   int              // writes without a valid token
	unknown   int              // writes of a leadership never announced
}

// Lead is a candidate's announcement that it started leading.
type Lead struct {
	ID    string
	Key   string // the leadership, as the candidate names it
	Token fencing.Token
	Term  int64
	At    time.Time // when the store received it
	n     int       // its place in the order of announcements
}

// Write is one write offered to the store.
type Write struct {
	ID       string
	Token    fencing.Token
	Term     int64
	At       time.Time
	Accepted bool
}

// StaleWrite is a write from ID, of a leadership with Token and Term,
// judged against Other's leadership (OtherToken, OtherTerm): accepted
// although Other began later and had written (a stale write), or refused
// although Other began earlier (a misfenced write).
type StaleWrite struct {
	ID         string
	Token      fencing.Token
	Term       int64
	At         time.Time
	Other      string
	OtherToken fencing.Token
	OtherTerm  int64
}

func (s StaleWrite) String() string {
	return fmt.Sprintf("%s (token %d, term %d) at %s, against %s (token %d, term %d)",
		s.ID, s.Token, s.Term, s.At.Format("15:04:05.000"), s.Other, s.OtherToken, s.OtherTerm)
}

// NewStore starts a store on a loopback port.
func NewStore() (*Store, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("chaos: store: %w", err)
	}
	s := &Store{ln: ln, checker: fencing.NewChecker(0, nil), byKey: map[string]*Lead{}, leading: map[string]*Lead{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /lead", s.lead)
	mux.HandleFunc("POST /stop", s.stop)
	mux.HandleFunc("POST /act", s.act)
	s.server = &http.Server{Handler: mux, ErrorLog: quietLog}
	go func() { _ = s.server.Serve(ln) }()
	return s, nil
}

// URL is the store's base URL.
func (s *Store) URL() string { return "http://" + s.ln.Addr().String() }

// Close stops the store.
func (s *Store) Close() { s.server.Close() }

// params reads id, lead, token (0 when missing or invalid) and term.
func params(r *http.Request) (id, key string, token fencing.Token, term int64, ok bool) {
	q := r.URL.Query()
	id, key = q.Get("id"), q.Get("lead")
	token, _ = fencing.ParseToken(q.Get("token"))
	term, _ = strconv.ParseInt(q.Get("term"), 10, 64)
	return id, key, token, term, id != "" && key != ""
}

func (s *Store) lead(w http.ResponseWriter, r *http.Request) {
	id, key, token, term, ok := params(r)
	if !ok {
		http.Error(w, "id and lead", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.announceLocked(id, key, token, term)
}

func (s *Store) announceLocked(id, key string, token fencing.Token, term int64) *Lead {
	l := &Lead{ID: id, Key: key, Token: token, Term: term, At: time.Now(), n: len(s.leads)}
	s.leads = append(s.leads, l)
	s.byKey[id+"/"+key] = l
	s.leading[id] = l
	return l
}

func (s *Store) stop(w http.ResponseWriter, r *http.Request) {
	s.Forget(r.URL.Query().Get("id"))
}

// Forget removes id from those that lead: it stopped, or was killed.
func (s *Store) Forget(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.leading, id)
}

// leadership finds the announcement of a write's leadership; one never
// announced (its announcement was lost) begins now, and is counted.
func (s *Store) leadershipLocked(id, key string, token fencing.Token, term int64) *Lead {
	if l := s.byKey[id+"/"+key]; l != nil {
		return l
	}
	s.unknown++
	l := s.announceLocked(id, key, token, term)
	delete(s.leading, id) // not an announcement of leading now
	return l
}

func (s *Store) act(w http.ResponseWriter, r *http.Request) {
	id, key, token, term, ok := params(r)
	if !ok {
		http.Error(w, "id and lead", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	l := s.leadershipLocked(id, key, token, term)
	s.mu.Unlock()
	err := s.checker.Do(token, func() error {
		// Runs while the Checker holds token admitted: no higher token is
		// admitted until it returns, so the order of these calls is the
		// order of the writes in the store.
		s.mu.Lock()
		defer s.mu.Unlock()
		now := time.Now()
		s.writes = append(s.writes, Write{ID: id, Token: token, Term: term, At: now, Accepted: true})
		switch {
		case s.latest != nil && s.latest.n > l.n:
			s.stale = append(s.stale, StaleWrite{ID: id, Token: token, Term: term, At: now,
				Other: s.latest.ID, OtherToken: s.latest.Token, OtherTerm: s.latest.Term})
		case s.latest == nil || l.n > s.latest.n:
			s.latest = l
		}
		return nil
	})
	if err == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	s.writes = append(s.writes, Write{ID: id, Token: token, Term: term, At: now})
	if !errors.Is(err, fencing.ErrStale) {
		s.invalid++
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	// A refusal comes after the write that raised the highest token ran,
	// so latest is its leadership or one that began later still.
	if s.latest == nil || s.latest.n <= l.n {
		m := StaleWrite{ID: id, Token: token, Term: term, At: now}
		if s.latest != nil {
			m.Other, m.OtherToken, m.OtherTerm = s.latest.ID, s.latest.Token, s.latest.Term
		}
		s.misfenced = append(s.misfenced, m)
	}
	http.Error(w, err.Error(), http.StatusConflict)
}

// Leading is who says it leads now, less those forgotten.
func (s *Store) Leading() []Lead {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ls []Lead
	for _, l := range s.leading {
		ls = append(ls, *l)
	}
	return ls
}

// LastLead is the latest announcement, if any.
func (s *Store) LastLead() (Lead, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.leads) == 0 {
		return Lead{}, false
	}
	return *s.leads[len(s.leads)-1], true
}

// Writes are the writes offered, in the order the Checker decided.
func (s *Store) Writes() []Write {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Write(nil), s.writes...)
}

// StoreCounts are a store's figures.
type StoreCounts struct {
	// Accepted and Refused count the writes the Checker accepted and
	// refused as stale.
	Accepted, Refused int
	// Stale are the accepted writes that fencing should have stopped;
	// Misfenced the refused ones that no later leadership explains.
	Stale, Misfenced []StaleWrite
	// Invalid are writes without a valid token; Unannounced writes of a
	// leadership whose announcement the store never received.
	Invalid, Unannounced int
}

// Counts are the store's totals.
func (s *Store) Counts() StoreCounts {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := StoreCounts{Stale: append([]StaleWrite(nil), s.stale...), Misfenced: append([]StaleWrite(nil), s.misfenced...),
		Invalid: s.invalid, Unannounced: s.unknown}
	for _, w := range s.writes {
		if w.Accepted {
			c.Accepted++
		}
	}
	c.Refused = len(s.writes) - c.Accepted - s.invalid
	return c
}
