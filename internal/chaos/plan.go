package chaos

import (
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/kubelect/kubelect/election"
	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/k8sapi"
)

// Timing is the elector configuration of every candidate in a run.
type Timing struct {
	LeaseDuration   time.Duration
	RenewDeadline   time.Duration
	RetryPeriod     time.Duration
	RequestTimeout  time.Duration // zero: the elector's default
	ReleaseOnCancel bool
}

// requestTimeout is the RequestTimeout the elector uses for t.
func (t Timing) requestTimeout() time.Duration {
	if t.RequestTimeout > 0 {
		return t.RequestTimeout
	}
	rt := max(time.Second, t.RenewDeadline/2)
	if rt >= t.RenewDeadline {
		rt = t.RenewDeadline / 2
	}
	return rt
}

// accepted reports whether NewLeaderElector accepts t for a lock of each
// of kinds: the elector's own validation decides, so that plans cover
// exactly the timings it lets through (a coarse lock may refuse more).
func (t Timing) accepted(kinds []string) bool {
	for _, kind := range kinds {
		_, err := election.NewLeaderElector(election.LeaderElectionConfig{
			Lock:          validationLock(kind),
			LeaseDuration: t.LeaseDuration, RenewDeadline: t.RenewDeadline, RetryPeriod: t.RetryPeriod,
			RequestTimeout: t.RequestTimeout, ReleaseOnCancel: t.ReleaseOnCancel,
			Logger:    slog.New(discardHandler{}),
			Callbacks: election.LeaderCallbacks{OnStartedLeading: func(<-chan struct{}) {}, OnStoppedLeading: func() {}},
		})
		if err != nil {
			return false
		}
	}
	return true
}

// validationLock is a lock of kind that is never used to talk to a server
// (its client points nowhere; the elector's validation wants one).
func validationLock(kind string) rl.Interface {
	meta := rl.ObjectMeta{Namespace: namespace, Name: lockName}
	cfg := rl.ResourceLockConfig{Identity: "validation"}
	client := validationClient()
	endpoints := &rl.EndpointsLock{EndpointsMeta: meta, Client: client, LockConfig: cfg}
	lease := &rl.LeaseLock{LeaseMeta: meta, Client: client, LockConfig: cfg}
	switch kind {
	case rl.EndpointsResourceLock:
		return endpoints
	case rl.ConfigMapsResourceLock:
		return &rl.ConfigMapLock{ConfigMapMeta: meta, Client: client, LockConfig: cfg}
	case rl.EndpointsLeasesResourceLock:
		return &rl.MultiLock{Primary: endpoints, Secondary: lease}
	case rl.ConfigMapsLeasesResourceLock:
		return &rl.MultiLock{Primary: &rl.ConfigMapLock{ConfigMapMeta: meta, Client: client, LockConfig: cfg}, Secondary: lease}
	}
	return lease
}

// validationClient is a client that is never used.
var validationClient = sync.OnceValue(func() *k8sapi.Client {
	c, err := k8sapi.New(k8sapi.Config{Host: "http://127.0.0.1:1", BearerToken: "unused"})
	if err != nil {
		panic(err)
	}
	return c
})

// Candidate is one candidate of a plan: an identity that may crash and
// restart (each restart is a new process: new client, lock and elector).
type Candidate struct {
	ID   string
	Kind string // the resourcelock kind it starts with
	// Rate and Offset set its clock: Rate times true time, Offset from it.
	Rate   float64
	Offset time.Duration
	// Join is when it starts, from the start of the run.
	Join time.Duration
	// SlowCallback is how long OnStartedLeading keeps running after stop
	// closes.
	SlowCallback time.Duration
	// SlowLog is how long each log line at Warn or above takes to write.
	SlowLog time.Duration
	// WatchDelay delays every read from its watch streams: the network
	// between the server and the candidate. Without it an in-process
	// watch tells a leader of a takeover in no time at all, which hides
	// the overlap a real network would show.
	WatchDelay time.Duration
	// Stand makes each run of its process one elector that calls Stand
	// (a new term after each leadership, on the same elector) instead of
	// a new elector and RunContext after each lost leadership.
	Stand bool
}

