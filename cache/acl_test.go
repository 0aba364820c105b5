package cache

import (
	"strings"
	"testing"
)

// Windows' ownership rule, tested on every system: Wine, where the Windows
// build's tests run, keeps no DACL it is given.

const (
	testUser  = "S-1-5-21-1-2-3-1001"
	otherUser = "S-1-5-21-1-2-3-1002"
	everyone  = "S-1-1-0"
	users     = "S-1-5-32-545"
	fullMask  = 0x1f01ff   // FILE_ALL_ACCESS
	readMask  = 0x1200a9   // FILE_GENERIC_READ | FILE_EXECUTE
	addFile   = 0x2        // FILE_ADD_FILE
	genericW  = 0x40000000 // GENERIC_WRITE
)

func allow(sid string, mask uint32) securityAce {
	return securityAce{Type: aceAccessAllowed, Mask: mask, SID: sid}
}

func TestJudgeSecurity(t *testing.T) {
	private := []securityAce{allow(testUser, fullMask), allow(sidSystem, fullMask), allow(sidAdministrators, fullMask)}
	for _, tc := range []struct {
		name      string
		facts     securityFacts
		writeOnly bool
		problem   string // "" when accepted
		others    []string
		owner     bool // OwnerWrong
	}{
		{name: "what the store creates", facts: securityFacts{Owner: testUser, DACL: private}},
		{name: "the user alone", facts: securityFacts{Owner: testUser, DACL: private[:1]}},
		{name: "an empty DACL", facts: securityFacts{Owner: testUser}},
		{name: "another user's", facts: securityFacts{Owner: otherUser, DACL: private},
			problem: "it belongs to another user (" + otherUser + ")", owner: true},
		{name: "Administrators' own folder", facts: securityFacts{Owner: sidAdministrators, DACL: private},
			problem: "it belongs to another user (" + sidAdministrators + ")", owner: true},
		{name: "no DACL", facts: securityFacts{Owner: testUser, NullDACL: true},
			problem: "it has no access control list, which lets anyone in", others: []string{everyone}},
		{name: "Everyone may read", facts: securityFacts{Owner: testUser, DACL: append(private[:3:3], allow(everyone, readMask))},
			problem: "its access control list lets others in (" + everyone + ")", others: []string{everyone}},
		{name: "another user and Users, each twice", facts: securityFacts{Owner: testUser,
			DACL: []securityAce{allow(otherUser, readMask), allow(testUser, fullMask), allow(users, readMask), allow(otherUser, fullMask), allow(users, 1)}},
			problem: "its access control list lets others in (" + otherUser + ", " + users + ")", others: []string{otherUser, users}},
		{name: "a deny entry only takes away", facts: securityFacts{Owner: testUser,
			DACL: []securityAce{{Type: aceAccessDenied, Mask: fullMask, SID: everyone}, allow(testUser, fullMask)}}},
		{name: "CREATOR OWNER inherited only", facts: securityFacts{Owner: testUser,
			DACL: append(private[:3:3], securityAce{Type: aceAccessAllowed, Flags: aceInheritOnly | 0x3, Mask: fullMask, SID: sidCreatorOwner})}},
		{name: "CREATOR OWNER on the object itself", facts: securityFacts{Owner: testUser,
			DACL: append(private[:3:3], allow(sidCreatorOwner, fullMask))},
			problem: "its access control list lets others in (" + sidCreatorOwner + ")", others: []string{sidCreatorOwner}},
		{name: "another user, inherited only", facts: securityFacts{Owner: testUser,
			DACL: append(private[:3:3], securityAce{Type: aceAccessAllowed, Flags: aceInheritOnly, Mask: fullMask, SID: otherUser})},
			problem: "its access control list lets others in (" + otherUser + ")", others: []string{otherUser}},
		{name: "an entry of an unknown kind", facts: securityFacts{Owner: testUser,
			DACL: append(private[:3:3], securityAce{Type: 0x9 /* ACCESS_ALLOWED_CALLBACK_ACE_TYPE */, Mask: fullMask})},
			problem: "its access control list lets others in (an entry of type 0x9)"},

		// The cache home: owner trusted, nobody else writes.
		{name: "home: the user's profile folder", writeOnly: true, facts: securityFacts{Owner: testUser, DACL: private}},
		{name: "home: SYSTEM's", writeOnly: true, facts: securityFacts{Owner: sidSystem, DACL: private}},
		{name: "home: Administrators'", writeOnly: true, facts: securityFacts{Owner: sidAdministrators, DACL: private}},
		{name: "home: another user's", writeOnly: true, facts: securityFacts{Owner: otherUser, DACL: private},
			problem: "it belongs to another user (" + otherUser + ")", owner: true},
		{name: "home: Everyone reads", writeOnly: true, facts: securityFacts{Owner: testUser, DACL: append(private[:3:3], allow(everyone, readMask))}},
		{name: "home: Users add files", writeOnly: true, facts: securityFacts{Owner: testUser, DACL: append(private[:3:3], allow(users, readMask|addFile))},
			problem: "its access control list lets others write to it (" + users + ")", others: []string{users}},
		{name: "home: Everyone GENERIC_WRITE", writeOnly: true, facts: securityFacts{Owner: testUser, DACL: append(private[:3:3], allow(everyone, genericW))},
			problem: "its access control list lets others write to it (" + everyone + ")", others: []string{everyone}},
		{name: "home: no DACL", writeOnly: true, facts: securityFacts{Owner: testUser, NullDACL: true},
			problem: "it has no access control list, which lets anyone in", others: []string{everyone}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := judgeSecurity(testUser, tc.facts, tc.writeOnly)
			if j.Problem != tc.problem || j.OwnerWrong != tc.owner || strings.Join(j.Others, ",") != strings.Join(tc.others, ",") {
				t.Errorf("judgeSecurity = %+v; want problem %q, owner wrong %v, others %q", j, tc.problem, tc.owner, tc.others)
			}
		})
	}
}

