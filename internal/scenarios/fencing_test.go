//go:build go1.25

package scenarios_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/kubelect/kubelect/election"
	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/fencing"
	"github.com/kubelect/kubelect/internal/electiontest"
	"github.com/kubelect/kubelect/k8sapi/testapiserver"
)

// objectVersion is the resourceVersion of the stored lock object.
func objectVersion(t *testing.T, srv *testapiserver.Server, group, resource string) fencing.Token {
	t.Helper()
	md, _ := electiontest.MustGet(t, srv, group, resource)["metadata"].(map[string]any)
	rv, _ := md["resourceVersion"].(string)
	tok, err := fencing.ParseToken(rv)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// The token is the resourceVersion of the write that began the
// leadership; renewals keep it; every later leadership's is higher: after
// a crash, after a release, and after the lock was deleted and created
// again by a candidate that never saw it (whose term starts at 0 again).
func TestFencingTokenGrows(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := testapiserver.New(testapiserver.Options{})
		const group, resource = "coordination.k8s.io", "leases"
		f := electiontest.NewFleet(t, srv, rl.LeasesResourceLock, 3, true)
		time.Sleep(time.Second)
		first := f.Leader(t)
		tok1, err := first.Elector().FencingToken()
		if err != nil {
			t.Fatal(err)
		}
		// The write that began the leadership is the Lease's last, or the
		// one before a follower's offer to succeed (an annotation alone).
		md, _ := electiontest.MustGet(t, srv, group, resource)["metadata"].(map[string]any)
		annotations, _ := md["annotations"].(map[string]any)
		_, offered := annotations[rl.SuccessorAnnotationKey]
		want := objectVersion(t, srv, group, resource)
		if offered {
			want--
		}
		if tok1 != want {
			t.Errorf("token %d right after the acquisition; want %d (an offer to succeed after it: %v)", tok1, want, offered)
		}
		for _, c := range f.Candidates {
			if c != first {
				if _, err := c.Elector().FencingToken(); !errors.Is(err, election.ErrNotLeading) {
					t.Errorf("%s, a follower: FencingToken() error %v; want ErrNotLeading", c.ID, err)
				}
			}
		}
		time.Sleep(time.Minute) // renewals
		if tok, err := first.Elector().FencingToken(); tok != tok1 || err != nil {
			t.Errorf("after renewals: token %d, %v; want %d", tok, err, tok1)
		}
		if v := objectVersion(t, srv, group, resource); v <= tok1 {
			t.Errorf("the Lease's resourceVersion %d did not move with the renewals", v)
		}
		st := first.Elector().Status()
		b, _ := json.Marshal(st)
		if st.FencingToken != tok1 || !strings.Contains(string(b), `"fencingToken":"`+tok1.String()+`"`) {
			t.Errorf("Status().FencingToken %d, JSON %s; want %d", st.FencingToken, b, tok1)
		}

		// A release, then a crash: each next leadership's token is higher.
		tokens := []fencing.Token{tok1}
		next := func(f *electiontest.Fleet, old *electiontest.Candidate) *electiontest.Candidate {
			t.Helper()
			old.Stop()
			c := f.WaitNewLeader(t, old.ID)
			tok, err := c.Elector().FencingToken()
			if err != nil || tok <= tokens[len(tokens)-1] {
				t.Errorf("next leader %s: token %d, %v; want above %d", c.ID, tok, err, tokens[len(tokens)-1])
			}
			tokens = append(tokens, tok)
			return c
		}
		next(f, first) // released
		f.StopAll()
		crashing := electiontest.NewFleet(t, srv, rl.LeasesResourceLock, 2, false)
		time.Sleep(time.Second)
		last := next(crashing, crashing.Leader(t)) // crashed: the next waits a lease
		term, _ := last.Elector().Term()
		crashing.StopAll()

		// The lock deleted, and created again by a candidate that never
		// saw it: the term starts again at 0, the token still grows.
		srv.Delete(group, resource, electiontest.Namespace, electiontest.LockName)
		fresh := electiontest.NewFleet(t, srv, rl.LeasesResourceLock, 1, true)
		time.Sleep(time.Second)
		c := fresh.Leader(t)
		tok, err := c.Elector().FencingToken()
		freshTerm, _ := c.Elector().Term()
		if err != nil || tok <= tokens[len(tokens)-1] {
			t.Errorf("after a deletion: token %d, %v; want above %d", tok, err, tokens[len(tokens)-1])
		}
		if freshTerm != 0 || term == 0 {
			t.Errorf("term %d before the deletion, %d after; want it back at 0 (the limit the token lifts)", term, freshTerm)
		}
		fresh.StopAll()
	})
}