// FaultKind names a fault.
type FaultKind string

// The faults. Request faults apply, while active, to the requests of their
// target candidate (or of all, Target -1) that match Verbs.
const (
	Latency    FaultKind = "latency"     // delay before the request reaches the server
	SlowAnswer FaultKind = "slow-answer" // delay after the server answered
	ErrorCode  FaultKind = "error"       // answer Code (409 only on writes), 429 with Retry-After
	LostAnswer FaultKind = "lost-answer" // a write is applied, its answer lost (error, or hang until the request's context ends)
	Hang       FaultKind = "hang"        // no answer until the request's context ends
	Partition  FaultKind = "partition"   // one candidate cut off: its watches end, requests hang or fail
	WatchEmpty FaultKind = "watch-empty" // every watch answers an empty 200
	WatchGone  FaultKind = "watch-gone"  // every watch answers an ERROR 410 event
	// Actions at At.
	CloseWatches FaultKind = "close-watches" // the server ends every watch
	Crash        FaultKind = "crash"         // the process stops; restarts after For (never if For < 0), with Variant as its lock kind if set
	Release      FaultKind = "release"       // the elector is cancelled (releasing with ReleaseOnCancel); a new one runs after For (never if For < 0)
	DeleteLock   FaultKind = "delete-lock"   // the lock objects are deleted
	Garbage      FaultKind = "garbage"       // the record is overwritten with Variant (see garbageVariants)
	Intruder     FaultKind = "intruder"      // a foreign holder writes a valid record (Variant "huge": leaseDurationSeconds 18446744074)
	// Transfer asks the holder of a Lease lock to hand over
	// (resourcelock.RequestTransfer, from a client outside the fleet) to
	// the candidate whose ID is Variant, to TransferAbsent (an identity no
	// candidate has) or to TransferLeader (whoever holds the lock then).
	// Only in plans whose lock is a pure Lease.
	Transfer FaultKind = "transfer"
)

// The Transfer variants that name no candidate ID.
const (
	TransferAbsent = "absent" // an identity no candidate has
	TransferLeader = "leader" // the holder of the lock at the time
)

// absentIdentity is the identity a TransferAbsent request names.
const absentIdentity = "absent-candidate"

// requestFaults are the kinds that act on requests over a window.
var requestFaults = map[FaultKind]bool{Latency: true, SlowAnswer: true, ErrorCode: true, LostAnswer: true,
	Hang: true, Partition: true, WatchEmpty: true, WatchGone: true}

// Fault is one fault of a schedule.
type Fault struct {
	Kind   FaultKind
	At     time.Duration // from the start of the run
	For    time.Duration // how long a request fault lasts; for Crash and Release, the time to the restart
	Target int           // candidate index; -1: every candidate (the server)
	// Verbs limits a request fault to "read", "write" or "watch"
	// requests; empty: all.
	Verbs string
	Prob  float64       // share of matching requests affected; 0 means all
	Code  int           // ErrorCode
	Retry int           // ErrorCode 429: Retry-After seconds
	Delay time.Duration // Latency, SlowAnswer
	// Resource limits a request fault to requests for one resource
	// ("leases", "endpoints", "configmaps"); empty: all.
	Resource string
	Variant  string // Crash: lock kind after restart; Garbage, Intruder: what is written; LostAnswer, Partition: "hang" or "error"; Transfer: to whom
}

func (f Fault) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-13s at %-12v", f.Kind, f.At)
	if f.For > 0 {
		fmt.Fprintf(&b, " for %-12v", f.For)
	}
	if f.Target >= 0 {
		fmt.Fprintf(&b, " c%d", f.Target)
	} else {
		b.WriteString(" all")
	}
	if f.Verbs != "" {
		fmt.Fprintf(&b, " %s", f.Verbs)
	}
	if f.Resource != "" {
		fmt.Fprintf(&b, " on %s", f.Resource)
	}
	if f.Prob > 0 && f.Prob < 1 {
		fmt.Fprintf(&b, " p=%.2f", f.Prob)
	}
	if f.Code != 0 {
		fmt.Fprintf(&b, " code=%d", f.Code)
	}
	if f.Retry != 0 {
		fmt.Fprintf(&b, " retry-after=%ds", f.Retry)
	}
	if f.Delay != 0 {
		fmt.Fprintf(&b, " delay=%v", f.Delay)
	}
	if f.Variant != "" {
		fmt.Fprintf(&b, " %s", f.Variant)
	}
	return b.String()
}

