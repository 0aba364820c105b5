package run

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// On Linux, the supervised command gets SIGTERM when the supervisor dies
// without a chance to pass anything on (kill -9).
func TestSuperviseParentDeath(t *testing.T) {
	t.Parallel()
	got := filepath.Join(t.TempDir(), "got-term")
	p := start(t, exec.Command(supervisor, "sh", "-c", `trap 'echo got-term > "$1"; exit 0' TERM; echo ready; `+loop, "sh", got))
	p.ready()
	syscall.Kill(p.cmd.Process.Pid, syscall.SIGKILL)
	p.wait()
	p.waitFor("the command to get SIGTERM", func() bool {
		b, _ := os.ReadFile(got)
		return string(b) == "got-term\n"
	})
}
