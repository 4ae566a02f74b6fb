package registry

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// snapshot lists every entry below dir without following links: relative path → kind and
// contents.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		switch {
		case d.Type()&os.ModeSymlink != 0:
			target, err := os.Readlink(path)
			if err != nil {
				return err
			}
			out[rel] = "link " + target
		case d.IsDir():
			out[rel] = "dir"
		default:
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			out[rel] = "file " + string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestApplyRefusesHostileSets(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "root")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(base, "x"), []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	const hosts = "/etc/containerd/registry.d"
	file := func(path string) []RenderedFile {
		return []RenderedFile{{Path: path, Contents: "owned", Mode: "0644"}}
	}
	cases := []struct {
		name  string
		set   Rendered
		named string
	}{
		{"dot-dot at the top", Rendered{ConfigPath: hosts, Files: file("/../x")}, "/../x"},
		{"dot-dot in the hosts dir", Rendered{ConfigPath: hosts, Files: file(hosts + "/../../../../x")}, "../../../../x"},
		{"a path the renderer never writes", Rendered{ConfigPath: hosts, Files: file("/etc/shadow")}, "/etc/shadow"},
		{"a host folder up the tree", Rendered{ConfigPath: hosts, HostDirs: []string{"../../../.."}}, "../../../.."},
		{"a config path up the tree", Rendered{ConfigPath: "/etc/../.."}, "/etc/../.."},
	}
	before := snapshot(t, base)
	for _, c := range cases {
		rep, err := Apply(&c.set, root)
		if !errors.Is(err, ErrApplyRefused) || rep != nil {
			t.Fatalf("%s: want ErrApplyRefused, got %v %+v", c.name, err, rep)
		}
		if msg := err.Error(); !strings.Contains(msg, c.named) || !strings.Contains(msg, "refused") {
			t.Fatalf("%s: the error does not name %q: %s", c.name, c.named, msg)
		}
	}
	if after := snapshot(t, base); !maps.Equal(before, after) {
		t.Fatalf("a refused set changed files:\nbefore %v\nafter  %v", before, after)
	}
}

func TestApplyNeverFollowsALinkOutOfTheRoot(t *testing.T) {
	base := t.TempDir()
	root, outside := filepath.Join(base, "root"), filepath.Join(base, "outside")
	for _, d := range []string{filepath.Join(root, "etc"), outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, filepath.Join(root, "etc", "containerd")); err != nil {
		t.Fatal(err)
	}
	r, err := Render(validate(t, "direct.yaml"), nil, nil, RenderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, base)
	if _, err := Apply(r, root); !errors.Is(err, ErrApplyRefused) || !strings.Contains(err.Error(), "symbolic link") {
		t.Fatalf("want a refusal of the link, got %v", err)
	}
	if after := snapshot(t, base); !maps.Equal(before, after) {
		t.Fatalf("files changed through the link:\nbefore %v\nafter  %v", before, after)
	}
}

func TestApplyWarnsAboutBadStateEntriesAndKeepsThem(t *testing.T) {
	root := t.TempDir()
	hosts := filepath.Join(root, "etc", "containerd", "registry.d")
	userDir := filepath.Join(hosts, "not a host")
	if err := os.MkdirAll(userDir, 0o755); err != nil {
		t.Fatal(err)
	}
	state := `["not a host", "../../x"]`
	if err := os.WriteFile(filepath.Join(hosts, "deckhouse_hosts_state.json"), []byte(state), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Render(validate(t, "direct.yaml"), nil, nil, RenderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Apply(r, root)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Warnings) != 2 || !strings.Contains(rep.Warnings[0], `"not a host"`) || !strings.Contains(rep.Warnings[1], `"../../x"`) {
		t.Fatalf("warnings %q", rep.Warnings)
	}
	if _, err := os.Stat(userDir); err != nil {
		t.Fatalf("the folder a bad entry names was removed: %v", err)
	}
}
