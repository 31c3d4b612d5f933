package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hcfed/hcfed/node"
)

// client calls a running node's API with an operator token, so that
// administration works while the node serves.
type client struct {
	url, token string
	http       *http.Client
	// public is a client of the node's public routes (GET /v1/privacy):
	// it needs no token.
	public bool
}

func addClientFlags(cmd *cobra.Command) *client {
	c := &client{http: newHTTPClient(30 * time.Second)}
	// Environment fallbacks are read when the command runs, not used as
	// flag defaults: cobra prints defaults in --help, and a token must not
	// appear there.
	cmd.Flags().StringVar(&c.url, "url", "", "node URL (or $HCNODE_URL)")
	cmd.Flags().StringVar(&c.token, "token", "", "an operator's or admin's token (or $HCNODE_TOKEN)")
	return c
}

// addAdminClientFlags is addClientFlags for a command the node refuses
// to an operator's token (admin_required): its --help says so.
func addAdminClientFlags(cmd *cobra.Command) *client {
	c := addClientFlags(cmd)
	cmd.Flags().Lookup("token").Usage = "an admin's token (or $HCNODE_TOKEN); an operator's is refused (admin_required)"
	return c
}

// addStatusClientFlags is addClientFlags for a command a feed account
// may run too (status changes): its --help says so.
func addStatusClientFlags(cmd *cobra.Command) *client {
	c := addClientFlags(cmd)
	cmd.Flags().Lookup("token").Usage = "an operator's, admin's or feed account's token (or $HCNODE_TOKEN)"
	return c
}

// addURLFlag is addClientFlags for a command that reads only the node's
// public routes: --url, and no token.
func addURLFlag(cmd *cobra.Command) *client {
	c := &client{http: newHTTPClient(30 * time.Second), public: true}
	cmd.Flags().StringVar(&c.url, "url", "", "node URL (or $HCNODE_URL)")
	return c
}

// newHTTPClient is the HTTP client of every command that calls a node:
// it follows no redirect. Go's client carries the Authorization header to
// a redirect on the same host, so a redirect would send the token to
// whatever route (or, behind a proxy, whatever service) it names; the
// node's API answers no redirect, so one means --url is not the node.
// timeout 0 is no timeout.
func newHTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		return redirectError{to: req.URL.Redacted()}
	}}
}

// redirectError is the refusal of a redirect (newHTTPClient).
type redirectError struct{ to string }

func (e redirectError) Error() string {
	return fmt.Sprintf("the node answered a redirect to %s, and hcnode does not follow redirects "+
		"(they would carry the token): point --url (or $HCNODE_URL) at the node itself", e.to)
}

// orEnv returns v, or the value of environment variable name if v is empty.
func orEnv(v, name string) string {
	if v == "" {
		return os.Getenv(name)
	}
	return v
}

func (c *client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	resp, err := c.send(ctx, method, path, "application/json", body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	if raw, ok := out.(*[]byte); ok {
		*raw = b
		return nil
	}
	return json.Unmarshal(b, out)
}

// send checks the URL and credentials, sends one request and returns the
// response of a status below 300; any other status is returned as the
// API's error (code, message and HTTP status), with the body closed.
func (c *client) send(ctx context.Context, method, path, contentType string, body io.Reader) (*http.Response, error) {
	c.url, c.token = orEnv(c.url, "HCNODE_URL"), orEnv(c.token, "HCNODE_TOKEN")
	if c.public && c.url == "" {
		return nil, fmt.Errorf("need --url (or $HCNODE_URL)")
	}
	if c.url == "" || (c.token == "" && !c.public) {
		return nil, fmt.Errorf("need --url and --token (or $HCNODE_URL and $HCNODE_TOKEN)")
	}
	if err := checkNodeURL(c.url); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.url, "/")+path, body)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := c.http.Do(req)
	var redirect redirectError
	if errors.As(err, &redirect) {
		return nil, redirect
	}
	if err != nil {
		return nil, fmt.Errorf("could not reach the node at %s: %w; check that the node runs there "+
			"('hcnode check --config FILE' on its machine says why it would not) and that --url, or $HCNODE_URL, is its address",
			c.url, errors.Unwrap(err))
	}
	if resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	if to, err := resp.Location(); err == nil && resp.StatusCode < 400 {
		// A redirect the client did not try, as for a streamed
		// body it cannot send again.
		return nil, redirectError{to: to.Redacted()}
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var e struct {
		Error struct{ Code, Message string }
	}
	if json.Unmarshal(b, &e) == nil && e.Error.Code != "" {
		if e.Error.Code == string(node.EUnauthorized) && e.Error.Message == "unknown token" {
			// The node does not say why it knows no such token; the
			// operator needs to know where a working one comes from.
			e.Error.Message += ": it may be mistyped, revoked, of a disabled account, or another node's; " +
				"check --token (or $HCNODE_TOKEN), and ask an admin for a new one (hcnode account token NAME)"
		}
		return nil, fmt.Errorf("%s: %s (HTTP %d)", e.Error.Code, e.Error.Message, resp.StatusCode)
	}
	return nil, fmt.Errorf("HTTP %d", resp.StatusCode)
}

