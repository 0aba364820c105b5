//go:build unix

// End-to-end tests of the exec credential plugin through the real kubectl.
// The ExecCredential akiflow-token prints, and its refusals, are in
// exec_credential.txtar; that kubectl's interactive: false stops a prompt
// at a terminal is TestPromptingTurnedOffAtATerminal.
package main_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"akiflow-token/helper/akiflow/akiflowtest"
)

// kubeconfig writes a kubeconfig whose user runs akiflow-token.
func (w *world) kubeconfig(apiVersion, mode string) string {
	w.t.Helper()
	args, _ := json.Marshal([]string{"-o", "exec-credential", "--insecure"})
	config := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: akiflow
  cluster:
    server: %s
    insecure-skip-tls-verify: true
users:
- name: akiflow
  user:
    exec:
      apiVersion: %s
      command: akiflow-token
      args: %s
      interactiveMode: %s
contexts:
- name: akiflow
  context:
    cluster: akiflow
    user: akiflow
current-context: akiflow
`, w.srv.URL, apiVersion, args, mode)
	path := filepath.Join(w.home, "kubeconfig-"+mode)
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		w.t.Fatal(err)
	}
	return path
}

func TestKubectlExecCredential(t *testing.T) {
	t.Parallel()
	needTool(t, "kubectl")
	for _, apiVersion := range []string{"client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"} {
		t.Run(apiVersion, func(t *testing.T) {
			t.Parallel()
			w := newTLSWorld(t)
			w.login(alice, "--insecure")
			for _, mode := range []string{"IfAvailable", "Never"} {
				res := w.runProgram(nil, nil, "kubectl", "--kubeconfig", w.kubeconfig(apiVersion, mode), "get", "--raw", akiflowtest.ProtectedPath)
				check(t, mode+": kubectl exit", res.code, 0)
				if !strings.Contains(res.stdout, `"success":true`) {
					t.Errorf("%s: kubectl printed %q; stderr:\n%s", mode, redact(res.stdout), redact(res.stderr))
				}
			}

			// A revoked session with interactiveMode Never: kubectl fails
			// cleanly with our message, and no code is mailed.
			w.srv.Revoke(alice)
			w.expire(alice)
			res := w.runProgram(nil, nil, "kubectl", "--kubeconfig", w.kubeconfig(apiVersion, "Never"), "get", "--raw", akiflowtest.ProtectedPath)
			if res.code == 0 || !strings.Contains(res.stderr, `in a terminal, run: akiflow-token --insecure login -e `+alice) {
				t.Errorf("kubectl: exit %d, stderr:\n%s", res.code, redact(res.stderr))
			}
			check(t, "codes mailed", w.srv.Count(akiflowtest.RouteLogin), 1)
		})
	}
}
