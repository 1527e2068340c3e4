package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ExecutorClaims are the claims of an executor's token (Mesos §7): the
// framework ID, executor ID and the executor's top-level container ID.
type ExecutorClaims struct {
	FrameworkID string `json:"fid"`
	ExecutorID  string `json:"eid"`
	ContainerID string `json:"cid"`
}

const jwtHeader = `{"alg":"HS256","typ":"JWT"}`

var b64 = base64.RawURLEncoding

// SignExecutorToken returns the HS256 JWT Mesos's agent gives an executor
// in MESOS_EXECUTOR_AUTHENTICATION_TOKEN: unpadded base64url of the header
// and of the claims (compact JSON, keys sorted), and of the HMAC-SHA256 of
// "header.payload" under key.
func SignExecutorToken(key []byte, c ExecutorClaims) string {
	// encoding/json writes struct fields in order: cid, eid, fid sorted.
	payload, _ := json.Marshal(struct {
		CID string `json:"cid"`
		EID string `json:"eid"`
		FID string `json:"fid"`
	}{c.ContainerID, c.ExecutorID, c.FrameworkID})
	signing := b64.EncodeToString([]byte(jwtHeader)) + "." + b64.EncodeToString(payload)
	return signing + "." + b64.EncodeToString(mac(key, signing))
}

func mac(key []byte, s string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(s))
	return h.Sum(nil)
}

// VerifyJWT checks an HS256 token under key and returns its claims, every
// value as a string (non-string values as their JSON). The error's text
// is Mesos's reason, for "Invalid JWT: <reason>".
func VerifyJWT(key []byte, token string, now time.Time) (map[string]string, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("Expected 3 components in token, got %d", len(parts))
	}
	hb, err := b64.DecodeString(parts[0])
	if err != nil {
		return nil, errors.New("Failed to decode token header")
	}
	var hdr map[string]json.RawMessage
	if err := json.Unmarshal(hb, &hdr); err != nil {
		return nil, errors.New("Failed to parse token header")
	}
	if _, ok := hdr["crit"]; ok {
		return nil, errors.New("Token 'crit' field is unsupported")
	}
	var alg string
	if raw, ok := hdr["alg"]; !ok || json.Unmarshal(raw, &alg) != nil {
		return nil, errors.New("Failed to locate 'alg' in token JSON header")
	}
	if alg != "HS256" {
		return nil, fmt.Errorf("Token 'alg' value %q does not match, expected \"HS256\"", alg)
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil {
		return nil, errors.New("Failed to decode token signature")
	}
	if !hmac.Equal(sig, mac(key, parts[0]+"."+parts[1])) {
		return nil, errors.New("Token signature does not match")
	}
	pb, err := b64.DecodeString(parts[1])
	if err != nil {
		return nil, errors.New("Failed to decode token payload")
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(pb, &raw); err != nil {
		return nil, errors.New("Failed to parse token payload")
	}
	claims := make(map[string]string, len(raw))
	for k, v := range raw {
		var s string
		if json.Unmarshal(v, &s) == nil {
			claims[k] = s
		} else {
			claims[k] = string(v)
		}
	}
	if e, ok := raw["exp"]; ok {
		var exp float64
		if json.Unmarshal(e, &exp) != nil {
			return nil, errors.New("Token 'exp' is not a number")
		}
		if int64(exp) < now.Unix() {
			return nil, fmt.Errorf("Token has expired: exp(%d) < now(%d)", int64(exp), now.Unix())
		}
	}
	return claims, nil
}
