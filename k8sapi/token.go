package k8sapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"
)

// tokenRefreshInterval is how long a token read from a file is used before
// the file is read again. The kubelet rotates bound service-account tokens
// well before they expire (at 80% of their life, an hour at least), so a
// minute is ample.
const tokenRefreshInterval = time.Minute

// tokenSource hands out the bearer token: a fixed one, one read from a
// file that is re-read lazily once the refresh interval has passed (a
// failed or empty read keeps the last good token), or the ones a
// TokenSource returns (see tokensource.go). It remembers the recent tokens
// so that text from the network can be redacted.
type tokenSource struct {
	file     string      // "" for a fixed token
	src      TokenSource // nil unless Config.TokenSource is set
	interval time.Duration
	now      func() time.Time // replaced by tests
	logger   func() *slog.Logger

	mu     sync.Mutex // guards token, recent, readAt and failed
	token  string     // last good token
	recent []string   // token and the one before it; replaced, never changed
	readAt time.Time  // when file was last read, good or not
	failed bool       // the last read failed (logged once per failure streak)
}

func newTokenSource(token, file string, src TokenSource, logger func() *slog.Logger) (*tokenSource, error) {
	if src != nil {
		if token != "" || file != "" {
			return nil, errors.New("k8sapi: config: set TokenSource or BearerToken/BearerTokenFile, not both")
		}
		return &tokenSource{src: src, now: time.Now, logger: logger}, nil
	}
	if err := checkToken(token); err != nil {
		return nil, fmt.Errorf("k8sapi: config: BearerToken: %w", err)
	}
	ts := &tokenSource{file: file, interval: tokenRefreshInterval, now: time.Now, logger: logger, token: token}
	if file != "" {
		tok, err := readToken(file)
		if err != nil && token == "" {
			return nil, fmt.Errorf("k8sapi: config: BearerTokenFile: %w", err)
		}
		if err == nil {
			ts.token = tok
		}
		ts.readAt = ts.now()
	}
	if ts.token != "" {
		ts.recent = []string{ts.token}
	}
	return ts, nil
}

// Token returns the fixed token or the file's, reading the file again
// when the refresh interval has passed. With a TokenSource, use get.
func (ts *tokenSource) Token() string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.file != "" && ts.now().Sub(ts.readAt) >= ts.interval {
		ts.reloadLocked()
	}
	return ts.token
}

// refresh is called after the server refused sent (401). It reports the
// token to send now and whether it differs from sent, so that the request
// is worth sending again. A token file is read again at once, unless
// another request already read a new token.
func (ts *tokenSource) refresh(ctx context.Context, sent string) (string, bool) {
	if ts.src != nil {
		return ts.refreshSource(ctx, sent)
	}
	if ts.file == "" {
		return sent, false
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.token == sent {
		ts.reloadLocked()
	}
	return ts.token, ts.token != sent
}

// reloadLocked reads the file; on failure it keeps the last good token and
// logs the failure once (the error names the file, never the token).
func (ts *tokenSource) reloadLocked() {
	ts.readAt = ts.now()
	tok, err := readToken(ts.file)
	if err != nil {
		if !ts.failed {
			ts.logger().Warn("k8sapi: cannot re-read bearer token file; keeping the last good token", "error", err.Error())
		}
		ts.failed = true
		return
	}
	ts.failed = false
	if tok != ts.token {
		ts.recent = []string{tok}
		if ts.token != "" {
			ts.recent = append(ts.recent, ts.token)
		}
		ts.token = tok
	}
}

// readToken reads a token file. An empty file, or one holding something
// that cannot be sent in a header, is an error.
func readToken(file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err // *fs.PathError: names the file and the cause
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("token file %s is empty", file)
	}
	if err := checkToken(tok); err != nil {
		return "", fmt.Errorf("token file %s: %w", file, err)
	}
	return tok, nil
}

// checkToken rejects a token that would be an invalid header value. The
// error never contains the token.
func checkToken(tok string) error {
	for i := 0; i < len(tok); i++ {
		if c := tok[i]; c < 0x20 || c == 0x7f {
			return fmt.Errorf("token has a control character at byte %d", i)
		}
	}
	return nil
}

// secrets returns the tokens to redact from text that came from the
// network: the current one, and the one before it, which a request sent
// just before a rotation carried (and which a slow server may echo). The
// slice is shared: do not change it.
func (ts *tokenSource) secrets() []string {
	if ts == nil {
		return nil
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.recent
}
