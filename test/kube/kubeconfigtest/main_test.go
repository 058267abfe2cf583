package kubeconfigtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/kubelect/kubelect/test/kube/harness"
)

// sniName is a name that kube-apiserver serves its own certificate for
// (--tls-sni-cert-key), signed by sniCAFile rather than by the CA of its
// default serving certificate.
const sniName = "kubelect-sni.test"

var (
	// cluster is shared by the tests of this package; nil when the tier
	// is off.
	cluster *harness.Cluster
	// pluginPath is the built testdata/execplugin.
	pluginPath string
	// sniCAFile is the CA that signed the certificate served for sniName;
	// it did not sign the default serving certificate.
	sniCAFile string
)

func TestMain(m *testing.M) {
	if !harness.On("kubeconfigtest") {
		os.Exit(m.Run())
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "kubeconfigtest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)

	start := time.Now()
	pluginPath = filepath.Join(dir, "execplugin")
	build := exec.Command("go", "build", "-o", pluginPath, "./testdata/execplugin")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build the exec plugin: %v\n%s", err, out)
		return 1
	}
	sniArg, err := writeSNICertificate(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}

	fmt.Printf("kubeconfigtest: exec plugin and SNI certificate ready in %v\n", time.Since(start).Round(time.Millisecond))
	c, err := harness.StartForTests("kubeconfigtest", harness.Options{APIServerArgs: []string{sniArg}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer c.Stop()
	cluster = c
	return m.Run()
}

// need skips the test when the real API tier is off.
func need(t *testing.T) *harness.Cluster {
	t.Helper()
	return harness.Need(t, cluster)
}

// writeSNICertificate writes a CA (sniCAFile) and a serving certificate
// for sniName signed by it, and returns the kube-apiserver flag that
// serves it to clients asking for sniName.
func writeSNICertificate(dir string) (string, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kubeconfigtest-sni-ca"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return "", err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return "", err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: sniName}, DNSNames: []string{sniName},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return "", err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", err
	}
	sniCAFile = filepath.Join(dir, "sni-ca.crt")
	certFile, keyFile := filepath.Join(dir, "sni.crt"), filepath.Join(dir, "sni.key")
	for path, b := range map[string][]byte{
		sniCAFile: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		certFile:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyFile:   pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	} {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return "", err
		}
	}
	return "--tls-sni-cert-key=" + certFile + "," + keyFile + ":" + sniName, nil
}
