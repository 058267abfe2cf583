package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/kubelect/kubelect/election"
	"github.com/kubelect/kubelect/fencing"
)

var statusCommand = &command{
	name:    "status",
	summary: "show who holds a lock, in which term, and how long its lease runs",
	help: `Usage: kubelect status --name NAME [-n NAMESPACE] [-w] [-o json] [flags]

Show the lock's holder, its term (leaderTransitions), its fencing token
when known, when it acquired and last renewed the lock (as the holder's clock
wrote them), the lease, and the time left on it as this machine sees it: a
lease is timed from when its record last changed, so a record first seen now
has its full lease left (a candidate starting now would wait that long).
STATE is held, released (no holder), expired (not renewed within its lease
while watched) or absent (no lock object).

TOKEN ("fencingToken" in JSON) is the fencing token of the holder's
leadership: the resourceVersion of the write that began it, which the leader
has as KUBELECT_FENCING_TOKEN under "kubelect run" (see "kubelect help
run"). Fence with it, not with the term, which can go backwards. It is not
stored in the lock: only a watch that saw that write happen knows it. So it
is known with -w for the leaderships that begin while the command watches,
and shown as "-" (absent from JSON) otherwise: a one-shot status, which only
reads the lock, usually cannot know it.

It only reads (get and watch on the lock's resource) and never writes.

The first read is tried again every --retry-period (plus jitter, or after
the server's Retry-After) while its error can heal: a timeout, a connection
refused or reset, an answer 5xx or 429. After --timeout the command exits 1
with the last error. An error that trying again cannot fix makes it exit 1
at once, with that error: credentials refused (401) or not allowed (403), a
credential plugin that fails, a server certificate that does not verify, a
host name that does not resolve, an invalid kubeconfig.

With -w it follows the lock and prints a line at each change (renewals
included) until interrupted; errors after the first read are logged and
retried. With -o json it prints one JSON object per
observation, one per line.

Examples:
  kubelect status -n kube-system --name kube-scheduler
  kubelect status --name my-controller -w -o json
`,
	run: (*app).status,
}

func (a *app) status(ctx context.Context, fs *flag.FlagSet, args []string) error {
	var c commonFlags
	c.register(fs)
	var watch bool
	fs.BoolVar(&watch, "w", false, "watch: print each change until interrupted")
	fs.BoolVar(&watch, "watch", false, "same as -w")
	output := fs.String("o", "", `output format: "" (a table) or json (one object a line)`)
	timeout := fs.Duration("timeout", 30*time.Second, "how long to retry the first read of the lock while its errors can heal")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *output != "" && *output != "json" {
		return usagef("-o %q: the formats are json, or none for a table", *output)
	}
	if *timeout <= 0 {
		return usagef("--timeout must be positive")
	}
	e, err := a.setup(&c)
	if err != nil {
		return err
	}
	fr, stop, err := a.startFirstRead(ctx, e, &c)
	if err != nil {
		return err
	}
	defer stop()
	ob, err := fr.Wait(ctx, *timeout)
	if err != nil {
		if ctx.Err() != nil {
			return nil // interrupted
		}
		return err
	}
	obs := fr.obs
	p := &statusPrinter{w: a.stdout, json: *output == "json", kind: c.lockKind, namespace: e.namespace, name: c.name, now: a.now}
	if err := p.print(ob); err != nil {
		return err
	}
	for watch {
		ob, err = obs.Wait(ctx, ob.Version)
		if err != nil {
			return nil // interrupted: the normal end of a watch
		}
		if err := p.print(ob); err != nil {
			return err
		}
	}
	return nil
}

