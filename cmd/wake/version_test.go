package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestVersion(t *testing.T) {
	f, server := newFakeAdmin(t)
	f.answers["GET "+v1+"/info"] = `{"httpAddr": "127.0.0.1:8080", "domain": "localhost", "version": "v1.2.3"}`
	out, _, err := wakeSplit(t, server, "version")
	if want := "Client Version: " + version + "\nServer Version: v1.2.3\n"; err != nil || out != want {
		t.Errorf("wake version: %q, %v; want %q", out, err, want)
	}
	out, _, err = wakeSplit(t, server, "version", "-o", "json")
	var v versions
	if err != nil || json.Unmarshal([]byte(out), &v) != nil || v.ServerVersion == nil || v.ServerVersion.GitVersion != "v1.2.3" ||
		v.ClientVersion.GitVersion != version || !strings.Contains(v.ClientVersion.Platform, "/") {
		t.Errorf("wake version -o json: %v\n%s", err, out)
	}

	// No server: the client's version, and why there is no server's.
	out, _, err = wakeSplit(t, "http://127.0.0.1:1", "version")
	if out != "Client Version: "+version+"\n" || err == nil || !strings.Contains(err.Error(), "cannot reach wake serve") {
		t.Errorf("wake version without a server: %q, %v", out, err)
	}
	out, _, err = wakeSplit(t, "http://127.0.0.1:1", "version", "--client")
	if out != "Client Version: "+version+"\n" || err != nil {
		t.Errorf("wake version --client: %q, %v", out, err)
	}
	if _, _, err := wakeSplit(t, server, "version", "-o", "wide"); err == nil || !strings.Contains(err.Error(), "must be json or yaml") {
		t.Errorf("-o wide: %v", err)
	}
}

// TestClientFlags: --server and --token belong to the commands that talk
// to wake serve, wherever they are written, and not to wake serve.
func TestClientFlags(t *testing.T) {
	cmd := newRootCommand()
	var out strings.Builder
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"serve", "--help"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if help := out.String(); strings.Contains(help, "--server") || strings.Contains(help, "--token") || !strings.Contains(help, "--state-dir") {
		t.Errorf("wake serve --help:\n%s", help)
	}
	for _, args := range [][]string{{"serve", "--server", "x"}, {"serve", "--token", "x"}} {
		cmd := newRootCommand()
		cmd.SetArgs(args)
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "unknown flag") {
			t.Errorf("wake %s: %v", strings.Join(args, " "), err)
		}
	}

	_, server := newFakeServing(t)
	// Before the command, as kubectl's global flags are often written.
	if got, err := wake(t, server, "get", "functions", "-o", "name"); err != nil || got != "function.wake.dev/bye\nfunction.wake.dev/hello\n" {
		t.Errorf("wake --server S --token T get: %q, %v", got, err)
	}
	// From the environment, for every client command, subcommands too.
	t.Setenv("WAKE_SERVER", server)
	t.Setenv("WAKE_TOKEN", "test-token-0123456789")
	for _, args := range [][]string{{"get", "fn", "hello", "-o", "name"}, {"rollout", "status", "nope"}} {
		cmd := newRootCommand()
		out.Reset()
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs(args)
		err := cmd.Execute()
		if args[0] == "get" && (err != nil || out.String() != "function.wake.dev/hello\n") {
			t.Errorf("wake %s with WAKE_SERVER: %q, %v", strings.Join(args, " "), out.String(), err)
		}
		if args[0] == "rollout" && (err == nil || strings.Contains(err.Error(), "cannot reach")) {
			t.Errorf("wake %s did not ask WAKE_SERVER: %v", strings.Join(args, " "), err)
		}
	}
}
