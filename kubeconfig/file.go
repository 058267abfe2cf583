package kubeconfig

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The kubeconfig file format (clientcmd/api/v1), as far as this package
// reads it. Fields it does not know are ignored, as kubectl ignores them.
// Every field that can hold a secret is a string, so that the YAML
// decoder, which quotes the first bytes of a value it cannot convert,
// never quotes one.

type file struct {
	APIVersion     string         `yaml:"apiVersion"`
	Kind           string         `yaml:"kind"`
	Clusters       []namedCluster `yaml:"clusters"`
	Users          []namedUser    `yaml:"users"`
	Contexts       []namedContext `yaml:"contexts"`
	CurrentContext string         `yaml:"current-context"`
}

type namedCluster struct {
	Name    string  `yaml:"name"`
	Cluster cluster `yaml:"cluster"`
}

type cluster struct {
	Server                   string           `yaml:"server"`
	TLSServerName            string           `yaml:"tls-server-name"`
	InsecureSkipTLSVerify    bool             `yaml:"insecure-skip-tls-verify"`
	CertificateAuthority     string           `yaml:"certificate-authority"`
	CertificateAuthorityData string           `yaml:"certificate-authority-data"`
	ProxyURL                 string           `yaml:"proxy-url"`
	DisableCompression       bool             `yaml:"disable-compression"`
	Extensions               []namedExtension `yaml:"extensions"`

	origin string // the file that defined it
}

type namedExtension struct {
	Name      string    `yaml:"name"`
	Extension yaml.Node `yaml:"extension"`
}

type namedUser struct {
	Name string `yaml:"name"`
	User user   `yaml:"user"`
}

type user struct {
	ClientCertificate     string        `yaml:"client-certificate"`
	ClientCertificateData string        `yaml:"client-certificate-data"`
	ClientKey             string        `yaml:"client-key"`
	ClientKeyData         string        `yaml:"client-key-data"`
	Token                 string        `yaml:"token"`
	TokenFile             string        `yaml:"tokenFile"`
	Impersonate           string        `yaml:"as"`
	ImpersonateUID        string        `yaml:"as-uid"`
	ImpersonateGroups     []string      `yaml:"as-groups"`
	ImpersonateUserExtra  yaml.Node     `yaml:"as-user-extra"`
	Username              string        `yaml:"username"`
	Password              string        `yaml:"password"`
	AuthProvider          *authProvider `yaml:"auth-provider"`
	Exec                  *execConfig   `yaml:"exec"`

	origin string // the file that defined it
}

type authProvider struct {
	Name string `yaml:"name"`
}

type execConfig struct {
	Command            string    `yaml:"command"`
	Args               []string  `yaml:"args"`
	Env                []execEnv `yaml:"env"`
	APIVersion         string    `yaml:"apiVersion"`
	InstallHint        string    `yaml:"installHint"`
	ProvideClusterInfo bool      `yaml:"provideClusterInfo"`
	InteractiveMode    string    `yaml:"interactiveMode"`
}

type execEnv struct {
	Name  string `yaml:"name"`
	Value string `yaml:"value"`
}

type namedContext struct {
	Name    string      `yaml:"name"`
	Context kubeContext `yaml:"context"`
}

type kubeContext struct {
	Cluster   string `yaml:"cluster"`
	User      string `yaml:"user"`
	Namespace string `yaml:"namespace"`

	origin string // the file that defined it
}

// maxFileBytes bounds a kubeconfig file: real ones are kilobytes, a few
// hundred with many embedded certificates.
const maxFileBytes = 16 << 20

// readFile reads and decodes one kubeconfig file. An empty file is an
// empty config, as kubectl has it.
func readFile(path string) (*file, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err) // *fs.PathError: names the file
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: read %s: %w", path, err)
	}
	if len(b) > maxFileBytes {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrInvalidConfig, path, maxFileBytes)
	}
	return parseFile(path, b)
}

