package node

import (
	"context"
	"crypto/rand"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/store"
)

// Fuzz targets for what the node reads from requests itself, past the
// HTTP layer's JSON decoding: bearer tokens, the appeals cursor, free
// text and account names. Seeds: f.Add below and testdata/fuzz/<FuzzName>/.

// FuzzAuthenticate: whatever a client puts after "Bearer ", it is either
// one of the tokens this node minted, resolved to its own principal, or
// refused as EUnauthorized — never another error, and never a principal
// for a token over the length limit or without the prefix. The same holds
// for replica tokens on the replica routes, and neither kind of token
// opens the other's routes.
func FuzzAuthenticate(f *testing.F) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(f.TempDir(), "node.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	now := time.Unix(1_800_000_000, 0)
	a := newAccess(db, config.Default("440000"), testTokenCheck(f), NewMetrics(), func() time.Time { return now }, rand.Reader)
	admin, err := a.bootstrapAdmin(ctx, "admin", "fuzz")
	if err != nil {
		f.Fatal(err)
	}
	adminP, err := a.authenticate(ctx, admin.Token)
	if err != nil {
		f.Fatal(err)
	}
	sc, err := a.addScanner(ctx, adminP, "gate", "checkpoint")
	if err != nil {
		f.Fatal(err)
	}
	reps := &Replicas{a: a}
	rep, err := reps.Add(ctx, adminP, "verify-1")
	if err != nil {
		f.Fatal(err)
	}
	minted := map[string]Role{admin.Token: RoleOperator, sc.Token: RoleScanner}
	for tok := range minted {
		f.Add(tok)
		f.Add(tok[:len(tok)-1])
		f.Add(tok + "A")
		f.Add(strings.ToUpper(tok))
	}
	f.Add(rep.Token)
	f.Add("")
	f.Add(tokenPrefix)
	f.Add(tokenPrefix + strings.Repeat("A", 200))
	f.Fuzz(func(t *testing.T, tok string) {
		rp, err := reps.Authenticate(ctx, tok)
		if tok == rep.Token {
			if err != nil || rp.ID != rep.ID {
				t.Fatalf("replica token resolved to %+v, %v", rp, err)
			}
		} else if ErrorCodeOf(err) != EUnauthorized || rp != (ReplicaPrincipal{}) {
			t.Fatalf("token %q resolved to replica %+v, %v; want %s", tok, rp, err, EUnauthorized)
		}
		p, err := a.authenticate(ctx, tok)
		if role, ok := minted[tok]; ok {
			if err != nil || p.Role != role {
				t.Fatalf("minted %s token resolved to %+v, %v", role, p, err)
			}
			return
		}
		if ErrorCodeOf(err) != EUnauthorized || p != (Principal{}) {
			t.Fatalf("token %q resolved to %+v, %v; want %s", tok, p, err, EUnauthorized)
		}
	})
}

// FuzzParseAppealCursor: an ?after= cursor is "" (the start), refused as
// EInvalid, or names a positive time and an id — and the cursor this
// node writes for that position reads back to the same position, so a
// client following next links never loses its place.
func FuzzParseAppealCursor(f *testing.F) {
	f.Add(appealCursor(store.Appeal{ID: "ap_1", Created: time.Unix(1_800_000_000, 5)}))
	f.Add("")
	f.Add("MC5h")                         // "0.a"
	f.Add("LTEuYQ")                       // "-1.a"
	f.Add("OTIyMzM3MjAzNjg1NDc3NTgwOC5h") // one past max int64
	f.Add(strings.Repeat("A", 129))
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseAppealCursor(s)
		if err != nil {
			if ErrorCodeOf(err) != EInvalid || c != (store.AppealCursor{}) {
				t.Fatalf("cursor %q refused with %v, cursor %+v", s, err, c)
			}
			return
		}
		if s == "" {
			if c != (store.AppealCursor{}) {
				t.Fatalf("empty cursor reads as %+v", c)
			}
			return
		}
		if len(s) > 128 || c.ID == "" || c.Created.UnixNano() <= 0 {
			t.Fatalf("cursor %q accepted as %+v", s, c)
		}
		again, err := parseAppealCursor(appealCursor(store.Appeal{ID: c.ID, Created: c.Created}))
		if err != nil || !again.Created.Equal(c.Created) || again.ID != c.ID {
			t.Fatalf("cursor %q reads as %+v; written again, as %+v (%v)", s, c, again, err)
		}
	})
}

// FuzzCheckText: free text a person typed (names, reasons, appeals,
// labels, scanner names) is accepted only if it is valid UTF-8 within its
// length, without control characters, bidirectional controls or, on one
// line, line breaks, and with a visible character; a refusal is EInvalid
// naming the field.
func FuzzCheckText(f *testing.F) {
	for _, s := range []string{"张三丰", "", " ", "a\nb", "a\u202eb", "\u200b", "a\x00", "\xff", "ok\u2028", "ㅤ", "x\u0301"} {
		f.Add(s, uint8(8), false)
		f.Add(s, uint8(8), true)
	}
	f.Fuzz(func(t *testing.T, s string, max uint8, multiline bool) {
		err := checkText("field", s, int(max), multiline)
		if err != nil {
			if ErrorCodeOf(err) != EInvalid || !strings.HasPrefix(ErrorMessageOf(err), "field ") {
				t.Fatalf("checkText(%q) refused with %v", s, err)
			}
			return
		}
		if !utf8.ValidString(s) || utf8.RuneCountInString(s) > int(max) {
			t.Fatalf("accepted %q over %d characters or not UTF-8", s, max)
		}
		visible := false
		for _, r := range s {
			lineBreak := r == '\n' || r == '\r' || r == '\t' || r == '\u2028' || r == '\u2029'
			switch {
			case lineBreak && !multiline, !lineBreak && unicode.IsControl(r), isBidiControl(r):
				t.Fatalf("accepted %q holding %U", s, r)
			}
			visible = visible || (!unicode.IsSpace(r) && !isInvisible(r) && !lineBreak)
		}
		if s != "" && !visible {
			t.Fatalf("accepted %q with nothing visible", s)
		}
	})
}

// FuzzCheckAccountName: an account name is accepted only if it is 1 to
// maxAccountName of [A-Za-z0-9._-], starts with a letter or digit and
// cannot be taken for an account id; a refusal is EInvalid.
func FuzzCheckAccountName(f *testing.F) {
	for _, s := range []string{"admin", "li.wei_2", "", ".x", "ac_1", "AC_x", "名字", strings.Repeat("a", 65)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := CheckAccountName(name)
		if err != nil {
			if ErrorCodeOf(err) != EInvalid {
				t.Fatalf("CheckAccountName(%q) = %v", name, err)
			}
			return
		}
		if name == "" || len(name) > maxAccountName || strings.HasPrefix(strings.ToLower(name), accountIDPrefix) ||
			strings.Trim(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != "" ||
			strings.ContainsRune("._-", rune(name[0])) {
			t.Fatalf("accepted account name %q", name)
		}
	})
}
