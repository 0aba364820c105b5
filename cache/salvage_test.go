package cache

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	if when := os.Getenv("CACHE_TEST_KILL"); when != "" {
		killedReplace(when)
	}
	testChild() // a child process of the Windows tests, when one is asked for
	os.Exit(m.Run())
}

// killedReplace is the process that killReplace starts: it is killed in
// the middle of a Replace of a@b.c, at the moment when names.
func killedReplace(when string) {
	kill := killSelf
	s := Open("h", testRecordSize)
	switch when {
	case "before rename":
		testHookBeforeRename = kill
		s.Write("a@b.c", []byte("new"))
	case "in content":
		replace(s, "a@b.c", func() ([]byte, error) { kill(); select {} })
	case "after stage":
		p, err := s.Prepare("a@b.c")
		if err == nil {
			if p.Stage(bytes.Repeat([]byte("staged "), 100)) == nil && p.Stage([]byte("staged")) == nil {
				kill()
			}
		}
	}
	fmt.Fprintln(os.Stderr, "not killed")
	os.Exit(1)
}

// killReplace runs a process that is killed in a Replace of a@b.c, at when.
func killReplace(t *testing.T, when string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "CACHE_TEST_KILL="+when)
	out, err := cmd.CombinedOutput()
	if !killed(err) {
		t.Fatalf("the process was not killed: %v\n%s", err, out)
	}
}

func leftoverNames(t *testing.T, s *Store) []string {
	t.Helper()
	var names []string
	for _, info := range tempFiles(t, s) {
		names = append(names, info.Name())
	}
	return names
}

func TestSalvageRecoversTheRecordOfAKilledReplace(t *testing.T) {
	s := newFolder(t)
	s.Write("a@b.c", []byte("old"))
	killReplace(t, "before rename")
	if got, _ := s.Read("a@b.c"); string(got) != "old" {
		t.Fatalf("the record after the kill: %q", got)
	}
	if n := len(leftoverNames(t, s)); n != 1 {
		t.Fatalf("want one leftover, found %d", n)
	}
	var seen []string
	moved, err := s.Recover("a@b.c", func(data []byte) bool { seen = append(seen, string(data)); return true })
	if !moved || err != nil {
		t.Fatalf("Salvage = %v, %v", moved, err)
	}
	if fmt.Sprint(seen) != "[new]" {
		t.Errorf("keep saw %q", seen)
	}
	got, err := s.Read("a@b.c")
	if err != nil || string(got) != "new" {
		t.Errorf("the record: %q, %v", got, err)
	}
	if names := leftoverNames(t, s); len(names) != 0 {
		t.Errorf("left: %v", names)
	}
}

func TestSalvageRemovesTheReservationOfAKilledReplace(t *testing.T) {
	s := newFolder(t)
	s.Write("a@b.c", []byte("old"))
	killReplace(t, "in content")
	if names := leftoverNames(t, s); len(names) != 1 {
		t.Fatalf("want one leftover, found %v", names)
	}
	moved, err := s.Recover("a@b.c", func(data []byte) bool {
		t.Errorf("keep asked about %d bytes: a reservation holds only zeros", len(data))
		return true
	})
	if moved || err != nil {
		t.Errorf("Salvage = %v, %v", moved, err)
	}
	if got, _ := s.Read("a@b.c"); string(got) != "old" {
		t.Errorf("the record: %q", got)
	}
	if names := leftoverNames(t, s); len(names) != 0 {
		t.Errorf("left: %v", names)
	}
}

// What Stage wrote is recovered after a kill before Commit, without what
// a longer earlier Stage left after it; more than the record size is not
// staged.
func TestSalvageRecoversAStagedRecord(t *testing.T) {
	s := newFolder(t)
	s.Write("a@b.c", []byte("old"))
	killReplace(t, "after stage")
	if got, _ := s.Read("a@b.c"); string(got) != "old" {
		t.Fatalf("the record after the kill: %q", got)
	}
	var seen []string
	moved, err := s.Recover("a@b.c", func(data []byte) bool { seen = append(seen, string(data)); return true })
	if !moved || err != nil || fmt.Sprint(seen) != "[staged]" {
		t.Errorf("Recover = %v, %v; keep saw %q, want [staged]", moved, err, seen)
	}
	p, err := s.Prepare("a@b.c")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Discard()
	if err := p.Stage(make([]byte, testRecordSize+1)); err == nil {
		t.Error("Stage of more than the record size succeeded")
	}
}

// plant makes a leftover of the record a@b.c (or another, by its file
// name) with data, modified age ago.
func plant(t *testing.T, s *Store, name string, data []byte, age time.Duration) {
	t.Helper()
	path := filepath.Join(s.Dir(), partialDir, name)
	os.Mkdir(filepath.Dir(path), 0o700)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	when := time.Now().Add(-age)
	os.Chtimes(path, when, when)
}

func padded(s string) []byte {
	return append([]byte(s), make([]byte, testRecordSize-len(s))...)
}

