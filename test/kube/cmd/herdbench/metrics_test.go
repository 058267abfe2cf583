package main

import (
	"math"
	"testing"
	"time"
)

const metricsText = `# HELP apiserver_request_total [STABLE] Counter of apiserver requests
# TYPE apiserver_request_total counter
apiserver_request_total{code="200",component="apiserver",dry_run="",group="coordination.k8s.io",resource="leases",scope="resource",subresource="",verb="GET",version="v1"} 12
apiserver_request_total{code="200",component="apiserver",dry_run="",group="coordination.k8s.io",resource="leases",scope="resource",subresource="",verb="PUT",version="v1"} 40
apiserver_request_total{code="409",component="apiserver",dry_run="",group="coordination.k8s.io",resource="leases",scope="resource",subresource="",verb="PUT",version="v1"} 7
apiserver_request_total{code="201",component="apiserver",dry_run="",group="coordination.k8s.io",resource="leases",scope="resource",subresource="",verb="POST",version="v1"} 1
apiserver_request_total{code="200",component="apiserver",dry_run="",group="coordination.k8s.io",resource="leases",scope="namespace",subresource="",verb="WATCH",version="v1"} 3
apiserver_request_total{code="200",component="apiserver",dry_run="",group="coordination.k8s.io",resource="leases",scope="namespace",subresource="",verb="LIST",version="v1"} 2
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="pods",scope="resource",subresource="",verb="GET",version="v1"} 99
apiserver_request_total{code="200",component="apiserver",dry_run="",group="coordination.k8s.io",resource="leases",scope="resource",subresource="status",verb="GET",version="v1"} 1000
apiserver_longrunning_requests{component="apiserver",group="coordination.k8s.io",resource="leases",scope="namespace",subresource="",verb="WATCH",version="v1"} 9
apiserver_longrunning_requests{component="apiserver",group="",resource="pods",scope="namespace",subresource="",verb="WATCH",version="v1"} 4
apiserver_request_duration_seconds_bucket{component="apiserver",resource="leases",verb="PUT",le="0.005"} 5
`

func TestParseLeaseMetrics(t *testing.T) {
	m := parseLeaseMetrics(metricsText)
	want := counts{{"GET", "200"}: 12, {"PUT", "200"}: 40, {"PUT", "409"}: 7, {"POST", "201"}: 1, {"WATCH", "200"}: 3, {"LIST", "200"}: 2}
	if len(m.requests) != len(want) {
		t.Fatalf("requests = %v, want %v", m.requests, want)
	}
	for k, v := range want {
		if m.requests[k] != v {
			t.Errorf("%v = %v, want %v", k, m.requests[k], v)
		}
	}
	if m.watches != 9 {
		t.Errorf("watches = %v, want 9", m.watches)
	}
	if w, c, r := m.requests.writes(), m.requests.conflicts(), m.requests.reads(); w != 48 || c != 7 || r != 14 {
		t.Errorf("writes, conflicts, reads = %v, %v, %v; want 48, 7, 14", w, c, r)
	}
}

