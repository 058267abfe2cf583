package kubeconfig

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/kubelect/kubelect/k8sapi"
)

// config builds the k8sapi config of the chosen context.
func (m *merged) config(opts Options) (*k8sapi.Config, error) {
	name := opts.Context
	if name == "" {
		name = m.currentContext
	}
	if name == "" {
		return nil, fmt.Errorf("%w: no current-context in %s; choose one with Options.Context, or set it with kubectl config use-context",
			ErrContextNotFound, m.where())
	}
	kctx, ok := m.contexts[name]
	if !ok {
		return nil, fmt.Errorf("%w: no context %q in %s", ErrContextNotFound, name, m.where())
	}
	if kctx.Cluster == "" {
		return nil, fmt.Errorf("%w: context %q (in %s) names no cluster", ErrInvalidConfig, name, kctx.origin)
	}
	cl, ok := m.clusters[kctx.Cluster]
	if !ok {
		return nil, fmt.Errorf("%w: context %q (in %s) names cluster %q, which is not in %s",
			ErrInvalidConfig, name, kctx.origin, kctx.Cluster, m.where())
	}
	cfg := &k8sapi.Config{Namespace: kctx.Namespace}
	if cfg.Namespace == "" {
		cfg.Namespace = DefaultNamespace
	}
	caData, err := setCluster(cfg, kctx.Cluster, &cl)
	if err != nil {
		return nil, err
	}
	if kctx.User == "" {
		return cfg, nil // no credentials, as kubectl allows
	}
	u, ok := m.users[kctx.User]
	if !ok {
		return nil, fmt.Errorf("%w: context %q (in %s) names user %q, which is not in %s",
			ErrInvalidConfig, name, kctx.origin, kctx.User, m.where())
	}
	if err := setUser(cfg, kctx.User, &u, &cl, caData, opts); err != nil {
		return nil, err
	}
	return cfg, nil
}

// setCluster sets the server and how it is verified, and returns the CA
// (for an exec plugin that asks for the cluster's details).
func setCluster(cfg *k8sapi.Config, name string, cl *cluster) (caData []byte, err error) {
	where := fmt.Sprintf("cluster %q (in %s)", name, cl.origin)
	switch {
	case cl.InsecureSkipTLSVerify:
		return nil, fmt.Errorf("%w: %s sets insecure-skip-tls-verify: this package always verifies the server's certificate; "+
			"give the cluster's CA instead (kubectl config set-cluster %s --certificate-authority=ca.crt --embed-certs), "+
			"and tls-server-name when the certificate names another host than the server address", ErrUnsupported, where, name)
	case cl.ProxyURL != "":
		return nil, fmt.Errorf("%w: %s sets proxy-url: set the HTTPS_PROXY environment variable instead", ErrUnsupported, where)
	case cl.Server == "":
		return nil, fmt.Errorf("%w: %s has no server", ErrInvalidConfig, where)
	case cl.CertificateAuthority != "" && cl.CertificateAuthorityData != "":
		return nil, fmt.Errorf("%w: %s sets both certificate-authority and certificate-authority-data", ErrInvalidConfig, where)
	}
	cfg.Host = cl.Server
	if !strings.Contains(cfg.Host, "://") {
		cfg.Host = "https://" + cfg.Host // as kubectl reads a bare host:port
	}
	cfg.TLSServerName = cl.TLSServerName
	if cl.CertificateAuthority != "" {
		if caData, err = readFileFor(where, "certificate-authority", cl.CertificateAuthority); err != nil {
			return nil, err
		}
		cfg.CAFile = cl.CertificateAuthority
	}
	if cl.CertificateAuthorityData != "" {
		if caData, err = decodeData(where, "certificate-authority-data", cl.CertificateAuthorityData); err != nil {
			return nil, err
		}
		cfg.CAData = caData
	}
	return caData, nil
}

