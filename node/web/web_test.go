package web_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hcfed/hcfed/node/web"
)

// trustReasons lists every constant of type trust.Reason, read from the
// trust package's source, so that a reason added there without a sentence
// here fails this package's tests.
func trustReasons(t *testing.T) []string {
	t.Helper()
	out := stringConsts(t, filepath.Join("..", "..", "trust"), "Reason")
	if len(out) < 19 {
		t.Fatalf("found %d trust.Reason constants, want at least the 19 code reasons", len(out))
	}
	return out
}

// scannerReasons lists the reasons a scanner can show for a refused
// code: the trust.Reason constants declared with ReasonOK (the reasons
// Verify returns), but ok.
func scannerReasons(t *testing.T) []string {
	t.Helper()
	for _, block := range stringConstBlocks(t, filepath.Join("..", "..", "trust"), "Reason") {
		if slices.Contains(block, "ok") {
			return slices.DeleteFunc(block, func(r string) bool { return r == "ok" })
		}
	}
	t.Fatal("no block of trust.Reason constants declares ok")
	return nil
}

// stringConsts lists the string constants of the named type declared in
// the non-test Go files of dir, read from source.
func stringConsts(t *testing.T, dir, typeName string) []string {
	t.Helper()
	return slices.Concat(stringConstBlocks(t, dir, typeName)...)
}

// stringConstBlocks lists them by declaration: one list per const ( ... )
// block that declares any.
func stringConstBlocks(t *testing.T, dir, typeName string) [][]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var out [][]string
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range af.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			var block []string
			for _, sp := range gd.Specs {
				vs := sp.(*ast.ValueSpec)
				if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != typeName {
					continue
				}
				for _, v := range vs.Values {
					if lit, ok := v.(*ast.BasicLit); ok {
						s, _ := strconv.Unquote(lit.Value)
						block = append(block, s)
					}
				}
			}
			if len(block) > 0 {
				out = append(out, block)
			}
		}
	}
	return out
}

// An error the node answers is shown to the person by its code's sentence
// (HC.errorText); a code without one showed the node's English message
// as it came, on the Chinese pages too (a resident past codes.max_live
// read "this resident already holds 8 live codes…").
func TestEveryNodeErrorCodeHasAChineseAndAnEnglishSentence(t *testing.T) {
	cat, err := web.Catalogue()
	if err != nil {
		t.Fatal(err)
	}
	codes := append(stringConsts(t, "..", "ErrorCode"), "method_not_allowed") // node.ErrorCode, and the router's own
	if len(codes) < 15 {
		t.Fatalf("found %d node.ErrorCode constants, want at least 14", len(codes)-1)
	}
	for _, c := range codes {
		zh, en := cat[web.LangZH].Msg["error."+c], cat[web.LangEN].Msg["error."+c]
		if strings.TrimSpace(zh) == "" || strings.TrimSpace(en) == "" {
			t.Errorf("error code %q lacks a zh-CN or an English sentence (error.%s)", c, c)
		} else if zh == en {
			t.Errorf("error code %q: the zh-CN sentence is the English one", c)
		}
	}
}

// The console lists the federation's warnings in its language from their
// codes (warning.<code>); a code without a sentence showed the node's
// English words, with a UTC time, on the Chinese console too. Both
// languages' sentences name the same parameters, so that neither leaves
// one out.
func TestEveryFederationWarningCodeHasAChineseAndAnEnglishSentence(t *testing.T) {
	cat, err := web.Catalogue()
	if err != nil {
		t.Fatal(err)
	}
	codes := stringConsts(t, filepath.Join("..", "..", "federation"), "WarningCode")
	if len(codes) < 8 {
		t.Fatalf("found %d federation.WarningCode constants, want at least 8", len(codes))
	}
	placeholders := regexp.MustCompile(`\{(\w+)\}`)
	names := func(s string) string {
		var out []string
		for _, m := range placeholders.FindAllStringSubmatch(s, -1) {
			out = append(out, m[1])
		}
		slices.Sort(out)
		return strings.Join(out, " ")
	}
	for _, c := range codes {
		zh, en := cat[web.LangZH].Msg["warning."+c], cat[web.LangEN].Msg["warning."+c]
		switch {
		case strings.TrimSpace(zh) == "" || strings.TrimSpace(en) == "":
			t.Errorf("warning code %q lacks a zh-CN or an English sentence (warning.%s)", c, c)
		case zh == en:
			t.Errorf("warning code %q: the zh-CN sentence is the English one", c)
		case names(zh) != names(en):
			t.Errorf("warning code %q: the zh-CN sentence names {%s}, the English one {%s}", c, names(zh), names(en))
		}
	}
}

