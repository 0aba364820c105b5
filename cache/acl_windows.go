package cache

import (
	"fmt"
	"os"
	"sync"
	unsafeptr "unsafe" // named so: the tests have a function unsafe

	"golang.org/x/sys/windows"
)

// On Windows, what is ours is what our user owns (the owner SID is the
// process token's user) and what grants nobody else access (judgeSecurity).
// Unix's modes (0600, 0700, group-writable) mean nothing there: this rule
// replaces them.

// userSID is the SID of the process token's user, as S-1-….
var userSID = sync.OnceValues(func() (string, error) {
	u, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return "", fmt.Errorf("could not tell which user this is: %w", err)
	}
	return u.User.Sid.String(), nil
})

// underWine says this process runs under Wine, as the tests do: ntdll then
// exports wine_get_version, which Windows' does not. It is asked of the
// program itself, never of a variable, so that nothing a user sets on real
// Windows turns a check off.
var underWine = sync.OnceValue(func() bool {
	return windows.NewLazySystemDLL("ntdll.dll").NewProc("wine_get_version").Find() == nil
})

// wineKeepsNoDACL says the DACL part of the rule is not applied: under
// Wine alone, which does not keep the DACL a file or folder was created
// with (it reports one of its own making), so that the rule would refuse
// every folder the store made. The owner is still checked, and the rule's
// logic is tested on every system (acl_test.go). Only real Windows
// confirms DACLs.
func wineKeepsNoDACL() bool { return underWine() }

// privateSecurity returns security attributes that give a new file (or,
// with folder, a new folder and what it will hold) to the user, with a
// DACL protected from inheritance that grants the user, SYSTEM and
// Administrators alone: what Windows grants in a user's profile.
func privateSecurity(folder bool) (*windows.SecurityAttributes, error) {
	user, err := userSID()
	if err != nil {
		return nil, err
	}
	inherit := ""
	if folder {
		inherit = "OICI"
	}
	sddl := fmt.Sprintf("O:%[1]sD:P(A;%[2]s;FA;;;%[1]s)(A;%[2]s;FA;;;SY)(A;%[2]s;FA;;;BA)", user, inherit)
	sd, err := windows.SecurityDescriptorFromString(sddl)
	if err != nil {
		return nil, fmt.Errorf("could not make a private security descriptor: %w", err)
	}
	sa := &windows.SecurityAttributes{SecurityDescriptor: sd}
	sa.Length = uint32(unsafeptr.Sizeof(*sa))
	return sa, nil
}

// readSecurity reads the owner and DACL of f's file, or of path when f is
// nil (which follows a reparse point: only for what Lstat found not to be
// one, in our folders, or the cache home, which may be reached through a
// link).
func readSecurity(f *os.File, path string) (securityFacts, error) {
	const which = windows.OWNER_SECURITY_INFORMATION | windows.DACL_SECURITY_INFORMATION
	var sd *windows.SECURITY_DESCRIPTOR
	var err error
	if f != nil {
		sd, err = windows.GetSecurityInfo(windows.Handle(f.Fd()), windows.SE_FILE_OBJECT, which)
	} else {
		sd, err = windows.GetNamedSecurityInfo(longPath(path), windows.SE_FILE_OBJECT, which)
	}
	if err != nil {
		return securityFacts{}, err
	}
	var facts securityFacts
	owner, _, err := sd.Owner()
	if err != nil || owner == nil {
		return securityFacts{}, fmt.Errorf("no owner: %v", err)
	}
	facts.Owner = owner.String()
	dacl, _, err := sd.DACL()
	switch {
	case err == windows.ERROR_OBJECT_NOT_FOUND || err == nil && dacl == nil:
		facts.NullDACL = true
		return facts, nil
	case err != nil:
		return securityFacts{}, err
	}
	for i := range uint32(dacl.AceCount) {
		var ace *windows.ACCESS_ALLOWED_ACE
		if err := windows.GetAce(dacl, i, &ace); err != nil {
			return securityFacts{}, err
		}
		a := securityAce{Type: ace.Header.AceType, Flags: ace.Header.AceFlags, Mask: uint32(ace.Mask)}
		if a.Type == aceAccessAllowed || a.Type == aceAccessDenied {
			// Both keep the SID where ACCESS_ALLOWED_ACE does.
			a.SID = (*windows.SID)(unsafeptr.Pointer(&ace.SidStart)).String()
		}
		facts.DACL = append(facts.DACL, a)
	}
	return facts, nil
}

// securityKind says which part of the rule a check applies.
type securityKind int

const (
	privateFile   securityKind = iota // a record or leftover: owner and DACL
	ownedFile                         // a lock file, or a record about to be replaced: owner
	privateFolder                     // one of our folders: owner and DACL
	cacheHomeDir                      // the cache home: owner trusted, nobody else writes
)

// checkSecurity applies the rule of kind to f's file (or path's, with f
// nil): nil, or an *InsecureError whose Fix is the icacls command that
// mends it.
func checkSecurity(f *os.File, path string, kind securityKind) error {
	user, err := userSID()
	if err != nil {
		return err
	}
	facts, err := readSecurity(f, path)
	if err != nil {
		return fmt.Errorf("could not read who may use %s: %w", path, err)
	}
	if kind == ownedFile || wineKeepsNoDACL() {
		facts.NullDACL, facts.DACL = false, nil
	}
	j := judgeSecurity(user, facts, kind == cacheHomeDir)
	if j.Problem == "" {
		return nil
	}
	folder := kind == privateFolder || kind == cacheHomeDir
	e := &InsecureError{Path: path, Problem: j.Problem, Fix: icaclsFix(path, user, folder, j)}
	if kind == cacheHomeDir {
		if j.OwnerWrong {
			e.Fix = ""
			e.Advice = elsewhere
		} else {
			e.Advice = fmt.Sprintf("%s, or run: %s", elsewhere, e.Fix)
		}
	}
	return e
}