// A MultiLock's token is its Secondary's (the Lease's) resourceVersion.
func TestFencingTokenMultiLock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := testapiserver.New(testapiserver.Options{})
		f := electiontest.NewFleet(t, srv, rl.EndpointsLeasesResourceLock, 2, true)
		time.Sleep(time.Second)
		tok, err := f.Leader(t).Elector().FencingToken()
		if err != nil {
			t.Fatal(err)
		}
		if v := objectVersion(t, srv, "coordination.k8s.io", "leases"); v != tok {
			t.Errorf("MultiLock token %d; the Lease's resourceVersion is %d", tok, v)
		}
		if v := objectVersion(t, srv, "", "endpoints"); v >= tok {
			t.Errorf("the Endpoints (written first) has resourceVersion %d, not below the token %d", v, tok)
		}
		f.StopAll()
	})
}

// A server whose resourceVersions are not canonical integers gives an
// error, never a wrong token; the election itself works.
func TestFencingTokenNotAnInteger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := testapiserver.New(testapiserver.Options{})
		c := clientVia(t, srv, func(next http.RoundTripper) http.RoundTripper {
			return roundTripFunc(func(req *http.Request) (*http.Response, error) {
				// The client sees resourceVersions "v<n>"; the server
				// its own numbers.
				if q := req.URL.Query(); strings.HasPrefix(q.Get("resourceVersion"), "v") {
					q.Set("resourceVersion", strings.TrimPrefix(q.Get("resourceVersion"), "v"))
					req.URL.RawQuery = q.Encode()
				}
				if req.Body != nil {
					b, _ := io.ReadAll(req.Body)
					b = bytes.ReplaceAll(b, []byte(`"resourceVersion":"v`), []byte(`"resourceVersion":"`))
					req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
				}
				resp, err := next.RoundTrip(req)
				if err != nil || resp.Body == nil {
					return resp, err
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				b = bytes.ReplaceAll(b, []byte(`"resourceVersion":"`), []byte(`"resourceVersion":"v`))
				resp.Body, resp.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
				resp.Header.Del("Content-Length")
				return resp, nil
			})
		})
		lock, err := rl.New(rl.LeasesResourceLock, electiontest.Namespace, electiontest.LockName, c, rl.ResourceLockConfig{Identity: "a"})
		if err != nil {
			t.Fatal(err)
		}
		le := elect(t, electiontest.NewTimeline(), lock, nil)
		time.Sleep(time.Second)
		if !le.IsLeader() {
			t.Fatal("no leader")
		}
		tok, err := le.FencingToken()
		if !errors.Is(err, fencing.ErrInvalidToken) || tok != 0 || !strings.Contains(err.Error(), `"v`) {
			t.Errorf("FencingToken() = %d, %v; want 0 and ErrInvalidToken naming the resourceVersion", tok, err)
		}
		if st := le.Status(); st.FencingToken != 0 || !st.Leading {
			t.Errorf("Status: leading %v, token %d; want leading, no token", st.Leading, st.FencingToken)
		}
	})
}

// A write that took the lock but whose answer was lost begins no
// leadership: the candidate takes the lock again with a new write, whose
// resourceVersion is the token, above the lost write's.
func TestFencingTokenAfterLostAnswer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := testapiserver.New(testapiserver.Options{})
		var lost atomic.Int32
		var lostVersion atomic.Value
		c := clientVia(t, srv, func(next http.RoundTripper) http.RoundTripper {
			return roundTripFunc(func(req *http.Request) (*http.Response, error) {
				resp, err := next.RoundTrip(req)
				if err == nil && (req.Method == http.MethodPost || req.Method == http.MethodPut) && lost.Add(1) == 1 {
					var obj struct {
						Metadata struct{ ResourceVersion string } `json:"metadata"`
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					_ = json.Unmarshal(b, &obj)
					lostVersion.Store(obj.Metadata.ResourceVersion)
					return nil, errors.New("connection reset after the write was applied")
				}
				return resp, err
			})
		})
		lock, err := rl.New(rl.LeasesResourceLock, electiontest.Namespace, electiontest.LockName, c, rl.ResourceLockConfig{Identity: "a"})
		if err != nil {
			t.Fatal(err)
		}
		le := elect(t, electiontest.NewTimeline(), lock, nil)
		for i := 0; i < 600 && !le.IsLeader(); i++ {
			time.Sleep(100 * time.Millisecond)
		}
		if !le.IsLeader() {
			t.Fatal("no leader within a minute")
		}
		lostTok, err := fencing.ParseToken(lostVersion.Load().(string))
		if err != nil {
			t.Fatal(err)
		}
		tok, err := le.FencingToken()
		if err != nil || tok <= lostTok {
			t.Errorf("token %d, %v; want one above the lost write's %d", tok, err, lostTok)
		}
		if v := objectVersion(t, srv, "coordination.k8s.io", "leases"); v != tok {
			t.Errorf("token %d; the Lease's resourceVersion right after the acquisition is %d", tok, v)
		}
	})
}
