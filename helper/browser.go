package helper

import (
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strings"
)

// OpenBrowser opens url in the person's browser, for an OAuth login:
// with $BROWSER first (a list of commands separated by ":", each taking
// the URL as its last argument, or where it says %s), else the
// platform's opener (open on macOS, rundll32 on Windows, xdg-open
// elsewhere). It does not wait for the browser; its output goes nowhere
// (stdout is for the token). The URL holds no secret.
func OpenBrowser(url string) error {
	var tried []string
	for _, entry := range strings.Split(os.Getenv("BROWSER"), string(os.PathListSeparator)) {
		words := strings.Fields(entry)
		if len(words) == 0 {
			continue
		}
		args, placed := make([]string, 0, len(words)), false
		for _, w := range words[1:] {
			if strings.Contains(w, "%s") {
				w, placed = strings.ReplaceAll(w, "%s", url), true
			}
			args = append(args, w)
		}
		if !placed {
			args = append(args, url)
		}
		err := startDetached(words[0], args...)
		if err == nil {
			return nil
		}
		tried = append(tried, err.Error())
	}
	var err error
	switch runtime.GOOS {
	case "darwin":
		err = startDetached("open", url)
	case "windows":
		err = startDetached("rundll32", "url.dll,FileProtocolHandler", url)
	default:
		err = startDetached("xdg-open", url)
	}
	if err == nil {
		return nil
	}
	return errors.New(strings.Join(append(tried, err.Error()), "; "))
}

// startDetached starts name with args, its stdio the null device, and
// reaps it whenever it ends.
func startDetached(name string, args ...string) error {
	cmd := exec.Command(name, args...)
	if err := cmd.Start(); err != nil {
		return err
	}
	go cmd.Wait()
	return nil
}
