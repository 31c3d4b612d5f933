package node

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/store"
	"github.com/hcfed/hcfed/trust"
)

// Notice is the privacy notice a resident consents to (seed rules 2-4):
// what is collected and why, what a scanner sees, where the code may be
// used, how long data is kept, and how to appeal or delete (deletion
// waits while the status is yellow or red: heldFromResident). It is served
// in Chinese and English, with a version that consent records refer to.
type Notice struct {
	Version       string            `json:"version"`
	Province      string            `json:"province"`
	Purpose       string            `json:"purpose"`
	Mechanism     map[string]string `json:"mechanism"` // how a code is made and checked (rule 4)
	UseScope      []string          `json:"use_scope"` // where a code may be asked for, and where not (rule 4)
	Collected     []string          `json:"collected"`
	ScannerSees   []string          `json:"scanner_sees"`
	NeverInCode   []string          `json:"never_in_code"`
	Retention     map[string]string `json:"retention"`
	CodeValidity  map[string]string `json:"code_validity"`
	YourRights    []string          `json:"your_rights"`
	Text          map[string]string `json:"text"`
	ConsentFields []string          `json:"consent_fields"`

	// VerifiedElsewhere says what this province learns when another
	// province verifies the resident's code (verification receipts),
	// or that it learns nothing: privacy.receipts.
	VerifiedElsewhere map[string]string `json:"verified_elsewhere"`
}

// receiptNotice is what the notice says of verification receipts, when
// they are on (send) and off, in Chinese and English.
var receiptNotice = map[string]map[string]string{
	config.ReceiptsSend: {
		"zh-CN": "您的健康码在其他省份被核验时，核验省份会告知本省节点核验的日期和场所类型（如车站、检查站），不包括具体时间、具体地点或扫码设备。该回执加密后只发给本省，按审计日志的期限保存，仅用于让您查询自己的健康码在哪天、在哪个省份的何种场所被核验过。",
		"en":    "When your code is verified in another province, that province tells this province's node the day and the kind of place (station, checkpoint...) — never the time of day, the exact place or the scanner. The receipt is sealed to this province alone, kept for the audit log's retention, and used only so that you can see on which day, in which province and at what kind of place your code was verified.",
	},
	config.ReceiptsOff: {
		"zh-CN": "本省不接收核验回执：您的健康码在其他省份被核验时，其他省份发来的回执不经读取即被丢弃，本省不会得知。本省核验其他省份的健康码时，也不告知其签发省份。",
		"en":    "This province takes no verification receipts: when your code is verified in another province, any receipt that province sends is discarded unread, and this province does not learn of it. Nor does this province tell other provinces when it verifies their codes.",
	},
}

// purposeWords states a known privacy.purpose in words of each language
// of the notice; another purpose is stated as configured.
var purposeWords = map[string]map[string]string{
	"epidemic-prevention": {"zh-CN": "疫情防控", "en": "epidemic prevention and control"},
}

// purposeIn is the purpose as the notice in lang states it.
func purposeIn(purpose, lang string) string {
	if w, ok := purposeWords[purpose][lang]; ok {
		return w
	}
	return purpose
}

// periodIn is a retention period as the notice's text in lang states
// it: in whole days or hours where it is one, as Go writes it otherwise.
func periodIn(d time.Duration, lang string) string {
	n, unit := int64(d/time.Hour), map[string]string{"en": "hours", "zh-CN": "小时"}
	switch {
	case d%(24*time.Hour) == 0:
		n, unit = n/24, map[string]string{"en": "days", "zh-CN": "天"}
	case d%time.Hour != 0:
		return d.String()
	}
	if lang == "zh-CN" {
		return strconv.FormatInt(n, 10) + " " + unit[lang]
	}
	if n == 1 {
		unit[lang] = strings.TrimSuffix(unit[lang], "s")
	}
	return strconv.FormatInt(n, 10) + " " + unit[lang]
}

// PrivacyNotice returns the notice this node serves. The first time it
// serves a notice version, it records the notice's text and SHA-256 under
// it (noticerecord.go), so that a later start refuses to serve another
// text under the same version.
func (n *Node) PrivacyNotice(ctx context.Context) (Notice, error) {
	if err := n.notice.record(ctx); err != nil {
		return Notice{}, err
	}
	return n.notice.notice, nil
}

