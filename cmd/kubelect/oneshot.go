package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/kubelect/kubelect/election"
	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/k8sapi"
	"github.com/kubelect/kubelect/kubeconfig"
)

// firstRead follows a lock for a command that needs one answer about it
// before it can go on (status, transfer). The observer does the reading and
// the retrying: a failed read is tried again every --retry-period, with
// jitter, or after the server's Retry-After. firstRead watches the outcome
// of each request until the first observation is in, so that Wait can:
//   - fail at once, with the cause, on an error that trying again cannot
//     fix (canHeal false for a read, hopeless for a watch): credentials
//     refused (401) or not allowed (403), a credential plugin that fails, a
//     certificate that does not verify, a host name that does not resolve;
//   - otherwise give up after its timeout, naming the last error.
//
// Once the first observation is in, the observer goes on as any other:
// errors are its business, as they are for status -w and transfer's wait.
type firstRead struct {
	obs   *election.Observer
	clock election.Clock
	lock  string // lockDesc, for messages

	runCtx context.Context    // the observer's Run context
	stop   context.CancelFunc // ends runCtx
	fatal  chan struct{}      // closed once a request failed for good

	mu       sync.Mutex
	armed    bool  // guarded by mu: no observation yet, errors are watched
	failures int   // guarded by mu: reads that failed
	last     error // guarded by mu: the last failure, annotated
	fatalErr error // guarded by mu: set once, before fatal is closed
}

// startFirstRead builds an observer of c's lock, starts it and returns
// it with stop, which ends it and waits for it to return. Call Wait for
// the first observation; the observer then goes on as built.
func (a *app) startFirstRead(ctx context.Context, e *env, c *commonFlags) (fr *firstRead, stop func(), err error) {
	lock, err := e.lock(c)
	if err != nil {
		return nil, nil, err
	}
	fr = &firstRead{clock: a.clock, lock: e.lockDesc, fatal: make(chan struct{}), armed: true}
	if fr.clock == nil {
		fr.clock = election.RealClock()
	}
	watched := rl.Interface(readLock{lock, fr})
	if w, ok := lock.(rl.RecordWatcher); ok {
		watched = watchLock{readLock{lock, fr}, w}
	}
	fr.obs, err = election.NewObserver(election.ObserverConfig{
		Lock:          watched,
		RetryPeriod:   c.retryPeriod,
		LeaseDuration: c.leaseDuration,
		Logger:        e.log,
		Clock:         a.clock,
	})
	if err != nil {
		return nil, nil, err
	}
	fr.runCtx, fr.stop = context.WithCancel(ctx)
	return fr, runObserver(fr.runCtx, fr.obs), nil
}

// Wait returns the first observation of the lock. It fails at once when a
// request failed in a way that trying again cannot fix, and after timeout
// (on the app's clock) when no read has succeeded; the error is then a
// *firstReadError whose cause is the last error seen (errors.Is and
// errors.As see it). When ctx ends first, it returns ctx's error.
func (fr *firstRead) Wait(ctx context.Context, timeout time.Duration) (election.Observation, error) {
	t := fr.clock.NewTimer(timeout)
	defer t.Stop()
	waitCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	got := make(chan election.Observation, 1)
	go func() {
		if ob, err := fr.obs.Wait(waitCtx, 0); err == nil {
			got <- ob
		}
	}()
	select {
	case ob := <-got:
		fr.mu.Lock()
		defer fr.mu.Unlock()
		fr.armed = false
		if fr.fatalErr != nil {
			// A request failed for good just as the lock was seen; the
			// observer has been stopped, so report the failure.
			return election.Observation{}, fr.fatalErr
		}
		return ob, nil
	case <-fr.fatal:
		fr.mu.Lock()
		defer fr.mu.Unlock()
		return election.Observation{}, fr.fatalErr
	case <-t.C():
		fr.mu.Lock()
		defer fr.mu.Unlock()
		fr.armed = false
		return election.Observation{}, &firstReadError{lock: fr.lock, timeout: timeout, failures: fr.failures, err: fr.last}
	case <-ctx.Done():
		return election.Observation{}, ctx.Err()
	}
}

// failed notes the failure err of a request made with ctx: op is "read"
// or "watch". A read fails for good when it cannot heal, a watch only when
// it is hopeless (the observer polls when it may not watch, and a watch
// the server does not serve is no reason to give up on the reads).
func (fr *firstRead) failed(ctx context.Context, op string, err error) {
	if fr.runCtx.Err() != nil {
		return // the observer is stopping: its requests were cut short
	}
	if ctx.Err() != nil {
		cause := context.Cause(ctx)
		if !errors.Is(cause, context.DeadlineExceeded) {
			return // a watch the observer restarts, not a failure
		}
		// Cut off by the observer's request timeout: say so, as the
		// request's error may say only "context canceled".
		if !errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%w (no answer within the request timeout: %w)", err, cause)
		}
	}
	fr.mu.Lock()
	defer fr.mu.Unlock()
	if !fr.armed {
		return
	}
	fr.last = err
	if op == "read" {
		fr.failures++
	}
	permanent := hopeless(err) || (op == "read" && !canHeal(err))
	if !permanent {
		return
	}
	if fr.obs.Current().Version > 0 {
		// The other path (a watch, or a read) has seen the lock: this is
		// an error of the observer's to retry, not the first read's.
		fr.armed = false
		return
	}
	fr.armed = false
	fr.fatalErr = &firstReadError{lock: fr.lock, failures: fr.failures, err: err}
	// Stop the observer before it sees err, so that it does not log what
	// the command's error is about to say.
	fr.stop()
	close(fr.fatal)
}

