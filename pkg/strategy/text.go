package strategy

import "fmt"

// Text helpers for messages.

func orNoneText(s string) string {
	if s == "" || s == "<none>" {
		return "(empty)"
	}
	return s
}

func joinMax(items []string, n int) string {
	if len(items) <= n {
		return joinComma(items)
	}
	return fmt.Sprintf("%s and %d more", joinComma(items[:n]), len(items)-n)
}

func joinComma(items []string) string {
	out := ""
	for i, s := range items {
		if i > 0 {
			out += ", "
		}
		out += s
	}
	return out
}
