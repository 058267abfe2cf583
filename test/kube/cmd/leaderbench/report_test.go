package main

import (
	"encoding/xml"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ds := make([]time.Duration, 30)
	for i := range ds {
		ds[i] = time.Duration(30-i) * time.Millisecond // unsorted on purpose
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{0.5, 15 * time.Millisecond}, {0.95, 29 * time.Millisecond}, {0.99, 30 * time.Millisecond}, {1, 30 * time.Millisecond}} {
		if got := percentile(ds, tc.p); got != tc.want {
			t.Errorf("percentile(1..30 ms, %v) = %v, want %v", tc.p, got, tc.want)
		}
	}
	if got := percentile(nil, 0.5); got != 0 {
		t.Errorf("percentile(nil) = %v, want 0", got)
	}
}

// The chart is well-formed SVG with a dot per trial; LEADERBENCH_SVG
// names a file to write it to, to look at.
func TestChart(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var ds []time.Duration
		for _, n := range v {
			ds = append(ds, time.Duration(n)*time.Millisecond)
		}
		return ds
	}
	rs := []*result{
		{name: "kubelect", handover: ms(8, 9, 17), failover: ms(4010, 4018, 4029)},
		{name: "client-go v0.37.2", handover: ms(52, 288, 912), failover: ms(3977, 4570, 5289)},
	}
	svg := chart(rs, 4*time.Second)
	dec := xml.NewDecoder(strings.NewReader(svg))
	for {
		if _, err := dec.Token(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("chart is not well-formed XML: %v", err)
		}
	}
	if got := strings.Count(svg, "<circle"); got != 12 {
		t.Errorf("%d dots, want 12 (one per trial)", got)
	}
	if !strings.Contains(svg, "goal 50 ms") || !strings.Contains(svg, "goal 4100 ms") {
		t.Error("chart lacks the goal lines")
	}
	if f := os.Getenv("LEADERBENCH_SVG"); f != "" {
		if err := os.WriteFile(f, []byte(svg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
