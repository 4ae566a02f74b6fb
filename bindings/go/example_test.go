package registry_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	registry "github.com/deckhouse/deckhouse-registry/bindings/go"
)

// The README's snippet: validate, plan, render, and store a blob.
func Example() {
	yaml, _ := os.ReadFile("../../examples/configs/direct.yaml")
	desired, err := registry.LoadSettings(yaml, registry.LoadOptions{})
	var invalid *registry.ValidationError
	if errors.As(err, &invalid) {
		for _, p := range invalid.Problems {
			fmt.Println(p.Path, p.Code)
		}
		return
	}
	local, _ := os.ReadFile("../../examples/configs/local.yaml")
	current, _ := registry.LoadSettings(local, registry.LoadOptions{})
	decision, _ := registry.Plan(current, desired, nil)
	fmt.Println("allowed:", decision.Allowed, decision.From, "->", decision.To)

	rendered, err := registry.Render(desired, nil, nil, registry.RenderOptions{Containerd: "v2"})
	if err != nil {
		fmt.Println(err)
		return
	}
	hosts := rendered.File("/etc/containerd/registry.d/registry.d8-system.svc:5001/hosts.toml")
	fmt.Println("hosts.toml mode:", hosts.Mode)

	dir, _ := os.MkdirTemp("", "store-")
	defer os.RemoveAll(dir)
	store, err := registry.OpenStore(filepath.Join(dir, "store"), registry.StoreOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()
	put, _ := store.Put([]byte("hello"), "")
	fmt.Println(put.Digest)
	_, err = store.Get("sha256:0000000000000000000000000000000000000000000000000000000000000000")
	fmt.Println("not found:", errors.Is(err, registry.ErrNotFound))
	// Output:
	// allowed: true Local -> Direct
	// hosts.toml mode: 0600
	// sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824
	// not found: true
}