func TestEveryVerificationReasonHasAChineseAndAnEnglishSentence(t *testing.T) {
	cat, err := web.Catalogue()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range trustReasons(t) {
		for _, lang := range []string{web.LangZH, web.LangEN} {
			if s := strings.TrimSpace(cat[lang].Reasons[r]); s == "" {
				t.Errorf("reason %q has no %s sentence", r, lang)
			}
		}
		if cat[web.LangZH].Reasons[r] == cat[web.LangEN].Reasons[r] {
			t.Errorf("reason %q: the zh-CN sentence is the English one", r)
		}
	}
}

// maxNextStepRunes bounds a guard's next step: one short sentence, read
// at a glance with a queue waiting.
const maxNextStepRunes = 100

// A guard reading "The signature does not match: the code was altered or
// forged" learnt what happened, not what to do with the traveler in
// front of them: every reason a scanner can show comes with one short
// next step in both languages.
func TestEveryReasonTheScannerShowsSaysWhatToDoNext(t *testing.T) {
	cat, err := web.Catalogue()
	if err != nil {
		t.Fatal(err)
	}
	reasons := scannerReasons(t)
	if len(reasons) < 18 {
		t.Fatalf("found %d reasons a scanner can show, want the 18 code reasons but ok", len(reasons))
	}
	for _, r := range reasons {
		zh, en := cat[web.LangZH].NextSteps[r], cat[web.LangEN].NextSteps[r]
		for lang, s := range map[string]string{web.LangZH: zh, web.LangEN: en} {
			if n := utf8.RuneCountInString(s); strings.TrimSpace(s) == "" || n > maxNextStepRunes {
				t.Errorf("reason %q: the %s next step %q has %d characters, want 1 to %d", r, lang, s, n, maxNextStepRunes)
			}
		}
		if zh == en {
			t.Errorf("reason %q: the zh-CN next step is the English one", r)
		}
	}
}

// The zh-CN pages name a member province as GB/T 2260 does, not as the
// trust list spells it (Guangdong): one name for each of the 34
// province-level divisions, by the code's first two digits. English
// keeps the trust list's spelling.
func TestChineseNamesEveryProvinceLevelDivisionByItsGBT2260Code(t *testing.T) {
	cat, err := web.Catalogue()
	if err != nil {
		t.Fatal(err)
	}
	prefixes := strings.Fields("11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 63 64 65 71 81 82")
	zh := cat[web.LangZH].Provinces
	if len(zh) != len(prefixes) {
		t.Errorf("zh-CN names %d province-level divisions, want %d", len(zh), len(prefixes))
	}
	han := regexp.MustCompile(`^\p{Han}+$`)
	for _, p := range prefixes {
		if !han.MatchString(zh[p]) {
			t.Errorf("division %s0000 has the zh-CN name %q", p, zh[p])
		}
	}
	for p, want := range map[string]string{"11": "北京市", "31": "上海市", "44": "广东省", "45": "广西壮族自治区", "82": "澳门特别行政区"} {
		if zh[p] != want {
			t.Errorf("division %s0000 is %q in zh-CN, want %q", p, zh[p], want)
		}
	}
	if n := len(cat[web.LangEN].Provinces); n != 0 {
		t.Errorf("English renames %d provinces; it keeps the trust list's spelling", n)
	}
}

func TestCatalogueLanguagesHaveTheSameKeys(t *testing.T) {
	cat, err := web.Catalogue()
	if err != nil {
		t.Fatal(err)
	}
	if len(cat) != 2 {
		t.Fatalf("catalogue has %d languages, want zh-CN and en", len(cat))
	}
	zh, en := cat[web.LangZH], cat[web.LangEN]
	for k := range en.Msg {
		if strings.TrimSpace(zh.Msg[k]) == "" {
			t.Errorf("message %q has no zh-CN text", k)
		}
	}
	for k := range zh.Msg {
		if strings.TrimSpace(en.Msg[k]) == "" {
			t.Errorf("message %q has no English text", k)
		}
	}
	for k := range zh.Reasons {
		if en.Reasons[k] == "" {
			t.Errorf("reason %q has no English sentence", k)
		}
	}
}

// keyUses finds the message keys the pages name literally: data-i18n*
// attributes in HTML and HC.t("...") calls in scripts.
var keyUses = regexp.MustCompile(`data-i18n(?:-[a-z]+)?="([^"]+)"|HC\.t\("([^"]+)"`)

