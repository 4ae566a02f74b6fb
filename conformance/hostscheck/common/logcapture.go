package hostscheck

import (
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/sirupsen/logrus"
)

// logCapture is a private logrus logger handed to containerd through
// log.WithLogger on the context given to ConfigureHosts. It records the
// entries the harness reports and writes everything to out (io.Discard
// unless --verbose; never stdout).
type logCapture struct {
	logger *logrus.Logger

	mu      sync.Mutex
	decodes []string
}

func newLogCapture(out io.Writer) *logCapture {
	c := &logCapture{logger: logrus.New()}
	c.logger.SetOutput(out)
	c.logger.SetLevel(logrus.DebugLevel)
	c.logger.AddHook(c)
	return c
}

func (c *logCapture) entry(ns string) *logrus.Entry {
	return logrus.NewEntry(c.logger).WithField("hostscheck_ns", ns)
}

// Levels implements logrus.Hook.
func (c *logCapture) Levels() []logrus.Level { return logrus.AllLevels }

// Fire implements logrus.Hook. containerd logs a rejected hosts.toml as
// ERROR "failed to decode <dir>/hosts.toml" (2.x) or "failed to decode
// hosts.toml" (1.7) with the parse error in the "error" field.
func (c *logCapture) Fire(e *logrus.Entry) error {
	if e.Level > logrus.ErrorLevel || !strings.HasPrefix(e.Message, "failed to decode") {
		return nil
	}
	msg := e.Message
	if v, ok := e.Data[logrus.ErrorKey]; ok {
		msg = fmt.Sprint(v)
	}
	c.mu.Lock()
	c.decodes = append(c.decodes, msg)
	c.mu.Unlock()
	return nil
}

func (c *logCapture) decodeErrors() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.decodes...)
}

// quietStandardLogger keeps anything logged through logrus' standard logger
// (containerd's log.L, used when a context carries no logger) off stdout.
func quietStandardLogger(out io.Writer) {
	logrus.SetOutput(out)
}