func TestIcaclsFix(t *testing.T) {
	const path = `C:\Users\Ann Lee\AppData\Local\cache\akiflow-token`
	for _, tc := range []struct {
		name   string
		path   string
		folder bool
		j      judgement
		want   string
	}{
		{"owner", path, true, judgement{OwnerWrong: true},
			`icacls "` + path + `" /setowner *` + testUser},
		{"a folder others may enter", path, true, judgement{Others: []string{everyone, otherUser}},
			`icacls "` + path + `" /inheritance:r /grant:r "*` + testUser + `:(OI)(CI)F" /remove:g *` + everyone + ` *` + otherUser},
		{"a record others may read", `C:\c\h\a@b.c.json`, false, judgement{Others: []string{users}},
			`icacls "C:\c\h\a@b.c.json" /inheritance:r /grant:r *` + testUser + `:F /remove:g *` + users},
		{"a plain path", `C:\cache\h`, true, judgement{Others: []string{users}},
			`icacls C:\cache\h /inheritance:r /grant:r "*` + testUser + `:(OI)(CI)F" /remove:g *` + users},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := icaclsFix(tc.path, testUser, tc.folder, tc.j); got != tc.want {
				t.Errorf("icaclsFix =\n %s\nwant\n %s", got, tc.want)
			}
		})
	}
}

func TestEscapeOnWindows(t *testing.T) {
	for _, tc := range []struct{ name, unix, windows string }{
		{"a@b.c", "a@b.c", "a@b.c"},
		{"con", "con", "%63on"},
		{"CON", "CON", "%43ON"},
		{"nul.x@y.z", "nul.x@y.z", "%6Eul.x@y.z"},
		{"Com1", "Com1", "%43om1"},
		{"lpt9.a", "lpt9.a", "%6Cpt9.a"},
		{"com10", "com10", "com10"},
		{"console@x.y", "console@x.y", "console@x.y"},
		{"aux@x.y", "aux@x.y", "aux@x.y"}, // the device is AUX alone, or AUX.…
		{"example.com.", "example.com.", "example.com%2E"},
		{".", "%2E", "%2E"},
	} {
		if got := escapeFor(tc.name, false); got != tc.unix {
			t.Errorf("escapeFor(%q, Unix) = %q, want %q", tc.name, got, tc.unix)
		}
		got := escapeFor(tc.name, true)
		if got != tc.windows {
			t.Errorf("escapeFor(%q, Windows) = %q, want %q", tc.name, got, tc.windows)
		}
		if back, err := unescape(got); err != nil || back != tc.name {
			t.Errorf("unescape(%q) = %q, %v; want %q", got, back, err, tc.name)
		}
	}
}
