package fencing_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/kubelect/kubelect/fencing"
)

func TestParseToken(t *testing.T) {
	for _, s := range []string{"1", "42", "18446744073709551615"} {
		tok, err := fencing.ParseToken(s)
		if err != nil || tok.String() != s {
			t.Errorf("ParseToken(%q) = %v, %v; want the same number back", s, tok, err)
		}
	}
	for _, s := range []string{"", "0", "007", "-1", "+1", "1e3", " 1", "1 ", "abc", "12a", "18446744073709551616", "123456789012345678901"} {
		if tok, err := fencing.ParseToken(s); !errors.Is(err, fencing.ErrInvalidToken) || tok != 0 {
			t.Errorf("ParseToken(%q) = %v, %v; want 0 and ErrInvalidToken", s, tok, err)
		}
	}
}

func TestTokenJSON(t *testing.T) {
	b, err := json.Marshal(struct{ T fencing.Token }{123})
	if err != nil || string(b) != `{"T":"123"}` {
		t.Fatalf("Marshal = %s, %v", b, err)
	}
	var v struct{ T fencing.Token }
	if err := json.Unmarshal(b, &v); err != nil || v.T != 123 {
		t.Errorf("Unmarshal = %v, %v", v.T, err)
	}
	if err := json.Unmarshal([]byte(`{"T":"0123"}`), &v); !errors.Is(err, fencing.ErrInvalidToken) {
		t.Errorf("Unmarshal of a non-canonical token: %v", err)
	}
}