// maxLease is the longest lease the elector honours in a record
// (election.MaxLeaseDuration; restated so that the package also builds
// against electors that predate it).
const maxLease = time.Hour

// Plan is everything a run does, drawn from Seed or written by hand.
type Plan struct {
	Name       string // scenario name, or "" for a drawn plan
	Seed       uint64
	Outside    bool // rates drawn outside LeaseDuration/RenewDeadline: overlaps expected
	Timing     Timing
	Candidates []Candidate
	Faults     []Fault
	// Heal is when every fault has ended (crashed candidates restarted);
	// End is when the run stops.
	Heal, End time.Duration
	// CheckRates turns on the request-rate bound (on by default in
	// drawn plans).
	CheckRates bool
	// ExtraHeal lengthens the bound for a leader after the heal, for
	// plans whose faults leave a longer lease behind (a clamped one).
	ExtraHeal time.Duration
}

// String prints the plan for a failure report.
func (p Plan) String() string {
	var b strings.Builder
	t := p.Timing
	fmt.Fprintf(&b, "timing: LeaseDuration=%v RenewDeadline=%v RetryPeriod=%v RequestTimeout=%v (effective %v) ReleaseOnCancel=%v\n",
		t.LeaseDuration, t.RenewDeadline, t.RetryPeriod, t.RequestTimeout, t.requestTimeout(), t.ReleaseOnCancel)
	lo, hi := p.rateRange()
	fmt.Fprintf(&b, "rates: max/min=%.4f bound LeaseDuration/RenewDeadline=%.4f outside=%v; heal at %v, end at %v\n",
		hi/lo, float64(t.LeaseDuration)/float64(t.RenewDeadline), p.Outside, p.Heal, p.End)
	for i, c := range p.Candidates {
		fmt.Fprintf(&b, "c%d %s kind=%s rate=%.4f offset=%v join=%v", i, c.ID, c.Kind, c.Rate, c.Offset, c.Join)
		if c.SlowCallback > 0 {
			fmt.Fprintf(&b, " slow-callback=%v", c.SlowCallback)
		}
		if c.SlowLog > 0 {
			fmt.Fprintf(&b, " slow-log=%v", c.SlowLog)
		}
		if c.WatchDelay > 0 {
			fmt.Fprintf(&b, " watch-delay=%v", c.WatchDelay)
		}
		if c.Stand {
			b.WriteString(" stand")
		}
		b.WriteByte('\n')
	}
	b.WriteString("faults:\n")
	for _, f := range p.Faults {
		b.WriteString("  " + f.String() + "\n")
	}
	return b.String()
}

func (p Plan) rateRange() (lo, hi float64) {
	lo, hi = math.Inf(1), 0
	for _, c := range p.Candidates {
		lo, hi = min(lo, c.Rate), max(hi, c.Rate)
	}
	return lo, hi
}

// withinBound reports whether the plan's clock rates keep max/min strictly
// below LeaseDuration/RenewDeadline.
func (p Plan) withinBound() bool {
	lo, hi := p.rateRange()
	return hi/lo < float64(p.Timing.LeaseDuration)/float64(p.Timing.RenewDeadline)
}

// garbageVariants are the undecodable or odd records Garbage writes. The
// annotation ones apply to Endpoints and ConfigMap locks, the spec ones to
// Leases.
var garbageVariants = map[string][]string{
	rl.LeasesResourceLock:     {"lease-duration-float", "lease-duration-string", "renew-time-garbage"},
	rl.EndpointsResourceLock:  {"annotation-json", "lease-duration-float", "lease-duration-string", "renew-time-garbage"},
	rl.ConfigMapsResourceLock: {"annotation-json", "lease-duration-float", "lease-duration-string", "renew-time-garbage"},
}

