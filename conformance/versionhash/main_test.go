package main

import (
	"bytes"
	"strings"
	"testing"
)

// The JSON that encoding/json writes for a small config, spelled out by hand from the struct
// tags: field order, omitted empty fields, escaping of <, >, & and U+2028.
func TestMarshalShape(t *testing.T) {
	in := `{"mode":"Direct","transition":false,"imagesBase":"a<b>&c","hosts":{"h":[{"host":"m","scheme":"HTTPS","auth":{"username":"u","password":"p\u2028"}}]}}`
	var out bytes.Buffer
	if err := run(strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	want := `{"mode":"Direct","version":"","imagesBase":"a\u003cb\u003e\u0026c","hosts":{"h":{"mirrors":[{"host":"m","scheme":"https","auth":{"username":"u","password":"p\u2028","auth":"dTpw4oCo"}}]}}}`
	got, err := Version(convert(mustDecode(t, in)))
	if err != nil {
		t.Fatal(err)
	}
	if wantHash := hashOf(want); got != wantHash {
		t.Fatalf("version %s, want sha256 of %s = %s", got, want, wantHash)
	}
	if strings.TrimSpace(out.String()) != got {
		t.Fatalf("run printed %q, want %s", out.String(), got)
	}
}

func TestRefusesUnknownFields(t *testing.T) {
	var out bytes.Buffer
	if err := run(strings.NewReader(`{"mode":"Direct","extra":1}`), &out); err == nil {
		t.Fatal("an unknown field was accepted")
	}
}
