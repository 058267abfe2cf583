package kubeconfigtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/kubelect/kubelect/k8sapi"
)

const (
	execV1      = "client.authentication.k8s.io/v1"
	execV1beta1 = "client.authentication.k8s.io/v1beta1"
)

// pluginRun is one line of testdata/execplugin's log.
type pluginRun struct {
	Run        int               `json:"run"`
	Time       time.Time         `json:"time"`
	Args       []string          `json:"args"`
	Env        map[string]string `json:"env"`
	ExecInfo   json.RawMessage   `json:"execInfo"`
	TokenIndex int               `json:"tokenIndex"`
	Expiration *time.Time        `json:"expiration"`
}

// pluginLog is the log of one plugin configuration.
type pluginLog string

func newPluginLog(t *testing.T) pluginLog {
	return pluginLog(filepath.Join(t.TempDir(), "plugin.log"))
}

// runs reads the runs logged so far.
func (l pluginLog) runs(t *testing.T) []pluginRun {
	t.Helper()
	b, err := os.ReadFile(string(l))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var runs []pluginRun
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r pluginRun
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("plugin log line %q: %v", sc.Text(), err)
		}
		runs = append(runs, r)
	}
	return runs
}

// wantRuns fails the test unless the plugin ran n times.
func (l pluginLog) wantRuns(t *testing.T, n int, when string) []pluginRun {
	t.Helper()
	runs := l.runs(t)
	if len(runs) != n {
		t.Fatalf("%s: the plugin ran %d times, want %d", when, len(runs), n)
	}
	return runs
}

// execUser is a user whose exec plugin, logging to log, is given args
// after -log.
func execUser(apiVersion string, log pluginLog, args ...string) userSection {
	mode := "Never"
	if apiVersion == execV1beta1 {
		mode = "IfAvailable" // what kubectl writes for v1beta1 when not told
	}
	return userSection{Exec: &execSection{
		Command: pluginPath, Args: append([]string{"-log", string(log)}, args...),
		APIVersion: apiVersion, InteractiveMode: mode,
	}}
}

// execInfo is the KUBERNETES_EXEC_INFO that the plugin saw.
type execInfo struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Spec       struct {
		Interactive bool `json:"interactive"`
		Cluster     *struct {
			Server                   string `json:"server"`
			TLSServerName            string `json:"tls-server-name"`
			CertificateAuthorityData []byte `json:"certificate-authority-data"`
		} `json:"cluster"`
	} `json:"spec"`
}

