package election

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"time"

	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/k8sapi"
)

// Metrics receives the elector's measurements, so that a program can feed
// them to Prometheus, OpenTelemetry, expvar (package
// election/expvarmetrics) or anything else without this module depending
// on it. Every field is optional. The calls come from the elector's
// goroutines, possibly several at once; they must be quick and must not
// block, or they hold up the elector (never past its deadline, which a
// watchdog enforces, but a slow hook makes renewals late).
//
// With each field are the Prometheus names that docs/production.md#metrics
// recommends.
type Metrics struct {
	// Leading is called when this candidate starts leading (true, with
	// the term it leads in) and when it stops (false, with the term it
	// led in). A gauge kubelect_leader (1 or 0), a gauge kubelect_term,
	// and a counter kubelect_leader_transitions_total of the starts.
	Leading func(leading bool, term int)
	// Request is called when a request to the lock ends: op is "get",
	// "create" or "update"; err is nil on success. Not every error is a
	// failure: a conflict means another candidate wrote first, a lock not
	// found on a read is created next. A histogram
	// kubelect_request_duration_seconds{op}, and a counter
	// kubelect_request_errors_total{op,kind} with kind = ErrorKind(err).
	Request func(op string, d time.Duration, err error)
	// Acquire is called after each try to take the lock, with its
	// outcome: AcquireAcquired, AcquireHeld (another candidate's lease runs, or the
	// lock is reserved for a planned successor: nothing was written),
	// AcquireLostRace (another candidate wrote first: a conflict) or
	// AcquireError.
	// A counter kubelect_acquire_attempts_total{outcome}.
	Acquire func(outcome AcquireOutcome)
	// Renewal is called after each renewal by the leader: d is how long
	// it took, err nil on success. A histogram
	// kubelect_renew_duration_seconds and a counter
	// kubelect_renew_failures_total{kind}.
	Renewal func(d time.Duration, err error)
	// WatchRestart is called when a watch of the lock ended and is opened
	// again; err is what ended it (io.EOF when the server closed it). A
	// counter kubelect_watch_restarts_total.
	WatchRestart func(err error)
}

// AcquireOutcome is how a try to take the lock ended, as reported to
// Metrics.Acquire; its text is the value of a metric label.
type AcquireOutcome string

// The outcomes of Metrics.Acquire.
const (
	AcquireAcquired AcquireOutcome = "acquired"
	AcquireHeld     AcquireOutcome = "held"
	AcquireLostRace AcquireOutcome = "lost-race"
	AcquireError    AcquireOutcome = "error"
)

// FailureKind is the kind of a failed request or try, as ErrorKind sorts
// errors; its text is the value of a metric label.
type FailureKind string

// The kinds of failure ErrorKind reports.
const (
	KindTimeout       FailureKind = "timeout"        // no answer in time
	KindUnauthorized  FailureKind = "unauthorized"   // 401: the token is not accepted
	KindForbidden     FailureKind = "forbidden"      // 403: RBAC does not allow it
	KindNotFound      FailureKind = "notfound"       // 404: a missing namespace, or the lock where it must exist
	KindConflict      FailureKind = "conflict"       // 409: another writer came first
	KindInvalid       FailureKind = "invalid"        // 400 or 422: the server refuses what was sent
	KindThrottled     FailureKind = "throttled"      // 429: too many requests
	KindServer        FailureKind = "server"         // 5xx
	KindTLS           FailureKind = "tls"            // the server's certificate does not verify, or the handshake failed
	KindNetwork       FailureKind = "network"        // DNS, connection refused or reset
	KindInvalidRecord FailureKind = "invalid-record" // the lock holds a record that does not decode
	KindOther         FailureKind = "other"
)

// ErrorKind sorts an error of the elector or of the lock into one of a few
// kinds (KindTimeout, KindForbidden, ...), for a metric label or an alert.
// It returns "" for nil.
func ErrorKind(err error) FailureKind {
	var (
		se   *k8sapi.StatusError
		ne   net.Error
		dns  *net.DNSError
		op   *net.OpError
		cert *tls.CertificateVerificationError
		ua   x509.UnknownAuthorityError
		hn   x509.HostnameError
		ci   x509.CertificateInvalidError
		rh   tls.RecordHeaderError
	)
	switch {
	case err == nil:
		return ""
	case errors.Is(err, context.DeadlineExceeded):
		return KindTimeout
	case errors.Is(err, rl.ErrInvalidRecord):
		return KindInvalidRecord
	case errors.As(err, &se):
		switch {
		case k8sapi.IsUnauthorized(err):
			return KindUnauthorized
		case k8sapi.IsForbidden(err):
			return KindForbidden
		case k8sapi.IsNotFound(err):
			return KindNotFound
		case k8sapi.IsConflict(err) || k8sapi.IsAlreadyExists(err):
			return KindConflict
		case k8sapi.IsTooManyRequests(err):
			return KindThrottled
		case se.Code == 400 || se.Code == 422:
			return KindInvalid
		case se.Code >= 500:
			return KindServer
		}
		return KindOther
	case errors.As(err, &cert), errors.As(err, &ua), errors.As(err, &hn), errors.As(err, &ci), errors.As(err, &rh):
		return KindTLS
	case errors.As(err, &ne) && ne.Timeout():
		return KindTimeout
	case errors.As(err, &dns), errors.As(err, &op):
		return KindNetwork
	}
	return KindOther
}
