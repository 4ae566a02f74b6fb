package hostscheck

import (
	"errors"
	"flag"
	"reflect"
	"testing"
)

func TestParseArgs(t *testing.T) {
	ok := []struct {
		args []string
		want Config
	}{
		{[]string{"--root", "/r", "docker.io"}, Config{Root: "/r", Mode: "cri", Namespaces: []string{"docker.io"}}},
		{[]string{"-root=/r", "--mode", "ctr", "--plain-http", "--verbose", "a", "b:5000"},
			Config{Root: "/r", Mode: "ctr", PlainHTTP: true, Verbose: true, Namespaces: []string{"a", "b:5000"}}},
		{[]string{"a", "--root", "/r", "b", "--mode=ctr", "c"}, Config{Root: "/r", Mode: "ctr", Namespaces: []string{"a", "b", "c"}}},
		{[]string{"--root", "/r", "--", "--mode", "x"}, Config{Root: "/r", Mode: "cri", Namespaces: []string{"--mode", "x"}}},
	}
	for _, c := range ok {
		got, err := ParseArgs(c.args)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q: got %+v, %v; want %+v", c.args, got, err, c.want)
		}
	}

	for _, args := range [][]string{
		{},
		{"docker.io"},
		{"--root", "/r"},
		{"--root", "/r", "--mode", "CRI", "a"},
		{"--root", "/r", "--nope", "a"},
		{"--root", "/r", "--plain-http=maybe", "a"},
		{"--root", "/r", ""},
		{"--root"},
		{"--root", "/r", "--root", "/s", "a"},
		{"--root", "", "a"},
	} {
		if _, err := ParseArgs(args); !IsUsage(err) {
			t.Errorf("%q: err = %v, want a usage error", args, err)
		}
	}
	if _, err := ParseArgs([]string{"--help"}); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("--help: err = %v", err)
	}
}