// checkNodeURL refuses a node URL the HTTP client would misread, with a
// sentence saying what to write instead. There is no default scheme: a
// token must not go out over plain HTTP by a guess.
func checkNodeURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("--url %q is not a node URL: write it with its scheme, as http://HOST:PORT or https://HOST", raw)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("--url %q: the scheme must be http or https, not %q", raw, u.Scheme)
	}
	return nil
}

// nodePath is the path, to send with c.do, of a URL the node gave in an
// answer (issue's qr_url): a path on the node, joined to --url as every
// API path is, or an absolute URL under --url itself (sameNode). An
// absolute URL anywhere else, or a path with a host ("//HOST/…"), is
// refused: the token goes with the request, and only to the node.
func (c *client) nodePath(raw string) (string, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Opaque != "":
	case u.Scheme == "" && u.Host == "" && strings.HasPrefix(u.Path, "/"):
		return raw, nil
	case u.Scheme != "" && u.Host != "":
		base := strings.TrimRight(orEnv(c.url, "HCNODE_URL"), "/")
		if b, err := url.Parse(base); err == nil && sameNode(b, u) {
			if rest, ok := strings.CutPrefix(u.EscapedPath(), strings.TrimRight(b.EscapedPath(), "/")); ok && strings.HasPrefix(rest, "/") {
				if u.RawQuery != "" {
					rest += "?" + u.RawQuery
				}
				return rest, nil
			}
		}
		return "", fmt.Errorf("the node gave %s, not an address on the node at --url %s: hcnode fetches only from the node itself",
			u.Redacted(), base)
	}
	return "", fmt.Errorf("the node gave %q, not a path on the node", raw)
}

// sameNode reports whether u is on the node at base: the same scheme,
// user and port (a scheme's default port written or not), and the same
// host, in any case, or both loopback ("localhost", 127.0.0.0/8, ::1): a
// node that listens on 127.0.0.1 names itself so, and --url may say
// localhost. A loopback address reaches only this machine, and the
// request goes to --url whatever u names.
func sameNode(base, u *url.URL) bool {
	if base.Scheme != u.Scheme || base.User.String() != u.User.String() || portOf(base) != portOf(u) {
		return false
	}
	a, b := base.Hostname(), u.Hostname()
	return strings.EqualFold(a, b) || (isLoopback(a) && isLoopback(b))
}

// portOf is u's port, or its scheme's default port.
func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	switch u.Scheme {
	case "http":
		return "80"
	case "https":
		return "443"
	}
	return ""
}

