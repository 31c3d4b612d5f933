-- 0014_notices: a privacy notice version names one text. The node records,
-- per version, the text it serves (the canonical JSON of node.Notice, both
-- languages, public) and its SHA-256, the first time it serves that
-- version; a start whose build and config would serve another text under a
-- recorded version is refused (node/noticerecord.go). A consent records the
-- SHA-256 of the text the resident consented to; consents given before this
-- schema have none (NULL).
CREATE TABLE notices (
	version      TEXT PRIMARY KEY,
	sha256       BLOB NOT NULL,
	text         TEXT NOT NULL,
	first_served INTEGER NOT NULL
) STRICT;

ALTER TABLE consents ADD COLUMN notice_sha256 BLOB;