// The plugin runs at the first request, not in Load, with the args and
// env of the kubeconfig and KUBERNETES_EXEC_INFO; its token, which does
// not expire, serves every request after.
func TestExecPlugin(t *testing.T) {
	need(t)
	ca, err := os.ReadFile(cluster.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		apiVersion  string
		clusterInfo bool
		relative    bool // the command is bin/execplugin, relative to the kubeconfig
	}{
		{apiVersion: execV1, clusterInfo: true},
		{apiVersion: execV1beta1, relative: true},
	} {
		t.Run(tc.apiVersion, func(t *testing.T) {
			dir := t.TempDir()
			log := newPluginLog(t)
			tokenFile := writeFile(t, dir, "token", []byte(newSAToken(t)))
			u := execUser(tc.apiVersion, log, "-token", tokenFile, "-mark", "two words")
			u.Exec.Env = []execEnv{{Name: "PLUGIN_MODE", Value: "real-api"}, {Name: "PLUGIN_EMPTY", Value: ""}}
			u.Exec.ProvideClusterInfo = tc.clusterInfo
			if tc.relative {
				if err := os.Mkdir(filepath.Join(dir, "bin"), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(pluginPath, filepath.Join(dir, "bin", "execplugin")); err != nil {
					t.Fatal(err)
				}
				u.Exec.Command = "bin/execplugin"
				t.Chdir(t.TempDir()) // relative to the kubeconfig's folder, not the working directory
			}
			path := writeKubeconfig(t, dir, "config", singleContext("exec", realCluster(), u, cluster.Namespace))
			cfg := loadPath(t, path)
			log.wantRuns(t, 0, "after Load")

			c := newClient(t, cfg)
			mustBe(t, c, saUser(cluster.ServiceAccount))
			run := log.wantRuns(t, 1, "after the first request")[0]
			leaseRoundTrip(t, c, "kubeconfigtest-exec-"+tc.apiVersion[len("client.authentication.k8s.io/"):])
			mustBe(t, c, saUser(cluster.ServiceAccount))
			log.wantRuns(t, 1, "after five requests")

			if want := u.Exec.Args; !slices.Equal(run.Args, want) {
				t.Errorf("the plugin got args %q, want %q", run.Args, want)
			}
			if want := map[string]string{"PLUGIN_MODE": "real-api", "PLUGIN_EMPTY": ""}; !maps.Equal(run.Env, want) {
				t.Errorf("the plugin got env %v, want %v", run.Env, want)
			}
			var info execInfo
			if err := json.Unmarshal(run.ExecInfo, &info); err != nil {
				t.Fatalf("KUBERNETES_EXEC_INFO %s: %v", run.ExecInfo, err)
			}
			if info.APIVersion != tc.apiVersion || info.Kind != "ExecCredential" || info.Spec.Interactive {
				t.Errorf("KUBERNETES_EXEC_INFO: %s, want apiVersion %s, kind ExecCredential, interactive false", run.ExecInfo, tc.apiVersion)
			}
			switch cl := info.Spec.Cluster; {
			case !tc.clusterInfo && cl != nil:
				t.Errorf("KUBERNETES_EXEC_INFO has the cluster without provideClusterInfo: %s", run.ExecInfo)
			case tc.clusterInfo && cl == nil:
				t.Errorf("KUBERNETES_EXEC_INFO has no cluster with provideClusterInfo: %s", run.ExecInfo)
			case tc.clusterInfo && (cl.Server != cluster.Host || !bytes.Equal(cl.CertificateAuthorityData, ca)):
				t.Errorf("KUBERNETES_EXEC_INFO: cluster server %q and CA of %d bytes, want %q and the %d bytes of %s",
					cl.Server, len(cl.CertificateAuthorityData), cluster.Host, len(ca), cluster.CAFile)
			}
		})
	}
}

// A token with an expirationTimestamp is used until then, without
// running the plugin again, and the plugin runs again once it has passed.
func TestExecPluginExpiry(t *testing.T) {
	need(t)
	t.Parallel()
	log := newPluginLog(t)
	tokenFile := writeFile(t, t.TempDir(), "token", []byte(newSAToken(t)))
	cfg := load(t, singleContext("expiring", realCluster(), execUser(execV1, log, "-token", tokenFile, "-expire-in", "3s"), ""))
	c := newClient(t, cfg)
	ctx := context.Background()
	mustBe(t, c, saUser(cluster.ServiceAccount))
	first := log.wantRuns(t, 1, "after the first request")[0]
	if first.Expiration == nil {
		t.Fatal("the plugin returned no expirationTimestamp")
	}
	expiry := *first.Expiration

	// Requests until the plugin runs again: none before expiry may run it.
	var beforeExpiry int
	deadline := expiry.Add(15 * time.Second)
	for {
		if _, err := whoami(ctx, c); err != nil {
			t.Fatal(err)
		}
		done := time.Now()
		runs := log.runs(t)
		if len(runs) > 1 {
			second := runs[1]
			if second.Time.Before(expiry) {
				t.Fatalf("the plugin ran again at %s, before its token expired at %s", second.Time.Format(time.StampMilli), expiry.Format(time.StampMilli))
			}
			if len(runs) > 2 {
				t.Fatalf("the plugin ran %d times; want it once more after expiry", len(runs))
			}
			break
		}
		if done.Before(expiry) {
			beforeExpiry++
		}
		if done.After(deadline) {
			t.Fatalf("the token expired at %s and the plugin has not run again by %s", expiry.Format(time.StampMilli), done.Format(time.StampMilli))
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The cached token served requests: this many came back before expiry.
	if beforeExpiry < 3 {
		t.Fatalf("only %d requests completed before the token expired: the cache was not exercised", beforeExpiry)
	}
	t.Logf("%d requests with the first token before it expired; the plugin ran again after", beforeExpiry)
	mustBe(t, c, saUser(cluster.ServiceAccount))
	log.wantRuns(t, 2, "right after the second run")
}

// A plugin whose first token the server refuses (401): the client runs it
// again and sends the request once more with the new token; the caller
// sees no error.
func TestExecPluginRunsAgainAfter401(t *testing.T) {
	need(t)
	dir := t.TempDir()
	log := newPluginLog(t)
	bad := writeFile(t, dir, "bad", []byte(bogusToken()))
	good := writeFile(t, dir, "good", []byte(newSAToken(t)))
	c := newClient(t, load(t, singleContext("refused", realCluster(), execUser(execV1, log, "-token", bad, "-token", good), "")))
	mustBe(t, c, saUser(cluster.ServiceAccount))
	runs := log.wantRuns(t, 2, "after a request whose first token was refused")
	if runs[0].TokenIndex != 0 || runs[1].TokenIndex != 1 {
		t.Fatalf("the plugin returned tokens %d then %d, want the bad one then the good one", runs[0].TokenIndex, runs[1].TokenIndex)
	}
	leaseRoundTrip(t, c, "kubeconfigtest-exec-refused")
	log.wantRuns(t, 2, "after more requests")
}

// A plugin that returns a client certificate (and no token): the server
// takes the client for the certificate's user.
func TestExecPluginClientCertificate(t *testing.T) {
	need(t)
	const user = "kubeconfigtest-exec-cert-user"
	certPEM, keyPEM, err := cluster.ClientCertificate(user, certGroup)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	log := newPluginLog(t)
	cert, key := writeFile(t, dir, "client.crt", certPEM), writeFile(t, dir, "client.key", keyPEM)
	c := newClient(t, load(t, singleContext("exec-cert", realCluster(), execUser(execV1beta1, log, "-cert", cert, "-key", key), "")))
	ui := mustBe(t, c, user)
	if !slices.Contains(ui.Groups, certGroup) {
		t.Errorf("groups %v, want %s among them", ui.Groups, certGroup)
	}
	_, err = c.Get(context.Background(), k8sapi.Leases, cluster.Namespace, "kubeconfigtest-exec-cert")
	if !k8sapi.IsForbidden(err) {
		t.Errorf("get a Lease as %s, which no RoleBinding names: %v, want Forbidden", user, err)
	}
	log.wantRuns(t, 1, "after two requests")
}
