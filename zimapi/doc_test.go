package zimapi_test

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/receiptd/receiptd/receipt"
	"github.com/receiptd/receiptd/zimapi"
)

// docPath is the page that explains the code table to operators and
// developers.
const docPath = "../docs/zim-api.md"

// docTable is one markdown table of docPath: its header's first cell and its
// rows' cells, trimmed, backticks removed.
type docTable struct {
	rows [][]string
	line []int // line number of each row, for messages
}

// docTables returns docPath's tables under the heading section, keyed by
// the first cell of their header row.
func docTables(t *testing.T, section string) map[string]*docTable {
	t.Helper()
	b, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	tables := map[string]*docTable{}
	var cur *docTable
	in := false
	for i, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "## ") {
			in = strings.TrimPrefix(line, "## ") == section
			cur = nil
			continue
		}
		if !in || !strings.HasPrefix(line, "|") {
			cur = nil
			continue
		}
		var cells []string
		for _, c := range strings.Split(strings.Trim(line, "|"), "|") {
			cells = append(cells, strings.Trim(strings.TrimSpace(c), "`"))
		}
		switch {
		case cur == nil:
			cur = &docTable{}
			tables[cells[0]] = cur
		case strings.HasPrefix(cells[0], "---"):
		default:
			cur.rows = append(cur.rows, cells)
			cur.line = append(cur.line, i+1)
		}
	}
	return tables
}

// The page's code table and zimapi's table of codes hold the same codes
// with the same classes; the page's status table says what ClassifyStatus
// does for every status; every class has a row saying what receiptd does.
func TestDocumentedCodesAreTheTable(t *testing.T) {
	tables := docTables(t, "Return codes")
	codes := tables["Code"]
	if codes == nil || len(codes.rows) == 0 {
		t.Fatalf("%s has no table with a Code column under \"## Return codes\"", docPath)
	}
	documented := map[int64]string{}
	for i, row := range codes.rows {
		code, err := strconv.ParseInt(row[0], 10, 64)
		if err != nil || len(row) < 2 {
			t.Errorf("%s:%d: want | code | class | meaning |, got %q", docPath, codes.line[i], row)
			continue
		}
		if _, dup := documented[code]; dup {
			t.Errorf("%s:%d: code %d is listed twice", docPath, codes.line[i], code)
		}
		documented[code] = row[1]
		if got := zimapi.Classify(code).String(); got != row[1] {
			t.Errorf("%s:%d: code %d is %s on the page, %s in zimapi", docPath, codes.line[i], code, row[1], got)
		}
	}
	for _, c := range zimapi.Codes() {
		if _, ok := documented[c.Code]; !ok {
			t.Errorf("zimapi classifies code %d as %s; %s does not list it", c.Code, c.Class, docPath)
		}
	}

	statuses := tables["HTTP status"]
	if statuses == nil || len(statuses.rows) == 0 {
		t.Fatalf("%s has no table with an HTTP status column under \"## Return codes\"", docPath)
	}
	byStatus := map[int]string{}
	otherClass := ""
	for i, row := range statuses.rows {
		if len(row) < 2 {
			t.Errorf("%s:%d: want | status | class | why |, got %q", docPath, statuses.line[i], row)
			continue
		}
		if row[0] == "any other" {
			otherClass = row[1]
			continue
		}
		lo, hi, err := statusRange(row[0])
		if err != nil {
			t.Errorf("%s:%d: %v", docPath, statuses.line[i], err)
			continue
		}
		for s := lo; s <= hi; s++ {
			byStatus[s] = row[1]
		}
	}
	if otherClass == "" {
		t.Fatalf("%s: the HTTP status table has no \"any other\" row", docPath)
	}
	for s := 100; s <= 999; s++ {
		if s >= 200 && s <= 299 {
			continue // a 2xx answer is classified by its Code
		}
		want, ok := byStatus[s]
		if !ok {
			want = otherClass
		}
		if got := zimapi.ClassifyStatus(s).String(); got != want {
			t.Errorf("HTTP %d is %s on the page, %s in zimapi.ClassifyStatus", s, want, got)
		}
	}

	does := docTables(t, "What receiptd does with each class")["Class"]
	if does == nil {
		t.Fatalf("%s has no table under \"## What receiptd does with each class\"", docPath)
	}
	described := map[string]bool{}
	for _, row := range does.rows {
		described[row[0]] = true
	}
	for _, c := range receipt.Classes {
		if !described[c.String()] {
			t.Errorf("%s does not say what receiptd does with class %s", docPath, c)
		}
		delete(described, c.String())
	}
	for name := range described {
		t.Errorf("%s describes a class %q that zimapi does not have", docPath, name)
	}
}

// statusRange reads "404" or "500–599".
func statusRange(s string) (lo, hi int, err error) {
	a, b, isRange := strings.Cut(s, "–")
	if lo, err = strconv.Atoi(a); err != nil {
		return 0, 0, fmt.Errorf("status %q is not a number or a range N–M", s)
	}
	if !isRange {
		return lo, lo, nil
	}
	if hi, err = strconv.Atoi(b); err != nil || hi < lo {
		return 0, 0, fmt.Errorf("status %q is not a number or a range N–M", s)
	}
	return lo, hi, nil
}
