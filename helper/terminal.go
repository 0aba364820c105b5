package helper

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"akiflow-token/helper/format"
)

// Prompter opens the terminal to ask the person on (OpenTerminal, or a
// test's script), when a question must be asked.
type Prompter func() (io.ReadWriteCloser, error)

// terminal asks the person questions on what a Prompter opened.
type terminal struct {
	f  io.ReadWriteCloser
	in *bufio.Reader
}

func newTerminal(f io.ReadWriteCloser) *terminal {
	return &terminal{f: f, in: bufio.NewReader(f)}
}

func (t *terminal) Close() error { return t.f.Close() }

func (t *terminal) printf(msg string, args ...any) {
	io.WriteString(t.f, format.SafeText(fmt.Sprintf(msg+"\n", args...)))
}

// ask prints prompt and reads one line. Ctrl-C (ctx cancelled) returns
// ErrInterrupted at once; end of input is an error.
func (t *terminal) ask(ctx context.Context, prompt string) (string, error) {
	fmt.Fprint(t.f, prompt)
	type result struct {
		line string
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		line, err := t.in.ReadString('\n')
		ch <- result{line, err}
	}()
	select {
	case <-ctx.Done():
		fmt.Fprintln(t.f)
		return "", ErrInterrupted
	case r := <-ch:
		if r.err != nil && (r.line == "" || !errors.Is(r.err, io.EOF)) {
			fmt.Fprintln(t.f)
			return "", errors.New("no answer on the terminal")
		}
		return strings.TrimSpace(r.line), nil
	}
}

// askCode asks for the 6-digit code until it has the right shape.
func (t *terminal) askCode(ctx context.Context) (string, error) {
	for {
		line, err := t.ask(ctx, "Code: ")
		if err != nil {
			return "", err
		}
		if code, ok := NormalizeCode(line); ok {
			return code, nil
		}
		t.printf("The code is 6 digits, such as 123456 or 123 456.")
	}
}

// NormalizeCode accepts "123456", "123 456" and "123-456".
func NormalizeCode(s string) (string, bool) {
	code := strings.NewReplacer(" ", "", "-", "").Replace(strings.TrimSpace(s))
	if len(code) != 6 {
		return "", false
	}
	for _, c := range code {
		if c < '0' || c > '9' {
			return "", false
		}
	}
	return code, true
}
