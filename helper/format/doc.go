// Package format holds the formats that akiflow-token's callers read and
// write, as pure functions: the output formats of the token (a bare token,
// an Authorization header, JSON, a curl config, a Kubernetes
// ExecCredential), kubectl's KUBERNETES_EXEC_INFO, and git's credential
// helper protocol (gitcredentials(7)).
//
// Nothing here reads a cache, asks a person or touches the network: each
// function takes what it needs and returns bytes or values. Every encoder
// refuses what could break a line of what a shell, curl, git or kubectl
// parses, and writes in one call, so that a refusal writes nothing. Every
// decoder of outside input has limits, one-line error messages that quote
// no secret, and a fuzz target.
package format
