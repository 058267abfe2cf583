package kubeconfig

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The exec credential plugin of the tests is this test binary, run again
// with KUBECONFIG_TEST_PLUGIN=1 (which the kubeconfig's exec env sets, so
// that passing env entries is tested too). It counts its runs in
// $PLUGIN_DIR/runs, records what it got in $PLUGIN_DIR/{info,args,env}-N,
// and answers as $PLUGIN_MODE says:
//
//	token         a token, "plugin-token-N"
//	cert          the client certificate and key in $PLUGIN_DIR/{cert,key}-N.pem
//	fail-after-1  a token on the first run; then it fails (exit 3), quoting
//	              the token it gave before on its stderr
//	stdin         a token made of the line it reads from its standard input
//	hang          says "started" on its stderr and waits to be killed
//	output        $PLUGIN_OUTPUT, as it is
//
// The content of $PLUGIN_DIR/expiry, when it exists, is the
// expirationTimestamp it returns.
func TestMain(m *testing.M) {
	if os.Getenv("KUBECONFIG_TEST_PLUGIN") == "1" {
		os.Exit(testPlugin())
	}
	os.Exit(m.Run())
}

func testPlugin() int {
	dir := os.Getenv("PLUGIN_DIR")
	runs, _ := os.ReadFile(filepath.Join(dir, "runs"))
	n, _ := strconv.Atoi(string(runs))
	n++
	record := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%d", name, n)), []byte(content), 0o600); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	record("info", os.Getenv(execInfoEnv))
	record("args", strings.Join(os.Args[1:], "\n"))
	record("env", os.Getenv("PLUGIN_MODE")+"\n"+os.Getenv("KUBECONFIG_TEST_INHERITED"))
	if err := os.WriteFile(filepath.Join(dir, "runs"), []byte(strconv.Itoa(n)), 0o600); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var in execInfo
	if err := json.Unmarshal([]byte(os.Getenv(execInfoEnv)), &in); err != nil {
		fmt.Fprintln(os.Stderr, "bad KUBERNETES_EXEC_INFO:", err)
		return 2
	}
	status := map[string]any{}
	switch mode := os.Getenv("PLUGIN_MODE"); mode {
	case "token":
		status["token"] = fmt.Sprintf("plugin-token-%d", n)
	case "cert":
		cert, err1 := os.ReadFile(filepath.Join(dir, fmt.Sprintf("cert-%d.pem", n)))
		key, err2 := os.ReadFile(filepath.Join(dir, fmt.Sprintf("key-%d.pem", n)))
		if err1 != nil || err2 != nil {
			fmt.Fprintln(os.Stderr, "no certificate for run", n)
			return 2
		}
		status["clientCertificateData"], status["clientKeyData"] = string(cert), string(key)
	case "fail-after-1":
		if n > 1 {
			fmt.Fprintf(os.Stderr, "login failed: the server refused plugin-token-%d\nrun the login command again\n", n-1)
			return 3
		}
		status["token"] = fmt.Sprintf("plugin-token-%d", n)
	case "stdin":
		line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
		status["token"] = "typed-" + strings.TrimSpace(line)
	case "hang":
		fmt.Fprintln(os.Stderr, "started")
		time.Sleep(time.Hour) // killed by the test's context
		return 2
	case "output":
		fmt.Print(os.Getenv("PLUGIN_OUTPUT"))
		return 0
	default:
		fmt.Fprintf(os.Stderr, "unknown PLUGIN_MODE %q\n", mode)
		return 2
	}
	if exp, err := os.ReadFile(filepath.Join(dir, "expiry")); err == nil {
		status["expirationTimestamp"] = strings.TrimSpace(string(exp))
	}
	out := map[string]any{"apiVersion": in.APIVersion, "kind": "ExecCredential", "status": status}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		return 2
	}
	return 0
}

// pluginRuns returns how many times the test plugin ran in dir.
func pluginRuns(t *testing.T, dir string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "runs"))
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// pluginRecord returns what the test plugin recorded as name on run n.
func pluginRecord(t *testing.T, dir, name string, n int) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("%s-%d", name, n)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// testBinary is the path of this test binary, the plugin's command.
func testBinary(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

// execUser says how to write the exec section of a test kubeconfig.
type execUser struct {
	apiVersion         string // default v1
	command            string // default the test binary
	mode               string // PLUGIN_MODE
	interactiveMode    string // default Never; "-" for none
	provideClusterInfo bool
	env                map[string]string // more env entries
	args               []string
}

// writeExecKubeconfig writes, in the layout kubectl writes, a kubeconfig
// whose one context reaches server (trusting the PEM ca) as a user whose
// exec plugin is the test binary, recording in pluginDir. It returns the
// file's path.
func writeExecKubeconfig(t *testing.T, dir, server string, ca []byte, pluginDir string, u execUser) string {
	t.Helper()
	if u.apiVersion == "" {
		u.apiVersion = execAPIv1
	}
	if u.command == "" {
		u.command = testBinary(t)
	}
	if u.interactiveMode == "" {
		u.interactiveMode = "Never"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: v1\nclusters:\n- cluster:\n")
	if len(ca) > 0 {
		fmt.Fprintf(&b, "    certificate-authority-data: %s\n", b64(ca))
	}
	fmt.Fprintf(&b, "    extensions:\n    - extension:\n        audience: kubelect-test\n        scopes:\n        - a\n        - b\n      name: %s\n", clusterExtension)
	fmt.Fprintf(&b, "    server: %s\n  name: test\n", server)
	fmt.Fprintf(&b, "contexts:\n- context:\n    cluster: test\n    namespace: lease-ns\n    user: tester\n  name: test\n")
	fmt.Fprintf(&b, "current-context: test\nkind: Config\npreferences: {}\nusers:\n- name: tester\n  user:\n    exec:\n")
	fmt.Fprintf(&b, "      apiVersion: %s\n", u.apiVersion)
	if len(u.args) == 0 {
		fmt.Fprintf(&b, "      args: null\n")
	} else {
		fmt.Fprintf(&b, "      args:\n")
		for _, a := range u.args {
			fmt.Fprintf(&b, "      - %s\n", strconv.Quote(a))
		}
	}
	fmt.Fprintf(&b, "      command: %s\n      env:\n", strconv.Quote(u.command))
	env := map[string]string{"KUBECONFIG_TEST_PLUGIN": "1", "PLUGIN_DIR": pluginDir, "PLUGIN_MODE": u.mode,
		// Under -race, a process sleeps a second as it exits, by default.
		"GORACE": "atexit_sleep_ms=0"}
	for k, v := range u.env {
		env[k] = v
	}
	for _, k := range sortedKeys(env) {
		fmt.Fprintf(&b, "      - name: %s\n        value: %s\n", k, strconv.Quote(env[k]))
	}
	if u.interactiveMode != "-" {
		fmt.Fprintf(&b, "      interactiveMode: %s\n", u.interactiveMode)
	}
	fmt.Fprintf(&b, "      provideClusterInfo: %t\n", u.provideClusterInfo)
	path := filepath.Join(dir, "config")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
