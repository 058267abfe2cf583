package kubeconfigtest

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/kubelect/kubelect/k8sapi"
)

// certUser and certGroup are the identity of the client certificates of
// TestClientCertificate; the Role "elector" is bound to certUser.
const (
	certUser  = "kubeconfigtest-cert-user"
	certGroup = "kubeconfigtest:cert-group"
)

// A client certificate signed by the cluster's client CA, as files named
// relative to the kubeconfig and as -data: the server takes the client
// for the certificate's common name, in its organization as a group, and
// the RoleBinding to that user name allows the lease operations.
func TestClientCertificate(t *testing.T) {
	need(t)
	if err := bindElectorRole(context.Background(), "User", certUser); err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := cluster.ClientCertificate(certUser, certGroup)
	if err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T, cfg *k8sapi.Config, lease string) {
		c := newClient(t, cfg)
		ui := mustBe(t, c, certUser)
		for _, g := range []string{certGroup, "system:authenticated"} {
			if !slices.Contains(ui.Groups, g) {
				t.Errorf("groups %v, want %s among them", ui.Groups, g)
			}
		}
		leaseRoundTrip(t, c, lease)
	}
	t.Run("files", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, dir, "client.crt", certPEM)
		writeFile(t, dir, "client.key", keyPEM)
		path := writeKubeconfig(t, dir, "config", singleContext("cert-files", realCluster(),
			userSection{ClientCertificate: "client.crt", ClientKey: "client.key"}, ""))
		t.Chdir(t.TempDir()) // relative to the kubeconfig's folder, not the working directory
		cfg := loadPath(t, path)
		check(t, cfg, "kubeconfigtest-cert-files")
	})
	t.Run("data", func(t *testing.T) {
		ca, err := os.ReadFile(cluster.CAFile)
		if err != nil {
			t.Fatal(err)
		}
		cfg := load(t, singleContext("cert-data", clusterSection{Server: cluster.Host, CertificateAuthorityData: ca},
			userSection{ClientCertificateData: certPEM, ClientKeyData: keyPEM}, ""))
		check(t, cfg, "kubeconfigtest-cert-data")
	})
	// The control: a certificate of the same CA for a user without the
	// RoleBinding is authenticated, as itself, and then forbidden.
	t.Run("unbound user", func(t *testing.T) {
		const other = "kubeconfigtest-unbound-user"
		certPEM, keyPEM, err := cluster.ClientCertificate(other)
		if err != nil {
			t.Fatal(err)
		}
		c := newClient(t, load(t, singleContext("cert-other", realCluster(),
			userSection{ClientCertificateData: certPEM, ClientKeyData: keyPEM}, "")))
		mustBe(t, c, other)
		_, err = c.Get(context.Background(), k8sapi.Leases, cluster.Namespace, "kubeconfigtest-cert-files")
		if !k8sapi.IsForbidden(err) {
			t.Fatalf("get a Lease as %s: %v, want Forbidden", other, err)
		}
	})
}

// tls-server-name: the server is reached as https://127.0.0.1:PORT, and
// the certificate is checked for the name tls-server-name gives, which is
// also sent as the TLS server name (SNI).
func TestTLSServerName(t *testing.T) {
	need(t)
	sans := servingDNSNames(t)
	const san = "kubernetes.default.svc"
	if !slices.Contains(sans, san) {
		t.Fatalf("the serving certificate names %v, not %s", sans, san)
	}
	const absent = "not-in-the-certificate.kubelect.test"
	if slices.Contains(sans, absent) {
		t.Fatalf("the serving certificate names %s", absent)
	}
	token := newSAToken(t)
	get := func(t *testing.T, cl clusterSection) error {
		c := newClient(t, load(t, singleContext("tls", cl, userSection{Token: token}, "")))
		ui, err := whoami(context.Background(), c)
		if err == nil && ui.Username != saUser(cluster.ServiceAccount) {
			t.Fatalf("the server takes the client for %q", ui.Username)
		}
		return err
	}

	t.Run("a name of the certificate", func(t *testing.T) {
		cl := realCluster()
		cl.TLSServerName = san
		if err := get(t, cl); err != nil {
			t.Fatalf("tls-server-name %s: %v", san, err)
		}
	})
	t.Run("a name not in the certificate", func(t *testing.T) {
		cl := realCluster()
		cl.TLSServerName = absent
		err := get(t, cl)
		var he x509.HostnameError
		if !errors.As(err, &he) {
			t.Fatalf("tls-server-name %s: %v, want an x509.HostnameError", absent, err)
		}
		if he.Host != absent || !strings.Contains(err.Error(), absent) {
			t.Fatalf("the error is about %q, not %s: %v", he.Host, absent, err)
		}
	})
	// kube-apiserver serves another certificate, of another CA, to a
	// client that asks for sniName: the name is sent, and checked.
	t.Run("a name the server has its own certificate for", func(t *testing.T) {
		cl := clusterSection{Server: cluster.Host, CertificateAuthority: sniCAFile, TLSServerName: sniName}
		if err := get(t, cl); err != nil {
			t.Fatalf("tls-server-name %s with its CA: %v", sniName, err)
		}
		cl.TLSServerName = ""
		err := get(t, cl)
		var ua x509.UnknownAuthorityError
		if !errors.As(err, &ua) {
			t.Fatalf("without tls-server-name, the default certificate and the CA of %s's: %v, want x509.UnknownAuthorityError", sniName, err)
		}
	})
}

// servingDNSNames are the DNS names of kube-apiserver's default serving
// certificate (the first of the harness's CAFile).
func servingDNSNames(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(cluster.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("no PEM in %s", cluster.CAFile)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("serving certificate: DNS names %v, IP addresses %v", cert.DNSNames, cert.IPAddresses)
	return cert.DNSNames
}