// Generate draws a plan from seed: a valid timing (extremes included), 3–5
// candidates on one lock kind or a fleet mid-migration, clock rates inside
// the bound (outside it when outside is set), and a fault schedule.
func Generate(seed uint64, outside bool) Plan {
	r := rand.New(rand.NewPCG(seed, 0x6b7562656c656374))
	p := Plan{Seed: seed, Outside: outside, CheckRates: true}
	n := 3 + r.IntN(3)
	kinds := drawKinds(r, n)
	p.Timing = drawTiming(r, kinds)
	t := p.Timing
	// Clock rates: the slowest at lo, the others up to lo*bound (exclusive),
	// with one at the edge half of the time.
	bound := float64(t.LeaseDuration) / float64(t.RenewDeadline)
	lo := 0.5 + 1.5*r.Float64()
	hiRatio := 1 + (bound-1)*(1-1e-3)
	if outside {
		hiRatio = bound * (1.05 + r.Float64())
	}
	edge := r.IntN(2) == 0
	for i := range n {
		c := Candidate{ID: fmt.Sprintf("c%d", i), Kind: kinds[i], Offset: time.Duration(r.Int64N(int64(2*time.Hour))) - time.Hour}
		switch {
		case i == 0:
			c.Rate = lo
		case i == 1 && (edge || outside):
			c.Rate = lo * hiRatio
		default:
			c.Rate = lo * (1 + (hiRatio-1)*r.Float64())
		}
		if r.IntN(4) == 0 {
			c.Join = time.Duration(r.Int64N(int64(2 * t.LeaseDuration)))
		}
		if r.IntN(5) == 0 {
			c.SlowCallback = time.Duration(r.Int64N(int64(2 * t.RenewDeadline)))
		}
		if r.IntN(10) == 0 {
			c.SlowLog = time.Duration(r.Int64N(int64(t.RenewDeadline / 2)))
		}
		if r.IntN(2) == 0 {
			c.WatchDelay = time.Duration(r.Int64N(int64(min(t.RetryPeriod, 200*time.Millisecond))))
		}
		p.Candidates = append(p.Candidates, c)
	}
	r.Shuffle(n, func(i, j int) {
		p.Candidates[i].Rate, p.Candidates[j].Rate = p.Candidates[j].Rate, p.Candidates[i].Rate
	})

	p.Heal = time.Duration(float64(t.LeaseDuration) * (4 + 6*r.Float64()))
	p.Faults = drawFaults(r, p)
	drawStandAndTransfers(seed, &p)
	p.End = p.Heal + 2*healBound(p) + 2*t.LeaseDuration
	for _, f := range p.Faults {
		if f.Kind == Intruder && f.Variant == "huge" {
			// A record asking for 18446744074s holds the lock for the
			// elector's longest lease, an hour, after its last change: the
			// run does not wait that long (a leader renewing for an hour of
			// fake time is costly); the re-election checks then do not
			// apply, the safety checks do.
			p.ExtraHeal = maxLease
		}
	}
	return p
}

// drawStandAndTransfers draws which candidates use Stand and the Transfer
// faults of p, from a stream of its own, so that a seed keeps the timing,
// rates and other faults it had before these were drawn. A third of the
// plans use Stand for every candidate, a third for some; half of the
// plans on a pure Lease lock get 1–3 transfer requests.
func drawStandAndTransfers(seed uint64, p *Plan) {
	r := rand.New(rand.NewPCG(seed, 0x7374616e64))
	switch r.IntN(3) {
	case 1:
		for i := range p.Candidates {
			p.Candidates[i].Stand = true
		}
	case 2:
		for i := range p.Candidates {
			p.Candidates[i].Stand = r.IntN(2) == 0
		}
	}
	if !transferable(*p) || r.IntN(2) == 0 {
		return
	}
	for range 1 + r.IntN(3) {
		f := Fault{Kind: Transfer, At: time.Duration(r.Int64N(int64(p.Heal))), Target: -1}
		switch x := r.IntN(10); {
		case x < 6:
			f.Variant = p.Candidates[r.IntN(len(p.Candidates))].ID
		case x < 8:
			f.Variant = TransferAbsent
		default:
			f.Variant = TransferLeader
		}
		p.Faults = append(p.Faults, f)
	}
}

