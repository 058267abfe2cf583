package kubeconfig

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// The exec credential plugin protocol (client.authentication.k8s.io v1
// and v1beta1): the plugin gets an ExecCredential in the
// KUBERNETES_EXEC_INFO environment variable and prints one with a status
// (a token, a client certificate and key, or both, and when they expire)
// on its standard output.

const (
	execAPIv1      = "client.authentication.k8s.io/v1"
	execAPIv1beta1 = "client.authentication.k8s.io/v1beta1"
	execAPIv1alpha = "client.authentication.k8s.io/v1alpha1"

	// execInfoEnv is the variable that carries the ExecCredential to the
	// plugin.
	execInfoEnv = "KUBERNETES_EXEC_INFO"

	// clusterExtension is the cluster extension whose content goes to the
	// plugin as spec.cluster.config when provideClusterInfo is set.
	clusterExtension = "client.authentication.k8s.io/exec"

	// maxExecStdout bounds what is read of a plugin's standard output:
	// an ExecCredential is a few kilobytes.
	maxExecStdout = 1 << 20
	// maxExecStderr is how much of the end of a plugin's standard error
	// an ExecError keeps.
	maxExecStderr = 4 << 10
	// execWaitDelay is how long a plugin that has exited (or was killed)
	// may leave its output open, through a child it started, before it
	// is read no further.
	execWaitDelay = time.Second
)

// execInfo is the ExecCredential that a plugin gets in
// KUBERNETES_EXEC_INFO.
type execInfo struct {
	APIVersion string       `json:"apiVersion"`
	Kind       string       `json:"kind"`
	Spec       execInfoSpec `json:"spec"`
}

type execInfoSpec struct {
	Cluster     *execCluster `json:"cluster,omitempty"`
	Interactive bool         `json:"interactive"`
}

// execCluster is what a plugin learns of the cluster when the kubeconfig
// sets provideClusterInfo.
type execCluster struct {
	Server                   string          `json:"server"`
	TLSServerName            string          `json:"tls-server-name,omitempty"`
	CertificateAuthorityData []byte          `json:"certificate-authority-data,omitempty"`
	Config                   json.RawMessage `json:"config,omitempty"`
}

// execOutput is the ExecCredential that a plugin prints.
type execOutput struct {
	APIVersion string      `json:"apiVersion"`
	Kind       string      `json:"kind"`
	Status     *execStatus `json:"status"`
}

type execStatus struct {
	ExpirationTimestamp   *time.Time `json:"expirationTimestamp"`
	Token                 string     `json:"token"`
	ClientCertificateData string     `json:"clientCertificateData"`
	ClientKeyData         string     `json:"clientKeyData"`
}

// execPlugin runs one kubeconfig user's exec credential plugin and caches
// what it returns until it expires or the server refuses it. It is the
// k8sapi.TokenSource and the GetClientCertificate of the config that Load
// returns. Safe for concurrent use; the plugin runs once at a time.
type execPlugin struct {
	user        string
	command     string
	args        []string
	env         []string // from the kubeconfig, NAME=value
	apiVersion  string
	installHint string
	info        string    // the KUBERNETES_EXEC_INFO value
	stdin       io.Reader // nil unless the plugin runs interactively
	stderr      io.Writer // Options.ExecStderr; may be nil
	now         func() time.Time

	running chan struct{} // holds a value while the plugin runs

	mu     sync.Mutex // guards cred, recent and the certUsed of cred
	cred   *execCred  // nil: none yet, expired or refused
	recent []string   // the last two tokens the plugin returned
}

// execCred is one credential a plugin returned.
type execCred struct {
	token    string
	cert     *tls.Certificate // nil when the plugin returned none
	expiry   time.Time        // zero: until the server refuses it
	certUsed bool             // handed to a TLS handshake; guarded by execPlugin.mu
}

// Token runs the plugin, unless what it returned last is still good, and
// returns its token ("" when it returned only a client certificate).
func (p *execPlugin) Token(ctx context.Context) (string, error) {
	c, err := p.credential(ctx)
	if err != nil {
		return "", err
	}
	return c.token, nil
}

// Refused drops the cached credential when it is the one that carried
// tok. A credential without a token is dropped only once its certificate
// has been sent: one that no handshake has used cannot have been refused.
func (p *execPlugin) Refused(tok string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c := p.cred; c != nil && c.token == tok && (tok != "" || c.certUsed) {
		p.cred = nil
	}
}

// GetClientCertificate gives the TLS handshake the plugin's client
// certificate, or none when it returned only a token.
func (p *execPlugin) GetClientCertificate(info *tls.CertificateRequestInfo) (*tls.Certificate, error) {
	c, err := p.credential(info.Context())
	if err != nil {
		return nil, err
	}
	if c.cert == nil {
		return &tls.Certificate{}, nil
	}
	p.mu.Lock()
	c.certUsed = true
	p.mu.Unlock()
	return c.cert, nil
}

