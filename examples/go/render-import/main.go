// render-import renders a node's containerd configuration from a ModuleConfig and imports an
// image bundle into a blob store, through the deckhouse-registry Go package. From this folder,
// after `cargo build --release -p deckhouse-registry-c` at the repository root:
//
//	CGO_LDFLAGS="-L$PWD/../../../target/release" go run . -desired ../../configs/direct.yaml \
//	    -containerd v2 -out /tmp/node -store /tmp/store [-bundle bundle.tar]
//
// Without -bundle it first exports a small demo bundle (one image, tag "demo") to import.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"

	registry "github.com/deckhouse/deckhouse-registry/bindings/go"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "render-import:", err)
		os.Exit(1)
	}
}

func run() error {
	desired := flag.String("desired", "", "ModuleConfig deckhouse (YAML or JSON) to render")
	previous := flag.String("previous", "", "settings the nodes have now (renders the transition phase)")
	cluster := flag.String("cluster", "", "cluster facts file (needed for Proxy and Local)")
	containerd := flag.String("containerd", "v2", "containerd generation on the node: v1 or v2")
	out := flag.String("out", "", "folder to write the node's files into (at their node paths)")
	storeDir := flag.String("store", "", "blob store folder to import into")
	bundle := flag.String("bundle", "", "OCI layout bundle (folder, tar or tar.gz); default: a demo bundle")
	flag.Parse()
	if *desired == "" || *out == "" || *storeDir == "" {
		flag.Usage()
		return errors.New("-desired, -out and -store are required")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	// 1. Load the settings and render.
	want, err := load(*desired)
	if err != nil {
		return err
	}
	var prev *registry.Settings
	if *previous != "" {
		if prev, err = load(*previous); err != nil {
			return err
		}
	}
	var facts []byte
	if *cluster != "" {
		if facts, err = os.ReadFile(*cluster); err != nil {
			return err
		}
	}
	if prev != nil {
		d, err := registry.Plan(prev, want, facts)
		if err != nil {
			return err
		}
		if !d.Allowed {
			for _, r := range d.Reasons {
				fmt.Printf("refused: %s: %s\n", r.Code, r.Message)
			}
			return fmt.Errorf("switch %s -> %s refused; legal route: %v", d.From, d.To, d.Route)
		}
		fmt.Printf("switch %s -> %s: stages %v, restarts %v\n", d.From, d.To, d.Stages, d.Restarts)
	}
	rendered, err := registry.Render(want, prev, facts, registry.RenderOptions{Containerd: *containerd})
	if err != nil {
		return err
	}
	report, err := registry.Apply(rendered, *out)
	if err != nil {
		return err
	}
	fmt.Printf("rendered %s mode, version %s: %d files, %d changed, restart containerd: %v\n",
		want.Mode, rendered.Version[:12], len(rendered.Files), len(report.Changed), report.RestartContainerd)
	for _, f := range rendered.Files {
		fmt.Printf("  %s %s\n", f.Mode, f.Path)
	}

	// 2. Import a bundle into the store.
	store, err := registry.OpenStore(*storeDir, registry.StoreOptions{})
	if err != nil {
		return err
	}
	defer store.Close()
	if *bundle == "" {
		tmp, err := os.MkdirTemp("", "demo-bundle-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		if *bundle, err = demoBundle(ctx, filepath.Join(tmp, "bundle.tar")); err != nil {
			return err
		}
	}
	imported, err := store.Import(ctx, *bundle, registry.ImportOptions{}, func(p registry.Progress) bool {
		fmt.Printf("  import: %d items, %d bytes\n", p.ItemsDone, p.BytesDone)
		return true
	})
	if errors.Is(err, registry.ErrCancelled) {
		return fmt.Errorf("import cancelled; the store is unchanged: %w", err)
	}
	if err != nil {
		return err
	}
	fmt.Printf("imported %s: %d blobs added, %d already present, tags %v\n",
		*bundle, imported.BlobsAdded, imported.BlobsPresent, imported.Tags)
	return nil
}

func load(path string) (*registry.Settings, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s, err := registry.LoadSettings(b, registry.LoadOptions{})
	var ve *registry.ValidationError
	if errors.As(err, &ve) {
		for _, p := range ve.Problems {
			fmt.Fprintf(os.Stderr, "%s: %s: %s [%s]\n", path, p.Path, p.Message, p.Code)
		}
		return nil, fmt.Errorf("%s: invalid settings", path)
	}
	return s, err
}

// demoBundle builds a one-image OCI layout in a scratch store and exports it as a tar.
func demoBundle(ctx context.Context, tarPath string) (string, error) {
	scratch, err := registry.OpenStore(filepath.Join(filepath.Dir(tarPath), "scratch"), registry.StoreOptions{Durability: "relaxed"})
	if err != nil {
		return "", err
	}
	defer scratch.Close()
	cfg, err := scratch.Put([]byte(`{"architecture":"amd64","os":"linux"}`), "")
	if err != nil {
		return "", err
	}
	layer, err := scratch.Put([]byte("demo layer"), "")
	if err != nil {
		return "", err
	}
	manifest := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},`+
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":%q,"size":%d}]}`,
		cfg.Digest, cfg.Size, layer.Digest, layer.Size)
	m, err := scratch.Put([]byte(manifest), "")
	if err != nil {
		return "", err
	}
	if err := scratch.Tag("demo", m.Digest); err != nil {
		return "", err
	}
	if _, err := scratch.Export(ctx, tarPath, registry.ExportOptions{Tar: true}, nil); err != nil {
		return "", err
	}
	return tarPath, nil
}
