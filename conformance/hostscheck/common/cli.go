package hostscheck

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
)

const usageText = `usage: hostscheck --root DIR [--mode cri|ctr] [--plain-http] [--verbose] NS...

Loads DIR (a containerd config_path such as /etc/containerd/registry.d) with
containerd's own hosts.toml parser and prints, for every namespace NS (an
image reference's host, e.g. docker.io or registry.example:5000), the
registry hosts containerd resolved, as one JSON document on stdout.

  --root DIR      the host directory root, given once. It is one path, not
                  a config_path list: "a:b" is looked up as the directory
                  "a:b", as the transfer service does (CONTAINERD-HOSTS.md §1)
  --mode cri      as the CRI plugin and the transfer service call it (default)
  --mode ctr      as ctr --hosts-dir with the client-side resolver: DefaultTLS set
  --plain-http    DefaultScheme "http" (ctr --plain-http)
  --verbose       copy containerd's log to stderr

Exit status: 0 when it ran (decode errors are data, see decode_error),
2 for usage errors, 1 when the output could not be written.
`

// ParseArgs parses the command line (without the program name). Flags may
// come before or after the namespaces; "--" ends the flags.
func ParseArgs(args []string) (Config, error) {
	cfg := Config{Mode: "cri"}
	fs := flag.NewFlagSet("hostscheck", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Var(onceString{&cfg.Root}, "root", "")
	fs.StringVar(&cfg.Mode, "mode", "cri", "")
	fs.BoolVar(&cfg.PlainHTTP, "plain-http", false, "")
	fs.BoolVar(&cfg.Verbose, "verbose", false, "")

	in := args
	for {
		if err := fs.Parse(in); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return cfg, flag.ErrHelp
			}
			return cfg, fmt.Errorf("%w: %v", errUsage, err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		// fs.Parse stops at the first non-flag, or after a "--" it consumed.
		if len(rest) < len(in) && in[len(in)-len(rest)-1] == "--" {
			cfg.Namespaces = append(cfg.Namespaces, rest...)
			break
		}
		cfg.Namespaces = append(cfg.Namespaces, rest[0])
		in = rest[1:]
	}

	switch {
	case cfg.Root == "":
		return cfg, fmt.Errorf("%w: --root is required", errUsage)
	case cfg.Mode != "cri" && cfg.Mode != "ctr":
		return cfg, fmt.Errorf("%w: --mode must be cri or ctr, not %q", errUsage, cfg.Mode)
	case len(cfg.Namespaces) == 0:
		return cfg, fmt.Errorf("%w: at least one namespace is required", errUsage)
	}
	for _, ns := range cfg.Namespaces {
		if ns == "" {
			return cfg, fmt.Errorf("%w: empty namespace", errUsage)
		}
	}
	return cfg, nil
}

// Run is main without os.Exit: it parses args, checks, writes the JSON
// report to stdout and returns the exit status.
func Run(b Backend, args []string, stdout, stderr io.Writer) int {
	cfg, err := ParseArgs(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stderr, usageText)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "hostscheck: %v\n\n%s", err, usageText)
		return 2
	}
	logOut := io.Discard
	if cfg.Verbose {
		logOut = stderr
	}
	quietStandardLogger(logOut)

	rep := Check(context.Background(), b, cfg, logOut)

	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		fmt.Fprintf(stderr, "hostscheck: writing the report: %v\n", err)
		return 1
	}
	return 0
}

// onceString is a string flag that may be given once: containerd takes one
// root per HostDirFromRoot, and a second --root must not silently win.
type onceString struct{ p *string }

func (o onceString) String() string {
	if o.p == nil {
		return ""
	}
	return *o.p
}

func (o onceString) Set(v string) error {
	if *o.p != "" {
		return errors.New("given more than once")
	}
	if v == "" {
		return errors.New("empty")
	}
	*o.p = v
	return nil
}
