package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/k8sapi"
)

// storedWrite is what a write the server stored holds, read from its
// answer: the record and, on a Lease, the preferred holder.
type storedWrite struct {
	at        time.Time // when the server stored it
	resource  string    // "leases", "endpoints" or "configmaps"; "" when not a lock object
	rv        int64     // its resourceVersion: the server's order of writes
	decoded   bool      // the record is there and holds a holderIdentity
	holder    string
	term      int
	preferred string // the preferred-holder annotation (Leases only)
	cand      int    // the candidate that wrote it; -1 for the harness
	request   bool   // a transfer request of the harness
}

// inspectWrite reads what a 2xx write stored out of its answer, and puts
// the answer's body back for the client.
func inspectWrite(path string, resp *http.Response) storedWrite {
	sw := storedWrite{at: time.Now(), cand: -1}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), errReader{err}))
		return sw
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	for _, seg := range strings.Split(path, "/") {
		for _, res := range lockResources {
			if seg == res[1] {
				sw.resource = res[1]
			}
		}
	}
	if sw.resource == "" {
		return sw
	}
	var obj map[string]any
	if json.Unmarshal(body, &obj) != nil {
		return sw
	}
	md, _ := obj["metadata"].(map[string]any)
	rvs, _ := md["resourceVersion"].(string)
	sw.rv, _ = strconv.ParseInt(rvs, 10, 64)
	res := [2]string{"", sw.resource}
	rec := recordOf(res, obj)
	holder, ok := rec["holderIdentity"].(string)
	sw.decoded, sw.holder, sw.term = ok, holder, int(transitions(res, rec))
	if sw.resource == "leases" {
		ann, _ := md["annotations"].(map[string]any)
		sw.preferred, _ = ann[rl.PreferredHolderAnnotationKey].(string)
	}
	return sw
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// transferRec is one Transfer fault as carried out.
type transferRec struct {
	at      time.Time
	variant string // as drawn
	to      string // the identity named
	// what names what: "candidate" (another candidate than the holder),
	// "leader" (the holder itself), "absent" (no candidate's identity)
	what    string
	named   int  // the named candidate's index, -1 if none
	alive   bool // the named candidate's process ran at the request
	holder  int  // the index of the candidate that held the lock at the request, -1 if none
	written bool // a write stored the request
	rv      int64
	err     string // why it was not written
}

// transferClient is a client of the harness's own, outside the fleet and
// its faults, that hands each write the server stored to saw.
func (h *harness) transferClient(saw func(storedWrite)) (*k8sapi.Client, error) {
	cfg := h.srv.Config()
	cfg.Logger = slog.New(discardHandler{})
	cfg.WrapTransport = func(next http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			resp, err := next.RoundTrip(req)
			if err == nil && req.Method != http.MethodGet && resp.StatusCode >= 200 && resp.StatusCode < 300 {
				saw(inspectWrite(req.URL.Path, resp))
			}
			return resp, err
		})
	}
	return k8sapi.New(cfg)
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// transfer carries out a Transfer fault: resourcelock.RequestTransfer
// from outside the fleet, naming whom f.Variant says.
func (h *harness) transfer(f Fault) {
	h.transferMu.Lock()
	defer h.transferMu.Unlock()
	holder, _ := h.lockHolder()
	tr := &transferRec{at: time.Now(), variant: f.Variant, to: f.Variant, named: -1, holder: -1}
	switch f.Variant {
	case TransferLeader:
		tr.to = holder
	case TransferAbsent:
		tr.to = absentIdentity
	}
	for i, c := range h.plan.Candidates {
		if c.ID == tr.to {
			tr.named = i
			tr.alive = h.current(i) != nil
		}
		if c.ID == holder {
			tr.holder = i
		}
	}
	switch {
	case tr.named < 0:
		tr.what = "absent"
	case tr.to == holder:
		tr.what = "leader"
	default:
		tr.what = "candidate"
	}
	if tr.to == "" || tr.to == "?" {
		// TransferLeader with nobody holding the lock (released, or a
		// record that does not decode): there is no one to name.
		tr.err = "no holder to name"
		h.rec.transferred(tr)
		return
	}
	var stored []storedWrite
	client, err := h.transferClient(func(sw storedWrite) { stored = append(stored, sw) })
	if err != nil {
		h.rec.violation("harness", "transfer client: "+err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.plan.Timing.requestTimeout())
	err = rl.RequestTransfer(ctx, client, namespace, lockName, tr.to)
	cancel()
	switch {
	case err != nil:
		tr.err = err.Error()
	case len(stored) == 0:
		tr.err = "the Lease named it already"
	default:
		sw := stored[len(stored)-1]
		tr.written, tr.rv = true, sw.rv
		sw.request = true
		h.rec.stored(nil, sw)
	}
	h.rec.transferred(tr)
}
