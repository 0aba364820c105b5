//go:build unix

// End-to-end tests of the README's curl recipes, through bash and the real
// curl. What -o curl and -o header print is in output_formats.txtar; exec
// itself is exec_command.txtar.
package main_test

import (
	"testing"

	"akiflow-token/helper/akiflow/akiflowtest"
)

func TestCurlRecipes(t *testing.T) {
	t.Parallel()
	needTool(t, "curl")
	needTool(t, "bash")
	w := newWorld(t)
	w.login(alice)
	url := w.srv.URL + akiflowtest.ProtectedPath
	for name, script := range map[string]string{
		"-K -":          `akiflow-token -o curl | curl -sS -o /dev/null -w '%{http_code}' -K - "$URL"`,
		"$(...)":        `curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(akiflow-token)" "$URL"`,
		"-o header":     `curl -sS -o /dev/null -w '%{http_code}' -H "$(akiflow-token -o header)" "$URL"`,
		"exec":          `akiflow-token exec -- sh -c 'curl -sS -o /dev/null -w "%{http_code}" -H "Authorization: Bearer $AKIFLOW_TOKEN" "$URL"'`,
		"a shell alias": "alias akcurl='curl -H \"Authorization: Bearer $(akiflow-token)\"'\nakcurl -sS -o /dev/null -w '%{http_code}' \"$URL\"",
	} {
		res := w.runProgram(nil, []string{"URL=" + url}, "bash", "-O", "expand_aliases", "-c", script)
		check(t, name+": HTTP status", res.stdout, "200")
		check(t, name+": stderr", res.stderr, "")
	}
}
