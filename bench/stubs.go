package main

import "context"

type densityResult struct{}

func runDensity(ctx context.Context, c *config, bins binaries) (*densityResult, error) {
	return nil, nil
}
func (r *report) plot(dir string) error { return nil }
