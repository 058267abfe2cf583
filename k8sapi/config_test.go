package k8sapi_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubelect/kubelect/k8sapi"
)

// selfSigned returns a self-signed certificate and its key, PEM encoded.
func selfSigned(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"},
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<33, 0),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// serviceAccountDir makes a directory like a pod's service-account mount.
func serviceAccountDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	ca, _ := selfSigned(t)
	writeFile(t, filepath.Join(dir, "token"), testToken+"\n")
	writeFile(t, filepath.Join(dir, "ca.crt"), string(ca))
	writeFile(t, filepath.Join(dir, "namespace"), "kube-system")
	return dir
}

func TestInClusterConfig(t *testing.T) {
	dir := serviceAccountDir(t)
	t.Setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
	t.Setenv("KUBERNETES_SERVICE_PORT", "443")
	cfg, err := k8sapi.InClusterConfigFromDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := k8sapi.Config{
		Host: "https://10.96.0.1:443", BearerTokenFile: filepath.Join(dir, "token"),
		CAFile: filepath.Join(dir, "ca.crt"), Namespace: "kube-system",
	}
	if cfg.Host != want.Host || cfg.BearerTokenFile != want.BearerTokenFile || cfg.CAFile != want.CAFile ||
		cfg.Namespace != want.Namespace || cfg.BearerToken != "" {
		t.Errorf("config = %+v\nwant %+v", *cfg, want)
	}
	if _, err := k8sapi.New(*cfg); err != nil {
		t.Errorf("New(in-cluster config): %v", err)
	}

	t.Setenv("KUBERNETES_SERVICE_HOST", "fd00:10:96::1")
	cfg, err = k8sapi.InClusterConfigFromDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != "https://[fd00:10:96::1]:443" {
		t.Errorf("IPv6 Host = %q", cfg.Host)
	}
	if _, err := k8sapi.New(*cfg); err != nil {
		t.Errorf("New(IPv6 config): %v", err)
	}
}

func TestInClusterConfigNamesWhatIsMissing(t *testing.T) {
	tests := []struct {
		name      string
		host      string
		port      string
		remove    string // file to remove from the directory
		empty     string // file to empty
		wantInErr string
		notExist  bool
		notInPod  bool
	}{
		{name: "no host", port: "443", wantInErr: "KUBERNETES_SERVICE_HOST", notInPod: true},
		{name: "no port", host: "10.0.0.1", wantInErr: "KUBERNETES_SERVICE_PORT", notInPod: true},
		{name: "no token", host: "h", port: "1", remove: "token", wantInErr: "token", notExist: true},
		{name: "no CA", host: "h", port: "1", remove: "ca.crt", wantInErr: "ca.crt", notExist: true},
		{name: "no namespace", host: "h", port: "1", remove: "namespace", wantInErr: "namespace", notExist: true},
		{name: "empty token", host: "h", port: "1", empty: "token", wantInErr: "token is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := serviceAccountDir(t)
			t.Setenv("KUBERNETES_SERVICE_HOST", tt.host)
			t.Setenv("KUBERNETES_SERVICE_PORT", tt.port)
			if tt.remove != "" {
				os.Remove(filepath.Join(dir, tt.remove))
			}
			if tt.empty != "" {
				writeFile(t, filepath.Join(dir, tt.empty), " \n")
			}
			_, err := k8sapi.InClusterConfigFromDir(dir)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.wantInErr) {
				t.Errorf("error %q does not name %q", err, tt.wantInErr)
			}
			if got := errors.Is(err, fs.ErrNotExist); got != tt.notExist {
				t.Errorf("errors.Is(err, fs.ErrNotExist) = %v", got)
			}
			if got := errors.Is(err, k8sapi.ErrNotInCluster); got != tt.notInPod {
				t.Errorf("errors.Is(err, ErrNotInCluster) = %v", got)
			}
		})
	}
	t.Run("neither variable", func(t *testing.T) {
		t.Setenv("KUBERNETES_SERVICE_HOST", "")
		t.Setenv("KUBERNETES_SERVICE_PORT", "")
		_, err := k8sapi.InClusterConfig()
		if err == nil || !strings.Contains(err.Error(), "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT") {
			t.Errorf("error = %v", err)
		}
	})
}

