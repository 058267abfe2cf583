package k8sapi

import (
	"context"
	"fmt"
)

// A TokenSource supplies the bearer token of each request when the token
// changes in ways that a token file does not show: the tokens that a
// kubeconfig's exec credential plugin prints, or those of an OAuth flow.
// Set it as Config.TokenSource, instead of BearerToken and BearerTokenFile.
//
// The client calls Token before every request, so a source that does
// something costly to get a token caches it. When the server answers 401
// Unauthorized, the client calls Refused with the token that the request
// carried and then Token again: if that gives another token, the request
// is sent once more with it; if not, the 401 is returned.
//
// The client redacts from its errors and log lines the last two tokens
// that the source returned, as it does with a token file's: the current
// one, and the one before it that a request sent just before a change may
// have carried. An error of the source must not show a token itself.
//
// Both methods are called from many goroutines at once.
type TokenSource interface {
	// Token returns the token to send with a request made under ctx. An
	// empty token sends no Authorization header (for a source whose
	// credential is, this time, a client certificate). An error fails the
	// request; the client wraps it, so errors.Is and errors.As see it.
	Token(ctx context.Context) (string, error)
	// Refused reports that the server answered 401 Unauthorized to a
	// request that carried token. A source that caches drops the token
	// if it still holds it (another request may have replaced it
	// already), so that the next call of Token gets a new one. Refused
	// should return at once: the work belongs in that next Token call.
	Refused(token string)
}

// get returns the token to send with a request: the TokenSource's, or
// else the fixed token or the file's.
func (ts *tokenSource) get(ctx context.Context) (string, error) {
	if ts.src == nil {
		return ts.Token(), nil
	}
	tok, err := ts.src.Token(ctx)
	if err != nil {
		// The error is the source's: it must not show a token, but it
		// may quote text from where the source got it, so it is
		// redacted of the tokens already seen.
		return "", redactError(fmt.Errorf("k8sapi: token source: %w", err), ts.secrets())
	}
	if err := checkToken(tok); err != nil {
		return "", fmt.Errorf("k8sapi: token source: %w", err)
	}
	ts.remember(tok)
	return tok, nil
}

// refreshSource tells the TokenSource that sent was refused, and asks it
// for the token to send now.
func (ts *tokenSource) refreshSource(ctx context.Context, sent string) (string, bool) {
	ts.src.Refused(sent)
	tok, err := ts.get(ctx)
	if err != nil {
		// The request's own 401 is the answer; the next request meets the
		// source's error again, if it lasts.
		return sent, false
	}
	return tok, tok != sent && tok != ""
}

// remember records tok as the current token, keeping the one before it,
// for redaction.
func (ts *tokenSource) remember(tok string) {
	if tok == "" {
		return
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if len(ts.recent) > 0 && ts.recent[0] == tok {
		return
	}
	// recent is shared with callers of secrets: replaced, never changed.
	recent := []string{tok}
	if len(ts.recent) > 0 {
		recent = append(recent, ts.recent[0])
	}
	ts.recent = recent
	ts.token = tok
}