// transferable reports whether every candidate of p uses a pure Lease
// lock: the only kind a planned transfer works on.
func transferable(p Plan) bool {
	for _, c := range p.Candidates {
		if c.Kind != rl.LeasesResourceLock {
			return false
		}
	}
	return len(p.Candidates) > 0
}

// drawTiming draws a timing that validation accepts, with extremes: a
// RetryPeriod just below RenewDeadline/1.2, a RequestTimeout just below
// RenewDeadline, tiny and large durations.
func drawTiming(r *rand.Rand, kinds []string) Timing {
	for {
		var t Timing
		switch r.IntN(6) {
		case 0: // tiny
			t.LeaseDuration = time.Duration(100+r.IntN(1900)) * time.Millisecond
		case 1: // large
			t.LeaseDuration = time.Duration(60+r.IntN(240)) * time.Second
		case 2: // the defaults
			t.LeaseDuration, t.RenewDeadline, t.RetryPeriod = election.DefaultLeaseDuration, election.DefaultRenewDeadline, election.DefaultRetryPeriod
		default:
			t.LeaseDuration = time.Duration(2000+r.IntN(28000)) * time.Millisecond
		}
		if t.RenewDeadline == 0 {
			t.RenewDeadline = time.Duration(float64(t.LeaseDuration) * (0.3 + 0.69*r.Float64()))
			switch r.IntN(4) {
			case 0: // just below RenewDeadline/1.2
				t.RetryPeriod = time.Duration(float64(t.RenewDeadline)/election.JitterFactor) - time.Duration(1+r.IntN(1000))
			default:
				t.RetryPeriod = time.Duration(float64(t.RenewDeadline) / election.JitterFactor * (0.05 + 0.95*r.Float64()))
			}
		}
		switch r.IntN(5) {
		case 0, 1: // the default
		case 2: // just below RenewDeadline
			t.RequestTimeout = t.RenewDeadline - time.Duration(1+r.IntN(int(min(t.RenewDeadline/100, time.Millisecond))+1))
		default:
			t.RequestTimeout = time.Duration(float64(t.RenewDeadline) * (0.05 + 0.9*r.Float64()))
		}
		t.ReleaseOnCancel = r.IntN(3) != 0
		if t.RetryPeriod >= time.Millisecond && t.requestTimeout() < t.RenewDeadline && t.accepted(kinds) {
			return t
		}
	}
}

// drawKinds gives the candidates' lock kinds: one kind for all, or a fleet
// in step 1 (endpoints + endpointsleases) or step 2 (endpointsleases +
// leases) of the migration in docs/migrating.md.
func drawKinds(r *rand.Rand, n int) []string {
	kinds := make([]string, n)
	var pick func(i int) string
	switch x := r.IntN(20); {
	case x < 12:
		pick = func(int) string { return rl.LeasesResourceLock }
	case x < 15:
		pick = func(int) string { return rl.EndpointsResourceLock }
	case x < 17:
		pick = func(int) string { return rl.ConfigMapsResourceLock }
	case x < 19:
		pick = func(i int) string { // step 1: the fleet moves to endpointsleases
			if i == 0 || (i > 1 && r.IntN(2) == 0) {
				return rl.EndpointsResourceLock
			}
			return rl.EndpointsLeasesResourceLock
		}
	default:
		pick = func(i int) string { // step 2: the fleet moves to leases
			if i == 0 || (i > 1 && r.IntN(2) == 0) {
				return rl.EndpointsLeasesResourceLock
			}
			return rl.LeasesResourceLock
		}
	}
	for i := range kinds {
		kinds[i] = pick(i)
	}
	return kinds
}

