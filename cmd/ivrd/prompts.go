package main

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxPromptText bounds a prompt text of [prompts], in characters: it is
// a line of a transcript, not a script.
const maxPromptText = 500

// validatePrompts checks [prompts]: each key names one voice file as the
// device stores it (letters, digits, '_'), each text is one line of
// printable text. The error names the first bad key, in sorted order.
func validatePrompts(prompts map[string]string) error {
	for _, k := range sortedNames(prompts) {
		text := prompts[k]
		switch {
		case strings.Contains(k, "+"):
			return fmt.Errorf("prompts.%s: a key names one voice file, not a chain (give each file its own text)", k)
		case !fileRE.MatchString(k):
			return fmt.Errorf("prompts.%q: %q is not a voice file name (letters, digits, '_')", k, k)
		case strings.TrimSpace(text) == "":
			return fmt.Errorf("prompts.%s: the text is empty (leave the file out instead)", k)
		case !utf8.ValidString(text):
			return fmt.Errorf("prompts.%s: the text is not UTF-8", k)
		case utf8.RuneCountInString(text) > maxPromptText:
			return fmt.Errorf("prompts.%s: the text is longer than %d characters", k, maxPromptText)
		case strings.IndexFunc(text, unicode.IsControl) >= 0:
			return fmt.Errorf("prompts.%s: the text holds a control character (a line break?); write one line", k)
		}
	}
	return nil
}
