package helper

import (
	"errors"
	"io"
	"os"

	"golang.org/x/term"
)

// OpenTerminal opens the console, CONIN$ to read and CONOUT$ to write, to
// ask the person on: prompts never touch stdin or stdout, which belong to
// $(...), git or kubectl. It fails when the process has no console (a
// service, a scheduled task, a detached process).
func OpenTerminal() (io.ReadWriteCloser, error) {
	in, err := os.OpenFile("CONIN$", os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	if !term.IsTerminal(int(in.Fd())) {
		in.Close()
		return nil, errors.New("open CONIN$: not a console")
	}
	out, err := os.OpenFile("CONOUT$", os.O_RDWR, 0)
	if err != nil {
		in.Close()
		return nil, err
	}
	return &console{in: in, out: out}, nil
}

// console is the console's input and output as one terminal.
type console struct{ in, out *os.File }

func (c *console) Read(b []byte) (int, error)  { return c.in.Read(b) }
func (c *console) Write(b []byte) (int, error) { return c.out.Write(b) }

func (c *console) Close() error {
	return errors.Join(c.in.Close(), c.out.Close())
}
