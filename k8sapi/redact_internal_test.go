package k8sapi

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

func TestRedactToken(t *testing.T) {
	const tok = "ab/c+d\U0001F600e"
	tests := []struct {
		s    string
		cut  bool
		want string
	}{
		{"x ab/c+d\U0001F600e y", false, "x [redacted] y"},
		{`x \u0061\u0062\/c\u002Bd\ud83d\ude00\u0065 y`, false, "x [redacted] y"},
		{`x \u0061B\/c+d` + "\U0001F600e y", false, `x \u0061B\/c+d` + "\U0001F600e y"}, // B is not b
		{`"\u0061b\u002fc\u002bd` + "\U0001F600" + `\u0065"`, false, `"[redacted]"`},
		{`\\u0061b/c+d` + "\U0001F600e", false, `\[redacted]`},
		{"ab/c+d\U0001F600eab/c+d\U0001F600e", false, "[redacted]"},
		{"ab/c+d\U0001F600e ab/c+d\U0001F600e", false, "[redacted] [redacted]"},
		{"x ab/c", false, "x ab/c"},
		{"x ab/c", true, "x [redacted]"},
		{`x ab\/c`, true, "x [redacted]"},
		{`x ab\/`, true, `x ab\/`},
		{`x ab/c\u00`, true, "x [redacted]"},
		{`x ab/c\`, true, "x [redacted]"},
		{"x ab/c+d\xf0\x9f", true, "x [redacted]"},
		{`x ab\/c+d\ud83d`, true, "x [redacted]"},
		{"x ab/", true, "x ab/"}, // fewer than minPartial bytes
		{"x ab/cX", true, "x ab/cX"},
		{"", true, ""},
	}
	for _, tt := range tests {
		if got := redactToken(tt.s, tok, tt.cut); got != tt.want {
			t.Errorf("redactToken(%q, cut %v) = %q, want %q", tt.s, tt.cut, got, tt.want)
		}
	}
	// A token whose end is also its beginning: overlapping spellings leave
	// nothing of it behind.
	if got := redactToken("abcdefgabcdefg", "abcdefgab", true); got != "[redacted]" {
		t.Errorf("overlapping matches: %q", got)
	}
	if got := redactTokens("one two", []string{"one", "two"}, false); got != "[redacted] [redacted]" {
		t.Errorf("two tokens: %q", got)
	}
}

func TestRedactError(t *testing.T) {
	base := fmt.Errorf("read: %w", io.ErrUnexpectedEOF)
	if got := redactError(base, []string{"secret"}); got != base {
		t.Errorf("an error without the token was replaced: %v", got)
	}
	err := fmt.Errorf("malformed line %q: %w", "Bearer secret", io.ErrUnexpectedEOF)
	got := redactError(err, []string{"secret"})
	if got.Error() != `malformed line "Bearer [redacted]": unexpected EOF` {
		t.Errorf("Error() = %q", got.Error())
	}
	if !errors.Is(got, io.ErrUnexpectedEOF) {
		t.Error("errors.Is lost the cause")
	}
	for _, s := range []string{fmt.Sprintf("%v", got), fmt.Sprintf("%+v", got), fmt.Sprintf("%#v", got)} {
		if strings.Contains(s, "secret") {
			t.Errorf("printed as %s", s)
		}
	}
}
