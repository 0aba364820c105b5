// Package e2e holds the end-to-end tests of the Windows build: the program
// (AKIFLOW_TEST_WINDOWS_BINARY, which testdata/wine/test.sh builds) run as
// a person or a script runs it, against the fake Akiflow, under Wine. The
// Unix end-to-end tests are the root package's: they drive terminals,
// signals and other users, which Wine cannot host.
package e2e
