package election_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/kubelect/kubelect/election"
	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/k8sapi"
)

func TestErrorKind(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("election: renew: %w", err) }
	cases := []struct {
		err  error
		want election.FailureKind
	}{
		{nil, ""},
		{context.DeadlineExceeded, election.KindTimeout},
		{wrap(context.DeadlineExceeded), election.KindTimeout},
		{wrap(&k8sapi.StatusError{Code: 401, Reason: "Unauthorized"}), election.KindUnauthorized},
		{wrap(&k8sapi.StatusError{Code: 403, Reason: "Forbidden"}), election.KindForbidden},
		{wrap(&k8sapi.StatusError{Code: 404, Reason: "NotFound"}), election.KindNotFound},
		{wrap(&k8sapi.StatusError{Code: 409, Reason: "Conflict"}), election.KindConflict},
		{wrap(&k8sapi.StatusError{Code: 409, Reason: "AlreadyExists"}), election.KindConflict},
		{wrap(&k8sapi.StatusError{Code: 422, Reason: "Invalid"}), election.KindInvalid},
		{wrap(&k8sapi.StatusError{Code: 429, Reason: "TooManyRequests"}), election.KindThrottled},
		{wrap(&k8sapi.StatusError{Code: 503}), election.KindServer},
		{wrap(&k8sapi.StatusError{Code: 418}), election.KindOther},
		{wrap(x509.UnknownAuthorityError{}), election.KindTLS},
		{wrap(&tls.CertificateVerificationError{Err: errors.New("bad")}), election.KindTLS},
		{wrap(x509.HostnameError{Certificate: &x509.Certificate{}, Host: "h"}), election.KindTLS},
		{wrap(&net.DNSError{Err: "no such host", Name: "kubernetes.default.svc"}), election.KindNetwork},
		{wrap(&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}), election.KindNetwork},
		{wrap(&net.DNSError{Err: "timeout", IsTimeout: true}), election.KindTimeout},
		{wrap(fmt.Errorf("%w: bad json", rl.ErrInvalidRecord)), election.KindInvalidRecord},
		{errors.New("something else"), election.KindOther},
	}
	for _, c := range cases {
		if got := election.ErrorKind(c.err); got != c.want {
			t.Errorf("ErrorKind(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}
