package harness

import (
	"path/filepath"
	"testing"
)

func TestAPIServerPath(t *testing.T) {
	for _, tc := range []struct {
		version, want string
	}{
		{"", "bin/kube-apiserver"},
		{DefaultAPIServer, "bin/kube-apiserver"},
		{"v1.37.2", "bin/kube-apiserver"},
		{"v1.34", "bin/v1.34/kube-apiserver"},
		{"v1.34.12", "bin/v1.34/kube-apiserver"},
	} {
		got, err := apiServerPath("bin", tc.version)
		if err != nil || got != filepath.FromSlash(tc.want) {
			t.Errorf("apiServerPath(%q) = %q, %v; want %q", tc.version, got, err, tc.want)
		}
	}
	for _, bad := range []string{"1.34", "v1", "v2.0", "v1.x", "v1.34.1.2", "../v1.34"} {
		if got, err := apiServerPath("bin", bad); err == nil {
			t.Errorf("apiServerPath(%q) = %q, want an error", bad, got)
		}
	}
}

func TestAPIServerVersion(t *testing.T) {
	t.Setenv("KUBELECT_APISERVER", "")
	if got := APIServerVersion(); got != DefaultAPIServer {
		t.Errorf("APIServerVersion() = %q with KUBELECT_APISERVER empty, want %q", got, DefaultAPIServer)
	}
	t.Setenv("KUBELECT_APISERVER", "v1.34")
	if got := APIServerVersion(); got != "v1.34" {
		t.Errorf("APIServerVersion() = %q, want v1.34", got)
	}
}
