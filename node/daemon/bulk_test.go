package daemon_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/hcfed/hcfed/internal/testkit"
)

func TestBulkStatusRevocationsAreRefusedByEveryPeer(t *testing.T) {
	t.Parallel()
	f := startFederation(t, threeProvinces, nil)
	var subjects, codes []string
	for i := range 3 {
		s, c := f.enrolAndIssue(0, "张三", testkit.IDNumber("110105194912", i))
		subjects, codes = append(subjects, s), append(codes, c)
	}
	for i := range f.c.Nodes {
		f.eventually(i, codes[2], "ok")
	}
	body := fmt.Sprintf(`{"subject":%q,"status":"yellow"}`+"\n"+`{"subject":"s_nobody","status":"red"}`+"\n"+
		`{"subject":%q,"status":"red"}`+"\n", subjects[0], subjects[1])
	req, _ := http.NewRequest("POST", f.c.Nodes[0].URL+"/v1/statuses", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+f.c.Tokens[0])
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(out), `"summary":{"lines":3,"applied":2,"unchanged":0,"refused":1`) {
		t.Fatalf("bulk: HTTP %d\n%s", resp.StatusCode, out)
	}
	for i := range f.c.Nodes {
		f.eventually(i, codes[0], "revoked")
		f.eventually(i, codes[1], "revoked")
		if got := f.verify(i, codes[2]); got != "ok" {
			t.Errorf("%s: the untouched subject's code: %s", f.c.Configs[i].Province, got)
		}
	}
}
