// Package storelayout checks that a deckhouse-registry store root is a valid OCI image layout
// for go-containerregistry: every image and index in index.json reads back, and every blob
// hashes to its digest. Set STORE_ROOT to the store root; without it the test is skipped.
package storelayout

import (
	"errors"
	"io"
	"os"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

func TestStoreRootIsAnOCILayout(t *testing.T) {
	root := os.Getenv("STORE_ROOT")
	if root == "" {
		t.Skip("STORE_ROOT is not set; run via registry-core's store_go_interop test")
	}
	p, err := layout.FromPath(root)
	if err != nil {
		t.Fatalf("layout.FromPath(%s): %v", root, err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		t.Fatalf("reading index.json: %v", err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatalf("parsing index.json: %v", err)
	}
	if len(im.Manifests) == 0 {
		t.Fatalf("index.json lists no manifests")
	}
	want := os.Getenv("STORE_EXPECT_TAGS")
	seen := map[string]bool{}
	for _, desc := range im.Manifests {
		name := desc.Annotations["org.opencontainers.image.ref.name"]
		seen[name] = true
		switch {
		case desc.MediaType.IsIndex():
			child, err := idx.ImageIndex(desc.Digest)
			if err != nil {
				t.Fatalf("%s (%s): %v", name, desc.Digest, err)
			}
			if err := validate.Index(child); err != nil {
				t.Errorf("%s (%s): %v", name, desc.Digest, err)
			}
		case desc.MediaType.IsImage():
			img, err := idx.Image(desc.Digest)
			if err != nil {
				t.Fatalf("%s (%s): %v", name, desc.Digest, err)
			}
			// validate.Image re-hashes the manifest, config and every layer.
			if err := validate.Image(img); err != nil {
				t.Errorf("%s (%s): %v", name, desc.Digest, err)
			}
			checkBlobs(t, p, img)
		default:
			t.Errorf("%s: unexpected media type %s", name, desc.MediaType)
		}
	}
	if want != "" {
		for _, tag := range splitComma(want) {
			if !seen[tag] {
				t.Errorf("tag %q not found in index.json", tag)
			}
		}
	}
}

// checkBlobs reads every blob of img straight from blobs/<alg>/<hex> and re-hashes it.
func checkBlobs(t *testing.T, p layout.Path, img v1.Image) {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatalf("manifest: %v", err)
	}
	descs := append([]v1.Descriptor{m.Config}, m.Layers...)
	for _, d := range descs {
		rc, err := p.Blob(d.Digest)
		if err != nil {
			t.Fatalf("blob %s: %v", d.Digest, err)
		}
		got, n, err := v1.SHA256(rc)
		rc.Close()
		if err != nil && !errors.Is(err, io.EOF) {
			t.Fatalf("reading %s: %v", d.Digest, err)
		}
		if got != d.Digest || n != d.Size {
			t.Errorf("blob %s: content hashes to %s (%d bytes, want %d)", d.Digest, got, n, d.Size)
		}
	}
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}