// noticeOf is the notice a node with settings c serves: this build's
// wording with c's version, purpose, retention and receipts.
func noticeOf(c config.Config) Notice {
	verifications := "see when and at what kind of place your codes were verified in this province (GET /v1/subjects/{id}/verifications)"
	if c.Privacy.Receipts == config.ReceiptsSend {
		verifications = "see when and at what kind of place your codes were verified in this province, and on which day, in which province and at what kind of place in other provinces (GET /v1/subjects/{id}/verifications)"
	}
	elsewhere := receiptNotice[c.Privacy.Receipts]
	appealsKept := map[string]string{"en": periodIn(c.Privacy.Retention.Appeals, "en") + " after it was resolved",
		"zh-CN": "申诉处理完毕 " + periodIn(c.Privacy.Retention.Appeals, "zh-CN") + "后"}
	return Notice{
		Version: c.Privacy.NoticeVersion, Province: c.Province, Purpose: c.Privacy.Purpose,
		Mechanism: map[string]string{
			"zh-CN": "健康码由本省节点根据卫生健康部门登记的健康状态生成并签名。二维码中只有签发省份、随机编号和有效期是公开的；健康状态颜色和脱敏姓名经过加密，只有联邦成员节点能读取。登记的扫码设备通过其所属省份的节点核验，节点只返回颜色、脱敏姓名和有效期。健康状态变更时，旧码立即作废。",
			"en":    "Your code is made and signed by this province's node from the health status the health authority recorded. Only the issuing province, a random id and the validity are readable in the QR; the status colour and masked name are encrypted so that only member nodes can read them. A registered scanner checks the code through its own province's node, which answers with the colour, the masked name and the validity only. When your status changes, your old codes stop working at once.",
		},
		UseScope: []string{
			"checking health status at entrances to public places, transport and workplaces, for " + purposeIn(c.Privacy.Purpose, "en"),
			"not for any other purpose: not for identification, employment, credit, or tracking people",
		},
		Collected:   c.Privacy.Collect,
		ScannerSees: []string{"status colour", "masked name (first character)", "issuing province", "validity"},
		NeverInCode: []string{"name", "id_number", "phone", "birth date", "address", "travel history"},
		Retention: map[string]string{
			"personal_data": c.Privacy.Retention.Subjects.String(),
			"code_records":  c.Privacy.Retention.Codes.String(),
			"audit_log":     c.Privacy.Retention.Audit.String(),
			"contact_data_obtained_from_other_provinces": c.Privacy.Retention.Lookups.String(),
			"resolved_appeals":                           c.Privacy.Retention.Appeals.String(),
		},
		CodeValidity: map[string]string{"phone": c.Codes.Lifetime.String(), "paper": c.Codes.PaperLifetime.String()},
		YourRights: []string{"see what is held about you and the consent you gave (GET /v1/subjects/{id})",
			verifications,
			"see every time another province's health authority obtained your name and phone number from this province: when, which province, on what legal basis, for which case (GET /v1/subjects/{id}/lookups); they are given only to an active member province that states a legal basis and proves it saw your code itself (a checkpoint of that province scanned it, or its health authority holds the code), not merely its id, and never your ID number; the legal basis's text is kept " +
				periodIn(c.Privacy.Retention.Lookups, "en") + " after the lookup, then only as a keyed digest that can confirm a given text, not reveal it",
			"appeal a status you think is wrong and see the outcome (POST /v1/appeals, GET /v1/subjects/{id}/appeals); a resolved appeal's text (your message and the operator's note) is deleted " +
				appealsKept["en"] + ", and the audit log keeps the decision only",
			"delete your record at any time while your status is green (DELETE /v1/subjects/{id}); while it is yellow or red the health authority keeps it, and you may appeal the status",
			"a paper code at a service point if you have no phone"},
		Text: map[string]string{
			"zh-CN": "本健康码仅用于" + purposeIn(c.Privacy.Purpose, "zh-CN") + "。我们只收集生成健康码所必需的信息，个人信息加密存储。扫码方仅能看到健康状态颜色、姓名首字、签发省份和有效期，不能保存或导出。健康码中不含任何明文个人信息。" + elsewhere["zh-CN"] + "您可以随时申诉；" + appealsKept["zh-CN"] + "，申诉内容（您的申诉和工作人员的处理说明）即被删除，审计日志只保留处理结果，不保留申诉内容。健康状态为绿码时，您可以随时删除您的记录，黄码或红码期间记录由卫生健康部门保留，直到恢复绿码。没有手机的人可在服务点领取纸质码。",
			"en":    "This health code serves only " + purposeIn(c.Privacy.Purpose, "en") + ". We collect only what is needed to issue it and store personal data encrypted. A scanner sees the status colour, the first character of your name, the issuing province and the validity, and cannot store or export them. The code holds no personal data in clear. " + elsewhere["en"] + " You may appeal at any time; a resolved appeal (your message and the operator's note) is deleted " + appealsKept["en"] + ", and the audit log keeps the decision, not its text. You may delete your record at any time while your status is green; while it is yellow or red the health authority keeps it until the status is green again. People without a phone can get a paper code at a service point.",
		},
		VerifiedElsewhere: elsewhere,
		ConsentFields:     []string{"notice_version", "accepted"},
	}
}

// FederationView is the node's view of the federation when it runs alone.
func (n *Node) FederationView() any { return standaloneView(n.cfg.Province, n.state) }

// standaloneView is the view of the federation of province's node running
// alone, from its trust state (Node.FederationView).
func standaloneView(province string, state *trust.State) any {
	snap := state.Snapshot()
	members := []map[string]any{}
	for id, m := range snap.Members {
		ks := state.Keyset(id)
		var ver uint64
		if ks != nil {
			ver = ks.Version
		}
		members = append(members, map[string]any{"id": id, "name": m.Name, "status": m.Status,
			"keyset_version": ver, "revocation_seq": state.RevocationSeq(id)})
	}
	return map[string]any{"self": province, "mode": "standalone", "members": members}
}

// Ready reports whether the node can issue and verify: keys loaded
// (codes.ready), database reachable and not awaiting reconciliation after
// a restore (storeReady), trust data fresh and audit log written
// (scans.ready).
func (n *Node) Ready(ctx context.Context) error {
	if err := n.codes.ready(); err != nil {
		return err
	}
	if err := storeReady(ctx, n.db); err != nil {
		return err
	}
	return n.scans.ready()
}

// storeReady reports whether db answers and, if it was restored from a
// backup, whether it was reconciled with the federation since (Node.Ready).
func storeReady(ctx context.Context, db *store.DB) error {
	if _, err := db.GetMeta(ctx, "province"); err != nil {
		return notReady(ReadyStore, "database not reachable", err)
	}
	// Until the link has taken back what the federation holds from this
	// node (reconcile), a code revoked after the backup still verifies.
	if _, err := db.GetMeta(ctx, store.Restored); err == nil {
		return notReady(ReadyRestored, "database restored from a backup and not yet reconciled with the federation: "+
			"codes revoked after the backup may still verify", nil)
	} else if !errors.Is(err, store.ErrNotFound) {
		return notReady(ReadyStore, "database not reachable", err)
	}
	return nil
}
