package kubeconfig

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/kubelect/kubelect/k8sapi"
)

// EnvVar is the environment variable that lists kubeconfig files,
// separated as PATH is (':' on Unix, ';' on Windows).
const EnvVar = "KUBECONFIG"

// DefaultNamespace is the namespace of a context that names none.
const DefaultNamespace = "default"

// Options say which kubeconfig to load and how to run its exec plugins.
// The zero value loads what kubectl would: $KUBECONFIG, else
// ~/.kube/config, in its current context.
type Options struct {
	// Path is the one kubeconfig file to read, as kubectl's --kubeconfig
	// flag: it must exist, and KUBECONFIG is not read. Empty means the
	// files that KUBECONFIG lists, merged (those that do not exist are
	// skipped), or ~/.kube/config when KUBECONFIG is unset or empty.
	Path string
	// Context is the context to use, as kubectl's --context flag. Empty
	// means the current-context of the files.
	Context string

	// ExecStdin, when set, is the standard input of exec credential
	// plugins that may ask the user something (interactiveMode
	// IfAvailable, the default of v1beta1, or Always): they are told that
	// they run interactively. Set it to os.Stdin only when that is a
	// terminal. Nil: plugins run without input and are told they are not
	// interactive, and a plugin that needs a terminal (Always) is an
	// error of Load.
	ExecStdin io.Reader
	// ExecStderr receives what exec credential plugins write on their
	// standard error, as they write it: prompts, warnings. Nil discards
	// it. Either way, the error of a plugin that fails ends with the last
	// lines of it.
	ExecStderr io.Writer
	// Now is the clock that decides when the credential of an exec plugin
	// has expired. Nil means time.Now.
	Now func() time.Time
}

// Load reads the kubeconfig files that opts name, merged as kubectl
// merges them, and returns the config of the chosen context: its server,
// its CA, tls-server-name and credentials, and its namespace (default
// "default") in Config.Namespace. Relative file names in a file are
// resolved against the folder of that file.
//
// Credentials: a token and a tokenFile (the file is re-read as it
// rotates, the token used when it cannot be read), a client certificate
// and key (files or data), or an exec credential plugin, which runs when
// the first request needs a credential, not in Load; its credential is
// cached until its expirationTimestamp, and the plugin runs again after
// the server refuses it (401). As with kubectl, a user with a token or a
// client certificate does not run its exec plugin.
//
// The error wraps ErrNoConfig, ErrContextNotFound, ErrInvalidConfig,
// ErrUnsupported or ErrExecPlugin, or the fs error of a file that cannot
// be read (errors.Is(err, fs.ErrNotExist) for an Options.Path that does
// not exist). It never shows a token, a password or a key.
func Load(opts Options) (*k8sapi.Config, error) {
	paths, from, err := kubeconfigPaths(opts.Path)
	if err != nil {
		return nil, err
	}
	explicit := from == ""
	var read []string
	var files []*file
	for _, path := range paths {
		f, err := readFile(path)
		if errors.Is(err, fs.ErrNotExist) && !explicit {
			continue // kubectl skips the files of KUBECONFIG that do not exist
		}
		if err != nil {
			return nil, err
		}
		read = append(read, path)
		files = append(files, f)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNoConfig, from)
	}
	return merge(read, files).config(opts)
}

// kubeconfigPaths returns the files to read and, unless they were named
// explicitly (then they must exist), where they came from, said as the
// error when none exists.
func kubeconfigPaths(path string) (paths []string, from string, err error) {
	if path != "" {
		return []string{path}, "", nil
	}
	if env := os.Getenv(EnvVar); env != "" {
		seen := make(map[string]bool)
		for _, p := range filepath.SplitList(env) {
			if p != "" && !seen[p] {
				seen[p] = true
				paths = append(paths, p)
			}
		}
		if len(paths) > 0 {
			return paths, fmt.Sprintf("none of the files that %s lists exists (%s)", EnvVar, env), nil
		}
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return nil, "", fmt.Errorf("%w: %s is not set and there is no home folder: %w", ErrNoConfig, EnvVar, err)
	}
	path = filepath.Join(home, ".kube", "config")
	return []string{path}, fmt.Sprintf("%s is not set and %s does not exist", EnvVar, path), nil
}

// serviceAccountDir is where InClusterOrLoad looks for the pod's
// service-account files; tests change it.
var serviceAccountDir = k8sapi.ServiceAccountDir

// InClusterOrLoad returns the config a program should use wherever it
// runs, in the order that controller-runtime and most operators use:
//
//  1. a kubeconfig named by opts.Path or KUBECONFIG, or a kubeconfig
//     context named by opts.Context (Load);
//  2. else, in a pod (KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT
//     set), the pod's service account (k8sapi.InClusterConfig), whose
//     Namespace is the pod's;
//  3. else ~/.kube/config (Load).
//
// In a pod whose service-account files are missing (automountServiceAccountToken:
// false), the error says so rather than falling back to a kubeconfig. With
// neither a pod nor a kubeconfig, the error wraps ErrNoConfig.
func InClusterOrLoad(opts Options) (*k8sapi.Config, error) {
	if opts.Path != "" || opts.Context != "" || os.Getenv(EnvVar) != "" {
		return Load(opts)
	}
	cfg, err := k8sapi.InClusterConfigFromDir(serviceAccountDir)
	if err == nil {
		return cfg, nil
	}
	if !errors.Is(err, k8sapi.ErrNotInCluster) {
		return nil, err
	}
	cfg, err = Load(opts)
	if errors.Is(err, ErrNoConfig) {
		return nil, fmt.Errorf("%w (and not in a pod: KUBERNETES_SERVICE_HOST is not set)", err)
	}
	return cfg, err
}
