// Package leaktest finds secrets in what a test collected (output lines,
// log lines, state records, requests): Password makes a password no output
// could contain by chance, and Find reports every secret found in a text in
// any common spelling. It is test support: no program imports it.
package leaktest

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
)

// Password returns a distinctive password: a recognizable prefix naming
// its role, then 96 random bits.
func Password(role string) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "SBLEAK-" + role + "-" + hex.EncodeToString(b)
}

// Forms returns the spellings a leaked secret could take, by name: as is,
// URL- and JSON-escaped, hex, base64 (standard and URL alphabets, each at
// the three alignments it can have inside a longer encoded text: the first
// and last four characters, which depend on the bytes around it, are left
// out), and its mysql_native_password hash.
func Forms(secret string) map[string]string {
	forms := map[string]string{
		"plain":     secret,
		"url-query": url.QueryEscape(secret),
		"url-path":  url.PathEscape(secret),
		"hex":       hex.EncodeToString([]byte(secret)),
		"HEX":       strings.ToUpper(hex.EncodeToString([]byte(secret))),
	}
	if b, err := json.Marshal(secret); err == nil {
		forms["json"] = string(b[1 : len(b)-1])
	}
	for i := range 3 {
		for name, enc := range map[string]*base64.Encoding{"base64": base64.StdEncoding, "base64url": base64.URLEncoding} {
			s := enc.EncodeToString([]byte(strings.Repeat("\x00", i) + secret))
			forms[name+"@"+strconv.Itoa(i)] = s[4 : len(s)-4]
		}
	}
	h1 := sha1.Sum([]byte(secret))
	h2 := sha1.Sum(h1[:])
	forms["mysql_native_password hash"] = "*" + strings.ToUpper(hex.EncodeToString(h2[:]))
	return forms
}

// Find names each secret (by role, the key of secrets) and spelling found
// in text, as "role (form)".
func Find(text string, secrets map[string]string) []string {
	var found []string
	for role, secret := range secrets {
		for form, s := range Forms(secret) {
			if strings.Contains(text, s) {
				found = append(found, role+" ("+form+")")
			}
		}
	}
	return found
}
