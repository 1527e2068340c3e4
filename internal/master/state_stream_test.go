package master

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"sort"
	"testing"
)

// TestStreamedStateIsTheDocument: /master/state written in chunks as the
// loop encodes it is byte for byte the document built whole, and a large
// state does go out in several chunks.
func TestStreamedStateIsTheDocument(t *testing.T) {
	m := stateMasterAgents(t, 20000, 2000)
	whole := m.stateDoc(nil)
	d := newDocStream()
	d.push(m.encodeState(nil, d.flush), true)
	if m.stateFlush != nil {
		t.Fatal("stateFlush left set after the encoding")
	}
	var streamed bytes.Buffer
	chunks := 0
	for {
		b, ok := d.next(context.Background())
		if !ok {
			break
		}
		chunks++
		if len(b) > docChunk+64<<10 {
			t.Errorf("chunk %d is %d bytes", chunks, len(b))
		}
		streamed.Write(b)
	}
	// Agents and tasks come in map order: compare the documents with them sorted.
	if a, b := canonicalState(t, streamed.Bytes()), canonicalState(t, whole); !reflect.DeepEqual(a, b) {
		t.Fatalf("streamed document (%d bytes) differs from the whole one (%d bytes)", streamed.Len(), len(whole))
	}
	if want := len(whole) / docChunk; chunks < want {
		t.Errorf("%d chunks for %d bytes, want at least %d", chunks, len(whole), want)
	}
}

func canonicalState(t *testing.T, doc []byte) map[string]any {
	t.Helper()
	var st map[string]any
	if err := json.Unmarshal(doc, &st); err != nil {
		t.Fatal(err)
	}
	byID := func(list any) {
		l, _ := list.([]any)
		sort.Slice(l, func(i, j int) bool {
			return l[i].(map[string]any)["id"].(string) < l[j].(map[string]any)["id"].(string)
		})
	}
	byID(st["slaves"])
	fws, _ := st["frameworks"].([]any)
	for _, f := range fws {
		byID(f.(map[string]any)["tasks"])
	}
	return st
}

// TestDocStreamCancel: a reader whose request ended stops waiting.
func TestDocStreamCancel(t *testing.T) {
	d := newDocStream()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, ok := d.next(ctx); ok {
		t.Fatal("next returned a chunk of an empty, open stream")
	}
}
