// Package benchcand is what leaderbench's candidate processes
// (cmd/candidate-kubelect, cmd/candidate-clientgo) share: their flags, a
// transport wrapper that timestamps requests, connections and TLS
// handshakes, and the lines they print for leaderbench to read.
//
// A candidate prints, on standard output:
//
//	lead UNIXNANO          when OnStartedLeading runs
//	trace JSON             right after it, with -once: the Trace
//	stop UNIXNANO          when that leadership ends
//
// With -once it then stops (releasing the lock) and exits: that is one
// cold start. Without it, it stays a candidate until it is killed.
package benchcand

import (
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"os"
	"strconv"
	"sync"
	"time"
)

// T0Env names the environment variable that carries the parent's
// time.Now().UnixNano() taken just before it started the process.
const T0Env = "LEADERBENCH_T0"

// Options are the flags common to both candidates.
type Options struct {
	Name, ID            string
	Lease, Renew, Retry time.Duration
	Once                bool
	SADir               string
}

// Flags parses the command line.
func Flags() Options {
	var o Options
	flag.StringVar(&o.Name, "name", "", "Lease name")
	flag.StringVar(&o.ID, "id", "", "candidate identity")
	flag.DurationVar(&o.Lease, "lease", 15*time.Second, "LeaseDuration")
	flag.DurationVar(&o.Renew, "renew", 10*time.Second, "RenewDeadline")
	flag.DurationVar(&o.Retry, "retry", 2*time.Second, "RetryPeriod")
	flag.BoolVar(&o.Once, "once", false, "exit (releasing the lock) once leading, printing the trace")
	flag.StringVar(&o.SADir, "sa-dir", "/var/run/secrets/kubernetes.io/serviceaccount", "service-account directory (token, ca.crt, namespace)")
	flag.Parse()
	if o.Name == "" || o.ID == "" {
		flag.Usage()
		os.Exit(2)
	}
	return o
}

// Request is one request's timeline, in nanoseconds since T0 (0: did not
// happen).
type Request struct {
	Method   string `json:"method"`
	Watch    bool   `json:"watch,omitempty"`
	Start    int64  `json:"start"`
	Reused   bool   `json:"reused,omitempty"`
	Conn     int64  `json:"conn,omitempty"`     // a connection was handed to it
	TLSStart int64  `json:"tlsStart,omitempty"` // the handshake of a new connection
	TLSDone  int64  `json:"tlsDone,omitempty"`  //
	Wrote    int64  `json:"wrote,omitempty"`    // the request was written
	Headers  int64  `json:"headers,omitempty"`  // the answer's headers arrived
	Status   int    `json:"status,omitempty"`   //
	Proto    string `json:"proto,omitempty"`    //
	Err      string `json:"err,omitempty"`      //
}

// Trace is one cold start, in nanoseconds since T0.
type Trace struct {
	Main     int64            `json:"main"`     // main's first statement
	Marks    map[string]int64 `json:"marks"`    // phases the program marked
	Requests []*Request       `json:"requests"` // the first maxRequests requests
	Lead     int64            `json:"lead"`     // OnStartedLeading
}

const maxRequests = 16

// Recorder keeps the trace of a process.
type Recorder struct {
	t0 int64
	mu sync.Mutex
	tr Trace
}

// Start is called first thing in main.
func Start() *Recorder {
	now := time.Now().UnixNano()
	t0, _ := strconv.ParseInt(os.Getenv(T0Env), 10, 64)
	if t0 == 0 {
		t0 = now
	}
	return &Recorder{t0: t0, tr: Trace{Main: now - t0, Marks: map[string]int64{}}}
}

func (r *Recorder) since() int64 { return time.Now().UnixNano() - r.t0 }

// Mark records that phase name ended now.
func (r *Recorder) Mark(name string) {
	at := r.since()
	r.mu.Lock()
	r.tr.Marks[name] = at
	r.mu.Unlock()
}

// Lead prints the lead line, and with once the trace.
func (r *Recorder) Lead(once bool) {
	now := time.Now().UnixNano()
	fmt.Printf("lead %d\n", now)
	if !once {
		return
	}
	r.mu.Lock()
	r.tr.Lead = now - r.t0
	b, err := json.Marshal(&r.tr)
	r.mu.Unlock()
	if err != nil {
		panic(err)
	}
	fmt.Printf("trace %s\n", b)
}

// Wrap is a WrapTransport: it records the first requests' timelines.
func (r *Recorder) Wrap(next http.RoundTripper) http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		r.mu.Lock()
		if len(r.tr.Requests) >= maxRequests {
			r.mu.Unlock()
			return next.RoundTrip(req)
		}
		q := &Request{Method: req.Method, Watch: req.URL.Query().Get("watch") != "", Start: r.since()}
		r.tr.Requests = append(r.tr.Requests, q)
		r.mu.Unlock()
		set := func(f func()) { r.mu.Lock(); f(); r.mu.Unlock() }
		ct := &httptrace.ClientTrace{
			GotConn: func(i httptrace.GotConnInfo) {
				at := r.since()
				set(func() { q.Conn, q.Reused = at, i.Reused })
			},
			TLSHandshakeStart: func() { at := r.since(); set(func() { q.TLSStart = at }) },
			TLSHandshakeDone:  func(tls.ConnectionState, error) { at := r.since(); set(func() { q.TLSDone = at }) },
			WroteRequest:      func(httptrace.WroteRequestInfo) { at := r.since(); set(func() { q.Wrote = at }) },
		}
		resp, err := next.RoundTrip(req.WithContext(httptrace.WithClientTrace(req.Context(), ct)))
		at := r.since()
		set(func() {
			q.Headers = at
			if err != nil {
				q.Err = err.Error()
			} else {
				q.Status, q.Proto = resp.StatusCode, resp.Proto
			}
		})
		return resp, err
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Stop prints the stop line: the leadership that Lead announced ended.
func (r *Recorder) Stop() { fmt.Printf("stop %d\n", time.Now().UnixNano()) }
