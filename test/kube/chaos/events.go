package chaos

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/kubelect/kubelect/fencing"
)

// Event kinds a candidate writes to its log.
const (
	EvRun     = "run"     // the process started
	EvLead    = "lead"    // OnStartedLeading ran; Token is the fencing token, Term the term
	EvAct     = "act"     // a write to the fenced store with Token (and Term); Code is its status, 0 on error
	EvStop    = "stop"    // the stop channel (client-go: the context) closed
	EvStopped = "stopped" // OnStoppedLeading ran
	EvEnded   = "ended"   // the elector returned; the candidate stands again
	EvExit    = "exit"    // the process exits
	EvError   = "error"   // something failed; Msg says what
)

// Event is one line of a candidate's log.
type Event struct {
	// T is when it happened, Unix nanoseconds (CLOCK_REALTIME).
	T    int64  `json:"t"`
	Kind string `json:"ev"`
	ID   string `json:"id"`
	// Token is the fencing token a leadership read when it began (0:
	// none); Term its term.
	Token fencing.Token `json:"token,omitempty"`
	Term  int64         `json:"term,omitempty"`
	Code  int           `json:"code,omitempty"`
	Msg   string        `json:"msg,omitempty"`
}

// Time is T as a time.Time.
func (e Event) Time() time.Time { return time.Unix(0, e.T) }

// EventLog appends events to a file, one JSON line per event, each in one
// write so that a process killed at any moment leaves whole lines.
type EventLog struct {
	id string
	mu sync.Mutex // protects f
	f  *os.File
}

// OpenEventLog opens (appends to) the log at path for identity id.
func OpenEventLog(path, id string) (*EventLog, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("chaos: %w", err)
	}
	return &EventLog{id: id, f: f}, nil
}

// Write records an event that happened at t.
func (l *EventLog) Write(t time.Time, kind string, term int64, code int, msg string) {
	l.WriteEvent(t, Event{Kind: kind, Term: term, Code: code, Msg: msg})
}

// WriteEvent records e as happened at t, with this log's identity.
func (l *EventLog) WriteEvent(t time.Time, e Event) {
	e.T, e.ID = t.UnixNano(), l.id
	b, _ := json.Marshal(e)
	b = append(b, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = l.f.Write(b)
}

// Close closes the file.
func (l *EventLog) Close() error { return l.f.Close() }

// ReadEvents reads a log; a torn last line is ignored.
func ReadEvents(r io.Reader) ([]Event, error) {
	var evs []Event
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var e Event
		if json.Unmarshal(sc.Bytes(), &e) == nil {
			evs = append(evs, e)
		}
	}
	return evs, sc.Err()
}

// ReadEventFile reads the log at path.
func ReadEventFile(path string) ([]Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("chaos: %w", err)
	}
	defer f.Close()
	return ReadEvents(f)
}
