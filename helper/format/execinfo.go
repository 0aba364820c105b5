package format

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Kubernetes exec credential API versions that ExecCredential speaks.
const (
	ExecV1      = "client.authentication.k8s.io/v1"
	ExecV1beta1 = "client.authentication.k8s.io/v1beta1"
)

// ExecInfo is what kubectl says in KUBERNETES_EXEC_INFO.
type ExecInfo struct {
	APIVersion  string // ExecV1 or ExecV1beta1
	Interactive bool   // kubectl's spec.interactive: a person may be asked
}

// ParseExecInfo parses KUBERNETES_EXEC_INFO. Empty (an older caller) means
// v1, interactive if there is a terminal; a spec without interactive means
// interactive too.
func ParseExecInfo(env string) (ExecInfo, error) {
	if strings.TrimSpace(env) == "" {
		return ExecInfo{APIVersion: ExecV1, Interactive: true}, nil
	}
	var in struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Spec       struct {
			Interactive *bool `json:"interactive"`
		} `json:"spec"`
	}
	if err := json.Unmarshal([]byte(env), &in); err != nil {
		return ExecInfo{}, errors.New("KUBERNETES_EXEC_INFO is not valid JSON")
	}
	if in.APIVersion != ExecV1 && in.APIVersion != ExecV1beta1 {
		return ExecInfo{}, fmt.Errorf("KUBERNETES_EXEC_INFO asks for apiVersion %q; akiflow-token speaks %s and %s", OneLine(in.APIVersion), ExecV1, ExecV1beta1)
	}
	if in.Kind != "ExecCredential" {
		return ExecInfo{}, fmt.Errorf("KUBERNETES_EXEC_INFO has kind %q, not ExecCredential", OneLine(in.Kind))
	}
	info := ExecInfo{APIVersion: in.APIVersion, Interactive: true}
	if in.Spec.Interactive != nil {
		info.Interactive = *in.Spec.Interactive
	}
	return info, nil
}
