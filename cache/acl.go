package cache

import (
	"fmt"
	"slices"
	"strings"
)

// Windows' ownership rule, as pure functions of SIDs and access control
// entries, so that it is tested on every system (Wine, where the Windows
// tests run, does not keep the DACLs it is given). acl_windows.go reads a
// file's security descriptor into a securityFacts and builds the
// *InsecureError from a judgement.

// Well-known SIDs that Windows itself grants access to a user's profile:
// they are tolerated beside the user, as root is on Unix.
const (
	sidSystem         = "S-1-5-18"     // LocalSystem
	sidAdministrators = "S-1-5-32-544" // BUILTIN\Administrators
	sidCreatorOwner   = "S-1-3-0"      // CREATOR OWNER: only ever inherited, as the creator
)

// Access control entry types and flags (winnt.h) that judgeSecurity reads.
const (
	aceAccessAllowed = 0x0 // ACCESS_ALLOWED_ACE_TYPE
	aceAccessDenied  = 0x1 // ACCESS_DENIED_ACE_TYPE
	aceInheritOnly   = 0x8 // INHERIT_ONLY_ACE: applies to what is created inside, not to the folder itself
)

// writeRights are the access rights (winnt.h) with which someone could
// change what a folder holds, rename or remove it, or grant themselves
// more: FILE_WRITE_DATA (FILE_ADD_FILE), FILE_APPEND_DATA
// (FILE_ADD_SUBDIRECTORY), FILE_DELETE_CHILD, DELETE, WRITE_DAC,
// WRITE_OWNER, MAXIMUM_ALLOWED, GENERIC_ALL and GENERIC_WRITE.
const writeRights = 0x2 | 0x4 | 0x40 | 0x10000 | 0x40000 | 0x80000 | 0x2000000 | 0x10000000 | 0x40000000

// securityAce is one access control entry of a DACL.
type securityAce struct {
	Type  uint8  // aceAccessAllowed, aceAccessDenied, or another kind
	Flags uint8  // aceInheritOnly and the inheritance flags
	Mask  uint32 // the access rights
	SID   string // whom it is for, as S-1-…
}

// securityFacts is what judgeSecurity needs of a file's or folder's
// security descriptor.
type securityFacts struct {
	Owner    string        // the owner's SID
	NullDACL bool          // no DACL at all: everyone may do anything
	DACL     []securityAce // in order
}

// judgement is judgeSecurity's verdict: Problem is "" when the rule is
// met; Others are the SIDs whose allow entries broke it, and OwnerWrong
// says the owner did.
type judgement struct {
	Problem    string
	OwnerWrong bool
	Others     []string
}

// judgeSecurity applies the rule to facts, for the user whose SID is user.
//
// For our own folders and files (writeOnly false): the owner is the user,
// and the DACL grants nobody but the user, SYSTEM and Administrators
// anything (deny entries only take away, and are accepted; an inherited
// CREATOR OWNER entry only gives what is made inside to whoever makes it).
//
// For the cache home, which is not ours to change (writeOnly true): as on
// Unix with root, the owner is the user, SYSTEM or Administrators, and
// nobody else may write to it (writeRights): reading is no concern, since
// our folders inside are private.
//
// An entry of another kind (an object or callback entry), which this rule
// does not know how to read, breaks the rule when it could grant: only
// deny entries are known to take away.
func judgeSecurity(user string, facts securityFacts, writeOnly bool) judgement {
	var j judgement
	var unknown []string // entries of a kind not read: not removable by SID
	trusted := func(sid string) bool { return sid == user || sid == sidSystem || sid == sidAdministrators }
	if facts.Owner != user && !(writeOnly && trusted(facts.Owner)) {
		j.OwnerWrong = true
		j.Problem = fmt.Sprintf("it belongs to another user (%s)", facts.Owner)
		return j
	}
	if facts.NullDACL {
		j.Problem = "it has no access control list, which lets anyone in"
		j.Others = []string{"S-1-1-0"} // Everyone, in effect
		return j
	}
	for _, a := range facts.DACL {
		switch {
		case a.Type == aceAccessDenied:
			continue
		case a.Type == aceAccessAllowed && trusted(a.SID):
			continue
		case a.Type == aceAccessAllowed && a.SID == sidCreatorOwner && a.Flags&aceInheritOnly != 0:
			continue
		case a.Type == aceAccessAllowed && writeOnly && a.Mask&writeRights == 0:
			continue
		}
		if a.Type != aceAccessAllowed {
			unknown = append(unknown, fmt.Sprintf("an entry of type %#x", a.Type))
		} else if !slices.Contains(j.Others, a.SID) {
			j.Others = append(j.Others, a.SID)
		}
	}
	if who := append(slices.Clone(j.Others), unknown...); len(who) > 0 {
		what := "lets others in"
		if writeOnly {
			what = "lets others write to it"
		}
		j.Problem = fmt.Sprintf("its access control list %s (%s)", what, strings.Join(who, ", "))
	}
	return j
}

// icaclsFix is the command that mends what j found wrong with path, for
// the user whose SID is user: take it back (icacls /setowner), or remove
// what others are granted (with the inherited entries, and the user's own
// grant made explicit so that nothing is lost; a folder's passes to what
// it holds). SIDs are given as *S-1-…, which icacls takes whatever the
// names are in this language.
func icaclsFix(path, user string, folder bool, j judgement) string {
	if j.OwnerWrong {
		return fmt.Sprintf("icacls %s /setowner *%s", windowsQuote(path), user)
	}
	grant := "*" + user + ":F"
	if folder {
		grant = `"*` + user + `:(OI)(CI)F"` // quoted: PowerShell would read the parentheses
	}
	fix := fmt.Sprintf("icacls %s /inheritance:r /grant:r %s", windowsQuote(path), grant)
	if len(j.Others) > 0 {
		fix += " /remove:g"
		for _, sid := range j.Others {
			fix += " *" + sid
		}
	}
	return fix
}

// windowsQuote quotes path for cmd.exe and PowerShell alike when it needs
// it (a space, or a character either would read): in double quotes, which
// a Windows path never holds.
func windowsQuote(path string) string {
	if path != "" && !strings.ContainsAny(path, " \t&()[]{}^=;!'+,`~$@%#") {
		return path
	}
	return `"` + path + `"`
}
