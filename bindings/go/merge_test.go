package registry

import (
	"errors"
	"strings"
	"testing"
)

func TestMergeConfig(t *testing.T) {
	main := "version = 2\n# pause\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  sandbox_image = \"pause:3.9\"\n"
	part := "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \"/etc/containerd/registry.d\"\n"
	merged, err := MergeConfig(main, part)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"# pause\n", `sandbox_image = "pause:3.9"`, `config_path = "/etc/containerd/registry.d"`} {
		if !strings.Contains(merged, want) {
			t.Fatalf("%q missing from\n%s", want, merged)
		}
	}
	for _, c := range []struct{ main, part, named string }{
		{"version = 3\n", part, "version 3"},
		{"[plugins\n", part, "main config"},
		{main, "x = ", "part"},
	} {
		_, err := MergeConfig(c.main, c.part)
		if !errors.Is(err, ErrInvalidDocument) || !strings.Contains(err.Error(), c.named) {
			t.Fatalf("want ErrInvalidDocument naming %q, got %v", c.named, err)
		}
	}
	if _, err := MergeConfig("a\x00b", part); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("a NUL byte: want ErrInvalidArgument, got %v", err)
	}
}
