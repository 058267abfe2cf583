package k8sapi

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Config says how to reach and authenticate to one API server.
type Config struct {
	// Host is the API server's base URL, such as "https://10.0.0.1:443".
	// It may carry a path prefix ("https://proxy/k8s") but no query,
	// fragment or user info.
	Host string
	// BearerToken is a fixed token. BearerTokenFile, when set, wins and is
	// re-read periodically (bound service-account tokens rotate).
	BearerToken     string
	BearerTokenFile string
	// TokenSource, when set, supplies the token of each request instead
	// (a kubeconfig's exec credential plugin): it is asked again after a
	// 401. Set either TokenSource or BearerToken/BearerTokenFile.
	TokenSource TokenSource
	// CAFile or CAData (PEM) is the cluster CA that the server certificate
	// must chain to. With neither, the system roots are used. With both,
	// either may sign the server's certificate.
	CAFile string
	CAData []byte
	// TLSServerName, when set, is the name that the server's certificate
	// must be valid for, and the name sent in the TLS handshake (SNI),
	// instead of Host's host name: kubeconfig's tls-server-name, for a
	// server reached by an address that its certificate does not name.
	TLSServerName string
	// Optional client certificate (files or PEM bytes).
	CertFile, KeyFile string
	CertData, KeyData []byte
	// GetClientCertificate, when set, supplies the client certificate at
	// each TLS handshake instead (as the crypto/tls field of that name),
	// for a certificate that changes (a kubeconfig's exec credential
	// plugin). A connection keeps the certificate of its handshake, so
	// after a 401 answer the client dials new connections, whose
	// handshakes ask again, and sends a request that was in flight on an
	// old one and met a 401 too once more. Like the other TLS settings, it
	// is not used when Transport is set.
	GetClientCertificate func(*tls.CertificateRequestInfo) (*tls.Certificate, error)
	// Namespace is the pod's namespace when the config came from
	// InClusterConfig, or the context's when it came from a kubeconfig
	// (github.com/kubelect/kubelect/kubeconfig); informational.
	Namespace string
	// UserAgent is sent on every request. Empty means "kubelect/<version>
	// (<os>/<arch>)".
	UserAgent string
	// Timeout bounds every request except watches. Zero means 30s.
	Timeout time.Duration
	// AllowInsecureHTTP permits plain http:// to a non-loopback host.
	AllowInsecureHTTP bool
	// MaxResponseBytes caps a response body, and each event of a watch.
	// Zero means 4 MiB.
	MaxResponseBytes int64
	// Transport, when set, carries the requests instead of a transport
	// built from the TLS settings (tests, in-process servers). Auth,
	// timeouts and caps still apply.
	Transport http.RoundTripper
	// WrapTransport, when set, wraps the transport (built or Transport):
	// for metrics, logging or fault injection. It sits below the auth
	// layer, like client-go's: the requests it sees carry the
	// Authorization header, which it must not log, and it sees each
	// attempt of a request retried after a 401.
	WrapTransport func(http.RoundTripper) http.RoundTripper
	// WarningHandler receives each distinct Warning header text once.
	// Nil logs each distinct warning once to Logger.
	WarningHandler func(text string)
	// Logger receives the client's few log lines. Nil means slog.Default().
	Logger *slog.Logger
}

// ServiceAccountDir is where Kubernetes mounts a pod's service-account files.
const ServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// ErrNotInCluster is wrapped by InClusterConfig's error when the
// KUBERNETES_SERVICE_HOST or KUBERNETES_SERVICE_PORT environment variable
// is missing: the program does not run in a pod.
var ErrNotInCluster = errors.New("k8sapi: not running in a Kubernetes cluster")

const (
	defaultTimeout          = 30 * time.Second
	defaultMaxResponseBytes = 4 << 20
)

// InClusterConfig builds a Config from KUBERNETES_SERVICE_HOST/PORT and the
// service-account files in ServiceAccountDir.
func InClusterConfig() (*Config, error) { return InClusterConfigFromDir(ServiceAccountDir) }

// InClusterConfigFromDir is InClusterConfig with another service-account
// directory (token, ca.crt, namespace).
//
// The config names the token file rather than its contents, so a client
// built from it follows token rotation. The error names what is missing:
// an environment variable (wrapping ErrNotInCluster) or a file (wrapping
// the fs error, so errors.Is(err, fs.ErrNotExist) works).
func InClusterConfigFromDir(dir string) (*Config, error) {
	host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
	var missing []string
	if host == "" {
		missing = append(missing, "KUBERNETES_SERVICE_HOST")
	}
	if port == "" {
		missing = append(missing, "KUBERNETES_SERVICE_PORT")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: environment variable %s not set", ErrNotInCluster, strings.Join(missing, " and "))
	}
	tokenFile := filepath.Join(dir, "token")
	caFile := filepath.Join(dir, "ca.crt")
	nsFile := filepath.Join(dir, "namespace")
	token, err := readNonEmpty("service-account token", tokenFile)
	if err != nil {
		return nil, err
	}
	_ = token // read only to fail early; the client reads the file itself
	if _, err := readNonEmpty("cluster CA", caFile); err != nil {
		return nil, err
	}
	ns, err := readNonEmpty("namespace", nsFile)
	if err != nil {
		return nil, err
	}
	return &Config{
		// JoinHostPort brackets an IPv6 address.
		Host:            "https://" + net.JoinHostPort(host, port),
		BearerTokenFile: tokenFile,
		CAFile:          caFile,
		Namespace:       strings.TrimSpace(string(ns)),
	}, nil
}

