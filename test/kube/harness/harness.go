// Package harness starts a real kube-apiserver and etcd on 127.0.0.1 for
// tests, with a namespace, a ServiceAccount whose Role grants what leader
// election needs, and a pod-like service-account directory, so that
// k8sapi.InClusterConfig works unchanged. Besides tokens, kube-apiserver
// accepts client certificates signed by the harness's client CA
// (Cluster.ClientCertificate issues them).
//
// The binaries come from build.sh (kube-apiserver v1.37.2 and etcd v3.7.0
// built from the Go module proxy). KUBELECT_APISERVER=v1.34 starts the
// older kube-apiserver build.sh makes too (v1.34.12, the oldest minor
// kubelect claims), with the same etcd; APIServerVersion and
// Cluster.Minor tell tests which one runs. Processes die with the test
// process.
package harness

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Options configure Start.
type Options struct {
	// BinDir holds the etcd and kube-apiserver binaries. Default
	// $KUBELECT_BIN, else ~/.cache/kubelect/bin.
	BinDir string
	// APIServer picks the kube-apiserver: "" or DefaultAPIServer for
	// BinDir/kube-apiserver, another minor such as "v1.34" for
	// BinDir/v1.34/kube-apiserver. Default: APIServerVersion(), that is
	// $KUBELECT_APISERVER.
	APIServer string
	// WorkDir holds data, certificates and logs. Default: a new temp dir,
	// removed by Stop.
	WorkDir string
	// APIServerArgs are extra kube-apiserver flags, appended to the
	// harness's own on every start (restarts too), such as
	// "--feature-gates=CoordinatedLeaderElection=true". A flag given here
	// that the harness sets as well wins: kube-apiserver takes the last.
	APIServerArgs []string
}

// Cluster is a running etcd and kube-apiserver.
type Cluster struct {
	// Host is the API server's URL, https://127.0.0.1:PORT.
	Host string
	// ServiceHost and ServicePort are the KUBERNETES_SERVICE_HOST and
	// KUBERNETES_SERVICE_PORT a pod would see.
	ServiceHost, ServicePort string
	// ServiceAccountDir holds token, ca.crt and namespace, as a pod's
	// /var/run/secrets/kubernetes.io/serviceaccount does.
	ServiceAccountDir string
	// Namespace is the namespace made for the tests.
	Namespace string
	// ServiceAccount is the name of the ServiceAccount whose token is in
	// ServiceAccountDir.
	ServiceAccount string
	// CAFile is the API server's serving certificate chain.
	CAFile string
	// AdminToken authenticates as a cluster admin.
	AdminToken string
	// ClientCAFile is the CA that kube-apiserver trusts for client
	// certificates (--client-ca-file): ClientCertificate signs with it.
	ClientCAFile string
	// ServerVersion is the gitVersion kube-apiserver reports at /version
	// when first ready, such as "v1.37.2".
	ServerVersion string

	binDir, workDir string
	apiBin          string // the kube-apiserver binary
	minor           int
	apiArgs         []string
	removeWorkDir   bool
	etcdPorts       [2]int
	apiPort         int
	admin           *http.Client
	clientCA        *x509.Certificate
	clientCAKey     *ecdsa.PrivateKey

	mu        sync.Mutex
	etcd, api *exec.Cmd // guarded by mu
}

// DefaultAPIServer is the minor of the kube-apiserver at
// BinDir/kube-apiserver.
const DefaultAPIServer = "v1.37"

// APIServerVersion is the minor of the kube-apiserver that Start runs by
// default: $KUBELECT_APISERVER (such as "v1.34") if set, else
// DefaultAPIServer.
func APIServerVersion() string {
	if v := os.Getenv("KUBELECT_APISERVER"); v != "" {
		return v
	}
	return DefaultAPIServer
}

// apiServerPath is the kube-apiserver binary of version's minor in
// binDir.
func apiServerPath(binDir, version string) (string, error) {
	if version == "" {
		return filepath.Join(binDir, "kube-apiserver"), nil
	}
	minor, err := parseMinor(version)
	if err != nil {
		return "", err
	}
	dir := "v1." + strconv.Itoa(minor)
	if dir == DefaultAPIServer {
		return filepath.Join(binDir, "kube-apiserver"), nil
	}
	return filepath.Join(binDir, dir, "kube-apiserver"), nil
}