// credential returns the cached credential, or runs the plugin for a new
// one. Callers that find the plugin running wait for it, or for ctx.
func (p *execPlugin) credential(ctx context.Context) (*execCred, error) {
	if c := p.cached(); c != nil {
		return c, nil
	}
	select {
	case p.running <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("kubeconfig: user %q: waiting for the exec plugin: %w", p.user, ctx.Err())
	}
	defer func() { <-p.running }()
	if c := p.cached(); c != nil { // the run we waited for got one
		return c, nil
	}
	c, err := p.run(ctx)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cred = c
	if c.token != "" && (len(p.recent) == 0 || p.recent[0] != c.token) {
		p.recent = append([]string{c.token}, p.recent[:min(len(p.recent), 1)]...)
	}
	return c, nil
}

// cached returns the cached credential if it has not expired.
func (p *execPlugin) cached() *execCred {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c := p.cred; c != nil && !c.expiry.IsZero() && p.now().After(c.expiry) {
		p.cred = nil
	}
	return p.cred
}

// run runs the plugin once and reads its credential.
func (p *execPlugin) run(ctx context.Context) (*execCred, error) {
	cmd := exec.CommandContext(ctx, p.command, p.args...)
	cmd.Env = append(append(os.Environ(), p.env...), execInfoEnv+"="+p.info)
	stdout := &cappedBuffer{max: maxExecStdout}
	stderr := &tailBuffer{max: maxExecStderr}
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	if p.stderr != nil {
		cmd.Stderr = io.MultiWriter(stderr, p.stderr)
	}
	if p.stdin != nil {
		cmd.Stdin = p.stdin
	}
	cmd.WaitDelay = execWaitDelay
	runErr := cmd.Run()
	var out execOutput
	var err error
	switch {
	case ctx.Err() != nil:
		err = fmt.Errorf("cut off: %w", ctx.Err())
	case runErr != nil:
		err = runErr
	case stdout.over:
		err = fmt.Errorf("its output exceeds %d bytes", maxExecStdout)
	default:
		if jerr := json.Unmarshal(stdout.buf, &out); jerr != nil {
			// encoding/json's errors quote no string values of the input.
			err = fmt.Errorf("its output is not an ExecCredential: %w", jerr)
		}
	}
	var cred *execCred
	if err == nil {
		cred, err = p.decode(&out)
	}
	if err == nil {
		return cred, nil
	}
	e := &ExecError{User: p.user, Command: p.command, Err: err}
	if errors.Is(runErr, exec.ErrNotFound) {
		e.InstallHint = p.installHint
	}
	p.mu.Lock()
	secrets := append([]string(nil), p.recent...)
	p.mu.Unlock()
	if out.Status != nil {
		secrets = append(secrets, out.Status.Token)
	}
	e.Stderr = redact(string(stderr.bytes()), secrets)
	return nil, e
}

// decode checks what the plugin printed and turns it into a credential.
func (p *execPlugin) decode(out *execOutput) (*execCred, error) {
	switch {
	case out.APIVersion != p.apiVersion:
		return nil, fmt.Errorf("it returned apiVersion %q; the kubeconfig asks for %q", out.APIVersion, p.apiVersion)
	case out.Kind != "ExecCredential":
		return nil, fmt.Errorf("it returned kind %q, not ExecCredential", out.Kind)
	case out.Status == nil:
		return nil, errors.New("it returned no status")
	}
	st := out.Status
	switch {
	case st.Token == "" && st.ClientCertificateData == "" && st.ClientKeyData == "":
		return nil, errors.New("it returned neither a token nor a client certificate")
	case (st.ClientCertificateData == "") != (st.ClientKeyData == ""):
		return nil, errors.New("it returned a client certificate without its key, or a key without a certificate")
	}
	c := &execCred{token: st.Token}
	if st.ExpirationTimestamp != nil {
		c.expiry = *st.ExpirationTimestamp
	}
	if st.ClientCertificateData != "" {
		pair, err := tls.X509KeyPair([]byte(st.ClientCertificateData), []byte(st.ClientKeyData))
		if err != nil {
			// crypto/tls names what is wrong, never the key.
			return nil, fmt.Errorf("its client certificate: %w", err)
		}
		if pair.Leaf == nil { // Go < 1.23 leaves it nil
			if pair.Leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
				return nil, fmt.Errorf("its client certificate: %w", err)
			}
		}
		c.cert = &pair
	}
	return c, nil
}

// redact replaces each of secrets in s.
func redact(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return s
}

// cappedBuffer keeps the first max bytes written to it and notes whether
// more came; it never fails a write, so the plugin is not cut short.
type cappedBuffer struct {
	max  int
	buf  []byte
	over bool
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if n := b.max - len(b.buf); len(p) > n {
		b.buf = append(b.buf, p[:n]...)
		b.over = true
	} else {
		b.buf = append(b.buf, p...)
	}
	return len(p), nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	buf []byte
	cut bool // bytes were dropped from the front
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
		b.cut = true
	}
	return len(p), nil
}

// bytes returns the tail, marked as such when its start was dropped.
func (b *tailBuffer) bytes() []byte {
	if b.cut {
		return append([]byte("…"), b.buf...)
	}
	return b.buf
}
