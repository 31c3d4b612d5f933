-- 0021_scanner_set_version: a version of the set of scanners and their
-- tokens, which a home node's verifier replicas fetch every
-- replica.refresh (node/replicas.go: Replicas.Sync). Home answers a
-- refresh whose set has not changed 304, without reading or sending it.
-- Triggers keep the version, so that every path that adds, removes,
-- disables or re-tokens a scanner (a restore included) moves it; it is
-- the meta value store.scanner_set_version, absent (0) until the first
-- change. Resident and operator tokens do not move it.
CREATE TRIGGER scanner_set_insert AFTER INSERT ON scanners BEGIN
	INSERT INTO meta (key, value) VALUES ('store.scanner_set_version', '1')
		ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT);
END;
CREATE TRIGGER scanner_set_update AFTER UPDATE ON scanners BEGIN
	INSERT INTO meta (key, value) VALUES ('store.scanner_set_version', '1')
		ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT);
END;
CREATE TRIGGER scanner_set_delete AFTER DELETE ON scanners BEGIN
	INSERT INTO meta (key, value) VALUES ('store.scanner_set_version', '1')
		ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT);
END;
CREATE TRIGGER scanner_token_insert AFTER INSERT ON tokens WHEN NEW.role = 'scanner' BEGIN
	INSERT INTO meta (key, value) VALUES ('store.scanner_set_version', '1')
		ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT);
END;
CREATE TRIGGER scanner_token_update AFTER UPDATE ON tokens WHEN OLD.role = 'scanner' OR NEW.role = 'scanner' BEGIN
	INSERT INTO meta (key, value) VALUES ('store.scanner_set_version', '1')
		ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT);
END;
CREATE TRIGGER scanner_token_delete AFTER DELETE ON tokens WHEN OLD.role = 'scanner' BEGIN
	INSERT INTO meta (key, value) VALUES ('store.scanner_set_version', '1')
		ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT);
END;
