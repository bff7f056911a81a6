package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of utime/stime in /proc/<pid>/stat. It is
// 100 on every Linux architecture Go supports; `getconf CLK_TCK` confirms it
// at start.
const defaultClockTicks = 100

// procCPU returns the user+system CPU seconds the process has used so far.
func procCPU(pid int, ticks float64) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("reading stat of %d: %w", pid, err)
	}
	return parseStatCPU(b, ticks)
}

// parseStatCPU reads fields 14 (utime) and 15 (stime) of a /proc/<pid>/stat
// line. The command name (field 2) may contain spaces and parentheses, so
// fields are counted after its last ')'.
func parseStatCPU(stat []byte, ticks float64) (float64, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("stat: no ')' after the command name")
	}
	f := strings.Fields(string(stat[i+1:]))
	// f[0] is field 3 (state), so utime (14) is f[11] and stime (15) f[12].
	if len(f) < 13 {
		return 0, fmt.Errorf("stat: %d fields after the command name, want at least 13", len(f))
	}
	ut, err := strconv.ParseUint(f[11], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stat utime %q: %w", f[11], err)
	}
	st, err := strconv.ParseUint(f[12], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stat stime %q: %w", f[12], err)
	}
	return float64(ut+st) / ticks, nil
}

// procPeakRSS returns VmHWM (peak resident set) of the process in KiB.
func procPeakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("reading status of %d: %w", pid, err)
	}
	return parseStatusKiB(b, "VmHWM")
}

// parseStatusKiB returns the value of a "Key:   123 kB" line of
// /proc/<pid>/status or /proc/meminfo.
func parseStatusKiB(status []byte, key string) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != key {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) == 0 {
			return 0, fmt.Errorf("%s: no value", key)
		}
		n, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s %q: %w", key, fields[0], err)
		}
		return n, nil
	}
	return 0, fmt.Errorf("%s not found", key)
}

// loadAverage returns the 1-minute load average, or -1 when unreadable.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}

// child is a process the harness started; stop ends it and only it.
type child struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	log  *os.File
}

// startChild starts a program with its output in logPath. When readyLine is
// not empty, it waits until stdout carries a line containing it.
func startChild(ctx context.Context, name, logPath string, env []string, readyLine string, argv ...string) (*child, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("%s: creating log: %w", name, err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = logf
	// Should the harness die without stopping it, the child ends too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	var ready chan struct{}
	if readyLine != "" {
		pr, pw, perr := os.Pipe()
		if perr != nil {
			logf.Close()
			return nil, fmt.Errorf("%s: pipe: %w", name, perr)
		}
		cmd.Stdout = pw
		ready = make(chan struct{})
		go func() {
			defer pr.Close()
			sc := bufio.NewScanner(pr)
			seen := false
			for sc.Scan() {
				fmt.Fprintln(logf, sc.Text())
				if !seen && strings.Contains(sc.Text(), readyLine) {
					seen = true
					close(ready)
				}
			}
		}()
		defer pw.Close()
	} else {
		cmd.Stdout = logf
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("%s: starting %s: %w", name, argv[0], err)
	}
	c := &child{name: name, cmd: cmd, done: make(chan struct{}), log: logf}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	if ready != nil {
		select {
		case <-ready:
		case <-c.done:
			return nil, fmt.Errorf("%s exited before it was ready (%v); see %s", name, c.err, logPath)
		case <-time.After(60 * time.Second):
			c.stop()
			return nil, fmt.Errorf("%s not ready within 60s; see %s", name, logPath)
		case <-ctx.Done():
			c.stop()
			return nil, ctx.Err()
		}
	}
	return c, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// alive reports whether the process has not exited.
func (c *child) alive() bool {
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// stop asks the process to end (SIGTERM), then kills it after 20 s.
func (c *child) stop() {
	defer c.log.Close()
	if !c.alive() {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(20 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// waitTCP polls until addr accepts a connection or the deadline passes.
func waitTCP(ctx context.Context, addr string, c *child, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return conn.Close()
		}
		if !c.alive() {
			return fmt.Errorf("%s exited (%v) before listening on %s", c.name, c.err, addr)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not listening on %s after %s: %w", c.name, addr, timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// runOutput runs a command to completion and returns its stdout.
func runOutput(ctx context.Context, stderr io.Writer, argv ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stderr = stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("running %s: %w", strings.Join(argv, " "), err)
	}
	return out, nil
}
