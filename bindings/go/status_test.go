package registry

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The status list is written once, in the core (registry_core::wire::ErrorCode); the header
// carries it. Every status in the header must have a sentinel here and the core's name.
func TestEveryHeaderStatusHasASentinel(t *testing.T) {
	header, err := os.ReadFile("include/deckhouse_registry.h")
	if err != nil {
		t.Fatal(err)
	}
	entries := regexp.MustCompile(`(?m)^\s*DR_STATUS_([A-Z_]+) = (\d+),`).FindAllStringSubmatch(string(header), -1)
	if len(entries) < 20 {
		t.Fatalf("found only %d statuses in the header", len(entries))
	}
	for _, e := range entries {
		value, _ := strconv.Atoi(e[2])
		status := Status(value)
		if want := camel(e[1]); status.String() != want {
			t.Errorf("DR_STATUS_%s: name %q, want %q", e[1], status.String(), want)
		}
		if status == StatusOK {
			continue
		}
		if _, ok := sentinels[status]; !ok {
			t.Errorf("DR_STATUS_%s (%d) has no sentinel error in errors.go", e[1], value)
		}
	}
	if len(sentinels) != len(entries)-1 {
		t.Errorf("%d sentinels for %d non-OK statuses in the header", len(sentinels), len(entries)-1)
	}
}

// camel turns NOT_FOUND into NotFound (and IO into Io), as the core names its codes.
func camel(screaming string) string {
	var b strings.Builder
	for _, part := range strings.Split(screaming, "_") {
		b.WriteString(part[:1] + strings.ToLower(part[1:]))
	}
	return b.String()
}
