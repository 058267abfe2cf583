package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	rl "github.com/kubelect/kubelect/election/resourcelock"
)

// firstReadTimeout bounds the first read of the lock, before any request
// for a transfer: how long its errors that can heal are retried.
const firstReadTimeout = 30 * time.Second

var transferCommand = &command{
	name:    "transfer",
	summary: "hand leadership over to a chosen candidate (Lease locks)",
	help: `Usage: kubelect transfer --name NAME --to IDENTITY [-n NAMESPACE] [flags]

Ask the leader to hand the lock over to the candidate IDENTITY (before
draining the leader's node, say), and wait until IDENTITY leads. The request
is the Lease's annotation kubelect.io/preferred-holder (and
spec.preferredHolder where the Lease has a spec.strategy). The leader sees
it, stops leading, releases the lock for IDENTITY once its work has stopped,
and IDENTITY takes it at once; its acquisition clears the request. If
IDENTITY is not running, the lock stays free for one lease, then any
candidate takes it and clears the request.

Only Lease locks carry a request (--lock-kind leases): Endpoints and
ConfigMap locks, and the MultiLocks that migrate from them, are refused.
Candidates built on client-go ignore the request.

It needs get, watch and update on the Lease. It exits 0 once IDENTITY leads
(at once if it already does), 3 if it does not lead within --timeout (the
request stays until a candidate clears it; --cancel withdraws it), 1 on
another error.

Before it asks, it reads the lock. That read is tried again every
--retry-period (plus jitter, or after the server's Retry-After) while its
error can heal (a timeout, a connection refused or reset, an answer 5xx or
429), for at most 30s, then the command exits 1 with the last error. An error
that trying again cannot fix makes it exit 1 at once, with that error, before
any request is made: credentials refused (401) or not allowed (403), a
credential plugin that fails, a server certificate that does not verify, a
host name that does not resolve, an invalid kubeconfig.

Examples:
  kubelect transfer -n my-namespace --name my-controller --to my-controller-7d9f-x2k4p
  kubelect transfer --name my-controller --cancel
`,
	run: (*app).transfer,
}

func (a *app) transfer(ctx context.Context, fs *flag.FlagSet, args []string) error {
	var c commonFlags
	c.register(fs)
	to := fs.String("to", "", "the identity of the candidate to hand over to (required)")
	withdraw := fs.Bool("cancel", false, "withdraw a pending request instead")
	timeout := fs.Duration("timeout", 0, "how long to wait for the new leader once the request is made (default: --lease-duration plus two --retry-period)")
	if err := parse(fs, args); err != nil {
		return err
	}
	switch {
	case *withdraw && *to != "":
		return usagef("--to and --cancel exclude each other")
	case !*withdraw && *to == "":
		return usagef("--to is required (the identity of the candidate to hand over to)")
	case *timeout < 0:
		return usagef("--timeout must not be negative")
	}
	if err := c.check(); err != nil {
		return err
	}
	if c.lockKind != rl.LeasesResourceLock {
		return usagef("--lock-kind %s: %v: a transfer request is stored on a Lease (--lock-kind leases); "+
			"an Endpoints or ConfigMap lock cannot carry one, and a fleet migrating to a Lease must finish first", c.lockKind, rl.ErrNotLease)
	}
	if *timeout == 0 {
		*timeout = c.leaseDuration + 2*c.retryPeriod
	}
	e, err := a.setup(&c)
	if err != nil {
		return err
	}
	if *withdraw {
		if err := rl.RequestTransfer(ctx, e.client, e.namespace, c.name, ""); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "withdrew the transfer request on %s\n", e.lockDesc)
		return nil
	}

	fr, stop, err := a.startFirstRead(ctx, e, &c)
	if err != nil {
		return err
	}
	defer stop()
	ob, err := fr.Wait(ctx, firstReadTimeout)
	if err != nil {
		if ctx.Err() != nil {
			return errors.New("interrupted before any request was made")
		}
		return err
	}
	obs := fr.obs
	if ob.Exists && ob.Holder == *to && ob.Leading(a.now()) {
		fmt.Fprintf(a.stdout, "%s already leads %s (term %d)\n", *to, e.lockDesc, ob.Term)
		return nil
	}
	if !ob.Exists {
		return fmt.Errorf("%s does not exist: nothing to transfer", e.lockDesc)
	}
	start := a.now()
	if err := rl.RequestTransfer(ctx, e.client, e.namespace, c.name, *to); err != nil {
		if errors.Is(err, rl.ErrNotLease) {
			return usagef("%v", err)
		}
		return err
	}
	wait, cancelWait := context.WithTimeout(ctx, *timeout)
	defer cancelWait()
	e.log.Info("asked for a transfer", "lock", e.lockDesc, "from", ob.Holder, "to", *to, "term", ob.Term)
	for !(ob.Exists && ob.Holder == *to && ob.Leading(a.now())) {
		ob, err = obs.Wait(wait, ob.Version)
		if err != nil {
			return a.transferWaitError(ctx, e.lockDesc, *to, *timeout, ob.Holder, ob.LastError)
		}
	}
	fmt.Fprintf(a.stdout, "%s leads %s (term %d), %s after the request\n", *to, e.lockDesc, ob.Term,
		a.now().Sub(start).Round(time.Millisecond))
	return nil
}

func (a *app) transferWaitError(ctx context.Context, lock, to string, timeout time.Duration, holder string, lastErr error) error {
	if ctx.Err() != nil {
		return errors.New("interrupted; the request stays until a candidate clears it (--cancel withdraws it)")
	}
	if holder == "" {
		holder = "nobody"
	}
	err := fmt.Errorf("%s does not lead %s after %s (%s holds it); the request stays until a candidate clears it (--cancel withdraws it)", to, lock, timeout, holder)
	if lastErr != nil {
		err = fmt.Errorf("%w; last API error: %v", err, lastErr)
	}
	return &codedError{code: exitTimeout, err: err}
}
