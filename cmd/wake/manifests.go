package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// manifestFile is one file of manifests as the user named it.
type manifestFile struct {
	Source string // as given, for error messages: hello.yaml:14: ...
	Dir    string // absolute directory, for relative command paths
	Data   []byte
}

// readManifests reads -f arguments: files, directories (their .yaml,
// .yml and .json files, not recursively) and "-" for stdin.
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