func TestNewValidates(t *testing.T) {
	ca, key := selfSigned(t)
	dir := t.TempDir()
	badCA := filepath.Join(dir, "bad.crt")
	writeFile(t, badCA, "not a certificate")
	tests := []struct {
		name      string
		cfg       k8sapi.Config
		wantInErr string // "" means New must succeed
	}{
		{"https", k8sapi.Config{Host: "https://10.0.0.1:6443"}, ""},
		{"path prefix", k8sapi.Config{Host: "https://proxy.example/k8s/"}, ""},
		{"http loopback v4", k8sapi.Config{Host: "http://127.0.0.1:8080", BearerToken: "t"}, ""},
		{"http loopback v6", k8sapi.Config{Host: "http://[::1]:8080"}, ""},
		{"http localhost", k8sapi.Config{Host: "http://localhost:8080"}, ""},
		{"http remote refused", k8sapi.Config{Host: "http://10.0.0.1:8080"}, "plain http"},
		{"http remote refused with transport", k8sapi.Config{Host: "http://api.example", Transport: failingTransport{}}, "plain http"},
		{"http remote allowed", k8sapi.Config{Host: "http://10.0.0.1:8080", AllowInsecureHTTP: true}, ""},
		{"empty host", k8sapi.Config{}, "Host is empty"},
		{"no scheme", k8sapi.Config{Host: "10.0.0.1:443"}, "Host"},
		{"ftp", k8sapi.Config{Host: "ftp://h"}, "scheme"},
		{"unparsable", k8sapi.Config{Host: "https://h:x/"}, "Host"},
		{"port out of range", k8sapi.Config{Host: "https://h:70000"}, "bad port"},
		{"user info", k8sapi.Config{Host: "https://u:p@h"}, "user info"},
		{"query", k8sapi.Config{Host: "https://h/?a=b"}, "query"},
		{"CA data", k8sapi.Config{Host: "https://h", CAData: ca}, ""},
		{"bad CA data", k8sapi.Config{Host: "https://h", CAData: []byte("junk")}, "CAData"},
		{"bad CA file", k8sapi.Config{Host: "https://h", CAFile: badCA}, "bad.crt"},
		{"missing CA file", k8sapi.Config{Host: "https://h", CAFile: filepath.Join(dir, "none")}, "none"},
		{"client cert", k8sapi.Config{Host: "https://h", CertData: ca, KeyData: key}, ""},
		{"cert without key", k8sapi.Config{Host: "https://h", CertData: ca}, "without a key"},
		{"key without cert", k8sapi.Config{Host: "https://h", KeyData: key}, "without a certificate"},
		{"mismatched pair", k8sapi.Config{Host: "https://h", CertData: ca, KeyData: ca}, "client certificate"},
		{"missing token file", k8sapi.Config{Host: "https://h", BearerTokenFile: filepath.Join(dir, "tok")}, "tok"},
		{"missing token file, fixed token", k8sapi.Config{Host: "https://h", BearerToken: "t", BearerTokenFile: filepath.Join(dir, "tok")}, ""},
		{"negative timeout", k8sapi.Config{Host: "https://h", Timeout: -1}, "Timeout"},
		{"negative cap", k8sapi.Config{Host: "https://h", MaxResponseBytes: -1}, "MaxResponseBytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := k8sapi.New(tt.cfg)
			switch {
			case tt.wantInErr == "" && err != nil:
				t.Errorf("New: %v", err)
			case tt.wantInErr != "" && err == nil:
				t.Errorf("New succeeded, want error naming %q", tt.wantInErr)
			case err != nil && !strings.Contains(err.Error(), tt.wantInErr):
				t.Errorf("error %q does not name %q", err, tt.wantInErr)
			case err != nil && !strings.HasPrefix(err.Error(), "k8sapi: "):
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}