// setUser sets the credentials of the user name.
func setUser(cfg *k8sapi.Config, name string, u *user, cl *cluster, caData []byte, opts Options) error {
	where := fmt.Sprintf("user %q (in %s)", name, u.origin)
	switch {
	case u.AuthProvider != nil:
		return fmt.Errorf("%w: %s uses the legacy auth-provider %q, which kubectl dropped in 1.26: %s",
			ErrUnsupported, where, u.AuthProvider.Name, authProviderAdvice(u.AuthProvider.Name))
	case u.Username != "" || u.Password != "":
		return fmt.Errorf("%w: %s uses basic authentication (username and password), which Kubernetes dropped in 1.19: "+
			"use a token, a client certificate or an exec plugin", ErrUnsupported, where)
	case u.Impersonate != "" || u.ImpersonateUID != "" || len(u.ImpersonateGroups) > 0 || u.ImpersonateUserExtra.Kind != 0:
		return fmt.Errorf("%w: %s impersonates another user (as, as-uid, as-groups, as-user-extra): "+
			"give the program its own credentials, with the permissions it needs", ErrUnsupported, where)
	case u.ClientCertificate != "" && u.ClientCertificateData != "":
		return fmt.Errorf("%w: %s sets both client-certificate and client-certificate-data", ErrInvalidConfig, where)
	case u.ClientKey != "" && u.ClientKeyData != "":
		return fmt.Errorf("%w: %s sets both client-key and client-key-data", ErrInvalidConfig, where)
	case (u.ClientCertificate != "" || u.ClientCertificateData != "") != (u.ClientKey != "" || u.ClientKeyData != ""):
		return fmt.Errorf("%w: %s sets a client certificate without its key, or a key without a certificate", ErrInvalidConfig, where)
	}
	for _, f := range []struct {
		field, path string
		dst         *string
	}{{"client-certificate", u.ClientCertificate, &cfg.CertFile}, {"client-key", u.ClientKey, &cfg.KeyFile}} {
		if f.path != "" {
			if _, err := readFileFor(where, f.field, f.path); err != nil {
				return err
			}
			*f.dst = f.path
		}
	}
	for _, f := range []struct {
		field, data string
		dst         *[]byte
	}{{"client-certificate-data", u.ClientCertificateData, &cfg.CertData}, {"client-key-data", u.ClientKeyData, &cfg.KeyData}} {
		if f.data != "" {
			b, err := decodeData(where, f.field, f.data)
			if err != nil {
				return err
			}
			*f.dst = b
		}
	}
	cfg.BearerToken = u.Token
	if u.TokenFile != "" {
		if u.Token == "" {
			// Without a token to fall back on, the file must be readable
			// now, as kubectl has it; k8sapi re-reads it as it rotates.
			if _, err := readFileFor(where, "tokenFile", u.TokenFile); err != nil {
				return err
			}
		}
		cfg.BearerTokenFile = u.TokenFile
	}
	if u.Exec == nil {
		return nil
	}
	if u.Token != "" || u.TokenFile != "" || cfg.CertFile != "" || len(cfg.CertData) > 0 {
		return nil // kubectl too uses the static credentials, not the plugin
	}
	p, err := newExecPlugin(name, where, u.Exec, cl, caData, opts)
	if err != nil {
		return err
	}
	cfg.TokenSource = p
	cfg.GetClientCertificate = p.GetClientCertificate
	return nil
}

