package main

import (
	"strings"
	"testing"

	api "github.com/wakefn/wake/api/v1"
)

// TestPrintProblemsInLineOrder: a file's problems print in line order,
// those without a line last, whether a dry run or the apply found them.
func TestPrintProblemsInLineOrder(t *testing.T) {
	var b strings.Builder
	printProblems(&b, "fn.yaml", api.Errors{
		{Source: "fn.yaml", Line: 15, Path: "spec.template.spec.containers[0].comand", Message: "unknown field"},
		{Source: "fn.yaml", Message: "no line"},
		{Source: "fn.yaml", Line: 4, Path: "metadata.name", Message: "bad name"},
	})
	got := b.String()
	first, second, third := strings.Index(got, ":4:"), strings.Index(got, ":15:"), strings.Index(got, "no line")
	if !strings.HasPrefix(got, "fn.yaml was not applied:\n") || first < 0 || !(first < second && second < third) {
		t.Errorf("printProblems wrote:\n%s\nwant line 4, then 15, then the one without a line", got)
	}
}
