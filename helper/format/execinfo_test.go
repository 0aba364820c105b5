package format

import (
	"strings"
	"testing"
)

func TestParseExecInfo(t *testing.T) {
	for _, tc := range []struct {
		desc, env string
		want      ExecInfo
	}{
		{"empty: an older kubectl", "", ExecInfo{ExecV1, true}},
		{"blank", " \n\t", ExecInfo{ExecV1, true}},
		{"v1, interactive", `{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"interactive":true}}`, ExecInfo{ExecV1, true}},
		{"v1, not interactive", `{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"interactive":false}}`, ExecInfo{ExecV1, false}},
		{"v1beta1, not interactive", `{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","spec":{"interactive":false}}`, ExecInfo{ExecV1beta1, false}},
		{"no spec", `{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential"}`, ExecInfo{ExecV1beta1, true}},
		{"interactive null", `{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"interactive":null}}`, ExecInfo{ExecV1, true}},
		{"other fields", `{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"cluster":{"server":"https://x"},"interactive":false},"status":{}}`, ExecInfo{ExecV1, false}},
		{"spaces around", " {\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\"}\n", ExecInfo{ExecV1, true}},
		// encoding/json matches keys whatever their case: kept as it was.
		{"keys in capitals", `{"APIVERSION":"client.authentication.k8s.io/v1","KIND":"ExecCredential"}`, ExecInfo{ExecV1, true}},
	} {
		got, err := ParseExecInfo(tc.env)
		if err != nil || got != tc.want {
			t.Errorf("%s: got %+v, %v; want %+v", tc.desc, got, err, tc.want)
		}
	}
}

func TestParseExecInfoRefuses(t *testing.T) {
	const notJSON = "KUBERNETES_EXEC_INFO is not valid JSON"
	for _, tc := range []struct{ env, want string }{
		{"{", notJSON},
		{"[]", notJSON},
		{`"ExecCredential"`, notJSON},
		{`{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"interactive":"yes"}}`, notJSON},
		{`{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential"} {}`, notJSON},
		{`{"apiVersion":"client.authentication.k8s.io/v2","kind":"ExecCredential"}`,
			`KUBERNETES_EXEC_INFO asks for apiVersion "client.authentication.k8s.io/v2"; akiflow-token speaks client.authentication.k8s.io/v1 and client.authentication.k8s.io/v1beta1`},
		{`{"apiVersion":"client.authentication.k8s.io/v1alpha1","kind":"ExecCredential"}`,
			`KUBERNETES_EXEC_INFO asks for apiVersion "client.authentication.k8s.io/v1alpha1"; akiflow-token speaks client.authentication.k8s.io/v1 and client.authentication.k8s.io/v1beta1`},
		{`null`, `KUBERNETES_EXEC_INFO asks for apiVersion ""; akiflow-token speaks client.authentication.k8s.io/v1 and client.authentication.k8s.io/v1beta1`},
		{`{"kind":"ExecCredential"}`, `KUBERNETES_EXEC_INFO asks for apiVersion ""; akiflow-token speaks client.authentication.k8s.io/v1 and client.authentication.k8s.io/v1beta1`},
		{`{"apiVersion":"v2\n\u001b[2J","kind":"ExecCredential"}`, `KUBERNETES_EXEC_INFO asks for apiVersion "v2 [2J"; akiflow-token speaks client.authentication.k8s.io/v1 and client.authentication.k8s.io/v1beta1`},
		{`{"apiVersion":"client.authentication.k8s.io/v1","kind":"Pod"}`, `KUBERNETES_EXEC_INFO has kind "Pod", not ExecCredential`},
		{`{"apiVersion":"client.authentication.k8s.io/v1"}`, `KUBERNETES_EXEC_INFO has kind "", not ExecCredential`},
		{`{"apiVersion":"client.authentication.k8s.io/v1","kind":"Exec\u2028Credential"}`, `KUBERNETES_EXEC_INFO has kind "Exec Credential", not ExecCredential`},
		{`{"apiVersion":"client.authentication.k8s.io/v1","kind":"` + strings.Repeat("k", 300) + `"}`, `KUBERNETES_EXEC_INFO has kind "` + strings.Repeat("k", 200) + `…", not ExecCredential`},
	} {
		info, err := ParseExecInfo(tc.env)
		if err == nil {
			t.Errorf("ParseExecInfo(%q) = %+v, want an error", tc.env, info)
			continue
		}
		if err.Error() != tc.want {
			t.Errorf("ParseExecInfo(%q): error %q, want %q", tc.env, err, tc.want)
		}
		if info != (ExecInfo{}) {
			t.Errorf("ParseExecInfo(%q): %+v beside an error", tc.env, info)
		}
	}
}
