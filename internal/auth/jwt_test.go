package auth

import (
	"strings"
	"testing"
	"time"
)

func TestExecutorTokenRoundTrip(t *testing.T) {
	key := []byte("secret-key\n")
	tok := SignExecutorToken(key, ExecutorClaims{FrameworkID: "f-0001", ExecutorID: "default", ContainerID: "c1"})
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q", tok)
	}
	p, _ := b64.DecodeString(parts[1])
	if string(p) != `{"cid":"c1","eid":"default","fid":"f-0001"}` {
		t.Fatalf("payload %s", p)
	}
	h, _ := b64.DecodeString(parts[0])
	if string(h) != `{"alg":"HS256","typ":"JWT"}` {
		t.Fatalf("header %s", h)
	}
	c, err := VerifyJWT(key, tok, time.Now())
	if err != nil || c["fid"] != "f-0001" || c["eid"] != "default" || c["cid"] != "c1" {
		t.Fatalf("claims %v err %v", c, err)
	}
}

func TestVerifyJWTRejects(t *testing.T) {
	key := []byte("k")
	good := SignExecutorToken(key, ExecutorClaims{"f", "e", "c"})
	parts := strings.Split(good, ".")
	none := b64.EncodeToString([]byte(`{"alg":"none"}`)) + "." + parts[1] + "."
	exp := b64.EncodeToString([]byte(jwtHeader)) + "." + b64.EncodeToString([]byte(`{"exp":1}`))
	exp += "." + b64.EncodeToString(mac(key, exp))
	for _, tc := range []struct{ name, key, tok, want string }{
		{"bad signature", "other", good, "Token signature does not match"},
		{"tampered payload", "k", parts[0] + "." + b64.EncodeToString([]byte(`{"fid":"x"}`)) + "." + parts[2], "Token signature does not match"},
		{"alg none", "k", none, `Token 'alg' value "none" does not match, expected "HS256"`},
		{"two parts", "k", "a.b", "Expected 3 components in token, got 2"},
		{"garbage header", "k", "!!.b.c", "Failed to decode token header"},
		{"expired", "k", exp, "Token has expired"},
	} {
		if _, err := VerifyJWT([]byte(tc.key), tc.tok, time.Now()); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.want)
		}
	}
}

func FuzzVerifyJWT(f *testing.F) {
	f.Add(SignExecutorToken([]byte("k"), ExecutorClaims{"f", "e", "c"}))
	f.Add("a.b.c")
	f.Add("..")
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := VerifyJWT([]byte("k"), tok, time.Now())
		if err == nil && c == nil {
			t.Fatal("nil claims without error")
		}
	})
}
