package node_test

import (
	"context"
	crand "crypto/rand"
	"encoding/base64"
	"testing"

	"github.com/hcfed/hcfed/node"
)

// randomToken is a guess at a token: "hct_" and n random bytes.
func randomToken(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := crand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "hct_" + base64.RawURLEncoding.EncodeToString(b)
}

// A flood of guessed tokens — of the form tokens have now, of the form
// they had before they carried a check, and a real token with its check
// altered — is refused as an unknown token is, without one database
// read (hcfed_token_reads_total), while the real token keeps working.
func TestGuessedTokensAreRefusedWithoutADatabaseRead(t *testing.T) {
	d := startNode(t)
	n := d.Node
	ctx := context.Background()
	sc, err := n.AddScanner(ctx, operator, "gate 1", "checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Authenticate(ctx, sc.Token); err != nil {
		t.Fatalf("a scanner's token: %v", err)
	}
	altered := []byte(sc.Token)
	altered[len(altered)-2] ^= 'A' ^ 'B'
	before := counter(t, d, "hcfed_token_reads_total")

	const flood = 1000
	guesses := []string{string(altered)}
	for range flood {
		guesses = append(guesses, randomToken(t, 48), randomToken(t, 32))
	}
	for _, tok := range guesses {
		_, err := n.Authenticate(ctx, tok)
		if node.ErrorCodeOf(err) != node.EUnauthorized || node.ErrorMessageOf(err) != "unknown token" {
			t.Fatalf("guessed token: %v; want %s: unknown token", err, node.EUnauthorized)
		}
	}
	if reads := counter(t, d, "hcfed_token_reads_total") - before; reads != 0 {
		t.Fatalf("%d guessed tokens cost %v database reads, want none", len(guesses), reads)
	}
	if p, err := n.Authenticate(ctx, sc.Token); err != nil || p.ScannerID != sc.ID {
		t.Fatalf("the scanner's token after the flood: %+v, %v", p, err)
	}
}
