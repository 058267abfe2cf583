package wrapper

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// monitor is the test's end of the connection each child keeps open for
// its whole life. The child connects and sends its id before it writes its
// start line; the kernel closes the connection when the child dies, however
// it dies. So the moment the monitor reads EOF is an upper bound of the
// child's death, by the test's own observation: a SIGKILLed child, which
// writes no stop line, cannot have run past it.
type monitor struct {
	path string
	ln   net.Listener

	mu   sync.Mutex
	kids map[string]*kid // by id
	all  []*kid          // in the order they connected
}

// kid is one child as the monitor saw it.
type kid struct {
	id, ident string
	pid       int
	hello     time.Time // when it connected
	started   bool      // it has written its start line
	end       time.Time // when its connection closed; zero while alive
}

func newMonitor(t *testing.T) *monitor {
	t.Helper()
	// A unix socket path is limited to ~108 bytes: t.TempDir can be longer.
	dir, err := os.MkdirTemp("", "kw")
	if err != nil {
		t.Fatal(err)
	}
	m := &monitor{path: filepath.Join(dir, "sock"), kids: map[string]*kid{}}
	if m.ln, err = net.Listen("unix", m.path); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		m.ln.Close()
		wg.Wait()
		os.RemoveAll(dir)
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := m.ln.Accept()
			if err != nil {
				return
			}
			go m.serve(conn)
		}
	}()
	return m
}

func (m *monitor) serve(conn net.Conn) {
	defer conn.Close()
	r := bufio.NewReader(conn)
	line, err := r.ReadString('\n')
	now := time.Now()
	if err != nil {
		return
	}
	id := strings.TrimSpace(line)
	ident, pidS, _ := strings.Cut(id, "/")
	pid, _ := strconv.Atoi(pidS)
	k := &kid{id: id, ident: ident, pid: pid, hello: now}
	m.mu.Lock()
	m.kids[id] = k
	m.all = append(m.all, k)
	m.mu.Unlock()
	if line, err := r.ReadString('\n'); err == nil && line == "started\n" {
		m.mu.Lock()
		k.started = true
		m.mu.Unlock()
	}
	_, _ = io.Copy(io.Discard, r) // the child never writes again: this is its death
	now = time.Now()
	m.mu.Lock()
	k.end = now
	m.mu.Unlock()
}

// live returns the children whose connection is open.
func (m *monitor) live() []kid {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []kid
	for _, k := range m.all {
		if k.end.IsZero() {
			out = append(out, *k)
		}
	}
	return out
}

// get returns the child id as seen now.
func (m *monitor) get(id string) (kid, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.kids[id]
	if !ok {
		return kid{}, false
	}
	return *k, true
}

// connectedAfter returns the children that connected after t.
func (m *monitor) connectedAfter(t time.Time) []kid {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []kid
	for _, k := range m.all {
		if k.hello.After(t) {
			out = append(out, *k)
		}
	}
	return out
}

// child is one run of the child CMD, from the events file and the monitor.
type child struct {
	id, ident   string
	term        int
	start       time.Time // its start line
	stop        time.Time // its stop line; zero when it was killed
	last        time.Time // its last line of any kind
	termIgnored int       // SIGTERMs it ignored (stubborn)
	orphaned    bool
	lockBusy    bool      // its flock found another live child holding the lock
	died        time.Time // when the monitor saw its connection close
	// end is the end of its interval: the stop line (it writes nothing
	// after it and exits at once) or, when killed, died.
	end time.Time
}

func (c *child) String() string {
	return fmt.Sprintf("%s(term %d)", c.id, c.term)
}

// parseEvents reads the children's lines; the result is in start order.
func parseEvents(text string) ([]*child, error) {
	byID := map[string]*child{}
	var all []*child
	for n, line := range strings.Split(strings.TrimSpace(text), "\n") {
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 3 {
			return nil, fmt.Errorf("line %d: %q: want <id> <event> <unixnano>", n+1, line)
		}
		ns, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: %q: %v", n+1, line, err)
		}
		at := time.Unix(0, ns)
		c := byID[f[0]]
		if f[1] == "start" {
			if c != nil {
				return nil, fmt.Errorf("line %d: %s started twice", n+1, f[0])
			}
			ident, _, _ := strings.Cut(f[0], "/")
			c = &child{id: f[0], ident: ident, start: at, term: -1}
			if len(f) > 3 {
				if v, ok := strings.CutPrefix(f[3], "term="); ok {
					c.term, _ = strconv.Atoi(v)
				}
			}
			byID[f[0]] = c
			all = append(all, c)
		} else if c == nil {
			return nil, fmt.Errorf("line %d: %q before the start of %s", n+1, line, f[0])
		}
		if !c.stop.IsZero() {
			return nil, fmt.Errorf("line %d: %q after the stop of %s", n+1, line, f[0])
		}
		c.last = at
		switch f[1] {
		case "start", "alive":
		case "stop":
			c.stop = at
		case "term-ignored":
			c.termIgnored++
		case "orphaned":
			c.orphaned = true
		case "lock-busy":
			c.lockBusy = true
		default:
			return nil, fmt.Errorf("line %d: unknown event %q", n+1, f[1])
		}
	}
	slices.SortFunc(all, func(a, b *child) int { return a.start.Compare(b.start) })
	return all, nil
}