func TestParseSample(t *testing.T) {
	for _, tc := range []struct {
		line   string
		ok     bool
		name   string
		labels map[string]string
		value  float64
	}{
		{`up 1`, true, "up", map[string]string{}, 1},
		{`x{a="b"} 2.5e3 1700000000000`, true, "x", map[string]string{"a": "b"}, 2500},
		{`x{a="q\"u,o}te",b="\\"} 3`, true, "x", map[string]string{"a": `q"u,o}te`, "b": `\`}, 3},
		{`x{a="b",} 4`, true, "x", map[string]string{"a": "b"}, 4},
		{`x{} +Inf`, true, "x", map[string]string{}, math.Inf(1)},
		{`# HELP x y`, false, "", nil, 0},
		{``, false, "", nil, 0},
		{`x{a="b"`, false, "", nil, 0},
		{`x{a=b} 1`, false, "", nil, 0},
		{`x{a="b"} notanumber`, false, "", nil, 0},
	} {
		s, ok := parseSample(tc.line)
		if ok != tc.ok {
			t.Errorf("%q: ok = %v", tc.line, ok)
			continue
		}
		if !ok {
			continue
		}
		if s.name != tc.name || s.value != tc.value || len(s.labels) != len(tc.labels) {
			t.Errorf("%q: got %+v", tc.line, s)
			continue
		}
		for k, v := range tc.labels {
			if s.labels[k] != v {
				t.Errorf("%q: label %s = %q, want %q", tc.line, k, s.labels[k], v)
			}
		}
	}
}

func TestDeltaLess(t *testing.T) {
	before := counts{{"PUT", "200"}: 10, {"GET", "200"}: 5}
	after := counts{{"PUT", "200"}: 16, {"GET", "200"}: 5, {"PUT", "409"}: 3}
	d := delta(before, after)
	if len(d) != 2 || d[key{"PUT", "200"}] != 6 || d[key{"PUT", "409"}] != 3 {
		t.Fatalf("delta = %v", d)
	}
	// The server's own: 0.1 PUT/s over 20 s is 2; a series never goes negative.
	own := counts{{"PUT", "200"}: 0.1, {"PUT", "409"}: 1}
	l := d.less(own, 20)
	if len(l) != 1 || l[key{"PUT", "200"}] != 4 {
		t.Fatalf("less = %v", l)
	}
	if r := d.perSecond(2); r[key{"PUT", "200"}] != 3 {
		t.Fatalf("perSecond = %v", r)
	}
	if s := d.add(own); s[key{"PUT", "409"}] != 4 || s.total() != 10.1 {
		t.Fatalf("add = %v", s)
	}
}

func TestParseStatCPU(t *testing.T) {
	// A comm with spaces and parentheses; utime 250 and stime 50 ticks.
	stat := "4242 (kube (api) server) S 1 4242 4242 0 -1 4194560 90000 0 12 0 250 50 0 0 20 0 17 0 3000 1500000000 30000 18446744073709551615 1 1 0 0 0 0 0 0 2143420159 0 0 0 17 1 0 0 0 0 0"
	d, err := parseStatCPU(stat)
	if err != nil || d != 3*time.Second {
		t.Fatalf("parseStatCPU = %v, %v; want 3s", d, err)
	}
	if _, err := parseStatCPU("1 (x) S 1 2"); err == nil {
		t.Fatal("short stat: no error")
	}
}

func TestParseTCPLine(t *testing.T) {
	line := "   3: 0100007F:A1B2 0100007F:1F90 01 00000000:00000000 02:000A2B1C 00000000     0        0 123456 2 0000000000000000 20 4 30 10 -1"
	port, st, ino, ok := parseTCPLine(line)
	if !ok || port != 8080 || st != 1 || ino != "123456" {
		t.Fatalf("got %d %d %q %v", port, st, ino, ok)
	}
	if _, _, _, ok := parseTCPLine("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode"); ok {
		t.Fatal("header parsed")
	}
	line6 := "   0: 00000000000000000000000001000000:C350 00000000000000000000000001000000:01BB 01 00000000:00000000 00:00000000 00000000  1000        0 777 1 0000000000000000 20 4 0 10 -1"
	if port, _, ino, ok := parseTCPLine(line6); !ok || port != 443 || ino != "777" {
		t.Fatalf("tcp6: %d %q %v", port, ino, ok)
	}
}

func TestFlagValue(t *testing.T) {
	args := []string{"/bin/kube-apiserver", "--etcd-servers=http://127.0.0.1:2379", "--v=1"}
	if v := flagValue(args, "etcd-servers"); v != "http://127.0.0.1:2379" {
		t.Fatalf("got %q", v)
	}
	if v := flagValue(args, "etcd"); v != "" {
		t.Fatalf("prefix matched: %q", v)
	}
}