// newExecPlugin checks an exec section and prepares its plugin.
func newExecPlugin(name, where string, ec *execConfig, cl *cluster, caData []byte, opts Options) (*execPlugin, error) {
	switch ec.APIVersion {
	case execAPIv1, execAPIv1beta1:
	case execAPIv1alpha:
		return nil, fmt.Errorf("%w: %s: exec apiVersion %s was removed in Kubernetes 1.24: use a plugin version that speaks %s",
			ErrUnsupported, where, ec.APIVersion, execAPIv1)
	case "":
		return nil, fmt.Errorf("%w: %s: exec has no apiVersion", ErrInvalidConfig, where)
	default:
		return nil, fmt.Errorf("%w: %s: exec apiVersion %q is not %s or %s", ErrInvalidConfig, where, ec.APIVersion, execAPIv1, execAPIv1beta1)
	}
	if ec.Command == "" {
		return nil, fmt.Errorf("%w: %s: exec has no command", ErrInvalidConfig, where)
	}
	mode := ec.InteractiveMode
	if mode == "" && ec.APIVersion == execAPIv1beta1 {
		mode = "IfAvailable" // v1beta1's default
	}
	var interactive bool
	switch mode {
	case "Never":
	case "IfAvailable":
		interactive = opts.ExecStdin != nil
	case "Always":
		if opts.ExecStdin == nil {
			return nil, fmt.Errorf("%w: %s: the exec plugin %s needs a terminal (interactiveMode: Always), and Options.ExecStdin is not set",
				ErrExecPlugin, where, ec.Command)
		}
		interactive = true
	case "":
		return nil, fmt.Errorf("%w: %s: exec has no interactiveMode (%s requires one: Never, IfAvailable or Always)",
			ErrInvalidConfig, where, ec.APIVersion)
	default:
		return nil, fmt.Errorf("%w: %s: exec interactiveMode %q is not Never, IfAvailable or Always", ErrInvalidConfig, where, mode)
	}
	env := make([]string, 0, len(ec.Env))
	for _, e := range ec.Env {
		if e.Name == "" || strings.ContainsAny(e.Name, "=\x00") {
			return nil, fmt.Errorf("%w: %s: exec env has a variable without a valid name", ErrInvalidConfig, where)
		}
		env = append(env, e.Name+"="+e.Value)
	}
	info := execInfo{APIVersion: ec.APIVersion, Kind: "ExecCredential", Spec: execInfoSpec{Interactive: interactive}}
	if ec.ProvideClusterInfo {
		c := &execCluster{Server: cl.Server, TLSServerName: cl.TLSServerName, CertificateAuthorityData: caData}
		for _, ext := range cl.Extensions {
			if ext.Name != clusterExtension {
				continue
			}
			raw, err := nodeJSON(&ext.Extension)
			if err != nil {
				return nil, fmt.Errorf("%w: cluster extension %s (in %s): %w", ErrInvalidConfig, clusterExtension, cl.origin, err)
			}
			c.Config = raw
		}
		info.Spec.Cluster = c
	}
	infoJSON, err := json.Marshal(info)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %s: encode %s: %w", where, execInfoEnv, err)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	p := &execPlugin{
		user:        name,
		command:     ec.Command,
		args:        append([]string(nil), ec.Args...),
		env:         env,
		apiVersion:  ec.APIVersion,
		installHint: ec.InstallHint,
		info:        string(infoJSON),
		stderr:      opts.ExecStderr,
		now:         now,
		running:     make(chan struct{}, 1),
	}
	if interactive {
		p.stdin = opts.ExecStdin
	}
	return p, nil
}

// nodeJSON turns a YAML value into JSON.
func nodeJSON(n *yaml.Node) (json.RawMessage, error) {
	if n.Kind == 0 {
		return nil, nil
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// authProviderAdvice says which exec plugin replaced a legacy
// auth-provider.
func authProviderAdvice(name string) string {
	switch name {
	case "gcp":
		return "use gke-gcloud-auth-plugin (gcloud components install gke-gcloud-auth-plugin, then gcloud container clusters get-credentials)"
	case "azure":
		return "use kubelogin (kubelogin convert-kubeconfig -l azurecli)"
	case "oidc":
		return "use an OIDC exec plugin, such as kubelogin's oidc-login (kubectl oidc-login setup)"
	}
	return "use the exec credential plugin that replaces it"
}

// readFileFor reads a file that a kubeconfig entry names, for a clear
// error now rather than at the first request.
func readFileFor(where, field, path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %s: %w", ErrInvalidConfig, where, field, err)
	}
	return b, nil
}

// decodeData decodes a base64 *-data field. The error does not quote it.
func decodeData(where, field, s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		// base64's error gives only the offset of the bad byte.
		return nil, fmt.Errorf("%w: %s: %s is not base64: %w", ErrInvalidConfig, where, field, err)
	}
	return b, nil
}