// upgraded is the kind a candidate of kind restarts with in a rolling
// upgrade of the migration, or kind when there is nothing to move to: in
// step 1 (some candidates still on endpoints) endpoints moves to
// endpointsleases; in step 2, endpointsleases moves to leases. A fleet
// never mixes endpoints-only and leases-only candidates: they would not see
// each other, which no migration step allows.
func upgraded(p Plan, kind string) string {
	step1 := false
	for _, c := range p.Candidates {
		step1 = step1 || c.Kind == rl.EndpointsResourceLock
	}
	switch {
	case kind == rl.EndpointsResourceLock:
		return rl.EndpointsLeasesResourceLock
	case kind == rl.EndpointsLeasesResourceLock && !step1:
		return rl.LeasesResourceLock
	}
	return kind
}

func migrating(p Plan) bool {
	for _, c := range p.Candidates {
		if c.Kind != p.Candidates[0].Kind {
			return true
		}
	}
	return p.Candidates[0].Kind == rl.EndpointsLeasesResourceLock
}

// drawFaults draws 1–8 faults over [0, Heal).
func drawFaults(r *rand.Rand, p Plan) []Fault {
	t := p.Timing
	rt := t.requestTimeout()
	n := len(p.Candidates)
	kinds := []FaultKind{Latency, SlowAnswer, ErrorCode, ErrorCode, LostAnswer, Hang, Partition, Partition,
		WatchEmpty, WatchGone, CloseWatches, Crash, Crash, Release, Release}
	single := !migrating(p)
	if single {
		kinds = append(kinds, DeleteLock, Garbage, Intruder)
	}
	var faults []Fault
	for range 1 + r.IntN(8) {
		f := Fault{Kind: kinds[r.IntN(len(kinds))], Target: -1}
		f.At = time.Duration(r.Int64N(int64(p.Heal)))
		f.For = min(time.Duration(float64(t.RetryPeriod)+r.Float64()*float64(3*t.LeaseDuration)), p.Heal-f.At)
		perCandidate := r.IntN(3) != 0
		if perCandidate {
			f.Target = r.IntN(n)
		}
		if r.IntN(2) == 0 {
			f.Prob = 0.2 + 0.8*r.Float64()
		}
		switch f.Kind {
		case Latency, SlowAnswer:
			f.Delay = time.Duration(r.Float64() * 1.5 * float64(rt))
			f.Verbs = []string{"", "read", "write"}[r.IntN(3)]
		case ErrorCode:
			f.Code = []int{409, 429, 500, 503, 504}[r.IntN(5)]
			if f.Code == 429 {
				f.Retry = 1 + r.IntN(3)
			}
			f.Verbs = []string{"", "", "read", "write", "watch"}[r.IntN(5)]
		case LostAnswer:
			f.Verbs = "write"
			f.Variant = []string{"hang", "error"}[r.IntN(2)]
		case Hang:
			f.Verbs = []string{"", "read", "write"}[r.IntN(3)]
		case Partition:
			f.Target = r.IntN(n)
			f.Prob = 0
			f.Variant = []string{"hang", "error"}[r.IntN(2)]
		case WatchEmpty, WatchGone:
			f.Verbs = "watch"
		case CloseWatches, DeleteLock, Garbage, Intruder:
			f.For = 0
			f.Target = -1
			switch f.Kind {
			case Garbage:
				vs := garbageVariants[p.Candidates[0].Kind]
				f.Variant = vs[r.IntN(len(vs))]
			case Intruder:
				if r.IntN(8) == 0 {
					f.Variant = "huge"
				}
			}
		case Crash, Release:
			f.Target = r.IntN(n)
			f.Prob = 0
			f.For = min(time.Duration(r.Float64()*float64(2*t.LeaseDuration)), p.Heal-f.At)
			if f.Kind == Release && r.IntN(3) == 0 {
				f.For = 0 // a new elector at once, while the old one winds down
			}
			if f.Kind == Crash && r.IntN(2) == 0 {
				if k := upgraded(p, p.Candidates[f.Target].Kind); k != p.Candidates[f.Target].Kind {
					f.Variant = k
				}
			}
		}
		if !requestFaults[f.Kind] {
			f.Prob = 0
		}
		faults = append(faults, f)
	}
	return faults
}