// readLock is a lock whose failed reads are noted by a firstRead.
type readLock struct {
	rl.Interface
	fr *firstRead
}

// Get reads the lock and notes a failure: neither a missing lock nor a
// record that does not decode is one, both are answers.
func (l readLock) Get(ctx context.Context) (*rl.LeaderElectionRecord, []byte, error) {
	rec, raw, err := l.Interface.Get(ctx)
	if err != nil && !k8sapi.IsNotFound(err) && !(errors.Is(err, rl.ErrInvalidRecord) && rec != nil) {
		l.fr.failed(ctx, "read", err)
	}
	return rec, raw, err
}

// watchLock is a readLock for a lock that can be watched, whose failed
// watches are noted too.
type watchLock struct {
	readLock
	w rl.RecordWatcher
}

// WatchRecord watches the lock and notes the failure that ends the watch:
// neither the server ending it (io.EOF) nor its refusal (the observer polls
// then) is one.
func (l watchLock) WatchRecord(ctx context.Context, observe func(rec *rl.LeaderElectionRecord, raw []byte)) error {
	err := l.w.WatchRecord(ctx, observe)
	if err != nil && !errors.Is(err, io.EOF) && !k8sapi.IsForbidden(err) {
		l.fr.failed(ctx, "watch", err)
	}
	return err
}

// firstReadError is the error of a firstRead: the lock could not be read.
type firstReadError struct {
	lock string
	// timeout is how long the reads were tried, 0 when one failed in a way
	// that trying again cannot fix.
	timeout time.Duration
	// failures counts the reads that failed.
	failures int
	// err is the last request's error, nil when none had failed when
	// timeout passed (none had been answered).
	err error
}

func (e *firstReadError) Error() string {
	switch {
	case e.timeout == 0:
		return fmt.Sprintf("cannot read %s, and trying again cannot fix it: %v", e.lock, e.err)
	case e.err == nil:
		return fmt.Sprintf("no answer about %s within %s: the first read is still waiting for the API server", e.lock, e.timeout)
	}
	reads := "reads"
	if e.failures == 1 {
		reads = "read"
	}
	return fmt.Sprintf("no answer about %s within %s (%d failed %s); the last error: %v", e.lock, e.timeout, e.failures, reads, e.err)
}

// Unwrap returns the last error, or context.DeadlineExceeded when there
// was none.
func (e *firstReadError) Unwrap() error {
	if e.err == nil && e.timeout > 0 {
		return context.DeadlineExceeded
	}
	return e.err
}

// canHeal reports whether a read that failed with err may succeed when
// tried again, with nothing changed on this side: the API server was slow
// or overloaded (a timeout, 5xx, 429), or could not be reached for now
// (connection refused or reset, no route, a DNS server that did not
// answer). Anything else is taken for an answer that would come again,
// to be shown at once: 401 and 403, other 4xx, a credential plugin that
// fails (unless it was cut off by the request's timeout), a certificate
// that does not verify, a host name that does not exist, and errors it
// does not know.
func canHeal(err error) bool {
	var (
		se  *k8sapi.StatusError
		dns *net.DNSError
		ne  net.Error
		op  *net.OpError
	)
	switch {
	case err == nil:
		return false
	case errors.As(err, &se):
		return se.Code >= 500 || k8sapi.IsTooManyRequests(err)
	case errors.Is(err, context.DeadlineExceeded):
		return true // a request, or a credential plugin, cut off by its timeout
	case hopeless(err), errors.Is(err, k8sapi.ErrResponseTooLarge):
		return false
	case errors.As(err, &dns):
		return true // hopeless has taken "no such host"
	case errors.As(err, &ne) && ne.Timeout():
		return true
	case errors.As(err, &op) && op.Op == "dial":
		return true // refused, unreachable: the server may be (re)starting
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return true // the connection closed under the request
	}
	for _, errno := range healingErrnos {
		if errors.Is(err, errno) {
			return true
		}
	}
	return false
}

// healingErrnos are the system errors of a connection that a new one may
// not meet.
var healingErrnos = []error{
	syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ECONNABORTED, syscall.EPIPE,
	syscall.EHOSTUNREACH, syscall.ENETUNREACH, syscall.ETIMEDOUT,
}

// hopeless reports whether err says that no request to the API server can
// succeed as things are: the server refused the credentials (401), the
// credential plugin failed (other than cut off by a timeout), the server's
// certificate does not verify or the TLS handshake failed, or the server's
// host name does not exist.
func hopeless(err error) bool {
	var (
		dns   *net.DNSError
		cert  *tls.CertificateVerificationError
		ua    x509.UnknownAuthorityError
		hn    x509.HostnameError
		ci    x509.CertificateInvalidError
		rh    tls.RecordHeaderError
		alert tls.AlertError
	)
	switch {
	case err == nil:
		return false
	case k8sapi.IsUnauthorized(err):
		return true
	case errors.Is(err, kubeconfig.ErrExecPlugin):
		return !errors.Is(err, context.DeadlineExceeded)
	case errors.As(err, &cert), errors.As(err, &ua), errors.As(err, &hn), errors.As(err, &ci),
		errors.As(err, &rh), errors.As(err, &alert):
		return true
	case errors.As(err, &dns):
		return dns.IsNotFound
	}
	return false
}
