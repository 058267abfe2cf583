package k8sapi

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseWarnings(t *testing.T) {
	tests := []struct {
		values []string
		want   []string
	}{
		{[]string{`299 - "v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice"`},
			[]string{"v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice"}},
		{[]string{`299 - "a", 299 - "b"`, `299 kube-apiserver "c"`}, []string{"a", "b", "c"}},
		{[]string{`299 - "with \"quotes\" and \\ backslash"`}, []string{`with "quotes" and \ backslash`}},
		{[]string{`299 - "dated" "Sat, 25 Aug 2012 23:34:45 GMT", 299 - "next"`}, []string{"dated", "next"}},
		{[]string{`199 - "not persistent"`, `214 proxy "transformed"`}, nil},
		{[]string{`299 - "a, with comma"`}, []string{"a, with comma"}},
		{[]string{`299 - unquoted`, `29 - "x"`, `299 - "unterminated`, ``, `299`, `299 -`}, nil},
		{[]string{`299 - "good", garbage`}, []string{"good"}},
		{[]string{`299 - ""`}, nil},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, parseWarnings(tt.values)); diff != "" {
			t.Errorf("parseWarnings(%q) (-want +got):\n%s", tt.values, diff)
		}
	}
}

func TestWarningSetIsBounded(t *testing.T) {
	var got []string
	w := newWarnings(func(s string) { got = append(got, s) }, nil)
	for i := 0; i < maxWarnings+10; i++ {
		w.firstTime(string(rune('a'+i%26)) + string(rune(i)))
	}
	if len(w.seen) != maxWarnings || len(w.order) != maxWarnings {
		t.Errorf("set holds %d/%d, want %d", len(w.seen), len(w.order), maxWarnings)
	}
}
