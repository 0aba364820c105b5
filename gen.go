//go:build genflags

package main

import "os"

// With the genflags tag (go generate: go run -tags genflags .), the
// program writes fastflags.go from the cli struct instead of running.
func init() {
	generate = func() error {
		src, err := renderFastFlags()
		if err != nil {
			return err
		}
		return os.WriteFile("fastflags.go", src, 0o644)
	}
}
