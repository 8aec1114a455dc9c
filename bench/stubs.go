package main

func (r *report) plot(dir string) error { return nil }
