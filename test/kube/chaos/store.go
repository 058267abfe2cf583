package chaos

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Store is the fenced store that leaders write to while they act: it
// rejects a write whose term is lower than the highest it has seen, like a
// storage system guarded by the election's fencing token. Candidates also
// announce when they start and stop leading, so that the store can count
// the writes it accepted from a candidate after another one had started
// leading (after this one's own start) with a higher or equal term: stale
// writes that fencing failed to stop.
//
// Endpoints, all POST with query parameters id and term:
//
//	/lead  a candidate started leading with term
//	/stop  a candidate stopped leading
//	/act   a write tagged with term: 200 accepted, 409 rejected
type Store struct {
	ln     net.Listener
	server *http.Server

	mu       sync.Mutex       // protects the fields below
	highest  int64            // highest term accepted
	leads    []Lead           // announcements, in arrival order
	leading  map[string]Lead  // who says it leads now
	accepted int              // writes accepted
	rejected int              // writes rejected
	stale    []StaleWrite     // accepted writes that fencing should have stopped
	lastAct  map[string]int64 // id -> UnixNano of its last accepted write
}

// Lead is a candidate's announcement that it started leading.
type Lead struct {
	ID   string
	Term int64
	At   time.Time // when the store received it
}

// StaleWrite is a write accepted from ID with Term after Other had
// announced leadership with OtherTerm >= Term.
type StaleWrite struct {
	ID        string
	Term      int64
	At        time.Time
	Other     string
	OtherTerm int64
}

// NewStore starts a store on a loopback port.
func NewStore() (*Store, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("chaos: store: %w", err)
	}
	s := &Store{ln: ln, leading: map[string]Lead{}, lastAct: map[string]int64{}}
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

func params(r *http.Request) (string, int64, bool) {
	id := r.URL.Query().Get("id")
	term, err := strconv.ParseInt(r.URL.Query().Get("term"), 10, 64)
	return id, term, id != "" && err == nil
}

func (s *Store) lead(w http.ResponseWriter, r *http.Request) {
	id, term, ok := params(r)
	if !ok {
		http.Error(w, "id and term", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l := Lead{ID: id, Term: term, At: time.Now()}
	s.leads = append(s.leads, l)
	s.leading[id] = l
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

func (s *Store) act(w http.ResponseWriter, r *http.Request) {
	id, term, ok := params(r)
	if !ok {
		http.Error(w, "id and term", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if term < s.highest {
		s.rejected++
		w.WriteHeader(http.StatusConflict)
		return
	}
	s.highest = term
	s.accepted++
	now := time.Now()
	s.lastAct[id] = now.UnixNano()
	// Stale: another candidate started leading, with a term at least this
	// one, after this candidate's own latest start.
	for i := len(s.leads) - 1; i >= 0; i-- {
		l := s.leads[i]
		if l.ID == id {
			break
		}
		if l.Term >= term {
			s.stale = append(s.stale, StaleWrite{ID: id, Term: term, At: now, Other: l.ID, OtherTerm: l.Term})
			break
		}
	}
}

// Leading is who says it leads now, less those forgotten.
func (s *Store) Leading() []Lead {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ls []Lead
	for _, l := range s.leading {
		ls = append(ls, l)
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
	return s.leads[len(s.leads)-1], true
}

// Counts are the store's totals: writes accepted and rejected, and the
// stale writes among the accepted.
func (s *Store) Counts() (accepted, rejected int, stale []StaleWrite) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted, s.rejected, append([]StaleWrite(nil), s.stale...)
}