// keyLiterals finds, in scripts, every string literal shaped like a
// message key ("console.enrol_done"), wherever it is: a key kept to be
// said later (HC.say, a table of keys) is no HC.t call.
var keyLiterals = regexp.MustCompile(`"([a-z]+)\.([a-z_]*)"`)

func TestEveryMessageThePagesUseIsInTheCatalogue(t *testing.T) {
	cat, err := web.Catalogue()
	if err != nil {
		t.Fatal(err)
	}
	namespaces := map[string]bool{}
	for k := range cat[web.LangEN].Msg {
		ns, _, _ := strings.Cut(k, ".")
		namespaces[ns] = true
	}
	n := 0
	err = fs.WalkDir(web.Assets(), ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(name, "vendor/") || name == "i18n.js" {
			return err
		}
		raw, err := fs.ReadFile(web.Assets(), name)
		if err != nil {
			return err
		}
		var keys []string
		for _, m := range keyUses.FindAllStringSubmatch(string(raw), -1) {
			keys = append(keys, m[1]+m[2])
		}
		if strings.HasSuffix(name, ".js") {
			for _, m := range keyLiterals.FindAllStringSubmatch(string(raw), -1) {
				if namespaces[m[1]] {
					keys = append(keys, m[1]+"."+m[2])
				}
			}
		}
		for _, k := range keys {
			n++
			if strings.HasSuffix(k, ".") { // a prefix completed at run time: "status." + st
				if !hasPrefix(cat[web.LangEN].Msg, k) {
					t.Errorf("%s uses messages %q…, none of which the catalogue has", name, k)
				}
				continue
			}
			if _, ok := cat[web.LangEN].Msg[k]; !ok {
				t.Errorf("%s uses message %q, which the catalogue lacks", name, k)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 100 {
		t.Fatalf("found %d message uses; the pattern no longer matches the pages", n)
	}
}

// TestPagesHoldNoInlineScriptOrStyle keeps the pages within the strict
// Content-Security-Policy: no inline script, handler attribute or style.
func TestPagesHoldNoInlineScriptOrStyle(t *testing.T) {
	inline := regexp.MustCompile(`(?i)<script(?:\s[^>]*)?>\s*[^<\s]|<style|\sstyle=|\son[a-z]+=|javascript:`)
	for _, p := range web.Pages() {
		raw, err := fs.ReadFile(web.Assets(), p.File)
		if err != nil {
			t.Fatal(err)
		}
		if loc := inline.FindIndex(raw); loc != nil {
			t.Errorf("%s: inline script or style at %q", p.File, raw[loc[0]:min(loc[1]+20, len(raw))])
		}
		for _, src := range regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(string(raw), -1) {
			u := src[1]
			if strings.Contains(u, "//") {
				t.Errorf("%s refers to another origin: %s", p.File, u)
			}
			if a, ok := strings.CutPrefix(u, "/assets/"); ok {
				if _, err := fs.Stat(web.Assets(), a); err != nil {
					t.Errorf("%s refers to a missing asset %s", p.File, u)
				}
			}
		}
	}
}

func TestNegotiatePicksTheLanguage(t *testing.T) {
	for _, c := range []struct{ query, accept, want string }{
		{"", "", web.LangZH},
		{"", "en-US,en;q=0.9", web.LangEN},
		{"", "zh-CN,zh;q=0.9,en;q=0.8", web.LangZH},
		{"", "fr-FR, en;q=0.5, zh;q=0.4", web.LangEN},
		{"", "en;q=0.2, zh-TW;q=0.8", web.LangZH},
		{"en", "zh-CN", web.LangEN},
		{"zh-CN", "en", web.LangZH},
		{"xx", "en", web.LangEN},
		{"", "de", web.LangZH},
	} {
		if got := web.Negotiate(c.query, c.accept); got != c.want {
			t.Errorf("Negotiate(%q, %q) = %q, want %q", c.query, c.accept, got, c.want)
		}
	}
}

func hasPrefix(m map[string]string, prefix string) bool {
	for k := range m {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

// pageScripts is each script of the pages (the vendored decoder and the
// catalogue aside), by file name.
func pageScripts(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := fs.WalkDir(web.Assets(), ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(name, ".js") || strings.HasPrefix(name, "vendor/") || name == "i18n.js" {
			return err
		}
		raw, err := fs.ReadFile(web.Assets(), name)
		out[name] = string(raw)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 5 {
		t.Fatalf("found %d page scripts", len(out))
	}
	return out
}

// TestPageScriptsWriteNoMarkup: whatever a code, a record or an error
// message holds reaches the pages as text (textContent, attributes), never
// as markup or code, so that no answer can inject anything into a page:
// no innerHTML or its kin, no string evaluated as script.
func TestPageScriptsWriteNoMarkup(t *testing.T) {
	sinks := regexp.MustCompile(`\.innerHTML|\.outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function\(|createContextualFragment|DOMParser|set(?:Timeout|Interval)\(\s*["'` + "`" + `]|\.style\s*=|\.cssText|setAttribute\(\s*["']style`)
	for name, src := range pageScripts(t) {
		for i, line := range strings.Split(src, "\n") {
			if code, _, _ := strings.Cut(line, "//"); sinks.MatchString(code) {
				t.Errorf("%s:%d writes markup, style or code from a string: %s", name, i+1, strings.TrimSpace(line))
			}
		}
	}
}

// TestPageScriptsRunOnOlderPhones: a checkpoint's or a traveler's phone
// is often years old (an iPhone held at iOS 15, an Android whose browser
// no longer updates). The pages use nothing newer than those browsers
// have, or test for it first: AbortSignal.timeout (Safari 16, Chrome 103)
// made every check fail at once as "not checked", and Object.hasOwn
// (Safari 15.4, Chrome 93) broke the language switch.
func TestPageScriptsRunOnOlderPhones(t *testing.T) {
	newer := regexp.MustCompile(`Object\.hasOwn\b|structuredClone\(|AbortSignal\.any\b|\.findLast(?:Index)?\(|\.to(?:Sorted|Reversed|Spliced)\(|\.at\(|Array\.fromAsync|Promise\.withResolvers|\.replaceChildren\(`)
	guarded := regexp.MustCompile(`AbortSignal\.timeout\b`)
	for name, src := range pageScripts(t) {
		for i, line := range strings.Split(src, "\n") {
			code, _, _ := strings.Cut(line, "//")
			if m := newer.FindString(code); m != "" {
				t.Errorf("%s:%d uses %s, which older phones' browsers lack: %s", name, i+1, m, strings.TrimSpace(line))
			}
			if guarded.MatchString(code) && !strings.Contains(code, "typeof AbortSignal.timeout") {
				t.Errorf("%s:%d calls AbortSignal.timeout without testing for it (Safari before 16 lacks it): %s", name, i+1, strings.TrimSpace(line))
			}
		}
	}
}

// TestLanguageButtonsSayTheirLanguage: the language switch names each
// language in itself (中文, English) on a page in the other; the button
// says which language it is written in, so that a screen reader does not
// read "English" with Chinese rules, or 中文 with English ones.
func TestLanguageButtonsSayTheirLanguage(t *testing.T) {
	button := regexp.MustCompile(`<button[^>]*\sdata-lang="([^"]+)"[^>]*>`)
	for _, p := range web.Pages() {
		raw, err := fs.ReadFile(web.Assets(), p.File)
		if err != nil {
			t.Fatal(err)
		}
		ms := button.FindAllStringSubmatch(string(raw), -1)
		if len(ms) != 2 {
			t.Errorf("%s: %d language buttons, want 2", p.File, len(ms))
		}
		for _, m := range ms {
			if !strings.Contains(m[0], ` lang="`+m[1]+`"`) {
				t.Errorf("%s: %s does not say its language (lang=%q)", p.File, m[0], m[1])
			}
		}
	}
}

// TestConfirmationsSayWhatCannotBeUndone: each confirmation the console
// asks before an act that cannot be undone says so, in both languages, as
// the CLI's plan for the same act does ('hcnode scanner remove', 'subject
// delete', 'subject token', 'subject withdraw-paper'; a rotation, too, is
// for good), and says what the other party will see. The confirmations
// that only make this device forget (the wallet's, the console's sign-out,
// the scanner's unregistering) say that nothing is revoked at the node.
func TestConfirmationsSayWhatCannotBeUndone(t *testing.T) {
	cat, err := web.Catalogue()
	if err != nil {
		t.Fatal(err)
	}
	undone := map[string]string{web.LangEN: "cannot be undone", web.LangZH: "无法撤销"}
	for key, sees := range map[string]map[string]string{
		"console.scanner_remove_confirm": {web.LangEN: "no longer registered", web.LangZH: "未登记"},
		"console.delete_confirm":         {web.LangEN: "wallet link stops working", web.LangZH: "链接随即失效"},
		"console.token_warning":          {web.LangEN: "This link does not work", web.LangZH: "此链接无法使用"},
		"console.paper_withdraw_confirm": {web.LangEN: "refused at its next scan", web.LangZH: "下次扫码即被拒绝"},
		"console.rotate_confirm":         {web.LangEN: "residents see no change", web.LangZH: "居民不会察觉变化"},
	} {
		for _, lang := range []string{web.LangEN, web.LangZH} {
			s := cat[lang].Msg[key]
			if !strings.Contains(s, undone[lang]) {
				t.Errorf("%s %s does not say it cannot be undone (%q): %q", lang, key, undone[lang], s)
			}
			if !strings.Contains(s, sees[lang]) {
				t.Errorf("%s %s does not say what the other party sees (%q): %q", lang, key, sees[lang], s)
			}
		}
	}
	// Setting a status revokes every live code at every province, to green
	// and to the status the resident has too (store.SetStatus); resolving
	// an appeal is final, and says what it does to the status and codes.
	for key, says := range map[string]map[string][]string{
		"console.status_confirm_change": {web.LangEN: {"{who}", "from {from} to {to}", "stops verifying at every province within seconds", "printed anew"},
			web.LangZH: {"{who}", "由{from}改为{to}", "数秒内于各省停止通过查验", "重新打印"}},
		"console.status_confirm_green": {web.LangEN: {"{who}", "from {from} to {to}", "existing codes are revoked too", "stops verifying at every province within seconds"},
			web.LangZH: {"{who}", "由{from}改为{to}", "现有健康码也会作废", "数秒内于各省停止通过查验"}},
		"console.status_confirm_same": {web.LangEN: {"{who}", "stays {to}", "still revokes", "stops verifying at every province within seconds"},
			web.LangZH: {"{who}", "仍为{to}", "仍会作废", "数秒内于各省停止通过查验"}},
		"console.appeal_confirm_change": {web.LangEN: {"{subject}", "from {from} to {to}", "stops verifying at every province within seconds", "This is final"},
			web.LangZH: {"{subject}", "由{from}改为{to}", "数秒内于各省停止通过查验", "最终决定"}},
		"console.appeal_confirm_keep": {web.LangEN: {"{subject}", "{status}", "codes stay valid", "This is final"},
			web.LangZH: {"{subject}", "{status}", "健康码仍然有效", "最终决定"}},
		"console.appeal_confirm_reject": {web.LangEN: {"{subject}", "stays {status}", "codes stay valid", "This is final"},
			web.LangZH: {"{subject}", "仍为{status}", "健康码仍然有效", "最终决定"}},
	} {
		for _, lang := range []string{web.LangEN, web.LangZH} {
			s := cat[lang].Msg[key]
			for _, want := range append(says[lang], undone[lang]) {
				if !strings.Contains(s, want) {
					t.Errorf("%s %s does not say %q: %q", lang, key, want, s)
				}
			}
		}
	}
	// What "This link does not work" names is the page's own title for it.
	for _, lang := range []string{web.LangEN, web.LangZH} {
		if title := cat[lang].Msg["fatal.bad_link_title"]; !strings.Contains(cat[lang].Msg["console.token_warning"], title) {
			t.Errorf("%s console.token_warning does not name what the old phone shows, %q", lang, title)
		}
	}
	for key, notRevoked := range map[string]map[string]string{
		"wallet.forget_confirm":    {web.LangEN: "Nothing changes at the health authority", web.LangZH: "不会有任何变化"},
		"console.sign_out_confirm": {web.LangEN: "is not revoked", web.LangZH: "不会被吊销"},
		"scan.unregister_confirm":  {web.LangEN: "not withdrawn at the node", web.LangZH: "并未撤销"},
		"console.signed_out":       {web.LangEN: "not revoked at the node", web.LangZH: "并未被吊销"},
		"scan.unregistered":        {web.LangEN: "still stands at the node", web.LangZH: "仍然有效"},
		"wallet.forgotten":         {web.LangEN: "as they were", web.LangZH: "均未改变"},
	} {
		for _, lang := range []string{web.LangEN, web.LangZH} {
			if s := cat[lang].Msg[key]; !strings.Contains(s, notRevoked[lang]) || strings.Contains(s, undone[lang]) {
				t.Errorf("%s %s must say nothing is revoked at the node (%q), and not that it cannot be undone: %q", lang, key, notRevoked[lang], s)
			}
		}
	}
}