// parseFile decodes the contents b of the file at path.
func parseFile(path string, b []byte) (*file, error) {
	kc := new(file)
	if len(bytes.TrimSpace(b)) == 0 {
		return kc, nil
	}
	if err := yaml.Unmarshal(b, kc); err != nil {
		// yaml's errors name lines, and quote at most the first 7 bytes
		// of a scalar that does not fit its field; no secret field is
		// such a field.
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalidConfig, path, err)
	}
	if kc.Kind != "" && kc.Kind != "Config" {
		return nil, fmt.Errorf("%w: %s: kind is %q, not Config", ErrInvalidConfig, path, kc.Kind)
	}
	if kc.APIVersion != "" && kc.APIVersion != "v1" {
		return nil, fmt.Errorf("%w: %s: apiVersion is %q, not v1", ErrInvalidConfig, path, kc.APIVersion)
	}
	if err := kc.checkNames(path); err != nil {
		return nil, err
	}
	kc.resolvePaths(path)
	return kc, nil
}

// checkNames rejects a name used twice in one list, as kubectl does.
func (kc *file) checkNames(path string) error {
	lists := []struct {
		what  string
		names []string
	}{
		{"cluster", names(kc.Clusters, func(c namedCluster) string { return c.Name })},
		{"user", names(kc.Users, func(u namedUser) string { return u.Name })},
		{"context", names(kc.Contexts, func(c namedContext) string { return c.Name })},
	}
	for _, l := range lists {
		seen := make(map[string]bool, len(l.names))
		for _, n := range l.names {
			if seen[n] {
				return fmt.Errorf("%w: %s: %s %q is defined twice", ErrInvalidConfig, path, l.what, n)
			}
			seen[n] = true
		}
	}
	return nil
}

func names[T any](list []T, name func(T) string) []string {
	out := make([]string, len(list))
	for i, v := range list {
		out[i] = name(v)
	}
	return out
}

// resolvePaths makes the relative file names in kc absolute, against the
// folder of the file that holds them, and records where each entry came
// from. An exec command is resolved only when it names a path (holds a
// separator); a bare name is looked up in PATH when the plugin runs.
func (kc *file) resolvePaths(path string) {
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		dir = filepath.Dir(path)
	}
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	for i := range kc.Clusters {
		c := &kc.Clusters[i].Cluster
		c.origin = path
		abs(&c.CertificateAuthority)
	}
	for i := range kc.Users {
		u := &kc.Users[i].User
		u.origin = path
		abs(&u.ClientCertificate)
		abs(&u.ClientKey)
		abs(&u.TokenFile)
		if u.Exec != nil && strings.ContainsRune(u.Exec.Command, filepath.Separator) {
			abs(&u.Exec.Command)
		}
	}
	for i := range kc.Contexts {
		kc.Contexts[i].Context.origin = path
	}
}

// merged is several kubeconfig files merged in kubectl's order.
type merged struct {
	files          []string // the files read, in order
	clusters       map[string]cluster
	users          map[string]user
	contexts       map[string]kubeContext
	currentContext string
}

// merge merges files in kubectl's order: the first file to define a
// cluster, user or context name wins whole (nothing of a later file's
// entry of that name is used), and the current-context comes from the
// first file that sets one.
func merge(paths []string, files []*file) *merged {
	m := &merged{
		files:    paths,
		clusters: make(map[string]cluster),
		users:    make(map[string]user),
		contexts: make(map[string]kubeContext),
	}
	for _, f := range files {
		for _, c := range f.Clusters {
			if _, ok := m.clusters[c.Name]; !ok {
				m.clusters[c.Name] = c.Cluster
			}
		}
		for _, u := range f.Users {
			if _, ok := m.users[u.Name]; !ok {
				m.users[u.Name] = u.User
			}
		}
		for _, c := range f.Contexts {
			if _, ok := m.contexts[c.Name]; !ok {
				m.contexts[c.Name] = c.Context
			}
		}
		if m.currentContext == "" {
			m.currentContext = f.CurrentContext
		}
	}
	return m
}

// where names the files read, for errors.
func (m *merged) where() string {
	switch len(m.files) {
	case 0:
		return "no kubeconfig file"
	case 1:
		return m.files[0]
	}
	return strings.Join(m.files, ", ")
}
