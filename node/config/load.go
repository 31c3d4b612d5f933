// Loading: the YAML file over the defaults, paths made relative to the
// file, then the HCNODE_* environment overrides.

package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Load reads path over the defaults, then applies environment overrides,
// then validates. Unknown YAML keys are errors: a typo must not silently
// fall back to a default.
func Load(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		// Most often the default, hcnode.yaml in the working directory.
		return Config{}, fmt.Errorf("config: %s is not there: give the node's config file with --config FILE "+
			"('hcnode init' wrote it into the data directory, as hcnode.yaml): %w", path, err)
	}
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return Config{}, fmt.Errorf("config %s is not valid YAML (%w): check the indentation and quoting there", path, err)
	}
	// Every mistake of the file is told in one run: those of its shape,
	// then those of the values of the settings that have the right
	// shape (the wrong ones are taken out, and their defaults not judged).
	bad, shapeErr := checkShape(&doc)
	if shapeErr != nil {
		shapeErr = fmt.Errorf("config %s: %w", path, shapeErr)
		if bad[""] {
			return Config{}, shapeErr
		}
		if b, err = yaml.Marshal(&doc); err != nil {
			return Config{}, errors.Join(shapeErr, err)
		}
	}
	var probe struct {
		Province string `yaml:"province"`
	}
	_ = yaml.Unmarshal(b, &probe)
	c := Default(probe.Province)
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, errors.Join(shapeErr, fmt.Errorf("config %s: %w", path, err))
	}
	// Relative paths in the file mean relative to the file, not to
	// wherever the node happens to be started from.
	for _, p := range []*string{&c.DataDir, &c.Trust.ListFile, &c.NATS.CredsFile, &c.NATS.NKeySeed, &c.NATS.CAFile,
		&c.NATS.CertFile, &c.NATS.KeyFile, &c.NATS.ServerConf, &c.TLS.CertFile, &c.TLS.KeyFile, &c.Replica.TokenFile, &c.Replica.CAFile} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(filepath.Dir(path), *p)
		}
	}
	if err := c.ApplyEnv(os.LookupEnv); err != nil {
		return Config{}, errors.Join(shapeErr, err)
	}
	// A pin copied from a tool that prints hex in capitals (PowerShell's
	// Get-FileHash) names the same hash; the node compares lower case.
	if isSHA256Hex(c.Trust.ListSHA256) {
		c.Trust.ListSHA256 = strings.ToLower(c.Trust.ListSHA256)
	}
	return c, errors.Join(shapeErr, notAbout(c.Validate(), bad))
}

// notAbout drops from Validate's errors those about the settings in bad
// (or in a section in bad), whose values were not read: the file's own
// mistake about each is already told.
func notAbout(err error, bad map[string]bool) error {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok || len(bad) == 0 {
		return err
	}
	var keep []error
	for _, e := range j.Unwrap() {
		setting, _, _ := strings.Cut(strings.TrimPrefix(e.Error(), "config: "), ":")
		about := false
		for s := setting; s != "" && !about; {
			about = bad[s]
			i := strings.LastIndexByte(s, '.')
			if i < 0 {
				break
			}
			s = s[:i]
		}
		if !about {
			keep = append(keep, e)
		}
	}
	return errors.Join(keep...)
}

// ApplyEnv applies HCNODE_* overrides from lookup.
func (c *Config) ApplyEnv(lookup func(string) (string, bool)) error {
	str := map[string]*string{
		"HCNODE_PROVINCE":           &c.Province,
		"HCNODE_NAME":               &c.Name,
		"HCNODE_FEDERATION":         &c.Federation,
		"HCNODE_DATA_DIR":           &c.DataDir,
		"HCNODE_KEK_FILE":           &c.KEKFile,
		"HCNODE_LISTEN":             &c.Listen,
		"HCNODE_PUBLIC_URL":         &c.PublicURL,
		"HCNODE_METRICS_LISTEN":     &c.MetricsListen,
		"HCNODE_METRICS_TOKEN_FILE": &c.MetricsTokenFile,
		"HCNODE_NATS_LISTEN":        &c.NATS.Listen,
		"HCNODE_NATS_USER":          &c.NATS.User,
		"HCNODE_NATS_PASSWORD":      &c.NATS.Password,
		"HCNODE_NATS_CREDS":         &c.NATS.CredsFile,
		"HCNODE_LOG_LEVEL":          &c.Log.Level,
		"HCNODE_LOG_FORMAT":         &c.Log.Format,
		"HCNODE_TRUST_LIST_FILE":    &c.Trust.ListFile,
		"HCNODE_TRUST_LIST_SHA256":  &c.Trust.ListSHA256,
		"HCNODE_TLS_CERT_FILE":      &c.TLS.CertFile,
		"HCNODE_TLS_KEY_FILE":       &c.TLS.KeyFile,
		"HCNODE_ROLE":               &c.Role,
		"HCNODE_REPLICA_TOKEN":      &c.Replica.Token,
	}
	for k, p := range str {
		if v, ok := lookup(k); ok {
			*p = v
		}
	}
	if v, ok := lookup("HCNODE_NATS_URLS"); ok {
		c.NATS.URLs = nil
		for _, u := range strings.Split(v, ",") {
			if u = strings.TrimSpace(u); u != "" {
				c.NATS.URLs = append(c.NATS.URLs, u)
			}
		}
		if len(c.NATS.URLs) == 0 {
			return fmt.Errorf("config: HCNODE_NATS_URLS=%q names no URL (nats://host:4222, comma-separated); unset it to use the file's nats settings", v)
		}
		c.NATS.Embedded = false
	}
	if v, ok := lookup("HCNODE_NATS_EMBEDDED"); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("config: HCNODE_NATS_EMBEDDED=%q is not a boolean", v)
		}
		c.NATS.Embedded = b
	}
	if v, ok := lookup("HCNODE_NATS_REPLICAS"); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("config: HCNODE_NATS_REPLICAS=%q is not a number", v)
		}
		c.NATS.Replicas = n
	}
	return nil
}
