package sockio

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// pair returns the two ends of a loopback TCP connection.
func pair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

func TestReadWaitsAndEOF(t *testing.T) {
	a, b := pair(t)
	ra := New(a)
	go func() {
		time.Sleep(10 * time.Millisecond) // the read must wait for it
		b.Write([]byte("hello"))
		b.Close()
	}()
	got, err := io.ReadAll(ra)
	if err != nil || string(got) != "hello" {
		t.Fatalf("ReadAll = %q, %v; want hello, nil", got, err)
	}
}

// A write larger than the socket buffers fills them (EAGAIN), waits for
// the reader, and still delivers every byte in order.
func TestLargeWriteWaitsForRoom(t *testing.T) {
	a, b := pair(t)
	wa := New(a)
	want := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB
	done := make(chan error, 1)
	go func() {
		n, err := wa.Write(want)
		if err == nil && n != len(want) {
			err = io.ErrShortWrite
		}
		a.Close()
		done <- err
	}()
	time.Sleep(20 * time.Millisecond) // let the buffers fill first
	got, err := io.ReadAll(b)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes (%v), want %d identical", len(got), err, len(want))
	}
	if err := <-done; err != nil {
		t.Fatalf("Write: %v", err)
	}
}

func TestReadDeadline(t *testing.T) {
	a, _ := pair(t)
	ra := New(a)
	a.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	_, err := ra.Read(make([]byte, 8))
	var ne net.Error
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("Read past the deadline = %v; want a timeout", err)
	}
}

// Close from another goroutine ends a waiting read, as for net.Conn.
func TestCloseEndsRead(t *testing.T) {
	a, _ := pair(t)
	ra := New(a)
	go func() {
		time.Sleep(10 * time.Millisecond)
		a.Close()
	}()
	if _, err := ra.Read(make([]byte, 8)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read after Close = %v; want net.ErrClosed", err)
	}
}

func TestWriteToResetConnection(t *testing.T) {
	a, b := pair(t)
	wa := New(a)
	b.(*net.TCPConn).SetLinger(0)
	b.Close() // RST
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		_, err = wa.Write([]byte("x"))
		time.Sleep(time.Millisecond)
	}
	if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("Write to a reset connection = %v; want ECONNRESET or EPIPE", err)
	}
}

func TestPeek(t *testing.T) {
	a, b := pair(t)
	fd := fdOf(t, a)
	var buf [1]byte
	if _, e := Peek(fd, buf[:]); e != syscall.EAGAIN {
		t.Fatalf("Peek on a quiet socket = %v; want EAGAIN", e)
	}
	b.Write([]byte("z"))
	waitFor(t, func() bool { n, e := Peek(fd, buf[:]); return e == 0 && n == 1 })
	// Peeking consumed nothing.
	if n, err := New(a).Read(buf[:]); n != 1 || err != nil || buf[0] != 'z' {
		t.Fatalf("Read after Peek = %d %q %v", n, buf[:n], err)
	}
	b.Close()
	waitFor(t, func() bool { n, e := Peek(fd, buf[:]); return e == 0 && n == 0 })
}

// A connection that is not a socket is used through its own methods.
func TestNotASocket(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go b.Write([]byte("pipe"))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(New(a), buf); err != nil || string(buf) != "pipe" {
		t.Fatalf("read %q, %v", buf, err)
	}
}

func fdOf(t *testing.T, c net.Conn) int {
	raw, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	fd := -1
	raw.Control(func(s uintptr) { fd = int(s) })
	return fd
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if cond() {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatal("condition not met within 1s")
}