// parseMinor returns 34 for "v1.34" (a patch, as in "v1.34.12", is
// allowed and ignored).
func parseMinor(version string) (int, error) {
	parts := strings.Split(strings.TrimPrefix(version, "v"), ".")
	if !strings.HasPrefix(version, "v1.") || len(parts) < 2 || len(parts) > 3 {
		return 0, fmt.Errorf("harness: kube-apiserver version %q: want v1.MINOR, such as v1.34", version)
	}
	n, err := strconv.Atoi(parts[1])
	if err != nil || n < 0 {
		return 0, fmt.Errorf("harness: kube-apiserver version %q: want v1.MINOR, such as v1.34", version)
	}
	return n, nil
}

// Minor is the minor version kube-apiserver reports at /version: 37 for
// v1.37.2, 34 for v1.34.12.
func (c *Cluster) Minor() int { return c.minor }

// BinDir is the default binary directory.
func BinDir() string {
	if d := os.Getenv("KUBELECT_BIN"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "kubelect", "bin")
}

// Start starts etcd and kube-apiserver and prepares the namespace, the
// ServiceAccount with its Role, and the service-account directory.
func Start(ctx context.Context, opts Options) (c *Cluster, err error) {
	c = &Cluster{binDir: opts.BinDir, workDir: opts.WorkDir, ServiceAccount: "elector",
		apiArgs: append([]string(nil), opts.APIServerArgs...)}
	if c.binDir == "" {
		c.binDir = BinDir()
	}
	if opts.APIServer == "" {
		opts.APIServer = APIServerVersion()
	}
	if c.apiBin, err = apiServerPath(c.binDir, opts.APIServer); err != nil {
		return nil, err
	}
	for _, b := range []string{filepath.Join(c.binDir, "etcd"), c.apiBin} {
		if _, err := os.Stat(b); err != nil {
			return nil, fmt.Errorf("harness: %s not built (run test/kube/build.sh): %w", b, err)
		}
	}
	if c.workDir == "" {
		if c.workDir, err = os.MkdirTemp("", "kubelect-cluster-"); err != nil {
			return nil, fmt.Errorf("harness: %w", err)
		}
		c.removeWorkDir = true
	}
	made := c // the named result is nil by the time an error returns
	defer func() {
		if err != nil {
			made.Stop()
		}
	}()
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	c.etcdPorts = [2]int{ports[0], ports[1]}
	c.apiPort = ports[2]
	c.Host = "https://127.0.0.1:" + strconv.Itoa(c.apiPort)
	c.ServiceHost, c.ServicePort = "127.0.0.1", strconv.Itoa(c.apiPort)
	c.CAFile = filepath.Join(c.workDir, "certs", "apiserver.crt")
	c.AdminToken = randomToken()
	c.ClientCAFile = c.path("client-ca.crt")
	if err := c.writeFiles(); err != nil {
		return nil, err
	}
	if err := c.startEtcd(ctx); err != nil {
		return nil, err
	}
	if err := c.startAPIServer(ctx); err != nil {
		return nil, err
	}
	if err := c.readVersion(ctx); err != nil {
		return nil, err
	}
	if err := c.setUp(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Cluster) path(name string) string { return filepath.Join(c.workDir, name) }

// writeFiles writes the token file, the service-account signing key and
// the client CA's certificate (its key stays in memory).
func (c *Cluster) writeFiles() error {
	clientCA, err := c.newClientCA()
	if err != nil {
		return err
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("harness: service-account key: %w", err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return fmt.Errorf("harness: service-account key: %w", err)
	}
	files := map[string][]byte{
		"sa.key":     pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}),
		"sa.pub":     pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}),
		"tokens.csv": []byte(c.AdminToken + ",admin,admin-uid,system:masters\n"),
	}
	for name, b := range files {
		if err := os.WriteFile(c.path(name), b, 0o600); err != nil {
			return fmt.Errorf("harness: %w", err)
		}
	}
	if err := os.WriteFile(c.ClientCAFile, clientCA, 0o600); err != nil {
		return fmt.Errorf("harness: %w", err)
	}
	return nil
}

