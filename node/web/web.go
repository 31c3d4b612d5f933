package web

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
)

//go:embed static
var static embed.FS

// Assets are the files served under /assets/: stylesheet, scripts, the
// message catalogue and the vendored decoder.
func Assets() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the directory is embedded above; this cannot fail
	}
	return sub
}

// Page is an HTML page and the route that serves it.
type Page struct {
	Route string // "/wallet"
	File  string // "wallet.html", in Assets
	// Camera is set for the page that may ask for the camera.
	Camera bool
}

// Pages lists the pages, index first.
func Pages() []Page {
	return []Page{
		{Route: "/", File: "index.html"},
		{Route: "/wallet", File: "wallet.html"},
		{Route: "/scan", File: "scan.html", Camera: true},
		{Route: "/console", File: "console.html"},
	}
}

// The languages the pages speak. Chinese is the default: the pages serve
// provincial residents first.
const (
	LangZH = "zh-CN"
	LangEN = "en"
)

// LangPlaceholder is replaced in each page by the negotiated language.
const LangPlaceholder = "__LANG__"

// Negotiate picks the page language: an explicit ?lang= wins, then the
// highest-weighted Accept-Language entry that is Chinese or English.
func Negotiate(query, acceptLanguage string) string {
	switch strings.ToLower(query) {
	case "zh", "zh-cn":
		return LangZH
	case "en":
		return LangEN
	}
	type pref struct {
		lang string
		q    float64
	}
	var prefs []pref
	for _, part := range strings.Split(acceptLanguage, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		tag = strings.ToLower(strings.TrimSpace(tag))
		switch {
		case tag == "zh" || strings.HasPrefix(tag, "zh-"):
			prefs = append(prefs, pref{LangZH, q})
		case tag == "en" || strings.HasPrefix(tag, "en-"):
			prefs = append(prefs, pref{LangEN, q})
		}
	}
	sort.SliceStable(prefs, func(i, j int) bool { return prefs[i].q > prefs[j].q })
	if len(prefs) > 0 && prefs[0].q > 0 {
		return prefs[0].lang
	}
	return LangZH
}

// Messages is one language of the catalogue: interface text by key, a
// sentence for every verification reason code, the guard's next step for
// each a scanner can show, and province names.
type Messages struct {
	Msg     map[string]string `json:"msg"`
	Reasons map[string]string `json:"reasons"`
	// NextSteps tells the guard at a scanner what to do after a code is
	// refused, by reason: one short step (show the current code, follow
	// the local procedure), shown under the reason's sentence, which says
	// what happened. A reason without one gets reason.unknown_next_step.
	NextSteps map[string]string `json:"next_steps"`
	// Provinces names the province-level divisions in this language, by
	// the first two digits of their GB/T 2260 code ("44": 广东省). The pages
	// show it for a member whose id is such a code (NN0000), and the name
	// the trust list gives elsewhere; the trust list is unchanged.
	Provinces map[string]string `json:"provinces"`
}

// catalogueFile is the catalogue, a script that defines one constant
// holding strict JSON, so that the pages need no extra request and Go can
// read it too.
const (
	catalogueFile   = "i18n.js"
	cataloguePrefix = "const HC_I18N = "
)

// Catalogue reads the message catalogue, by language.
func Catalogue() (map[string]Messages, error) {
	raw, err := fs.ReadFile(Assets(), catalogueFile)
	if err != nil {
		return nil, fmt.Errorf("catalogue: %w", err)
	}
	i := bytes.Index(raw, []byte(cataloguePrefix))
	if i < 0 {
		return nil, fmt.Errorf("catalogue: %q not found in %s", cataloguePrefix, catalogueFile)
	}
	body := bytes.TrimSpace(raw[i+len(cataloguePrefix):])
	body = bytes.TrimSuffix(body, []byte(";"))
	var out map[string]Messages
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("catalogue: %w", err)
	}
	return out, nil
}