// isLoopback reports whether host is "localhost" or a loopback address.
func isLoopback(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// apiPath is the API path format, with a %s for each id ("/v1/scanners/%s"),
// with each of ids put in as one path segment, escaped: a "/", "?", "#"
// or "%" in an id stays in that segment, and never makes another route
// or a query. An empty id, "." and ".." are refused (a usage error): no
// escape carries them, as whatever normalises the URL on the way (a
// proxy, a server) takes a dot segment, even written %2E, as a step
// up, to another route. Every command that puts an id it is given into
// a path builds it here.
func apiPath(format string, ids ...string) (string, error) {
	segs := make([]any, len(ids))
	for i, id := range ids {
		if id == "" || id == "." || id == ".." {
			return "", usageError{fmt.Errorf("%q is not an id: give the id as the node printed it", id)}
		}
		segs[i] = url.PathEscape(id)
	}
	return fmt.Sprintf(format, segs...), nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func newIssueCmd() *cobra.Command {
	var subject, qrOut, pageOut string
	var paper bool
	cmd := &cobra.Command{Use: "issue ID [--paper [--page FILE]]", Short: "Issue a code for an enrolled resident (through a running node)",
		Long: `issue signs a new code for an enrolled resident, in the colour of their
status now, valid codes.lifetime (a phone code, default 24h) or, with
--paper, codes.paper_lifetime (default 7 days), and prints the code, its id
(jti), its expiry and the address of its QR image. It adds a live code and
changes nothing else: the resident's earlier codes stay valid until they
expire. A resident who already holds codes.max_live live codes is refused
(limit_reached): show one of those. A status change revokes them all.
ID is the subject id enrol printed ('hcnode issue s_…'); --subject ID, the
older form, still works.`,
		Args: cobra.MaximumNArgs(1)}
	cl := addClientFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) == 1 && subject != "" && subject != args[0]:
			return usageError{fmt.Errorf("two subject ids, %s and --subject %s: give one, as the argument", args[0], subject)}
		case len(args) == 1:
			subject = args[0]
		case subject == "":
			return usageError{errors.New("issue needs the subject id enrol printed: hcnode issue ID")}
		default:
			// Scripts written for the flag keep working; stdout stays
			// the code's JSON alone.
			fmt.Fprintln(cmd.ErrOrStderr(), "hcnode issue: --subject is deprecated: give the subject id as the argument, as in 'hcnode issue ID'")
		}
		if pageOut != "" && !paper {
			return usageError{errors.New("--page needs --paper: only a paper code has a printable page")}
		}
		path, err := apiPath("/v1/subjects/%s/codes", subject)
		if err != nil {
			return err
		}
		ctx := cmd.Context()
		var out struct {
			Code  string `json:"code"`
			JTI   string `json:"jti"`
			Exp   int64  `json:"exp"`
			QRURL string `json:"qr_url"`
		}
		if err := cl.do(ctx, http.MethodPost, path, map[string]bool{"paper": paper}, &out); err != nil {
			return err
		}
		if qrOut != "" {
			var png []byte
			qrPath, err := cl.nodePath(out.QRURL)
			if err == nil {
				err = cl.do(ctx, http.MethodGet, qrPath, nil, &png)
			}
			if err != nil {
				return fmt.Errorf("code %s issued, but its QR image: %w", out.JTI, err)
			}
			if err := os.WriteFile(qrOut, png, 0o600); err != nil {
				return err
			}
		}
		if pageOut != "" {
			var page []byte
			pagePath, err := apiPath("/v1/codes/%s/paper.png", out.JTI)
			if err == nil {
				err = cl.do(ctx, http.MethodGet, pagePath, nil, &page)
			}
			if err != nil {
				return fmt.Errorf("code %s issued, but its printable page: %w", out.JTI, err)
			}
			if err := os.WriteFile(pageOut, page, 0o600); err != nil {
				return err
			}
		}
		return printJSON(cmd.OutOrStdout(), out)
	}
	cmd.Flags().StringVar(&subject, "subject", "", "the subject id (deprecated: give it as the argument)")
	_ = cmd.Flags().MarkHidden("subject")
	cmd.Flags().BoolVar(&paper, "paper", false, "a paper code: longer validity, for people without phones")
	cmd.Flags().StringVar(&qrOut, "qr", "", "also write the QR image to this PNG file")
	cmd.Flags().StringVar(&pageOut, "page", "", "with --paper: also write the printable page (QR, status, validity) to this PNG file")
	return cmd
}