// readNonEmpty reads a file that must exist and hold something besides
// white space. Its error names what and path, never the contents.
func readNonEmpty(what, path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("k8sapi: in-cluster config: %s file: %w", what, err)
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return nil, fmt.Errorf("k8sapi: in-cluster config: %s file %s is empty", what, path)
	}
	return b, nil
}

// parseHost checks Host and returns it as a base URL without a trailing
// slash.
func (cfg *Config) parseHost() (*url.URL, error) {
	if cfg.Host == "" {
		return nil, errors.New("k8sapi: config: Host is empty")
	}
	u, err := url.Parse(cfg.Host)
	if err != nil {
		return nil, fmt.Errorf("k8sapi: config: Host: %w", err)
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return nil, fmt.Errorf("k8sapi: config: Host %q: scheme must be https or http", cfg.Host)
	case u.Host == "":
		return nil, fmt.Errorf("k8sapi: config: Host %q has no host", cfg.Host)
	case u.User != nil:
		return nil, errors.New("k8sapi: config: Host must not carry user info; use BearerToken or a client certificate")
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return nil, fmt.Errorf("k8sapi: config: Host %q must not have a query or fragment", cfg.Host)
	}
	if u.Port() != "" {
		if n, err := strconv.Atoi(u.Port()); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("k8sapi: config: Host %q: bad port", cfg.Host)
		}
	}
	if u.Scheme == "http" && !cfg.AllowInsecureHTTP && !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("k8sapi: config: Host %q is plain http to a non-loopback host; use https, or set AllowInsecureHTTP", cfg.Host)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// isLoopback reports whether host is "localhost" or a loopback address.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// tlsConfig builds the TLS settings: the server is verified against the
// configured CA (or the system roots), TLS 1.2 at least, and the client
// certificate when there is one.
func (cfg *Config) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cfg.TLSServerName}
	if cfg.CAFile != "" || len(cfg.CAData) > 0 {
		pool := x509.NewCertPool()
		if cfg.CAFile != "" {
			pem, err := os.ReadFile(cfg.CAFile)
			if err != nil {
				return nil, fmt.Errorf("k8sapi: config: CAFile: %w", err)
			}
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("k8sapi: config: CAFile %s holds no PEM certificate", cfg.CAFile)
			}
		}
		if len(cfg.CAData) > 0 && !pool.AppendCertsFromPEM(cfg.CAData) {
			return nil, errors.New("k8sapi: config: CAData holds no PEM certificate")
		}
		tc.RootCAs = pool
	}
	certPEM, keyPEM := cfg.CertData, cfg.KeyData
	if cfg.GetClientCertificate != nil {
		if cfg.CertFile != "" || cfg.KeyFile != "" || len(certPEM) > 0 || len(keyPEM) > 0 {
			return nil, errors.New("k8sapi: config: set GetClientCertificate or a client certificate (CertFile/CertData, KeyFile/KeyData), not both")
		}
		tc.GetClientCertificate = cfg.GetClientCertificate
		return tc, nil
	}
	if cfg.CertFile != "" {
		if len(certPEM) > 0 {
			return nil, errors.New("k8sapi: config: set CertFile or CertData, not both")
		}
		b, err := os.ReadFile(cfg.CertFile)
		if err != nil {
			return nil, fmt.Errorf("k8sapi: config: CertFile: %w", err)
		}
		certPEM = b
	}
	if cfg.KeyFile != "" {
		if len(keyPEM) > 0 {
			return nil, errors.New("k8sapi: config: set KeyFile or KeyData, not both")
		}
		b, err := os.ReadFile(cfg.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("k8sapi: config: KeyFile: %w", err)
		}
		keyPEM = b
	}
	switch {
	case len(certPEM) > 0 && len(keyPEM) > 0:
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			// The error of X509KeyPair names what is wrong, never the key.
			return nil, fmt.Errorf("k8sapi: config: client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{pair}
	case len(certPEM) > 0:
		return nil, errors.New("k8sapi: config: client certificate without a key (KeyFile or KeyData)")
	case len(keyPEM) > 0:
		return nil, errors.New("k8sapi: config: client key without a certificate (CertFile or CertData)")
	}
	return tc, nil
}

// validate checks the plain fields.
func (cfg *Config) validate() error {
	if cfg.Timeout < 0 {
		return fmt.Errorf("k8sapi: config: negative Timeout %v", cfg.Timeout)
	}
	if cfg.MaxResponseBytes < 0 {
		return fmt.Errorf("k8sapi: config: negative MaxResponseBytes %d", cfg.MaxResponseBytes)
	}
	if strings.ContainsAny(cfg.UserAgent, "\r\n") {
		return errors.New("k8sapi: config: UserAgent has a line break")
	}
	if n := cfg.TLSServerName; strings.ContainsAny(n, "/ \t\r\n") || (strings.Contains(n, ":") && net.ParseIP(n) == nil) {
		return fmt.Errorf("k8sapi: config: TLSServerName %q is not a host name (no scheme, port or path)", cfg.TLSServerName)
	}
	return nil
}