func TestSalvageTakesTheNewestKeptAndRemovesTheRest(t *testing.T) {
	s := newFolder(t)
	s.Write("a@b.c", []byte("old"))
	s.Write("x@b.c", []byte("x"))
	plant(t, s, ".a@b.c.json111", padded("oldest"), 3*time.Hour)
	plant(t, s, ".a@b.c.json222", []byte("older"), 2*time.Hour)
	plant(t, s, ".a@b.c.json333", padded("newer"), time.Hour)
	plant(t, s, ".a@b.c.json444", padded("rejected"), time.Minute)
	plant(t, s, ".a@b.c.json555", padded(""), 0)
	plant(t, s, ".a@b.c.json666", padded("others can read it"), 0)
	if runtime.GOOS == "windows" {
		// What others may read is the DACL's (TestJudgeSecurity), which
		// Wine does not keep: plain deleted, so that it is removed too.
		os.Remove(filepath.Join(s.Dir(), partialDir, ".a@b.c.json666"))
	} else {
		os.Chmod(filepath.Join(s.Dir(), partialDir, ".a@b.c.json666"), 0o644)
	}
	mkfifo(filepath.Join(s.Dir(), partialDir, ".a@b.c.json777"))
	// Not leftovers of a@b.c: another record's, and names renameio never makes.
	others := []string{".x@b.c.json123", ".a@b.c.json", ".a@b.c.json12x", ".a@b.c.json.json1"}
	for _, name := range others {
		plant(t, s, name, []byte("other"), 0)
	}

	var seen []string
	var moved bool
	var err error
	promptly(t, "Salvage", func() {
		moved, err = s.Recover("a@b.c", func(data []byte) bool {
			seen = append(seen, string(data))
			return string(data) != "rejected"
		})
	})
	if !moved || err != nil {
		t.Fatalf("Salvage = %v, %v", moved, err)
	}
	if fmt.Sprint(seen) != "[rejected newer]" {
		t.Errorf("keep saw %q, want the newest first, and no more after the one kept", seen)
	}
	got, err := s.Read("a@b.c") // also checks the mode, 0600
	if err != nil || !bytes.Equal(got, []byte("newer")) {
		t.Errorf("the record: %q, %v; want it without the padding", got, err)
	}
	left := leftoverNames(t, s)
	sort.Strings(others)
	if fmt.Sprint(left) != fmt.Sprint(others) {
		t.Errorf("left %v, want %v", left, others)
	}
	if got, _ := s.Read("x@b.c"); string(got) != "x" {
		t.Errorf("another record changed: %q", got)
	}
}

func TestSalvageThatKeepsNothingRemovesTheLeftovers(t *testing.T) {
	s := newFolder(t)
	s.Write("a@b.c", []byte("old"))
	plant(t, s, ".a@b.c.json1", padded("one"), time.Hour)
	plant(t, s, ".a@b.c.json2", []byte("two"), 0)
	moved, err := s.Recover("a@b.c", func([]byte) bool { return false })
	if moved || err != nil {
		t.Errorf("Salvage = %v, %v", moved, err)
	}
	if names := leftoverNames(t, s); len(names) != 0 {
		t.Errorf("left: %v", names)
	}
	if got, _ := s.Read("a@b.c"); string(got) != "old" {
		t.Errorf("the record: %q", got)
	}
}

func TestSalvageWithNothingToDo(t *testing.T) {
	useTempCache(t)
	s := Open("h", testRecordSize)
	if moved, err := s.Recover("a@b.c", func([]byte) bool { return true }); moved || err != nil {
		t.Errorf("Salvage with no folder = %v, %v", moved, err)
	}
	if _, err := os.Stat(s.Dir()); err == nil {
		t.Error("Salvage made the folder")
	}
	s.Write("a@b.c", []byte("old"))
	if moved, err := s.Recover("a@b.c", func([]byte) bool { return true }); moved || err != nil {
		t.Errorf("Salvage with no leftovers = %v, %v", moved, err)
	}
}

// A Store lists its leftovers at every Recover: a long-running process
// (serve) recovers a save that another process's refresh child left after
// its first look.
func TestRecoverSeesLeftoversMadeSinceItsLastLook(t *testing.T) {
	s := newFolder(t)
	s.Write("a@b.c", []byte("old"))
	if moved, err := s.Recover("a@b.c", func([]byte) bool { return true }); moved || err != nil {
		t.Fatalf("Recover with nothing left = %v, %v", moved, err)
	}
	plant(t, s, ".a@b.c.json42", padded("new"), 0)
	if moved, err := s.Recover("a@b.c", func([]byte) bool { return true }); !moved || err != nil {
		t.Errorf("Recover of a leftover made since its last look = %v, %v", moved, err)
	}
	if got, _ := s.Read("a@b.c"); string(got) != "new" {
		t.Errorf("the record: %q", got)
	}
}

// A Pending's temporary file exists a moment before it is locked, when
// another process's Recover may take it for a killed save's leftover and
// remove it: then Prepare fails (nothing is sent), whether the file went
// before it was opened again or while its lock was still the other's.
func TestPrepareWhoseFileWasRecoveredMeanwhileFails(t *testing.T) {
	if wineKeepsRemovedFiles() {
		t.Skip("Wine 8 neither removes a file open with FILE_SHARE_DELETE nor marks it for deletion (its name stays, DeletePending is false): the case cannot be made here")
	}
	for _, when := range []string{"before it is opened again", "while the other holds its lock"} {
		t.Run(when, func(t *testing.T) {
			s := newFolder(t)
			testHookAfterCreate = func(path string) {
				if when == "before it is opened again" {
					os.Remove(path)
					return
				}
				// Another process's Recover: it locks the file, removes it,
				// and lets go a moment later.
				f, err := os.Open(path)
				if err != nil {
					t.Error(err)
					return
				}
				if held, err := holdFile(f); !held {
					t.Errorf("the Recover could not lock the new file: %v", err)
				}
				go func() {
					time.Sleep(5 * time.Millisecond)
					os.Remove(path)
					f.Close()
				}()
			}
			defer func() { testHookAfterCreate = nil }()
			if p, err := s.Prepare("a@b.c"); err == nil {
				p.Discard()
				t.Errorf("Prepare of a file removed before it was locked succeeded")
			}
		})
	}
}