// readVersion reads /version into ServerVersion and the minor.
func (c *Cluster) readVersion(ctx context.Context) error {
	code, body, err := c.AdminDo(ctx, http.MethodGet, "/version", nil)
	if err != nil {
		return err
	}
	var v struct {
		Minor      string `json:"minor"`
		GitVersion string `json:"gitVersion"`
	}
	if code != http.StatusOK || json.Unmarshal(body, &v) != nil {
		return fmt.Errorf("harness: /version: %d %s", code, body)
	}
	// The minor may end in "+" (a build between releases).
	if c.minor, err = strconv.Atoi(strings.TrimSuffix(v.Minor, "+")); err != nil {
		return fmt.Errorf("harness: /version: minor %q", v.Minor)
	}
	c.ServerVersion = v.GitVersion
	return nil
}

// command makes a process of the binary bin that dies with this one,
// logging to a file named after the binary.
func (c *Cluster) command(bin string, args ...string) (*exec.Cmd, error) {
	logf, err := os.OpenFile(c.path(filepath.Base(bin)+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("harness: %w", err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	// etcd reads every ETCD_* variable as a flag: pass none.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ETCD_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	return cmd, nil
}

func (c *Cluster) startEtcd(ctx context.Context) error {
	client := "http://127.0.0.1:" + strconv.Itoa(c.etcdPorts[0])
	peer := "http://127.0.0.1:" + strconv.Itoa(c.etcdPorts[1])
	cmd, err := c.command(filepath.Join(c.binDir, "etcd"),
		"--name=kubelect", "--data-dir="+c.path("etcd-data"),
		"--listen-client-urls="+client, "--advertise-client-urls="+client,
		"--listen-peer-urls="+peer, "--initial-advertise-peer-urls="+peer,
		"--initial-cluster=kubelect="+peer, "--log-level=warn")
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("harness: start etcd: %w", err)
	}
	c.mu.Lock()
	c.etcd = cmd
	c.mu.Unlock()
	return c.waitReady(ctx, "etcd", http.DefaultClient, client+"/health", "")
}

func (c *Cluster) startAPIServer(ctx context.Context) error {
	issuer := "https://kubernetes.default.svc.cluster.local"
	args := append([]string{
		"--etcd-servers=http://127.0.0.1:" + strconv.Itoa(c.etcdPorts[0]),
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port=" + strconv.Itoa(c.apiPort),
		"--cert-dir=" + c.path("certs"),
		"--token-auth-file=" + c.path("tokens.csv"),
		"--client-ca-file=" + c.ClientCAFile,
		"--service-account-issuer=" + issuer, "--api-audiences=" + issuer,
		"--service-account-key-file=" + c.path("sa.pub"), "--service-account-signing-key-file=" + c.path("sa.key"),
		"--authorization-mode=RBAC",
		"--service-cluster-ip-range=10.0.0.0/24",
		"--endpoint-reconciler-type=none",
		"--v=1"}, c.apiArgs...)
	cmd, err := c.command(c.apiBin, args...)
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("harness: start kube-apiserver: %w", err)
	}
	c.mu.Lock()
	c.api = cmd
	c.mu.Unlock()
	// The serving certificate appears once the server has made it.
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(c.CAFile); err == nil {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("harness: kube-apiserver wrote no certificate%s", c.logTail("kube-apiserver"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	ca, err := os.ReadFile(c.CAFile)
	if err != nil {
		return fmt.Errorf("harness: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return errors.New("harness: no certificate in " + c.CAFile)
	}
	c.admin = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	return c.waitReady(ctx, "kube-apiserver", c.admin, c.Host+"/readyz", c.AdminToken)
}

// waitReady polls url until it answers 200, for up to a minute.
func (c *Cluster) waitReady(ctx context.Context, name string, client *http.Client, url, token string) error {
	deadline := time.Now().Add(60 * time.Second)
	var last string
	for time.Now().Before(deadline) && ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, body)
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("harness: %s not ready: %s%s", name, last, c.logTail(name))
}

// logTail is the end of a process's log, for error messages.
func (c *Cluster) logTail(name string) string {
	b, err := os.ReadFile(c.path(name + ".log"))
	if err != nil {
		return ""
	}
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return "\n--- " + name + ".log (tail) ---\n" + string(b)
}

// Stop stops both processes and removes the work directory it made.
func (c *Cluster) Stop() {
	c.mu.Lock()
	api, etcd := c.api, c.etcd
	c.api, c.etcd = nil, nil
	c.mu.Unlock()
	stop(api)
	stop(etcd)
	if c.removeWorkDir {
		os.RemoveAll(c.workDir)
	}
}

func stop(cmd *exec.Cmd) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// RestartAPIServer stops kube-apiserver and starts it again on the same
// port and data.
func (c *Cluster) RestartAPIServer(ctx context.Context) error {
	c.StopAPIServer()
	return c.StartAPIServer(ctx)
}

// StopAPIServer stops kube-apiserver (SIGTERM, then SIGKILL after 10 s),
// leaving etcd running: requests to Host are then refused until
// StartAPIServer. Stopping a stopped server does nothing.
func (c *Cluster) StopAPIServer() {
	c.mu.Lock()
	api := c.api
	c.api = nil
	c.mu.Unlock()
	stop(api)
}

// StartAPIServer starts a kube-apiserver stopped by StopAPIServer again, on
// the same port and data, and waits until it is ready.
func (c *Cluster) StartAPIServer(ctx context.Context) error {
	c.mu.Lock()
	running := c.api != nil
	c.mu.Unlock()
	if running {
		return errors.New("harness: kube-apiserver is running")
	}
	return c.startAPIServer(ctx)
}

// RestartEtcd stops etcd and starts it again on the same ports and data.
func (c *Cluster) RestartEtcd(ctx context.Context) error {
	c.mu.Lock()
	etcd := c.etcd
	c.etcd = nil
	c.mu.Unlock()
	stop(etcd)
	if err := c.startEtcd(ctx); err != nil {
		return err
	}
	return c.waitReady(ctx, "kube-apiserver", c.admin, c.Host+"/readyz", c.AdminToken)
}

// AdminDo sends one request as the cluster admin; body, if not nil, is
// encoded as JSON. It returns the status code and the body.
func (c *Cluster) AdminDo(ctx context.Context, method, path string, body any) (int, []byte, error) {
	return c.Do(ctx, c.AdminToken, method, path, body)
}

// Do sends one request with token.
func (c *Cluster) Do(ctx context.Context, token, method, path string, body any) (int, []byte, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Host+path, r)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := c.admin.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("harness: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	return resp.StatusCode, b, err
}

// Metrics returns the API server's /metrics text.
func (c *Cluster) Metrics(ctx context.Context) (string, error) {
	code, b, err := c.AdminDo(ctx, http.MethodGet, "/metrics", nil)
	if err == nil && code != http.StatusOK {
		err = fmt.Errorf("harness: /metrics: %d", code)
	}
	return string(b), err
}

// newClientCA makes the client CA (ECDSA P-256) and returns its
// certificate as PEM.
func (c *Cluster) newClientCA() ([]byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("harness: client CA key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serialNumber(),
		Subject:               pkix.Name{CommonName: "kubelect-harness-client-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("harness: client CA: %w", err)
	}
	if c.clientCA, err = x509.ParseCertificate(der); err != nil {
		return nil, fmt.Errorf("harness: client CA: %w", err)
	}
	c.clientCAKey = key
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// ClientCertificate issues a client certificate signed by the client CA
// (ClientCAFile), valid for a day: kube-apiserver takes its common name
// user as the user name and its organizations groups as the groups. It
// returns the certificate and its ECDSA P-256 key (PKCS #8), as PEM.
func (c *Cluster) ClientCertificate(user string, groups ...string) (certPEM, keyPEM []byte, err error) {
	if c.clientCA == nil {
		return nil, nil, errors.New("harness: no client CA")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("harness: client key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serialNumber(),
		Subject:      pkix.Name{CommonName: user, Organization: groups},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.clientCA, &key.PublicKey, c.clientCAKey)
	if err != nil {
		return nil, nil, fmt.Errorf("harness: client certificate for %q: %w", user, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("harness: client key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}

// serialNumber is a random 128-bit certificate serial number.
func serialNumber() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	return n
}

func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("harness: free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func randomToken() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%x", b)
}
