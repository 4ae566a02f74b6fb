package hostscheck

import "runtime/debug"

// ParserVersion returns "containerd <version>" for module as linked into
// the running binary, read from its build information.
func ParserVersion(module string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "containerd (no build info)"
	}
	for _, d := range bi.Deps {
		if d.Path == module {
			if d.Replace != nil {
				return "containerd " + d.Version + " (replaced by " + d.Replace.Path + " " + d.Replace.Version + ")"
			}
			return "containerd " + d.Version
		}
	}
	return "containerd (" + module + " not in build info)"
}
