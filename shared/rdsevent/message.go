package rdsevent

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
)

// minBinlogPosition is the first position at which a binlog event can
// start: every binlog file begins with a 4-byte magic header.
const minBinlogPosition = 4

// binlogFileRe is what a binlog file name looks like: a base name and a
// numeric extension, e.g. "mysql-bin-changelog.000003". It also keeps the
// name safe to hand to mysql.rds_set_external_source later.
var binlogFileRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*\.[0-9]+$`)

// ParseBinlogCoordinates reads the binlog file and position from the message
// RDS emits after a blue/green switchover, e.g. "Binary log coordinates in
// green environment after switchover: file mysql-bin-changelog.000003 and
// position 40134574". It works on the detail.Message of an EventBridge event
// and on the Message of a DescribeEvents result alike.
//
// The message must contain [BinlogCoordinatesPrefix], followed by "file F"
// and then "position P". A final period on F or P is dropped. It returns an
// error wrapping [ErrMalformed], and never a guess, if the prefix, file or
// position is missing, if F does not look like a binlog file name, or if P is
// not a decimal number, overflows 64 bits or is below 4 (no event can start
// inside the binlog file's 4-byte header).
func ParseBinlogCoordinates(message string) (file string, pos uint64, err error) {
	i := strings.Index(message, BinlogCoordinatesPrefix)
	if i < 0 {
		return "", 0, malformed("message is not a binlog coordinates message (it lacks %q): %q",
			BinlogCoordinatesPrefix, message)
	}
	fields := strings.Fields(message[i+len(BinlogCoordinatesPrefix):])

	fi := indexWord(fields, "file")
	if fi < 0 || fi+1 >= len(fields) || isKeyword(fields[fi+1]) {
		return "", 0, malformed("binlog coordinates message has no file: %q", message)
	}
	file = strings.TrimSuffix(fields[fi+1], ".")
	if len(file) > 255 || !binlogFileRe.MatchString(file) {
		return "", 0, malformed("binlog file %q does not look like a binlog file name (e.g. mysql-bin-changelog.000003)", file)
	}

	rest := fields[fi+2:]
	pi := indexWord(rest, "position")
	if pi < 0 || pi+1 >= len(rest) {
		return "", 0, malformed("binlog coordinates message has no position: %q", message)
	}
	text := strings.TrimSuffix(rest[pi+1], ".")
	pos, err = strconv.ParseUint(text, 10, 64)
	switch {
	case errors.Is(err, strconv.ErrRange):
		return "", 0, malformed("binlog position %s overflows 64 bits", text)
	case err != nil:
		return "", 0, malformed("binlog position %q is not a number", text)
	case pos < minBinlogPosition:
		return "", 0, malformed("binlog position %d is inside the binlog file's 4-byte header (the first event starts at 4)", pos)
	}
	return file, pos, nil
}

// indexWord returns the index of the first field equal to word, or -1.
func indexWord(fields []string, word string) int {
	for i, f := range fields {
		if f == word {
			return i
		}
	}
	return -1
}

// isKeyword reports whether f is one of the message's own words, so that
// "file and position 4" is read as having no file rather than a file named
// "and".
func isKeyword(f string) bool {
	switch f {
	case "and", "file", "position":
		return true
	}
	return false
}

// renameRe matches "Renamed <blue> to <blue-old> and <green> to <blue>".
var renameRe = regexp.MustCompile(`(?i)\bRenamed\s+(\S+)\s+to\s+(\S+)\s+and\s+(\S+)\s+to\s+(\S+)`)

// clusterIDRe is an RDS DB cluster identifier: a letter, then letters,
// digits and single hyphens, not ending in a hyphen.
var clusterIDRe = regexp.MustCompile(`^[A-Za-z](?:-?[A-Za-z0-9])*$`)

// ParseClusterRename reads the rename clause of RDS-EVENT-0260, "Switchover
// from DB cluster X to Y completed. Renamed X to X-old1 and Y to X.", and
// returns the old production's name after switchover (oldName, "X-old1") and
// the new production's name (newName, "X"). Extra whitespace and a final
// period are tolerated.
//
// ok is false, and the names empty, unless the clause is there, every name
// is a valid cluster identifier, and it is consistent: the green cluster
// takes the blue cluster's old name, and the blue cluster gets a new one.
func ParseClusterRename(message string) (oldName, newName string, ok bool) {
	m := renameRe.FindStringSubmatch(message)
	if m == nil {
		return "", "", false
	}
	blue, blueAfter, green, greenAfter := m[1], m[2], m[3], strings.TrimSuffix(m[4], ".")
	for _, name := range []string{blue, blueAfter, green, greenAfter} {
		if len(name) > 63 || !clusterIDRe.MatchString(name) {
			return "", "", false
		}
	}
	if !strings.EqualFold(greenAfter, blue) || strings.EqualFold(blueAfter, blue) || strings.EqualFold(green, blue) {
		return "", "", false
	}
	return blueAfter, greenAfter, true
}
