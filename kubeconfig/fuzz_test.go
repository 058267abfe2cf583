package kubeconfig

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoad feeds arbitrary files to the parser and the config builder:
// no panic, and no error shows a token, password or key of the file.
func FuzzLoad(f *testing.F) {
	for _, dir := range []string{"testdata/kubectl", "testdata/clouds"} {
		paths, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Add([]byte(base))
	f.Fuzz(func(t *testing.T, b []byte) {
		path := "/kubelect-fuzz/config" // files it names do not exist
		kc, err := parseFile(path, b)
		if err != nil {
			return
		}
		var secrets []string
		for _, u := range kc.Users {
			for _, s := range []string{u.User.Token, u.User.Password, u.User.ClientKeyData} {
				// A secret that the file also uses elsewhere (as a name) may
				// show in an error as that.
				if len(s) >= 8 && strings.Count(string(b), s) == 1 {
					secrets = append(secrets, s)
				}
			}
		}
		m := merge([]string{path}, []*file{kc})
		names := []string{""}
		for n := range m.contexts {
			names = append(names, n)
		}
		for _, n := range names {
			_, err := m.config(Options{Context: n})
			if err == nil {
				continue
			}
			for _, s := range secrets {
				if strings.Contains(err.Error(), s) {
					t.Fatalf("error shows a secret of the file: %v", err)
				}
			}
		}
	})
}

// FuzzExecOutput feeds arbitrary plugin output to its decoder: no panic,
// and no error shows the token the output holds.
func FuzzExecOutput(f *testing.F) {
	f.Add([]byte(`{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"a-token-value","expirationTimestamp":"2030-01-01T00:00:00Z"}}`))
	f.Add([]byte(`{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{"token":"a-token-value"}}`))
	f.Add([]byte(`{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"clientCertificateData":"x","clientKeyData":"y"}}`))
	p := &execPlugin{apiVersion: execAPIv1}
	f.Fuzz(func(t *testing.T, b []byte) {
		var out execOutput
		var token string
		var probe struct {
			Status struct {
				Token string `json:"token"`
			} `json:"status"`
		}
		if json.Unmarshal(b, &probe) == nil {
			token = probe.Status.Token
		}
		if err := json.Unmarshal(b, &out); err != nil {
			if len(token) >= 8 && strings.Contains(err.Error(), token) {
				t.Fatalf("decode error shows the token: %v", err)
			}
			return
		}
		_, err := p.decode(&out)
		if err != nil && len(token) >= 8 && strings.Contains(err.Error(), token) {
			t.Fatalf("error shows the token: %v", err)
		}
	})
}
