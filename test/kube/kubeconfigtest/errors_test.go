package kubeconfigtest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/kubelect/kubelect/k8sapi"
)

// A CA that did not sign the server's certificate: the request fails with
// the x509 error, which says so.
func TestErrorWrongCA(t *testing.T) {
	need(t)
	for name, cl := range map[string]clusterSection{
		"certificate-authority":      {Server: cluster.Host, CertificateAuthority: sniCAFile},
		"certificate-authority-data": {Server: cluster.Host, CertificateAuthorityData: newCA(t)},
	} {
		t.Run(name, func(t *testing.T) {
			c := newClient(t, load(t, singleContext("wrong-ca", cl, userSection{Token: newSAToken(t)}, "")))
			_, err := c.Get(context.Background(), k8sapi.Leases, cluster.Namespace, "kubeconfigtest-wrong-ca")
			var ua x509.UnknownAuthorityError
			if !errors.As(err, &ua) {
				t.Fatalf("%v, want an x509.UnknownAuthorityError", err)
			}
			if !strings.Contains(err.Error(), "certificate signed by unknown authority") {
				t.Fatalf("the error does not say the certificate's authority is unknown: %v", err)
			}
		})
	}
}

// Tokens the server refuses: the 401 is a *k8sapi.StatusError that
// k8sapi.IsUnauthorized recognizes, and its text does not show the token.
func TestErrorUnauthorizedToken(t *testing.T) {
	need(t)
	revoked, revoke := secretBoundToken(t)
	revoke() // never used: no cached authentication lets it through
	for name, tc := range map[string]struct {
		token string
		file  bool
	}{
		"unknown token":                  {token: bogusToken()},
		"revoked ServiceAccount token":   {token: revoked},
		"unknown token from a tokenFile": {token: bogusToken(), file: true},
	} {
		t.Run(name, func(t *testing.T) {
			u := userSection{Token: tc.token}
			if tc.file {
				u = userSection{TokenFile: writeFile(t, t.TempDir(), "token", []byte(tc.token))}
			}
			c := newClient(t, load(t, singleContext("refused", realCluster(), u, "")))
			_, err := c.Get(context.Background(), k8sapi.Leases, cluster.Namespace, "kubeconfigtest-unauthorized")
			checkUnauthorized(t, err, tc.token)
		})
	}
}

// A client certificate of a CA that kube-apiserver does not trust
// authenticates nobody: the server takes the client for system:anonymous,
// which may not read the Lease.
func TestErrorUntrustedClientCertificate(t *testing.T) {
	need(t)
	certPEM, keyPEM := selfSignedClient(t, certUser)
	c := newClient(t, load(t, singleContext("untrusted-cert", realCluster(),
		userSection{ClientCertificateData: certPEM, ClientKeyData: keyPEM}, "")))
	_, err := c.Get(context.Background(), k8sapi.Leases, cluster.Namespace, "kubeconfigtest-cert-files")
	if !k8sapi.IsForbidden(err) || !strings.Contains(err.Error(), `"system:anonymous"`) {
		t.Fatalf("%v, want 403 Forbidden for system:anonymous", err)
	}
}

// An exec plugin whose every token the server refuses: it runs once more
// after the 401, then the 401 is the error, without the token.
func TestErrorExecPluginRefused(t *testing.T) {
	need(t)
	log := newPluginLog(t)
	token := bogusToken()
	bad := writeFile(t, t.TempDir(), "bad", []byte(token))
	c := newClient(t, load(t, singleContext("refused", realCluster(), execUser(execV1, log, "-token", bad), "")))
	_, err := c.Get(context.Background(), k8sapi.Leases, cluster.Namespace, "kubeconfigtest-exec-unauthorized")
	checkUnauthorized(t, err, token)
	log.wantRuns(t, 2, "after a request refused twice")
}

// checkUnauthorized fails the test unless err is a 401 that does not
// show token.
func checkUnauthorized(t *testing.T, err error, token string) {
	t.Helper()
	if !k8sapi.IsUnauthorized(err) {
		t.Fatalf("%v, want 401 Unauthorized", err)
	}
	var se *k8sapi.StatusError
	if !errors.As(err, &se) || se.Code != 401 {
		t.Fatalf("%v: want a *k8sapi.StatusError with code 401", err)
	}
	if token != "" && strings.Contains(err.Error(), token) {
		t.Fatalf("the error shows the token: %v", err)
	}
}

// newCA is the PEM certificate of a new CA that signed nothing.
func newCA(t *testing.T) []byte {
	t.Helper()
	certPEM, _ := newCert(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: "kubeconfigtest-unrelated-ca"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign,
	})
	return certPEM
}

// selfSignedClient is a self-signed client certificate and key for user.
func selfSignedClient(t *testing.T, user string) (certPEM, keyPEM []byte) {
	t.Helper()
	return newCert(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: user}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
}

// newCert self-signs tmpl with a new key, valid for a day.
func newCert(t *testing.T, tmpl *x509.Certificate) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
}
