// The metrics token: a bearer token that a node without metrics_listen
// asks of GET /metrics on its public listener (metrics_token_file).

package config

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"strings"
)

// DefaultMetricsTokenFile is the metrics_token_file 'hcnode init
// --metrics-listen ""' writes, beside the KEK in data_dir.
const DefaultMetricsTokenFile = "metrics.token"

// MinMetricsTokenLen is the fewest characters a metrics token may have:
// 32 random bytes in base64, as WriteMetricsToken writes, are 44.
const MinMetricsTokenLen = 32

// bearerToken is RFC 6750's b64token, the characters an Authorization:
// Bearer header carries as they are.
var bearerToken = regexp.MustCompile(`^[A-Za-z0-9._~+/-]+=*$`)

// makeToken is the shell command the errors suggest to write a token
// into path.
func makeToken(path string) string {
	return "head -c 32 /dev/urandom | base64 > " + path + " && chmod 600 " + path
}

// ReadMetricsToken reads the metrics token from path (metrics_token_file
// resolved, MetricsTokenPath), without the white space around it, as
// Prometheus reads its authorization.credentials_file. The file must be
// there, not readable by every user of the machine, and hold at least
// MinMetricsTokenLen characters of a bearer token. The errors name the
// setting and the file, never the token.
func ReadMetricsToken(path string) (string, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("metrics_token_file: %s is missing: write a token into it (%s) and give Prometheus the same "+
			"file (authorization: credentials_file), or remove metrics_token_file and set metrics_listen (such as %s)",
			path, makeToken(path), DefaultMetricsListen)
	}
	if err != nil {
		return "", fmt.Errorf("metrics_token_file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("metrics_token_file: %s is not a file", path)
	}
	if fi.Mode().Perm()&0o007 != 0 {
		return "", fmt.Errorf("metrics_token_file: %s is readable by every user of this machine (mode %v): chmod 600 it "+
			"(640 to share it with a Prometheus in the node's group)", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrPermission) {
		return "", fmt.Errorf("metrics_token_file: %s cannot be read by this user (uid %d): make the node's user own it, "+
			"keeping mode 0600: %w", path, os.Getuid(), err)
	}
	if err != nil {
		return "", fmt.Errorf("metrics_token_file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < MinMetricsTokenLen || !bearerToken.MatchString(tok) {
		return "", fmt.Errorf("metrics_token_file: %s holds no bearer token of at least %d characters (A-Z a-z 0-9 - . _ ~ + /, "+
			"and = at its end): write a new one (%s) and give Prometheus the same", path, MinMetricsTokenLen, makeToken(path))
	}
	return tok, nil
}

// WriteMetricsToken writes a new random metrics token (32 bytes, in
// base64) to path with mode 0600. It refuses to overwrite a file.
func WriteMetricsToken(path string) error {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("metrics_token_file: %w", err)
	}
	if _, err := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n"); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
