package deploytest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// mountScript runs "$@" in the mount namespace unshare(1) made, with the
// service-account folder $1 where a pod has it. /var/run gets a tmpfs of
// its own first, so that nothing is created on the host.
const mountScript = `set -e
sa=$1; shift
mount -t tmpfs -o size=1m,mode=0755 deploytest /var/run
mkdir -p /var/run/secrets/kubernetes.io/serviceaccount
mount --bind "$sa" /var/run/secrets/kubernetes.io/serviceaccount
exec "$@"`

// inPod returns argv run with the service-account folder sa mounted where
// a pod has it, in a private mount namespace.
func inPod(sa string, argv []string) []string {
	return append([]string{"unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", mountScript, "sh", sa}, argv...)
}

func canUnshareMounts() bool {
	if os.Geteuid() != 0 {
		return false
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		return false
	}
	argv := inPod(os.TempDir(), []string{"/bin/sh", "-c", "test -d /var/run/secrets/kubernetes.io/serviceaccount"})
	return exec.Command(argv[0], argv[1:]...).Run() == nil
}

// syncBuffer collects a process's output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// process is a program started by start.
type process struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

func start(t *testing.T, argv, env []string) *process {
	t.Helper()
	p := &process{out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// stop sends SIGTERM and returns the exit code, failing the test when the
// process has not exited within limit.
func (p *process) stop(t *testing.T, limit time.Duration) int {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(limit):
		t.Fatalf("not exited %v after SIGTERM; output:\n%s", limit, p.out)
		return -1
	}
}

// waitUntil polls cond every 50ms until it returns nil, for at most limit;
// it fails the test with cond's last error and the process's output.
func waitUntil(t *testing.T, limit time.Duration, p *process, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		err := cond()
		if err == nil {
			return
		}
		select {
		case <-p.done:
			t.Fatalf("%s: the program exited (%v); output:\n%s", what, p.cmd.ProcessState, p.out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v; output:\n%s", what, limit, err, p.out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func httpStatus(url string) error {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return nil
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// podEnv is the environment of container c in a pod named podName in the
// test namespace: the manifest's variables (downward API resolved), the
// in-cluster variables, and PATH.
func podEnv(t *testing.T, c container, podName string) []string {
	t.Helper()
	cl := need(t)
	env := []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range cl.Env() {
		env = append(env, k+"="+v)
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env = append(env, e.Name+"="+e.Value)
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name":
			env = append(env, e.Name+"="+podName)
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace":
			env = append(env, e.Name+"="+cl.Namespace)
		default:
			t.Fatalf("%s: env %s: a source this test does not resolve", c.Name, e.Name)
		}
	}
	return env
}

// serviceAccountFiles writes the files a pod of ServiceAccount name gets.
func serviceAccountFiles(ctx context.Context, t *testing.T, name string) string {
	t.Helper()
	c := need(t)
	token, err := c.Token(ctx, c.Namespace, name)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(c.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for f, b := range map[string][]byte{"token": []byte(token), "ca.crt": ca, "namespace": []byte(c.Namespace)} {
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestProgramsAsServiceAccount runs each pattern's program, with the
// manifest's arguments and environment, as the pattern's ServiceAccount
// (its Role only): it must lead, answer its probes, and release the Lease
// on SIGTERM within the pod's grace period. The programs see what a pod
// sees: KUBERNETES_SERVICE_HOST/PORT and the service-account files at
// /var/run/secrets/kubernetes.io/serviceaccount (in a private mount
// namespace; without root, kubelect gets the same credentials through
// $KUBECONFIG and the controller is skipped).
func TestProgramsAsServiceAccount(t *testing.T) {
	cl := need(t)
	needBinaries(t)
	if !inCluster {
		t.Log("no private mount namespace (needs root and unshare): kubelect reads $KUBECONFIG instead of the pod's files")
	}
	for _, p := range loadPatterns(t) {
		t.Run(p.dir, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
			defer cancel()
			createRBAC(ctx, t, p)
			sa := serviceAccountFiles(ctx, t, p.name)
			podName := p.name + "-7c9f8d6b5-" + strconv.Itoa(os.Getpid()%100000)
			env := podEnv(t, p.elector, podName)

			port := freePort(t)
			base := "http://127.0.0.1:" + strconv.Itoa(port)
			argv := []string{kubelectBin}
			if p.program == "controller" {
				argv = []string{controllerBin}
			}
			for _, a := range p.args {
				switch {
				case strings.HasPrefix(a, "--listen="):
					a = "--listen=127.0.0.1:" + strconv.Itoa(port)
				case a == "/app/job":
					// The image's job is deploy/wrapper/job.sh.
					job, _ := filepath.Abs(filepath.Join(repoRoot, "deploy", "wrapper", "job.sh"))
					argv = append(argv, "/bin/sh")
					a = job
				}
				argv = append(argv, a)
			}
			switch {
			case inCluster:
				argv = inPod(sa, argv)
			case p.program == "controller":
				t.Skip("the controller reads only the pod's service-account files, and there is no private mount namespace for them")
			default:
				kc := filepath.Join(t.TempDir(), "kubeconfig")
				text := fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: %q, certificate-authority: %q}\n"+
					"users:\n- name: u\n  user: {tokenFile: %q}\ncontexts:\n- name: x\n  context: {cluster: c, user: u, namespace: %q}\ncurrent-context: x\n",
					cl.Host, filepath.Join(sa, "ca.crt"), filepath.Join(sa, "token"), cl.Namespace)
				if err := os.WriteFile(kc, []byte(text), 0o600); err != nil {
					t.Fatal(err)
				}
				env = append(env, "KUBECONFIG="+kc)
			}
			if labelsPod[p.dir] {
				testPod(ctx, t, podName, p.name) // --label-pod labels it
			}
			t.Logf("%s", strings.Join(argv, " "))
			proc := start(t, argv, env)

			// Its probes, as the manifest asks them.
			probes := map[string]*probe{"liveness": p.elector.LivenessProbe, "readiness": p.elector.ReadinessProbe}
			for kind, pr := range probes {
				url := base + pr.HTTPGet.Path
				waitUntil(t, 20*time.Second, proc, kind+" probe", func() error { return httpStatus(url) })
			}
			waitUntil(t, 20*time.Second, proc, "leading", func() error {
				h, err := leaseHolder(ctx, t, p.name)
				if err == nil && h != podName {
					err = fmt.Errorf("holder %q", h)
				}
				return err
			})

			if labelsPod[p.dir] {
				waitUntil(t, 10*time.Second, proc, "the leader label on the pod", func() error {
					l, err := podLeaderLabel(ctx, t, podName)
					if err == nil && l != p.name {
						err = fmt.Errorf("label %q, want %q", l, p.name)
					}
					return err
				})
			}
			switch p.dir {
			case "go-program":
				if err := httpStatus(base + "/leader"); err != nil {
					t.Errorf("/leader on the leader: %v", err)
				}
			case "wrapper":
				waitUntil(t, 10*time.Second, proc, "the job", func() error {
					if !strings.Contains(proc.out.String(), "job: started as "+podName) {
						return errors.New("no start line")
					}
					return nil
				})
			case "sidecar":
				checkSidecarApp(t, p, proc, base, podName)
			}

			grace := time.Duration(*p.dep.Spec.Template.Spec.TerminationGracePeriodSeconds) * time.Second
			if code := proc.stop(t, grace); code != 0 {
				t.Errorf("exit code %d after SIGTERM, want 0; output:\n%s", code, proc.out)
			}
			if h, err := leaseHolder(ctx, t, p.name); err != nil || h != "" {
				t.Errorf("after SIGTERM the Lease's holder is %q (%v), want released", h, err)
			}
			if labelsPod[p.dir] {
				if l, err := podLeaderLabel(ctx, t, podName); err != nil || l != "" {
					t.Errorf("after SIGTERM the pod's leader label is %q (%v), want none", l, err)
				}
			}
			out := proc.out.String()
			if p.dir == "wrapper" && !strings.Contains(out, "job: SIGTERM: stopping") {
				t.Errorf("the job was not stopped by SIGTERM; output:\n%s", out)
			}
			// No request was refused: not the watch either (a follower
			// would fall back to polling, quietly but for the log).
			if low := strings.ToLower(out); strings.Contains(low, "forbidden") || strings.Contains(low, " 403") {
				t.Errorf("a request was refused; output:\n%s", out)
			}
		})
	}
}

// checkSidecarApp runs the sidecar's app container (its shell script) with
// sh against the kubelect at base, as the pod would, until it says its pod
// leads.
func checkSidecarApp(t *testing.T, p *pattern, sidecar *process, base, podName string) {
	t.Helper()
	// The Lease names the pod once its write is stored; the sidecar's /
	// does once the write's answer has come back: a few ms later.
	waitUntil(t, 5*time.Second, sidecar, "GET / naming the pod", func() error {
		var leader leaderJSON
		if err := getJSON(base+"/", &leader); err != nil {
			return err
		}
		if leader.Name != podName {
			return fmt.Errorf("%+v, want the name %s", leader, podName)
		}
		return nil
	})
	var app *container
	for i, c := range p.dep.Spec.Template.Spec.Containers {
		if c.Name == "app" {
			app = &p.dep.Spec.Template.Spec.Containers[i]
		}
	}
	if app == nil || len(app.Command) != 3 || !slices.Equal(app.Command[:2], []string{"/bin/sh", "-c"}) {
		t.Fatalf("the app container is not /bin/sh -c SCRIPT: %+v", app)
	}
	if _, err := exec.LookPath("wget"); err != nil {
		t.Log("no wget: the app's script is not run")
		return
	}
	script := strings.ReplaceAll(app.Command[2], "http://127.0.0.1:8080/", base+"/")
	env := append(podEnv(t, *app, podName), "TMPDIR="+t.TempDir())
	proc := start(t, []string{"/bin/sh", "-c", script}, env)
	waitUntil(t, 10*time.Second, proc, "the app", func() error {
		if !strings.Contains(proc.out.String(), "app: this pod leads") {
			return errors.New("it has not said that its pod leads")
		}
		return nil
	})
	if code := proc.stop(t, 5*time.Second); code != 0 || !strings.Contains(proc.out.String(), "app: stopping") {
		t.Errorf("the app: exit %d after SIGTERM; output:\n%s", code, proc.out)
	}
}

// leaderJSON is the part of kubelect serve's "/" the app reads.
type leaderJSON struct {
	Name    string `json:"name"`
	Version uint64 `json:"version"`
}

func getJSON(url string, v any) error {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}
