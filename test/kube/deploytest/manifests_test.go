package deploytest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// object is one document of a manifest.
type object struct {
	file       string // relative to deploy/
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string            `json:"name"`
		Namespace string            `json:"namespace"`
		Labels    map[string]string `json:"labels"`
	} `json:"metadata"`
	raw []byte // the document as JSON
}

func (o object) String() string { return o.file + ": " + o.Kind + " " + o.Metadata.Name }

// loadManifests reads every YAML document under deploy/, but the
// kustomization files (returned apart, by folder).
func loadManifests(t *testing.T) (objs []object, kustomizations map[string][]string) {
	t.Helper()
	root := filepath.Join(repoRoot, "deploy")
	kustomizations = map[string][]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || (!strings.HasSuffix(path, ".yaml") && !strings.HasSuffix(path, ".yml")) {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for i := 0; ; i++ {
			var doc any
			if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return fmt.Errorf("%s: document %d: %w", rel, i, err)
			}
			if doc == nil {
				continue // an empty document
			}
			j, err := json.Marshal(doc)
			if err != nil {
				return fmt.Errorf("%s: document %d: not JSON: %w", rel, i, err)
			}
			o := object{file: rel, raw: j}
			if err := json.Unmarshal(j, &o); err != nil {
				return fmt.Errorf("%s: document %d: %w", rel, i, err)
			}
			if o.Kind == "Kustomization" {
				var k struct{ Resources []string }
				if err := json.Unmarshal(j, &k); err != nil {
					return err
				}
				kustomizations[filepath.Dir(rel)] = k.Resources
				continue
			}
			objs = append(objs, o)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return objs, kustomizations
}

// The parts of the Kubernetes types the checks read.
type (
	deployment struct {
		Spec struct {
			Replicas *int `json:"replicas"`
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
			Template struct {
				Metadata struct {
					Labels map[string]string `json:"labels"`
				} `json:"metadata"`
				Spec podSpec `json:"spec"`
			} `json:"template"`
		} `json:"spec"`
	}
	podSpec struct {
		ServiceAccountName            string          `json:"serviceAccountName"`
		TerminationGracePeriodSeconds *int            `json:"terminationGracePeriodSeconds"`
		SecurityContext               securityContext `json:"securityContext"`
		InitContainers                []container     `json:"initContainers"`
		Containers                    []container     `json:"containers"`
	}
	securityContext struct {
		RunAsNonRoot             *bool `json:"runAsNonRoot"`
		RunAsUser                *int  `json:"runAsUser"`
		AllowPrivilegeEscalation *bool `json:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   *bool `json:"readOnlyRootFilesystem"`
		Capabilities             *struct {
			Drop []string `json:"drop"`
			Add  []string `json:"add"`
		} `json:"capabilities"`
		SeccompProfile *struct {
			Type string `json:"type"`
		} `json:"seccompProfile"`
	}
	container struct {
		Name            string          `json:"name"`
		Image           string          `json:"image"`
		Command         []string        `json:"command"`
		Args            []string        `json:"args"`
		Env             []envVar        `json:"env"`
		Ports           []port          `json:"ports"`
		LivenessProbe   *probe          `json:"livenessProbe"`
		ReadinessProbe  *probe          `json:"readinessProbe"`
		SecurityContext securityContext `json:"securityContext"`
		RestartPolicy   string          `json:"restartPolicy"`
	}
	envVar struct {
		Name      string `json:"name"`
		Value     string `json:"value"`
		ValueFrom *struct {
			FieldRef *struct {
				FieldPath string `json:"fieldPath"`
			} `json:"fieldRef"`
		} `json:"valueFrom"`
	}
	port struct {
		Name          string `json:"name"`
		ContainerPort int    `json:"containerPort"`
	}
	probe struct {
		HTTPGet *struct {
			Path string `json:"path"`
			Port any    `json:"port"`
		} `json:"httpGet"`
	}
	policyRule struct {
		APIGroups     []string `json:"apiGroups"`
		Resources     []string `json:"resources"`
		ResourceNames []string `json:"resourceNames"`
		Verbs         []string `json:"verbs"`
	}
	role struct {
		Rules []policyRule `json:"rules"`
	}
	service struct {
		Spec struct {
			Selector map[string]string `json:"selector"`
			Ports    []struct {
				Name       string `json:"name"`
				TargetPort any    `json:"targetPort"`
			} `json:"ports"`
		} `json:"spec"`
	}
	roleBinding struct {
		RoleRef struct {
			Kind, Name string
		} `json:"roleRef"`
		Subjects []struct {
			Kind, Name, Namespace string
		} `json:"subjects"`
	}
)

// pattern is one folder of deploy/: its objects and what they run.
type pattern struct {
	dir  string
	name string // of the ServiceAccount, Role, RoleBinding, Deployment and Lease
	objs []object
	dep  deployment
	role role
	svc  *service // the Service that selects the leader (--label-pod), if any
	// elector is the container that stands for the Lease; its program is
	// "kubelect" or "controller".
	elector container
	program string
	args    []string // the program's arguments (without argv[0])
}

// patterns are the folders and the name of their objects.
var patterns = map[string]string{"go-program": "controller-example", "sidecar": "sidecar-example", "wrapper": "job-example"}

func loadPatterns(t *testing.T) []*pattern {
	t.Helper()
	objs, kustomizations := loadManifests(t)
	var ps []*pattern
	for dir, name := range patterns {
		p := &pattern{dir: dir, name: name}
		var files []string
		for _, o := range objs {
			if filepath.Dir(o.file) == dir {
				p.objs = append(p.objs, o)
				if f := filepath.Base(o.file); !slices.Contains(files, f) {
					files = append(files, f)
				}
			}
		}
		kf := append([]string(nil), kustomizations[dir]...)
		sort.Strings(files)
		sort.Strings(kf)
		if !slices.Equal(files, kf) {
			t.Errorf("deploy/%s/kustomization.yaml lists %q, the folder holds %q", dir, kf, files)
		}
		for _, o := range p.objs {
			var err error
			switch o.Kind {
			case "Deployment":
				err = json.Unmarshal(o.raw, &p.dep)
			case "Role":
				err = json.Unmarshal(o.raw, &p.role)
			case "Service":
				p.svc = new(service)
				err = json.Unmarshal(o.raw, p.svc)
			}
			if err != nil {
				t.Fatalf("%s: %v", o, err)
			}
		}
		spec := p.dep.Spec.Template.Spec
		for _, c := range append(append([]container(nil), spec.InitContainers...), spec.Containers...) {
			argv := append(append([]string(nil), c.Command...), c.Args...)
			switch {
			case strings.HasPrefix(c.Image, "ghcr.io/kubelect/kubelect:") && len(c.Command) == 0:
				p.elector, p.program, p.args = c, "kubelect", argv // the image's ENTRYPOINT
			case len(argv) > 0 && argv[0] == "/usr/local/bin/kubelect":
				p.elector, p.program, p.args = c, "kubelect", argv[1:]
			case strings.HasPrefix(c.Image, "ghcr.io/kubelect/controller-example:") && len(c.Command) == 0:
				p.elector, p.program, p.args = c, "controller", argv
			}
		}
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].dir < ps[j].dir })
	for _, o := range objs {
		if _, ok := patterns[filepath.Dir(o.file)]; !ok {
			t.Errorf("%s: not in a folder this test knows (%v): add it to patterns", o, patterns)
		}
	}
	return ps
}

// flagValue returns the value of --name=V (or -name V) in args, up to "--".
func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		if a == "--" {
			break
		}
		for _, prefix := range []string{"--" + name, "-" + name} {
			if v, ok := strings.CutPrefix(a, prefix+"="); ok {
				return v, true
			}
			if a == prefix && i+1 < len(args) {
				return args[i+1], true
			}
		}
	}
	return "", false
}

func durationFlag(t *testing.T, p *pattern, name string, def time.Duration) time.Duration {
	t.Helper()
	v, ok := flagValue(p.args, name)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("%s: --%s=%q: %v", p.dir, name, v, err)
	}
	return d
}

// listenPort is the port of the program's --listen flag.
func listenPort(t *testing.T, p *pattern) int {
	t.Helper()
	v, ok := flagValue(p.args, "listen")
	if !ok {
		t.Fatalf("%s: the %s container has no --listen: its probes have nothing to ask", p.dir, p.elector.Name)
	}
	_, port, _ := strings.Cut(v, ":")
	n, err := strconv.Atoi(port)
	if err != nil {
		t.Fatalf("%s: --listen=%q: no port", p.dir, v)
	}
	return n
}

func TestManifests(t *testing.T) {
	for _, p := range loadPatterns(t) {
		t.Run(p.dir, func(t *testing.T) { checkPattern(t, p) })
	}
}

func checkPattern(t *testing.T, p *pattern) {
	kinds := map[string]int{}
	for _, o := range p.objs {
		kinds[o.Kind]++
		if o.Metadata.Name != p.name {
			t.Errorf("%s: name %q, want %q like the others of the folder", o, o.Metadata.Name, p.name)
		}
		if o.Metadata.Namespace != "" {
			t.Errorf("%s: names namespace %q: the manifests go into the namespace they are applied to", o, o.Metadata.Namespace)
		}
	}
	want := map[string]int{"ServiceAccount": 1, "Role": 1, "RoleBinding": 1, "Deployment": 1}
	if labelsPod[p.dir] {
		want["Service"] = 1
	}
	if fmt.Sprint(kinds) != fmt.Sprint(want) {
		t.Fatalf("kinds %v, want %v", kinds, want)
	}
	if p.program == "" {
		t.Fatal("no container runs kubelect or the controller")
	}
	d := p.dep.Spec
	if d.Replicas == nil || *d.Replicas != 3 {
		t.Errorf("replicas %v, want 3", d.Replicas)
	}
	for k, v := range d.Selector.MatchLabels {
		if d.Template.Metadata.Labels[k] != v {
			t.Errorf("the selector's %s=%s is not on the pod template", k, v)
		}
	}
	spec := d.Template.Spec
	if spec.ServiceAccountName != p.name {
		t.Errorf("serviceAccountName %q, want %q", spec.ServiceAccountName, p.name)
	}

	// The restricted security context, on every container.
	for _, c := range append(append([]container(nil), spec.InitContainers...), spec.Containers...) {
		sc, pod := c.SecurityContext, spec.SecurityContext
		nonRoot := sc.RunAsNonRoot
		if nonRoot == nil {
			nonRoot = pod.RunAsNonRoot
		}
		uid := sc.RunAsUser
		if uid == nil {
			uid = pod.RunAsUser
		}
		seccomp := sc.SeccompProfile
		if seccomp == nil {
			seccomp = pod.SeccompProfile
		}
		switch {
		case nonRoot == nil || !*nonRoot:
			t.Errorf("%s: runAsNonRoot is not true", c.Name)
		case uid == nil || *uid == 0:
			t.Errorf("%s: no numeric non-zero runAsUser (the images' users differ)", c.Name)
		case seccomp == nil || seccomp.Type != "RuntimeDefault":
			t.Errorf("%s: seccompProfile is not RuntimeDefault", c.Name)
		case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
			t.Errorf("%s: allowPrivilegeEscalation is not false", c.Name)
		case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
			t.Errorf("%s: readOnlyRootFilesystem is not true", c.Name)
		case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) || len(sc.Capabilities.Add) > 0:
			t.Errorf("%s: capabilities are not drop [ALL], add none", c.Name)
		}
		if strings.HasPrefix(c.Image, "ghcr.io/") && !strings.HasSuffix(c.Image, ":v0.1.0") {
			t.Errorf("%s: image %q: the images built here are tagged v0.1.0", c.Name, c.Image)
		}
	}

	// The elector: identity from the pod's name, probes on what it serves.
	c := p.elector
	identity := false
	for _, e := range c.Env {
		if e.Name == "POD_NAME" {
			identity = e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name"
		}
	}
	if !identity {
		t.Errorf("%s: no POD_NAME from the downward API's metadata.name", c.Name)
	}
	if p.program == "kubelect" {
		if v, ok := flagValue(p.args, "identity"); ok {
			t.Errorf("%s: --identity=%s: the identity must be the pod's name ($POD_NAME)", c.Name, v)
		}
	}
	listen := listenPort(t, p)
	for _, pr := range []struct {
		name  string
		probe *probe
		path  string
	}{{"livenessProbe", c.LivenessProbe, "/healthz"}, {"readinessProbe", c.ReadinessProbe, "/readyz"}} {
		if pr.probe == nil || pr.probe.HTTPGet == nil {
			t.Errorf("%s: no %s with httpGet", c.Name, pr.name)
			continue
		}
		if pr.probe.HTTPGet.Path != pr.path {
			t.Errorf("%s: %s asks %s, want %s", c.Name, pr.name, pr.probe.HTTPGet.Path, pr.path)
		}
		if port := probePort(c, pr.probe); port != listen {
			t.Errorf("%s: %s asks port %d, the program listens on %d", c.Name, pr.name, port, listen)
		}
	}
	if p.dir == "sidecar" && c.RestartPolicy != "Always" {
		t.Errorf("%s: not a native sidecar (an init container with restartPolicy Always): it would get SIGTERM with the app, not after it", c.Name)
	}

	// The Lease the program stands for, and the Role for exactly it.
	lockFlag := "name"
	if p.program == "controller" {
		lockFlag = "lock-name"
	}
	if v, _ := flagValue(p.args, lockFlag); v != p.name {
		t.Errorf("%s: --%s=%q, want the Lease %q that the Role names", c.Name, lockFlag, v, p.name)
	}
	if kind, _ := flagValue(p.args, "lock-kind"); kind != "" && kind != "leases" {
		t.Errorf("%s: --lock-kind=%s: the Role is for a Lease", c.Name, kind)
	}
	wantRules := []policyRule{
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, ResourceNames: []string{p.name}, Verbs: []string{"get", "update", "watch"}},
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"create"}},
	}
	if labelsPod[p.dir] {
		// --label-pod patches pods: its own and earlier leaders'.
		wantRules = append(wantRules, policyRule{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"patch"}})
	}
	if got, want := fmt.Sprintf("%+v", p.role.Rules), fmt.Sprintf("%+v", wantRules); got != want {
		t.Errorf("Role rules\n%s\nwant\n%s", got, want)
	}
	checkLeaderService(t, p)

	checkGrace(t, p)
}

// labelsPod lists the patterns whose kubelect labels the leader's pod
// (--label-pod) for a Service that selects the leader.
var labelsPod = map[string]bool{"sidecar": true, "wrapper": true}

// checkLeaderService checks that kubelect labels the leader's pod if and
// only if the pattern has a Service, and that the Service selects the
// pattern's pods with the label of its Lease, on a port the pods name.
func checkLeaderService(t *testing.T, p *pattern) {
	t.Helper()
	flag := slices.Contains(p.args, "--label-pod") || slices.Contains(p.args, "--label-pod=true")
	if flag != labelsPod[p.dir] || (p.svc != nil) != labelsPod[p.dir] {
		t.Errorf("--label-pod %v, Service %v: want both or neither (labelsPod: %v)", flag, p.svc != nil, labelsPod[p.dir])
	}
	if p.svc == nil {
		return
	}
	want := maps.Clone(p.dep.Spec.Selector.MatchLabels)
	want["kubelect.io/leader"] = p.name
	if !maps.Equal(p.svc.Spec.Selector, want) {
		t.Errorf("the Service selects %v, want %v: the pods of the Deployment that carry the leader label", p.svc.Spec.Selector, want)
	}
	for _, port := range p.svc.Spec.Ports {
		name, _ := port.TargetPort.(string)
		found := false
		for _, c := range append(slices.Clone(p.dep.Spec.Template.Spec.InitContainers), p.dep.Spec.Template.Spec.Containers...) {
			for _, cp := range c.Ports {
				found = found || cp.Name == name
			}
		}
		if !found {
			t.Errorf("the Service's port %s targets %v, which no container names", port.Name, port.TargetPort)
		}
	}
}

func probePort(c container, pr *probe) int {
	switch v := pr.HTTPGet.Port.(type) {
	case float64:
		return int(v)
	case string:
		for _, p := range c.Ports {
			if p.Name == v {
				return p.ContainerPort
			}
		}
	}
	return -1
}

// checkGrace checks that terminationGracePeriodSeconds covers the longest
// stop the program's timings allow, as the manifest's comment works out.
func checkGrace(t *testing.T, p *pattern) {
	t.Helper()
	g := p.dep.Spec.Template.Spec.TerminationGracePeriodSeconds
	if g == nil {
		t.Error("no terminationGracePeriodSeconds")
		return
	}
	grace := time.Duration(*g) * time.Second
	lease := durationFlag(t, p, "lease-duration", 15*time.Second)
	renew := durationFlag(t, p, "renew-deadline", 10*time.Second)
	// The elector's request timeout bounds the release: max(1s, renew/2).
	release := max(time.Second, renew/2)
	var need time.Duration
	var why string
	switch p.dir {
	case "wrapper":
		killAfter := durationFlag(t, p, "kill-after", -1)
		if killAfter < 0 {
			t.Fatal("the wrapper's --kill-after is not set: the grace period's arithmetic needs it")
		}
		// kubelect run's bound: lease × 0.99/1.01 − renew − 250ms.
		if limit := time.Duration(float64(lease)*0.99/1.01) - renew - 250*time.Millisecond; killAfter > limit {
			t.Errorf("--kill-after %v is over kubelect's bound %v", killAfter, limit)
		}
		// The label comes off while the job is stopped, within
		// min(retry-period, (lease - renew)/2).
		unlabel := min(durationFlag(t, p, "retry-period", 2*time.Second), (lease-renew)/2)
		need, why = max(killAfter+250*time.Millisecond, unlabel)+release, "max(kill-after + 250ms, the label's removal) + release"
	case "sidecar":
		// --label-pod takes the label off before the release, within
		// min(retry-period, (lease - renew)/2).
		unlabel := min(durationFlag(t, p, "retry-period", 2*time.Second), (lease-renew)/2)
		need, why = 5*time.Second+unlabel+release, "the app's 5s budget + the label's removal + release"
	case "go-program":
		// ReleaseGrace defaults to the renew deadline.
		need, why = renew+release, "ReleaseGrace (renew-deadline) + release"
	}
	if grace < need+time.Second {
		t.Errorf("terminationGracePeriodSeconds %v leaves less than 1s over %s = %v", grace, why, need)
	}
	if grace > need+10*time.Second {
		t.Errorf("terminationGracePeriodSeconds %v is far over %s = %v: a stuck pod holds up a rollout for nothing", grace, why, need)
	}
}

// TestStaticBinary checks the binaries that deploy/build-static.sh built
// (those of the Dockerfile) with deploy/checkstatic.
func TestStaticBinary(t *testing.T) {
	needBinaries(t)
	cmd := exec.Command("go", "run", "./deploy/checkstatic", "-stripped", kubelectBin, controllerBin)
	cmd.Dir = repoRoot
	out, err := cmd.CombinedOutput()
	if err != nil || strings.Count(string(out), "ok: static") != 2 {
		t.Fatalf("checkstatic: %v\n%s", err, out)
	}
	t.Logf("%s", out)
	// The same check fails on a program that needs the dynamic loader.
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh to check")
	}
	cmd = exec.Command("go", "run", "./deploy/checkstatic", sh)
	cmd.Dir = repoRoot
	out, err = cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "FAIL") {
		t.Errorf("checkstatic %s: %v, %s; want exit 1 and FAIL", sh, err, out)
	}
}