// statusJSON is one observation as "kubelect status -o json" prints it.
type statusJSON struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Version counts the changes seen by this command.
	Version uint64 `json:"version"`
	State   string `json:"state"`
	Exists  bool   `json:"exists"`
	Holder  string `json:"holder"`
	Term    int    `json:"term"`
	// FencingToken is the holder's fencing token, when this command saw
	// its leadership begin.
	FencingToken string `json:"fencingToken,omitempty"`
	// AcquireTime and RenewTime are by the holder's clock.
	AcquireTime          *time.Time `json:"acquireTime,omitempty"`
	RenewTime            *time.Time `json:"renewTime,omitempty"`
	LeaseDurationSeconds float64    `json:"leaseDurationSeconds"`
	// ObservedAt, Expiry and RemainingSeconds are by this machine's clock.
	ObservedAt       time.Time  `json:"observedAt"`
	Expiry           *time.Time `json:"expiry,omitempty"`
	RemainingSeconds float64    `json:"remainingSeconds"`
	LastError        string     `json:"lastError,omitempty"`
}

type statusPrinter struct {
	w                     io.Writer
	json                  bool
	kind, namespace, name string
	now                   func() time.Time
	tw                    *tabwriter.Writer // the table, once its header is out
}

func observationState(ob election.Observation) string {
	switch {
	case !ob.Exists:
		return "absent"
	case ob.Holder == "":
		return "released"
	case ob.Expired:
		return "expired"
	}
	return "held"
}

// remaining is the time left on ob's lease at now, 0 when none is held.
func remaining(ob election.Observation, now time.Time) time.Duration {
	if ob.Holder == "" || ob.Expired || !now.Before(ob.Expiry) {
		return 0
	}
	return ob.Expiry.Sub(now)
}

// tokenText is a fencing token as the tables and logs show it: "-" when
// not known.
func tokenText(t fencing.Token) string {
	if t == 0 {
		return "-"
	}
	return t.String()
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func (p *statusPrinter) print(ob election.Observation) error {
	now := p.now()
	left := remaining(ob, now)
	if p.json {
		v := statusJSON{
			Kind: p.kind, Namespace: p.namespace, Name: p.name,
			Version: ob.Version, State: observationState(ob), Exists: ob.Exists,
			Holder: ob.Holder, Term: ob.Term,
			AcquireTime: timePtr(ob.AcquireTime), RenewTime: timePtr(ob.RenewTime),
			LeaseDurationSeconds: ob.LeaseDuration.Seconds(),
			ObservedAt:           ob.ObservedAt,
			RemainingSeconds:     left.Round(time.Millisecond).Seconds(),
		}
		if ob.Holder != "" {
			v.Expiry = timePtr(ob.Expiry)
		}
		if ob.FencingToken != 0 {
			v.FencingToken = ob.FencingToken.String()
		}
		if ob.LastError != nil {
			v.LastError = ob.LastError.Error()
		}
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(p.w, "%s\n", b)
		return err
	}
	if p.tw == nil {
		p.tw = tabwriter.NewWriter(p.w, 0, 8, 2, ' ', 0)
		fmt.Fprintln(p.tw, "KIND\tLOCK\tSTATE\tHOLDER\tTERM\tTOKEN\tACQUIRED\tRENEWED\tLEASE\tLEFT")
	}
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	stamp := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format(time.RFC3339)
	}
	lease, leftText := "-", "-"
	if ob.LeaseDuration > 0 {
		lease = ob.LeaseDuration.String()
	}
	if ob.Holder != "" {
		leftText = left.Round(100 * time.Millisecond).String()
	}
	fmt.Fprintf(p.tw, "%s\t%s/%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", p.kind, p.namespace, p.name,
		observationState(ob), dash(ob.Holder), ob.Term, tokenText(ob.FencingToken), stamp(ob.AcquireTime), stamp(ob.RenewTime), lease, leftText)
	if err := p.tw.Flush(); err != nil {
		return errors.Join(errors.New("writing the status"), err)
	}
	return nil
}

// runObserver runs obs until the returned function is called, which stops
// it and waits for it to return.
func runObserver(ctx context.Context, obs *election.Observer) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- obs.Run(ctx) }()
	return func() { cancel(); <-done }
}
