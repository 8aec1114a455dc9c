package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	api "github.com/wakefn/wake/api/v1"
)

// manifestFile is one file of manifests as the user named it.
type manifestFile struct {
	Source string // as given, for error messages: hello.yaml:14: ...
	Dir    string // absolute directory, for relative command paths; for stdin, the current one
	Data   []byte
}

// readManifests reads -f arguments: files, directories (their .yaml,
// .yml and .json files, not recursively) and "-" for stdin. A relative
// command in a manifest resolves against its file's directory; read from
// stdin, which has none, against the current directory.
func readManifests(paths []string, stdin io.Reader) ([]manifestFile, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("no manifest given: use -f FILE, -f DIR or -f -")
	}
	var out []manifestFile
	for _, p := range paths {
		if p == "-" {
			data, err := io.ReadAll(stdin)
			if err != nil {
				return nil, fmt.Errorf("reading stdin: %w", err)
			}
			wd, _ := os.Getwd()
			out = append(out, manifestFile{Source: "stdin", Dir: wd, Data: data})
			continue
		}
		info, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		files := []string{p}
		if info.IsDir() {
			files, err = manifestsIn(p)
			if err != nil {
				return nil, err
			}
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			abs, err := filepath.Abs(f)
			if err != nil {
				return nil, err
			}
			out = append(out, manifestFile{Source: f, Dir: filepath.Dir(abs), Data: data})
		}
	}
	return out, nil
}

func manifestsIn(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		switch strings.ToLower(filepath.Ext(e.Name())) {
		case ".yaml", ".yml", ".json":
			if !e.IsDir() {
				files = append(files, filepath.Join(dir, e.Name()))
			}
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s has no .yaml, .yml or .json file", dir)
	}
	sort.Strings(files)
	return files, nil
}

// checkManifests asks wake serve for the problems of every file, without
// applying any, and prints them all, file by file and in line order. It
// returns an error if any file has a problem (or has no object in it), so
// that wake apply applies all of its files or none: a directory with one
// bad file is fixed and applied again as a whole, not left half applied.
//
// A lone file is not checked first: the server applies one file's objects
// all or none, and says its problems then.
func checkManifests(ctx context.Context, c *client, files []manifestFile, errOut io.Writer) error {
	if len(files) < 2 {
		return nil
	}
	bad := 0
	for _, m := range files {
		problems, err := c.manifestProblems(ctx, m)
		if err != nil {
			return err
		}
		if len(problems) == 0 {
			continue
		}
		bad++
		printProblems(errOut, m.Source, problems)
	}
	if bad == 0 {
		return nil
	}
	err := fmt.Errorf("%d of %d files have problems: nothing was applied", bad, len(files))
	fmt.Fprintln(errOut, err)
	return &exitError{err}
}

// manifestProblems returns every problem of one file as
// wake serve finds them (dryRun: checked, not stored), "no objects passed
// to apply" (kubectl's words) for a file that holds none. The file is not
// decoded here too: wake serve's dry run keeps what it decoded for the
// apply, and a second decode was most of the CLI's time in a re-apply of
// 10,000 functions.
func (c *client) manifestProblems(ctx context.Context, m manifestFile) (api.Errors, error) {
	q := url.Values{"source": {m.Source}, "dir": {m.Dir}, "dryRun": {"true"}}
	err := c.do(ctx, http.MethodPost, "/apply", q, typedBody{bytes.NewReader(m.Data), "application/yaml"}, nil)
	var ae *apiError
	if err == nil || !errors.As(err, &ae) || len(ae.problem.Errors) == 0 {
		return nil, err
	}
	return ae.problem.Errors, nil
}

// printProblems says that a file was not applied, and why: its problems
// in line order, those without a line last.
func printProblems(w io.Writer, source string, problems api.Errors) {
	problems = append(api.Errors(nil), problems...)
	sort.SliceStable(problems, func(i, j int) bool {
		a, b := problems[i].Line, problems[j].Line
		return a > 0 && (b == 0 || a < b)
	})
	fmt.Fprintf(w, "%s was not applied:\n", source)
	for _, p := range problems {
		fmt.Fprintln(w, "  "+p.String())
	}
}