// joinDeaths sets each child's death from the monitor and the end of its
// interval. Every child must have died.
func joinDeaths(children []*child, deaths map[string]time.Time) error {
	for _, c := range children {
		d, ok := deaths[c.id]
		if !ok || d.IsZero() {
			return fmt.Errorf("%s: the monitor never saw it die", c)
		}
		if d.Before(c.last) {
			return fmt.Errorf("%s: wrote a line at %v, after the monitor saw it die at %v", c, c.last, d)
		}
		c.died = d
		c.end = d
		if !c.stop.IsZero() {
			c.end = c.stop
		}
	}
	return nil
}

// overlaps returns, for children in start order, each start that came
// before the end of an earlier child's interval.
func overlaps(children []*child) []string {
	var out []string
	var prev *child // the earlier child that ended last
	for _, c := range children {
		if prev != nil && !c.start.After(prev.end) {
			out = append(out, fmt.Sprintf("%s started at %s, %v before %s ended at %s",
				c, stamp(c.start), prev.end.Sub(c.start), prev, stamp(prev.end)))
		}
		if prev == nil || c.end.After(prev.end) {
			prev = c
		}
	}
	return out
}

func stamp(t time.Time) string { return t.Format("15:04:05.000000") }

// TestOverlapCheck shows that the check can fail: it finds two children
// that ran at once, whether the earlier one stopped or was killed (its
// interval then runs to its observed death, not to its last line).
func TestOverlapCheck(t *testing.T) {
	base := time.Unix(1000, 0)
	ns := func(d time.Duration) string { return strconv.FormatInt(base.Add(d).UnixNano(), 10) }
	ms := time.Millisecond
	text := strings.Join([]string{
		"a/1 start " + ns(0) + " term=1",
		"a/1 alive " + ns(50*ms),
		"a/1 stop " + ns(100*ms),
		"b/2 start " + ns(101*ms) + " term=2", // after a's stop: fine
		"b/2 alive " + ns(150*ms),
		// b is SIGKILLed after its last alive line; the monitor sees it die at 300ms.
		"c/3 start " + ns(250*ms) + " term=3", // before b's death: overlap
		"c/3 term-ignored " + ns(300*ms),
		"a/4 start " + ns(320*ms) + " term=4", // while c runs on: overlap
		"a/4 stop " + ns(330*ms),
	}, "\n")
	children, err := parseEvents(text)
	if err != nil {
		t.Fatal(err)
	}
	deaths := map[string]time.Time{"a/1": base.Add(101 * ms), "b/2": base.Add(300 * ms),
		"c/3": base.Add(400 * ms), "a/4": base.Add(331 * ms)}
	if err := joinDeaths(children, deaths); err != nil {
		t.Fatal(err)
	}
	got := overlaps(children)
	if len(got) != 2 || !strings.HasPrefix(got[0], "c/3(term 3) started") || !strings.HasPrefix(got[1], "a/4(term 4) started") {
		t.Errorf("overlaps = %q, want c/3 overlapping b/2, then a/4 overlapping c/3", got)
	}
	if children[2].termIgnored != 1 || !children[1].stop.IsZero() || children[1].end != base.Add(300*ms) {
		t.Errorf("parsed %+v", children)
	}

	// Without overlap the check is quiet.
	deaths["b/2"] = base.Add(240 * ms)
	deaths["c/3"] = base.Add(310 * ms)
	if err := joinDeaths(children, deaths); err != nil {
		t.Fatal(err)
	}
	if got := overlaps(children); len(got) != 0 {
		t.Errorf("overlaps = %q, want none", got)
	}

	// A line after the observed death, or after a stop, is refused.
	deaths["b/2"] = base.Add(140 * ms)
	if err := joinDeaths(children, deaths); err == nil {
		t.Error("joinDeaths accepted a line after the death")
	}
	if _, err := parseEvents("a/1 start " + ns(0) + "\na/1 stop " + ns(1) + "\na/1 alive " + ns(2)); err == nil {
		t.Error("parseEvents accepted a line after the stop")
	}
}
