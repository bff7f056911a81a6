package main

import (
	"hash/fnv"
	"os"

	"golang.org/x/term"
)

// style decides how output looks: ANSI colour only on a terminal, never
// when NO_COLOR is set (https://no-color.org) or --color=never.
type style struct{ color bool }

// ANSI SGR codes used by the CLI.
const (
	sgrReset   = "\x1b[0m"
	sgrBold    = "\x1b[1m"
	sgrDim     = "\x1b[2m"
	sgrRed     = "\x1b[31m"
	sgrGreen   = "\x1b[32m"
	sgrYellow  = "\x1b[33m"
	sgrBlue    = "\x1b[34m"
	sgrMagenta = "\x1b[35m"
	sgrCyan    = "\x1b[36m"
)

// decideColor applies --color (auto, always, never) to the environment.
func decideColor(mode string, isTTY bool, noColorEnv string) (bool, bool) {
	switch mode {
	case "always":
		return true, true
	case "never":
		return false, true
	case "auto", "":
		return isTTY && noColorEnv == "", true
	}
	return false, false
}

func (s style) paint(code, text string) string {
	if !s.color || text == "" {
		return text
	}
	return code + text + sgrReset
}

// thread paints a thread id in a colour chosen by its hash, so each thread
// keeps one colour for the whole output.
func (s style) thread(id string) string {
	if !s.color {
		return id
	}
	colors := [...]string{sgrCyan, sgrGreen, sgrYellow, sgrBlue, sgrMagenta, "\x1b[96m", "\x1b[92m", "\x1b[93m"}
	h := fnv.New32a()
	h.Write([]byte(id))
	return s.paint(colors[h.Sum32()%uint32(len(colors))], id)
}

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool { return f != nil && term.IsTerminal(int(f.Fd())) }
