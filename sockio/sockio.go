// Package sockio reads and writes the fast path's connected sockets with
// raw system calls, still waiting for readiness through Go's poller (so
// deadlines and Close work as for any net.Conn).
//
// Why: a read or write on a non-blocking socket never blocks, but Go
// wraps it as a system call that may: the goroutine's processor is marked
// in a system call, and the runtime's monitor thread, which wakes every
// 20µs while the process is busy, takes the processor away from any call
// it sees twice and hands it to another thread. A write over loopback
// runs the receiver's network stack inline and often takes that long, so
// on a proxy every request paid for thread switches, wake-ups of the
// monitor and idle threads, and futex calls: on 2 cores they were a fifth
// of wake serve's CPU per request, more than the proxying itself. A raw
// call keeps its processor for the microseconds the kernel takes.
package sockio

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// Conn reads and writes a socket with raw system calls. It is not safe
// for concurrent reads, nor for concurrent writes (a read and a write may
// run at once, as for net.Conn).
type Conn struct {
	raw syscall.RawConn

	// The arguments and results of the call in flight, so that the
	// functions given to raw are made once per connection, not per call.
	rbuf, wbuf  []byte
	rn, wn      int
	rerr, werr  syscall.Errno
	read, write func(fd uintptr) bool
	fallback    net.Conn // not a socket (tests' pipes): its own methods
}

// New returns a Conn over nc's socket, or over nc itself when it has
// none.
func New(nc net.Conn) *Conn {
	c := &Conn{fallback: nc}
	if sc, ok := nc.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			c.raw, c.fallback = raw, nil
		}
	}
	c.read, c.write = c.readFD, c.writeFD
	return c
}

// Read reads what the socket holds, waiting for it if it holds nothing,
// until the connection's read deadline.
func (c *Conn) Read(p []byte) (int, error) {
	if c.fallback != nil {
		return c.fallback.Read(p)
	}
	if len(p) == 0 {
		return 0, nil
	}
	c.rbuf = p
	err := c.raw.Read(c.read)
	c.rbuf = nil
	switch {
	case err != nil:
		return 0, err
	case c.rerr != 0:
		return 0, os.NewSyscallError("read", c.rerr)
	case c.rn == 0:
		return 0, io.EOF
	}
	return c.rn, nil
}

func (c *Conn) readFD(fd uintptr) bool {
	for {
		n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&c.rbuf[0])), uintptr(len(c.rbuf)))
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false // wait for the poller to say it is readable
		case 0:
			c.rn, c.rerr = int(n), 0
		default:
			c.rn, c.rerr = 0, e
		}
		return true
	}
}

// Write writes all of p, waiting for room when the socket's buffer is
// full, until the connection's write deadline.
func (c *Conn) Write(p []byte) (int, error) {
	if c.fallback != nil {
		return c.fallback.Write(p)
	}
	written := 0
	for written < len(p) {
		c.wbuf = p[written:]
		err := c.raw.Write(c.write)
		c.wbuf = nil
		switch {
		case err != nil:
			return written, err
		case c.werr != 0:
			return written, os.NewSyscallError("write", c.werr)
		}
		written += c.wn
	}
	return written, nil
}

func (c *Conn) writeFD(fd uintptr) bool {
	for {
		n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&c.wbuf[0])), uintptr(len(c.wbuf)))
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false // the send buffer is full: wait for room
		case 0:
			c.wn, c.werr = int(n), 0
		default:
			c.wn, c.werr = 0, e
		}
		return true
	}
}

// Peek says, without blocking and without consuming anything, whether
// bytes wait unread on the socket fd (n > 0), the peer has closed it
// (n == 0, err nil), or neither (err EAGAIN); buf takes the bytes peeked
// at.
func Peek(fd int, buf []byte) (n int, err syscall.Errno) {
	r, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)),
		syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
	return int(r), e
}
